//! Databases: one fresh PostgreSQL database per test, created on the machine's server and
//! dropped (forcibly, with the test's NATS stream) when the test ends.

use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::processes::nats_url;

/// The admin connection that creates and drops test databases.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

/// A database that exists for one test and is dropped (forcibly) when this is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("rapt_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url(), &name);
        Self { name, url }
    }

    /// A pool on the admin database (for ALTER DATABASE and the like).
    pub async fn admin_pool() -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&admin_url())
            .await
            .expect("connect to TEST_DATABASE_URL")
    }

    pub async fn pool(&self) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(5)
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// The short tag that names this test's NATS subjects and stream.
    pub(crate) fn tag(&self) -> String {
        self.name.trim_start_matches("rapt_test_")[..12].to_owned()
    }

    /// The JetStream stream of the app that runs on this database.
    pub(crate) fn stream_name(&self) -> String {
        format!("T{}_EVENTS", self.tag())
    }

    /// The JetStream stream of the audit checkpoints of the app that runs on this database.
    pub fn audit_stream_name(&self) -> String {
        format!("T{}_AUDIT", self.tag())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let streams = [self.stream_name(), self.audit_stream_name()];
        // Drop runs inside (or outside) a runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
                // The streams this test's app created on the shared NATS server.
                if let Ok(client) = async_nats::connect(nats_url()).await {
                    let jetstream = async_nats::jetstream::new(client);
                    for stream in streams {
                        let _ = jetstream.delete_stream(stream).await;
                    }
                }
            });
        })
        .join();
    }
}
