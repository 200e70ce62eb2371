//! The `pool` admin commands, run as the binary with a config file naming the test server.

use super::server::{connect_url, fresh_database};
use profile_outbox::quota::pool::{GrantRequest, grant};
use std::process::Command;

fn pool_command(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_profile-outbox"))
        .arg("--config")
        .arg(config)
        .arg("pool")
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[tokio::test]
async fn the_pool_commands_set_up_show_change_and_remove() {
    let url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[quota.pool]\nurl = \"{url}\"\nhost = \"admin\"\n"),
    )
    .unwrap();

    let init = pool_command(&config, &["init", "--limit", "1000"]);
    assert!(init.status.success(), "{}", text(&init));
    let again = pool_command(&config, &["init", "--limit", "5"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("set up already"), "{}", text(&again));

    let mut conn = connect_url(&url).await;
    let request = GrantRequest::new("store-7", 120, 300);
    grant(&mut conn, &request).await.unwrap();

    let shown = pool_command(&config, &["status", "--json"]);
    assert!(shown.status.success(), "{}", text(&shown));
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(json["limit"], 1000);
    assert_eq!(json["calls_in_window"], 120);
    assert_eq!(json["offline_shares"], 300);
    assert_eq!(json["free"], 580);
    assert_eq!(json["hosts"][0]["host"], "store-7");
    assert_eq!(json["hosts"][0]["calls_in_window"], 120);
    let plain = text(&pool_command(&config, &["status"]));
    assert!(
        plain.contains("store-7") && plain.contains("free now:         580"),
        "{plain}"
    );

    let below = pool_command(&config, &["set-limit", "200"]);
    assert!(!below.status.success());
    assert!(
        text(&below).contains("below the 300 calls"),
        "{}",
        text(&below)
    );
    assert!(
        pool_command(&config, &["set-limit", "2000"])
            .status
            .success()
    );

    assert!(
        pool_command(&config, &["remove", "store-7"])
            .status
            .success()
    );
    let unknown = pool_command(&config, &["remove", "store-7"]);
    assert!(!unknown.status.success());
    let json: serde_json::Value =
        serde_json::from_slice(&pool_command(&config, &["status", "--json"]).stdout).unwrap();
    assert_eq!(
        (json["limit"].as_i64(), json["free"].as_i64()),
        (Some(2000), Some(1880))
    );
}

#[test]
fn the_pool_commands_need_a_pool_in_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let output = pool_command(&config, &["status"]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("quota.pool.url is not set"),
        "{}",
        text(&output)
    );
}
