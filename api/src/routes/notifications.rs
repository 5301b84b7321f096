//! Notifications (each user sees only their own), email preferences, and the dead letters of
//! email delivery (system admins).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::email::EmailError;
use domain::notification::{NotificationError, NotificationKind, NotificationPreferences};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use projections::notifications as read;
use uuid::Uuid;

use super::closed::{self, OneOf, RetryStatus};
use super::paging::Page;
use super::tags::ApiTags;
use super::views::{self, NotificationDto};
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

#[derive(Debug, Object)]
#[oai(example)]
pub struct NotificationPage {
    /// The log position this page reflects: apply the caller's live updates
    /// (`user.<id>.notifications`) above it.
    pub position: i64,
    /// Newest first.
    pub items: Vec<NotificationDto>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct UnreadCount {
    pub count: i64,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct MarkedRead {
    /// How many notifications were marked read.
    pub marked: i64,
}

/// Email on or off, per kind of notification.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, rename = "EmailPreferences", example)]
pub struct EmailPreferencesDto {
    #[oai(nullable)]
    pub misbehavior: Option<bool>,
    #[oai(nullable)]
    pub struggle: Option<bool>,
    #[oai(nullable)]
    pub safety_concern: Option<bool>,
    #[oai(nullable)]
    pub assessment_review: Option<bool>,
}

/// `email`: which kinds are also sent by email. Defaults: misbehavior and safety concerns on,
/// struggle and assessment reviews off. In a `PUT`, kinds left out keep their value.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct NotificationPreferencesDto {
    pub email: EmailPreferencesDto,
}

impl From<&NotificationPreferences> for NotificationPreferencesDto {
    fn from(prefs: &NotificationPreferences) -> Self {
        let on = |k| Some(prefs.email_for(k));
        Self {
            email: EmailPreferencesDto {
                misbehavior: on(NotificationKind::Misbehavior),
                struggle: on(NotificationKind::Struggle),
                safety_concern: on(NotificationKind::SafetyConcern),
                assessment_review: on(NotificationKind::AssessmentReview),
            },
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename = "DeadLetter")]
pub struct DeadLetterDto {
    /// The email's id (that of its notification).
    pub id: Uuid,
    pub notification_id: Uuid,
    pub recipient_id: Uuid,
    pub kind: OneOf<closed::NotificationKind>,
    pub attempts: i32,
    #[oai(nullable)]
    pub last_error: Option<String>,
    #[oai(nullable)]
    pub dead_lettered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct DeadLetterList {
    pub items: Vec<DeadLetterDto>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct RetryAccepted {
    pub id: Uuid,
    /// `retry_requested`: the delivery worker sends it again shortly.
    pub status: OneOf<RetryStatus>,
}

#[derive(ApiResponse)]
pub enum RetryResponse {
    #[oai(status = 202)]
    Accepted(Json<RetryAccepted>),
}

fn notification_rejected(error: NotificationError) -> ApiError {
    match error {
        NotificationError::NotFound => ApiError::not_found("resource"),
        NotificationError::AlreadyCreated => ApiError::kind(ProblemKind::Conflict),
    }
}

pub struct NotificationsApi {
    pub services: Arc<Services>,
}

#[OpenApi(tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// My notifications
    ///
    /// Newest first, paged with `cursor`; `unread=true` leaves out those already read.
    #[oai(
        path = "/notifications",
        method = "get",
        operation_id = "listNotifications"
    )]
    async fn list(
        &self,
        caller: Data<&Caller>,
        unread: Query<Option<bool>>,
        /// 1 to 200 (default 50).
        limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<NotificationPage>, ApiError> {
        let principal = caller.user()?;
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let mut snapshot = views::snapshot(&self.services.pool).await?;
        let mut rows = read::of_user(
            &mut *snapshot,
            principal.user_id,
            unread.0.unwrap_or(false),
            page.before,
            page.fetch(),
        )
        .await?;
        let position = views::position(&mut snapshot, read::NAME).await?;
        snapshot.commit().await?;
        let next_cursor = page.finish(&mut rows, |r| r.position);
        Ok(Json(NotificationPage {
            position,
            items: rows.into_iter().map(NotificationDto::from).collect(),
            next_cursor,
        }))
    }

    /// How many of my notifications are unread
    ///
    /// The number of the signed-in user's notifications not marked read.
    #[oai(
        path = "/notifications/unread-count",
        method = "get",
        operation_id = "unreadNotificationCount"
    )]
    async fn unread_count(&self, caller: Data<&Caller>) -> Result<Json<UnreadCount>, ApiError> {
        let principal = caller.user()?;
        let count = read::unread_count(&self.services.pool, principal.user_id).await?;
        Ok(Json(UnreadCount { count }))
    }

