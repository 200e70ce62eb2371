//! The optional `[quota.pool]` section: where the PostgreSQL pool that shares Target's quota
//! between hosts lives, this host's name in it and its offline share. The section is off when
//! `url` is empty. The connection's password never sits in the file: it comes from
//! `password_file`, systemd's `pool-password` credential, or `PGPASSFILE`.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, de::Error};
use std::path::{Path, PathBuf};
use url::Url;

/// A checked pool section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// `postgres://user@host/db` without a password.
    pub url: Url,
    /// This host's name in the pool.
    pub host: String,
    /// Calls per rolling 24 hours this host may make while it cannot reach the pool.
    pub offline_share: i64,
    /// Where the connection's password is read from, if anywhere but `PGPASSFILE`.
    pub password_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    url: String,
    host: String,
    offline_share: u32,
    password_file: String,
}

/// Reads `[quota.pool]`: `None` when `url` is empty.
pub(super) fn section<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PoolSettings>, D::Error> {
    let raw = RawPool::deserialize(deserializer)?;
    if raw.url.trim().is_empty() {
        return Ok(None);
    }
    let url = parse_url(raw.url.trim()).map_err(D::Error::custom)?;
    let host = match raw.host.trim() {
        "" => this_host_name().map_err(D::Error::custom)?,
        name => name.to_owned(),
    };
    let password_file = Some(raw.password_file.trim())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    Ok(Some(PoolSettings {
        url,
        host,
        offline_share: i64::from(raw.offline_share),
        password_file,
    }))
}

/// Checks a pool URL: a PostgreSQL address that carries no password.
pub fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("quota.pool.url is not a URL ({e})"))?;
    if url.scheme() != "postgres" && url.scheme() != "postgresql" {
        return Err(format!(
            "quota.pool.url must start with postgres:// (it starts with {}://)",
            url.scheme()
        ));
    }
    let password_in_query = url.query_pairs().any(|(k, _)| k == "password");
    if url.password().is_some() || password_in_query {
        return Err("quota.pool.url must not carry a password: put it in \
             quota.pool.password_file, a pool-password credential or PGPASSFILE"
            .to_owned());
    }
    Ok(url)
}

/// The host name the kernel knows this machine by.
fn this_host_name() -> Result<String, String> {
    let path = Path::new("/proc/sys/kernel/hostname");
    let name = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "quota.pool.host is empty and {} cannot be read: {e}",
            path.display()
        )
    })?;
    let name = name.trim();
    if name.is_empty() {
        return Err("quota.pool.host is empty and the machine has no host name".to_owned());
    }
    Ok(name.to_owned())
}

/// The pool's connection password, kept out of `Debug` output (`[REDACTED]`) and errors, and
/// wiped from memory when dropped.
#[derive(Clone, Debug)]
pub struct PoolPassword(SecretString);

impl PoolPassword {
    /// Reads the password from `path`, naming the file but never its content in errors.
    pub fn read_file(path: &Path) -> anyhow::Result<Option<PoolPassword>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the pool password file {} (quota.pool.password_file): {e}",
                path.display()
            )
        })?;
        let trimmed = text.trim();
        Ok((!trimmed.is_empty()).then(|| PoolPassword(SecretString::from(trimmed))))
    }

    /// The password's text, for the connection only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_url_with_a_password_is_refused() {
        let err = parse_url("postgres://outbox:hunter2@db.example/quota").unwrap_err();
        assert!(err.contains("must not carry a password"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_url("postgres://outbox@db.example/quota?password=hunter2").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_pool_url_must_name_postgres() {
        assert!(parse_url("mysql://outbox@db.example/quota").is_err());
        assert!(parse_url("postgres://outbox@db.example/quota").is_ok());
        assert!(parse_url("postgresql:///quota?host=/run/postgresql").is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_pool_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let password = PoolPassword::read_file(&path).unwrap().unwrap();
        assert_eq!(password.expose(), "s3cr3t");
        let shown = format!("{password:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    fn load(text: &str, env: &[(&str, &str)]) -> anyhow::Result<crate::config::Settings> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text)?;
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        crate::config::load(Some(&path), Some(env.collect()))
    }

    #[test]
    fn the_pool_is_off_unless_a_url_is_given() {
        let settings = load("", &[]).unwrap();
        assert_eq!(settings.quota.pool, None);
    }

    #[test]
    fn a_pool_section_is_read_into_types() {
        let text = "[quota.pool]\nurl = \"postgres://outbox@db.example/quota\"\n\
                    host = \"store-12\"\noffline_share = 5000\npassword_file = \"/etc/pw\"\n";
        let pool = load(text, &[]).unwrap().quota.pool.unwrap();
        assert_eq!(pool.url.as_str(), "postgres://outbox@db.example/quota");
        assert_eq!(pool.host, "store-12");
        assert_eq!(pool.offline_share, 5000);
        assert_eq!(pool.password_file, Some(PathBuf::from("/etc/pw")));
    }

    #[test]
    fn an_empty_host_name_is_the_machines() {
        let text = "[quota.pool]\nurl = \"postgres://outbox@db.example/quota\"\n";
        let pool = load(text, &[]).unwrap().quota.pool.unwrap();
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(pool.host, machine.trim());
    }

    #[test]
    fn an_unknown_pool_key_is_refused_by_name() {
        let text = "[quota.pool]\nurl = \"postgres://outbox@db.example/quota\"\nsecret = \"x\"\n";
        let err = format!("{:#}", load(text, &[]).unwrap_err());
        assert!(err.contains("secret"), "{err}");
    }

    #[test]
    fn under_systemd_the_pool_password_comes_from_the_credentials_directory() {
        let creds = tempfile::tempdir().unwrap();
        std::fs::write(creds.path().join("pool-password"), "pw\n").unwrap();
        let dir = creds.path().to_str().unwrap();
        let text = "[quota.pool]\nurl = \"postgres://outbox@db.example/quota\"\n";
        let pool = load(text, &[("CREDENTIALS_DIRECTORY", dir)])
            .unwrap()
            .quota
            .pool
            .unwrap();
        assert_eq!(pool.password_file, Some(creds.path().join("pool-password")));
    }
}
