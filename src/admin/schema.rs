//! Whether a database's schema is the one this binary knows: a pure comparison of the migrations
//! recorded in the database (`_sqlx_migrations`) with the ones built into the binary.

/// How the recorded migrations compare with the known ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaFit {
    /// Every known migration is applied, as this binary has it, and nothing else.
    Current,
    /// Applied ones are known, but these known ones are not applied yet: an older schema.
    Behind { missing: Vec<i64> },
    /// Migrations this binary does not know: a newer profile-outbox made (or upgraded) it.
    Newer { unknown: Vec<i64> },
    /// A migration with a known version but other content: not this project's schema.
    Different { version: i64 },
    /// A migration that started and did not finish.
    Unfinished { version: i64 },
}

/// A migration recorded in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    pub success: bool,
    pub checksum: Vec<u8>,
}

/// Compares `applied` with `known` (version and checksum of each migration built in).
pub fn fit(known: &[(i64, &[u8])], applied: &[Applied]) -> SchemaFit {
    let unknown: Vec<i64> = applied
        .iter()
        .map(|a| a.version)
        .filter(|v| !known.iter().any(|(k, _)| k == v))
        .collect();
    if !unknown.is_empty() {
        return SchemaFit::Newer { unknown };
    }
    if let Some(a) = applied.iter().find(|a| !a.success) {
        return SchemaFit::Unfinished { version: a.version };
    }
    let differs = applied.iter().find(|a| {
        known
            .iter()
            .any(|(v, sum)| *v == a.version && *sum != a.checksum)
    });
    if let Some(a) = differs {
        return SchemaFit::Different { version: a.version };
    }
    let missing: Vec<i64> = known
        .iter()
        .map(|(v, _)| *v)
        .filter(|v| !applied.iter().any(|a| a.version == *v))
        .collect();
    if missing.is_empty() {
        SchemaFit::Current
    } else {
        SchemaFit::Behind { missing }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [(i64, &[u8]); 3] = [(1, b"a"), (2, b"b"), (3, b"c")];

    fn applied(versions: &[(i64, &[u8])]) -> Vec<Applied> {
        versions
            .iter()
            .map(|(version, sum)| Applied {
                version: *version,
                success: true,
                checksum: sum.to_vec(),
            })
            .collect()
    }

    #[test]
    fn every_known_migration_applied_is_current() {
        assert_eq!(fit(&KNOWN, &applied(&KNOWN)), SchemaFit::Current);
    }

    #[test]
    fn an_older_schema_is_behind_by_the_missing_versions() {
        assert_eq!(
            fit(&KNOWN, &applied(&KNOWN[..2])),
            SchemaFit::Behind { missing: vec![3] }
        );
    }

    #[test]
    fn an_unknown_version_means_a_newer_schema() {
        let mut newer = applied(&KNOWN);
        newer.extend(applied(&[(4, b"d")]));
        assert_eq!(fit(&KNOWN, &newer), SchemaFit::Newer { unknown: vec![4] });
    }

    #[test]
    fn a_known_version_with_other_content_is_a_different_schema() {
        assert_eq!(
            fit(&KNOWN, &applied(&[(1, b"a"), (2, b"x")])),
            SchemaFit::Different { version: 2 }
        );
    }

    #[test]
    fn a_failed_migration_is_unfinished() {
        let mut broken = applied(&KNOWN);
        broken[2].success = false;
        assert_eq!(fit(&KNOWN, &broken), SchemaFit::Unfinished { version: 3 });
    }
}