    /// Mark one of my notifications read
    ///
    /// Marks one of the signed-in user's notifications read.
    #[oai(
        path = "/notifications/:id/read",
        method = "post",
        operation_id = "markNotificationRead"
    )]
    async fn mark_read(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<NotificationDto>, ApiError> {
        let principal = caller.user()?;
        let appended = self
            .services
            .notifications
            .mark_read(
                &command_context(&caller, &request_id),
                id.0,
                principal.user_id,
            )
            .await
            .map_err(|e| command_error(e, notification_rejected))?;
        self.services
            .caught_up(read::NAME, appended.position)
            .await?;
        let row = read::get(&self.services.pool, id.0)
            .await?
            .filter(|r| r.recipient_id == principal.user_id)
            .ok_or_else(|| ApiError::not_found("resource"))?;
        Ok(Json(row.into()))
    }

    /// Mark all my notifications read
    ///
    /// Marks every unread notification of the signed-in user read.
    #[oai(
        path = "/notifications/read-all",
        method = "post",
        operation_id = "markAllNotificationsRead"
    )]
    async fn read_all(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
    ) -> Result<Json<MarkedRead>, ApiError> {
        let principal = caller.user()?;
        let context = command_context(&caller, &request_id);
        let ids = read::unread_ids(&self.services.pool, principal.user_id).await?;
        let mut marked = 0;
        let mut position = None;
        for id in ids {
            match self
                .services
                .notifications
                .mark_read(&context, id, principal.user_id)
                .await
            {
                Ok(appended) => {
                    marked += 1;
                    position = position.max(appended.position);
                }
                // Read concurrently by another request: fine.
                Err(application::CommandError::Conflict) => {}
                Err(e) => return Err(command_error(e, notification_rejected)),
            }
        }
        self.services.caught_up(read::NAME, position).await?;
        Ok(Json(MarkedRead { marked }))
    }

    /// My notification preferences
    ///
    /// Whether each kind of notification is also sent by email, as chosen or by default.
    #[oai(
        path = "/me/notification-preferences",
        method = "get",
        operation_id = "getNotificationPreferences"
    )]
    async fn preferences(
        &self,
        caller: Data<&Caller>,
    ) -> Result<Json<NotificationPreferencesDto>, ApiError> {
        let principal = caller.user()?;
        let prefs = self
            .services
            .notifications
            .preferences(principal.user_id)
            .await?;
        Ok(Json((&prefs).into()))
    }

    /// Change my notification preferences
    ///
    /// Sets email on or off per kind of notification; a kind left out or null keeps its
    /// current choice. Answers the preferences as they then are.
    #[oai(
        path = "/me/notification-preferences",
        method = "put",
        operation_id = "setNotificationPreferences"
    )]
    async fn set_preferences(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        body: Json<NotificationPreferencesDto>,
    ) -> Result<Json<NotificationPreferencesDto>, ApiError> {
        let principal = caller.user()?;
        let email = &body.0.email;
        let changes: BTreeMap<NotificationKind, bool> = [
            (NotificationKind::Misbehavior, email.misbehavior),
            (NotificationKind::Struggle, email.struggle),
            (NotificationKind::SafetyConcern, email.safety_concern),
            (NotificationKind::AssessmentReview, email.assessment_review),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        self.services
            .notifications
            .set_email_preferences(
                &command_context(&caller, &request_id),
                principal.user_id,
                changes,
            )
            .await
            .map_err(|e| command_error(e, |never| match never {}))?;
        // Read back from the write side: always current.
        let prefs = self
            .services
            .notifications
            .preferences(principal.user_id)
            .await?;
        Ok(Json((&prefs).into()))
    }

    /// Emails that could not be delivered
    ///
    /// For system admins: emails whose every attempt failed.
    #[oai(
        path = "/admin/dead-letters",
        method = "get",
        operation_id = "listDeadLetters"
    )]
    async fn dead_letters(&self, caller: Data<&Caller>) -> Result<Json<DeadLetterList>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.manage_dead_letters")?;
        let rows = read::dead_letters(&self.services.pool).await?;
        Ok(Json(DeadLetterList {
            items: rows
                .into_iter()
                .map(|r| DeadLetterDto {
                    id: r.notification_id,
                    notification_id: r.notification_id,
                    recipient_id: r.recipient_id,
                    kind: r.kind.as_str().into(),
                    attempts: r.attempts,
                    last_error: r.last_error,
                    dead_lettered_at: r.dead_lettered_at,
                })
                .collect(),
        }))
    }

    /// Try a dead letter again
    ///
    /// For system admins. The delivery worker runs a new cycle of attempts; the dead letter
    /// leaves the list at once.
    #[oai(
        path = "/admin/dead-letters/:id/retry",
        method = "post",
        operation_id = "retryDeadLetter"
    )]
    async fn retry(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<RetryResponse, ApiError> {
        let principal = caller.user()?;
        self.services
            .authz
            .system(principal, "system.manage_dead_letters")?;
        let appended = self
            .services
            .notifications
            .record_email(
                &command_context(&caller, &request_id),
                id.0,
                domain::email::EmailCommand::RequestRetry {
                    by: principal.user_id,
                },
            )
            .await
            .map_err(|e| {
                command_error(e, |e| match e {
                    EmailError::NotDeadLettered => ApiError::not_found("dead letter"),
                    EmailError::AlreadyDelivered => ApiError::kind(ProblemKind::Conflict),
                })
            })?;
        self.services
            .caught_up(read::NAME, appended.position)
            .await?;
        Ok(RetryResponse::Accepted(Json(RetryAccepted {
            id: id.0,
            status: "retry_requested".into(),
        })))
    }
}
