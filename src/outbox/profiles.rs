//! What delivery remembers of Target's profile lookups: visitors found to have a profile
//! (`known_profiles`, forgotten after [`REMEMBER_FOR`] and kept to [`MOST_KNOWN`] entries), and
//! visitors found to have none yet (`missing_profiles`: since when, how many lookups).

use sqlx::{SqliteConnection, SqlitePool};
use std::collections::HashSet;

/// How long a visitor found to have a profile is trusted to still have one: Target keeps a
/// profile 14 days after the visitor's last activity by default.
pub const REMEMBER_FOR_MS: i64 = 14 * 86_400_000;
/// The most visitors remembered; past it the ones found longest ago are forgotten first.
pub const MOST_KNOWN: i64 = 1_000_000;

/// A visitor Target has had no profile for, so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The first lookup that found none (timeline ms).
    pub since: i64,
    /// Lookups that found none, this one included.
    pub checks: i64,
}

/// Which of `visitors` were found to have a profile within the last 14 days.
pub async fn known(
    pool: &SqlitePool,
    visitors: &[String],
    now_ms: i64,
) -> sqlx::Result<HashSet<String>> {
    if visitors.is_empty() {
        return Ok(HashSet::new());
    }
    let list = serde_json::to_string(visitors).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT visitor FROM known_profiles
         WHERE visitor IN (SELECT value FROM json_each(?1)) AND found_at > ?2",
    )
    .bind(list)
    .bind(now_ms.saturating_sub(REMEMBER_FOR_MS))
    .fetch_all(pool)
    .await?;
    Ok(found.into_iter().collect())
}

/// Remembers that `visitors` have a profile, and that they are no longer missing.
pub async fn found(
    conn: &mut SqliteConnection,
    visitors: &[String],
    now_ms: i64,
) -> sqlx::Result<()> {
    if visitors.is_empty() {
        return Ok(());
    }
    let list = serde_json::to_string(visitors).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query(
        "INSERT INTO known_profiles (visitor, found_at) SELECT value, ?2 FROM json_each(?1) WHERE true
         ON CONFLICT (visitor) DO UPDATE SET found_at = excluded.found_at",
    )
    .bind(&list)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM missing_profiles WHERE visitor IN (SELECT value FROM json_each(?1))")
        .bind(&list)
        .execute(conn)
        .await?;
    Ok(())
}

/// Notes one more lookup that found no profile for `visitor`; returns the record as it now stands.
pub async fn missed(
    conn: &mut SqliteConnection,
    visitor: &str,
    now_ms: i64,
) -> sqlx::Result<Missing> {
    let (since, checks) = sqlx::query_as(
        "INSERT INTO missing_profiles (visitor, since, checks) VALUES (?1, ?2, 1)
         ON CONFLICT (visitor) DO UPDATE SET checks = checks + 1
         RETURNING since, checks",
    )
    .bind(visitor)
    .bind(now_ms)
    .fetch_one(conn)
    .await?;
    Ok(Missing { since, checks })
}

/// Forgets visitors found more than 14 days ago, and the oldest past [`MOST_KNOWN`]; and missing
/// records older than `keep_missing_ms` (their rows failed long ago, or went).
pub async fn prune(pool: &SqlitePool, now_ms: i64, keep_missing_ms: i64) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM missing_profiles WHERE since <= ?1")
        .bind(now_ms.saturating_sub(keep_missing_ms))
        .execute(pool)
        .await?;
    let old = sqlx::query("DELETE FROM known_profiles WHERE found_at <= ?1")
        .bind(now_ms.saturating_sub(REMEMBER_FOR_MS))
        .execute(pool)
        .await?
        .rows_affected();
    let over = sqlx::query(
        "DELETE FROM known_profiles WHERE found_at <= (
             SELECT found_at FROM known_profiles ORDER BY found_at DESC LIMIT 1 OFFSET ?1)",
    )
    .bind(MOST_KNOWN)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(old + over)
}
