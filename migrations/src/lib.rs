//! Every table of the service is created here and only here: SQL migrations embedded in the
//! binary, applied by `raptscallions migrate` and at `serve` start-up. An applied migration is
//! never edited; a change is a new file. See `migrations/README.md`.
//!
//! The files are embedded with `include_str!` rather than `sqlx::migrate!` so that sqlx's
//! proc-macro crate (a second full compile of sqlx-core) stays out of the build; a test checks
//! that every file in `sql/` is listed here.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// `(file name, contents)` of every migration, in order.
const FILES: &[(&str, &str)] = &[
    (
        "20261125000001_event_store.sql",
        include_str!("../sql/20261125000001_event_store.sql"),
    ),
    (
        "20261125000002_groups_read_model.sql",
        include_str!("../sql/20261125000002_groups_read_model.sql"),
    ),
    (
        "20261125000003_identity.sql",
        include_str!("../sql/20261125000003_identity.sql"),
    ),
    (
        "20261125000004_directory.sql",
        include_str!("../sql/20261125000004_directory.sql"),
    ),
    (
        "20261125000005_external_identities.sql",
        include_str!("../sql/20261125000005_external_identities.sql"),
    ),
    (
        "20261125000006_tools.sql",
        include_str!("../sql/20261125000006_tools.sql"),
    ),
    (
        "20261125000007_learning_sessions.sql",
        include_str!("../sql/20261125000007_learning_sessions.sql"),
    ),
    (
        "20261125000008_service_accounts.sql",
        include_str!("../sql/20261125000008_service_accounts.sql"),
    ),
    (
        "20261125000009_notifications.sql",
        include_str!("../sql/20261125000009_notifications.sql"),
    ),
    (
        "20261126000010_session_token_lookup.sql",
        include_str!("../sql/20261126000010_session_token_lookup.sql"),
    ),
    (
        "20261126000011_unknown_email_login_failures.sql",
        include_str!("../sql/20261126000011_unknown_email_login_failures.sql"),
    ),
    (
        "20261126000012_reset_token_lookup.sql",
        include_str!("../sql/20261126000012_reset_token_lookup.sql"),
    ),
    (
        "20261126000013_session_expiry_sweep.sql",
        include_str!("../sql/20261126000013_session_expiry_sweep.sql"),
    ),
    (
        "20261206000014_workflows.sql",
        include_str!("../sql/20261206000014_workflows.sql"),
    ),
    (
        "20261207000015_realtime_updates.sql",
        include_str!("../sql/20261207000015_realtime_updates.sql"),
    ),
    (
        "20261207000016_realtime_credentials.sql",
        include_str!("../sql/20261207000016_realtime_credentials.sql"),
    ),
    (
        "20261207000017_notification_unread_counts.sql",
        include_str!("../sql/20261207000017_notification_unread_counts.sql"),
    ),
    (
        "20261207000018_audit_chain.sql",
        include_str!("../sql/20261207000018_audit_chain.sql"),
    ),
    (
        "20261207000019_log_filters.sql",
        include_str!("../sql/20261207000019_log_filters.sql"),
    ),
    (
        "20261207000020_read_model_writers.sql",
        include_str!("../sql/20261207000020_read_model_writers.sql"),
    ),
    (
        "20261207000021_assignments.sql",
        include_str!("../sql/20261207000021_assignments.sql"),
    ),
    (
        "20261207000022_usage.sql",
        include_str!("../sql/20261207000022_usage.sql"),
    ),
    (
        "20261207000023_themes.sql",
        include_str!("../sql/20261207000023_themes.sql"),
    ),
    (
        "20261207000024_usage_rollup.sql",
        include_str!("../sql/20261207000024_usage_rollup.sql"),
    ),
    (
        "20261207000025_usage_students.sql",
        include_str!("../sql/20261207000025_usage_students.sql"),
    ),
];

#[derive(Debug, Clone, Copy)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> futures_core::future::BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async { Ok(embedded()) })
    }
}

/// The embedded migrations.
pub fn embedded() -> Vec<Migration> {
    FILES
        .iter()
        .map(|(file, sql)| {
            let (version, description) = file
                .trim_end_matches(".sql")
                .split_once('_')
                .expect("migration file names are <version>_<description>.sql");
            Migration::new(
                version.parse().expect("migration version is a number"),
                Cow::Owned(description.replace('_', " ")),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect()
}

/// A migrator over the embedded migrations.
pub async fn migrator() -> Migrator {
    Migrator::new(Embedded)
        .await
        .expect("embedded migrations always resolve")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let listed: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, listed);
        let versions: Vec<i64> = embedded().iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
    }
}
