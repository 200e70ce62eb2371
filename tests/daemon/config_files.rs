//! The shipped example config, the loader's errors, and `check-config`.

use profile_outbox::config;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn example() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
}

fn check_config(path: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_profile-outbox"));
    command.arg("--config").arg(path).arg("check-config");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("check-config runs")
}

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

#[test]
fn the_example_config_loads_through_the_real_loader_with_the_documented_defaults() {
    let settings = config::load(Some(example()), Some(HashMap::new())).expect("example loads");
    assert_eq!(settings.quota.calls_per_day.get(), 1_000_000);
    assert_eq!(settings.target.timeout, std::time::Duration::from_secs(10));
    assert_eq!(settings.target.method, config::Method::Get);
    assert_eq!(settings.target.client_code, None);
    assert_eq!(
        settings.database.path,
        Path::new("/var/lib/profile-outbox/outbox.db")
    );
}

#[test]
fn environment_variables_override_the_file() {
    let env = HashMap::from([
        (
            "PROFILE_OUTBOX__TARGET__CLIENT_CODE".to_owned(),
            "mycompany".to_owned(),
        ),
        (
            "PROFILE_OUTBOX__WORKERS__CONCURRENCY".to_owned(),
            "3".to_owned(),
        ),
    ]);
    let settings = config::load(Some(example()), Some(env)).expect("loads");
    assert_eq!(
        settings
            .target
            .client_code
            .map(|c| c.as_str().to_owned())
            .as_deref(),
        Some("mycompany")
    );
    assert_eq!(settings.workers.concurrency.get(), 3);
    assert_eq!(
        settings
            .target
            .base_url
            .is_none()
            .then_some("https://mycompany.tt.omtrdc.net/"),
        Some("https://mycompany.tt.omtrdc.net/")
    );
}

#[test]
fn unknown_keys_and_bad_values_are_refused_with_the_keys_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("[target]\nclinet_code = \"a\"\n", "clinet_code"),
        ("[target]\ntimeout = \"soon\"\n", "target.timeout"),
        ("[quota]\ncalls_per_day = 0\n", "quota.calls_per_day"),
        ("[target]\nmethod = \"put\"\n", "target.method"),
        (
            "[target]\nclient_code = \"my company\"\n",
            "target.client_code",
        ),
        ("[target]\nbase_url = \"ftp://x\"\n", "target.base_url"),
        ("[queue]\nsize = 1\n", "queue"),
    ];
    for (text, key) in cases {
        let path = write(&dir, text);
        let error = config::load(Some(&path), Some(HashMap::new()))
            .err()
            .map(|e| format!("{e:#}"));
        assert!(
            error.as_deref().is_some_and(|e| e.contains(key)),
            "{text}: {error:?}"
        );
        let output = check_config(&path, &[]);
        assert!(!output.status.success(), "{text}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(key),
            "{text}"
        );
    }
}

#[test]
fn check_config_accepts_a_sound_file_and_never_prints_the_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "very-secret-token\n").expect("token written");
    let path = write(
        &dir,
        &format!(
            "[target]\nclient_code = \"acme\"\ntoken_file = {:?}\n",
            token.display().to_string()
        ),
    );

    let output = check_config(&path, &[]);

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("configuration OK") && stdout.contains("https://acme.tt.omtrdc.net"),
        "{stdout}"
    );
    assert!(!stdout.contains("very-secret-token"));
}

#[test]
fn check_config_fails_when_the_token_file_cannot_be_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir, "[target]\ntoken_file = \"/nonexistent/token\"\n");
    let output = check_config(&path, &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/token"));
}

#[test]
fn a_missing_config_file_named_on_the_command_line_is_an_error() {
    let output = check_config(Path::new("/nonexistent/config.toml"), &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/config.toml"));
}

#[test]
fn check_config_fails_without_a_client_code_because_run_would_refuse_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir, "[target]\ntimeout = \"5s\"\n");
    let output = check_config(&path, &[]);
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("target.client_code is not set") && message.contains("--sandbox"),
        "{message}"
    );
}

#[test]
fn under_systemd_the_token_comes_from_the_credentials_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("token"), "from-credential\n").expect("credential written");
    let env = HashMap::from([(
        "CREDENTIALS_DIRECTORY".to_owned(),
        dir.path().display().to_string(),
    )]);
    let settings = config::load(Some(example()), Some(env)).expect("loads");
    assert_eq!(settings.target.token_file, Some(dir.path().join("token")));
    let output = check_config(
        &write(&dir, "[target]\nclient_code = \"acme\"\n"),
        &[("CREDENTIALS_DIRECTORY", &dir.path().display().to_string())],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("token:    set"),
        "{stdout}"
    );
    assert!(!stdout.contains("from-credential"));
    assert!(
        stdout.contains("the systemd credential \"token\"")
            && stdout.contains("/etc/profile-outbox/token")
            && stdout.contains("systemctl restart profile-outbox")
            && !stdout.contains("target.token_file"),
        "{stdout}"
    );
}

#[test]
fn check_config_fails_when_the_ca_file_is_not_pem_certificates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("proxy-ca.pem");
    std::fs::write(&ca, "not a certificate\n").expect("written");
    let path = write(
        &dir,
        &format!(
            "[target]\nclient_code = \"acme\"\nca_file = {:?}\n",
            ca.display().to_string()
        ),
    );
    let output = check_config(&path, &[]);
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        message.contains("target.ca_file") && message.contains("proxy-ca.pem"),
        "{message}"
    );
}

#[test]
fn check_config_refuses_an_unknown_log_level_and_more_calls_than_target_allows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "[log]\nlevel = \"warning\"\n",
            "log.level: \"warning\" is not a log level",
        ),
        (
            "[log]\nlevel = \"verbose\"\n",
            "log.level: \"verbose\" is not a log level",
        ),
        (
            "[quota]\ncalls_per_day = 2000000\n",
            "quota.calls_per_day: 2000000 is more than Target allows: at most 1000000",
        ),
    ];
    for (text, expected) in cases {
        let path = write(&dir, &format!("{text}[target]\nclient_code = \"acme\"\n"));
        let output = check_config(&path, &[]);
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{text}");
        assert!(message.contains(expected), "{text}: {message}");
    }
}

#[test]
fn refused_values_read_as_sentences_naming_the_key_the_value_and_where_it_was_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir, "[target]\nclient_code = \"acme\"\n");
    let cases = [
        (
            "PROFILE_OUTBOX__TARGET__METHOD",
            "put",
            "target.method: \"put\" is not a request method",
        ),
        (
            "PROFILE_OUTBOX__QUOTA__BURST",
            "0",
            "quota.burst: 0 is out of range",
        ),
        (
            "PROFILE_OUTBOX__TARGET__TIMEOUT",
            "5 m and",
            "target.timeout: \"5 m and\" is not a duration",
        ),
    ];
    for (variable, value, expected) in cases {
        let output = check_config(&path, &[(variable, value)]);
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{variable}");
        assert!(
            message.contains(expected)
                && message.contains(&format!("set by the environment variable {variable}")),
            "{message}"
        );
        for jargon in [
            "enum Method",
            "nonzero u32",
            "expected number at",
            "/etc/profile-outbox",
        ] {
            assert!(!message.contains(jargon), "{message}");
        }
    }
}
