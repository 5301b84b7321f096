//! Liveness (`/health`) and readiness (`/ready`).

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

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
    /// `ok`, or `degraded` while a subscriber run here keeps failing (see `failures`).
    pub status: String,
    pub subscribers: Vec<SubscriberState>,
}

/// The state of each dependency: `ok` or what is wrong.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Readiness {
    pub ready: bool,
    pub database: String,
    pub migrations: String,
    pub nats: String,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Database and NATS reachable, migrations applied.
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
    /// they keep failing (`status` is then `degraded`).
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
        Json(Health {
            status: if failing { "degraded" } else { "ok" }.into(),
            subscribers,
        })
    }

    /// Readiness
    ///
    /// 200 when the database and NATS are reachable and every migration is applied; 503
    /// otherwise.
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
        let nats = match self.services.nats.connection_state() {
            async_nats::connection::State::Connected => "ok",
            async_nats::connection::State::Pending => "connecting",
            async_nats::connection::State::Disconnected => "disconnected",
        }
        .to_owned();
        let ready = database == "ok" && migrations == "ok" && nats == "ok";
        let body = Json(Readiness {
            ready,
            database,
            migrations,
            nats,
        });
        if ready {
            ReadyResponse::Ready(body)
        } else {
            ReadyResponse::NotReady(body)
        }
    }
}
