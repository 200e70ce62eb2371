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

#[tokio::test]
async fn status_shows_this_hosts_view_of_the_pool_only_when_the_config_names_one() {
    let (url, _admin) = super::server::pool_with_limit(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("outbox.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&database)
        .create_if_missing(true);
    let sqlite = sqlx::SqlitePool::connect_with(options).await.unwrap();
    profile_outbox::db::migrate(&sqlite, &database)
        .await
        .unwrap();
    let settings = profile_outbox::config::PoolSettings {
        url: profile_outbox::config::parse_pool_url(&url).unwrap(),
        host: "store-9".to_owned(),
        offline_share: 40,
        password_file: None,
    };
    let quota = profile_outbox::quota::pool::PoolQuota::open(&settings, sqlite.clone(), 25)
        .await
        .unwrap();
    assert_eq!(quota.reserve(0, 5).await.unwrap().calls, 5);
    sqlite.close().await;

    let base = format!("[database]\npath = {:?}\n", database.display().to_string());
    let with_pool = dir.path().join("with-pool.toml");
    std::fs::write(
        &with_pool,
        format!("{base}\n[quota.pool]\nurl = \"{url}\"\nhost = \"store-9\"\noffline_share = 40\n"),
    )
    .unwrap();
    let without = dir.path().join("without.toml");
    std::fs::write(&without, &base).unwrap();
    let status = |config: &std::path::Path, json: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_profile-outbox"));
        command.arg("--config").arg(config).arg("status");
        if json {
            command.arg("--json");
        }
        command.output().unwrap()
    };

    let doc: serde_json::Value = serde_json::from_slice(&status(&with_pool, true).stdout).unwrap();
    let pool = &doc["pool"];
    assert_eq!(pool["host"], "store-9", "{doc}");
    assert_eq!(pool["reachable"], true);
    assert_eq!(pool["held_calls"], 20);
    assert_eq!(
        (
            pool["offline_share"].as_i64(),
            pool["offline_left"].as_i64()
        ),
        (Some(40), Some(40))
    );
    assert!(pool["last_contact_at_ms"].is_i64());
    assert!(!pool["pool"].as_str().unwrap().contains("postgres://"));
    let plain = text(&status(&with_pool, false));
    assert!(
        plain.contains("as store-9: reachable since") && plain.contains("20 calls held"),
        "{plain}"
    );
    assert!(
        plain.contains("shared with other hosts through the quota pool")
            && !plain.contains("calls used in the last 24 hours"),
        "the local ledger is not the limit with a pool: {plain}"
    );

    let doc: serde_json::Value = serde_json::from_slice(&status(&without, true).stdout).unwrap();
    assert!(doc.get("pool").is_none(), "{doc}");
    assert!(
        doc.get("rows").is_some(),
        "the rest of the document is there: {doc}"
    );
    assert!(!text(&status(&without, false)).contains("pool"));
}
