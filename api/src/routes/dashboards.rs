//! `GET /classes/{id}/dashboard`: what a teacher watching a class needs at a glance.

use std::sync::Arc;

use chrono::Utc;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use projections::dashboards as read;
use uuid::Uuid;

use super::tags::ApiTags;
use super::views::{self, DashboardCountersDto, DashboardEventDto};
use crate::caller::Caller;
use crate::problem::ApiError;
use crate::state::Services;

#[derive(Debug, Object)]
#[oai(rename = "ClassDashboard", example)]
pub struct DashboardDto {
    pub class_id: Uuid,
    /// The log position this dashboard reflects: apply the class's live updates
    /// (`class.<id>.dashboard`) above it.
    pub position: i64,
    #[oai(flatten)]
    pub counters: DashboardCountersDto,
    /// The last 50 relevant events (no chat messages), newest first.
    pub recent_events: Vec<DashboardEventDto>,
}

pub struct DashboardsApi {
    pub services: Arc<Services>,
}

#[OpenApi(tag = "ApiTags::Classes")]
impl DashboardsApi {
    /// A class's dashboard
    ///
    /// For the class's teachers and the admins and counselors of the groups above it.
    /// `position` is the log position it reflects: the class's live updates above it follow.
    #[oai(
        path = "/classes/:id/dashboard",
        method = "get",
        operation_id = "classDashboard"
    )]
    async fn dashboard(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<DashboardDto>, ApiError> {
        self.services
            .authz
            .class(caller.user()?, id.0, "class.read_dashboard")
            .await?;
        let mut snapshot = views::snapshot(&self.services.pool).await?;
        let d = read::dashboard(&mut snapshot, id.0, Utc::now().date_naive()).await?;
        let position = views::position(&mut snapshot, read::NAME).await?;
        snapshot.commit().await?;
        Ok(Json(DashboardDto {
            class_id: id.0,
            position,
            counters: d.counters.into(),
            recent_events: d.recent_events.into_iter().map(Into::into).collect(),
        }))
    }
}
