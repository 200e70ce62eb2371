//! `profile-outbox enqueue`: writes one row the way a producer does.

use super::args::EnqueueArgs;
use crate::config;
use crate::db::{self, Durability, OpenMode};
use crate::outbox::{self, NewRow};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

pub async fn enqueue(config_path: Option<&Path>, args: EnqueueArgs) -> anyhow::Result<ExitCode> {
    let settings = config::load(config_path, None)?;
    let path = &settings.database.path;
    let pool = db::open(
        path,
        OpenMode::MustExist,
        Durability::Full,
        settings.database.busy_timeout,
        1,
    )
    .await?;
    let row = NewRow {
        mbox_pc: args.mbox_pc,
        mbox_3rd_party_id: args.mbox_3rd_party_id,
        attributes: args
            .attributes
            .into_iter()
            .map(|(name, value)| (name, serde_json::Value::String(value)))
            .collect(),
        source: args
            .source
            .or_else(|| Some("profile-outbox enqueue".to_owned())),
    };
    let id = outbox::enqueue(&pool, &row)
        .await
        .with_context(|| format!("cannot add the row to {}", path.display()))?;
    pool.close().await;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}
