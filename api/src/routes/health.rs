//! Liveness (`/health`) and readiness (`/ready`).

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::closed::{DatabaseState, HealthStatus, MigrationsState, NatsState, OneOf};
use super::tags::ApiTags;
use crate::state::Services;

/// A subscriber as this process sees it.
#[derive(Debug, Object)]
pub struct SubscriberState {
    pub name: String,
    /// Whether this process runs it right now (each runs in exactly one process).
    pub active: bool,
    pub position: i64,
    /// Runs that failed since it last handled a batch. Above zero it keeps restarting (an
    /// event it cannot handle, or the database gone; the cause is in the server's log) and
    /// what it maintains falls behind.
    pub failures: u32,
}

/// The process is up.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Health {
    /// `ok`, or `degraded` while a subscriber run here keeps failing (see `failures`) or
    /// NATS is not connected (see `nats`).
    pub status: OneOf<HealthStatus>,
    /// The NATS connection: `ok`, `connecting` or `disconnected`. Requests work without it;
    /// fan-out (the relay, live updates) waits and catches up when it is back.
    pub nats: OneOf<NatsState>,
    pub subscribers: Vec<SubscriberState>,
}

/// The state of each dependency: `ok` or what is wrong.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Readiness {
    /// Whether requests can be served: the database is reachable and migrated.
    pub ready: bool,
    pub database: OneOf<DatabaseState>,
    pub migrations: OneOf<MigrationsState>,
    /// The NATS connection, for information only: it does not decide `ready` (requests
    /// work without NATS; fan-out waits and catches up).
    pub nats: OneOf<NatsState>,
}

/// The state of the NATS connection, in the words of `/health` and `/ready`.
fn nats_state(services: &Services) -> String {
    match services.nats.connection_state() {
        async_nats::connection::State::Connected => "ok",
        async_nats::connection::State::Pending => "connecting",
        async_nats::connection::State::Disconnected => "disconnected",
    }
    .to_owned()
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Database reachable, migrations applied.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// Something the service needs is missing.
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

pub struct HealthApi {
    pub services: Arc<Services>,
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// 200 while the process runs; lists its subscribers, whether it runs them and whether
    /// they keep failing, and the NATS connection (`status` is `degraded` when a subscriber
    /// keeps failing or NATS is not connected).
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Health> {
        let subscribers: Vec<SubscriberState> = self
            .services
            .subscribers
            .snapshot()
            .into_iter()
            .map(|s| SubscriberState {
                name: s.name,
                active: s.active,
                position: s.position,
                failures: s.failures,
            })
            .collect();
        let failing = subscribers.iter().any(|s| s.failures > 0);
        let nats = nats_state(&self.services);
        Json(Health {
            status: if failing || nats != "ok" {
                "degraded"
            } else {
                "ok"
            }
            .into(),
            nats: nats.into(),
            subscribers,
        })
    }

    /// Readiness
    ///
    /// 200 when the database is reachable and every migration is applied; 503 otherwise.
    /// NATS is reported but does not decide: without it requests still work and fan-out
    /// catches up later, so a load balancer must not take the instance out (`/health`
    /// reports it as `degraded`).
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> ReadyResponse {
        let (database, migrations) =
            match sqlx::query("SELECT 1").execute(&self.services.pool).await {
                Err(_) => ("unreachable".to_owned(), "unknown".to_owned()),
                Ok(_) => match infrastructure::db::migrations_applied(&self.services.pool).await {
                    Ok(true) => ("ok".to_owned(), "ok".to_owned()),
                    Ok(false) => ("ok".to_owned(), "pending".to_owned()),
                    Err(_) => ("ok".to_owned(), "unknown".to_owned()),
                },
            };
        let nats = nats_state(&self.services);
        let ready = database == "ok" && migrations == "ok";
        let body = Json(Readiness {
            ready,
            database: database.into(),
            migrations: migrations.into(),
            nats: nats.into(),
        });
        if ready {
            ReadyResponse::Ready(body)
        } else {
            ReadyResponse::NotReady(body)
        }
    }
}
