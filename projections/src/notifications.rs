//! The `notifications` read model: each user's notifications, their email preferences, and
//! the delivery state of emailed notifications (dead letters).
//!
//! A notification created or read is told to its recipient (topic `user.<id>.notifications`,
//! see [`crate::realtime`]) with their unread count, in the transaction that applies it.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::email::{EmailDelivery, EmailEvent};
use domain::notification::{
    Notification, NotificationEvent, NotificationKind, NotificationPreferences, PreferencesEvent,
};
use domain::Aggregate as _;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::realtime::{self, NotificationChange, NotificationUpdate, Topic};
use crate::runner::Projection;

pub const NAME: &str = "notifications";

pub struct NotificationsProjection;

#[async_trait]
impl Projection for NotificationsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[
            Notification::TYPE,
            NotificationPreferences::TYPE,
            EmailDelivery::TYPE,
        ])
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "notifications",
            "notification_unread_counts",
            "notification_preferences",
            "email_deliveries",
        ]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        let kind = event.aggregate_type.as_str();
        if kind != Notification::TYPE
            && kind != NotificationPreferences::TYPE
            && kind != EmailDelivery::TYPE
        {
            return Ok(());
        }
        let id: Uuid = event.aggregate_id.parse().context("stream id")?;
        let at = event.recorded_at;
        if kind == NotificationPreferences::TYPE {
            let PreferencesEvent::Changed { email } =
                serde_json::from_value(event.payload.clone()).context("preferences event")?;
            sqlx::query(
                "INSERT INTO notification_preferences (user_id, email) VALUES ($1, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email",
            )
            .bind(id)
            .bind(serde_json::to_value(email)?)
            .execute(conn)
            .await?;
            return Ok(());
        }
        if kind == EmailDelivery::TYPE {
            return apply_email(conn, id, at, event).await;
        }
        match serde_json::from_value(event.payload.clone()).context("notification event")? {
            NotificationEvent::Created {
                recipient_id,
                kind,
                title,
                body,
                subject,
                email,
                cause_event_id,
            } => {
                // The recipient's unread count goes up with the row, in the same statement.
                sqlx::query(
                    "WITH created AS ( \
                         INSERT INTO notifications (id, recipient_id, kind, title, body, \
                             class_id, learning_session_id, assessment_id, student_id, subject, \
                             email, cause_event_id, position, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                         ON CONFLICT (id) DO NOTHING RETURNING recipient_id) \
                     INSERT INTO notification_unread_counts (user_id, unread) \
                     SELECT recipient_id, 1 FROM created \
                     ON CONFLICT (user_id) \
                     DO UPDATE SET unread = notification_unread_counts.unread + 1",
                )
                .bind(id)
                .bind(recipient_id)
                .bind(kind.as_str())
                .bind(title)
                .bind(body)
                .bind(subject.class_id)
                .bind(subject.learning_session_id)
                .bind(subject.assessment_id)
                .bind(subject.student_id)
                .bind(serde_json::to_value(&subject)?)
                .bind(email)
                .bind(cause_event_id)
                .bind(event.position)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                tell_recipient(conn, id, event.position, NotificationChange::Created).await?;
            }
            NotificationEvent::Read => {
                sqlx::query(
                    "WITH read AS ( \
                         UPDATE notifications SET read_at = $2 \
                         WHERE id = $1 AND read_at IS NULL RETURNING recipient_id) \
                     UPDATE notification_unread_counts c SET unread = c.unread - 1 \
                     FROM read WHERE c.user_id = read.recipient_id",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                tell_recipient(conn, id, event.position, NotificationChange::Read).await?;
            }
        }
        Ok(())
    }
}

/// Tells the recipient of notification `id` (`user.<id>.notifications`) what changed at
/// `position`: the notification as it is now, with their unread count.
async fn tell_recipient(
    conn: &mut PgConnection,
    id: Uuid,
    position: i64,
    change: NotificationChange,
) -> anyhow::Result<()> {
    let Some(row) = get(&mut *conn, id).await? else {
        return Ok(());
    };
    let recipient = row.recipient_id;
    let update = NotificationUpdate {
        position,
        change,
        unread_count: unread_count(&mut *conn, recipient).await?,
        notification: row.into(),
    };
    realtime::write(
        conn,
        &Topic::UserNotifications(recipient),
        position,
        &update,
    )
    .await
}

async fn apply_email(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
    event: &LoggedEvent,
) -> anyhow::Result<()> {
    let payload: EmailEvent =
        serde_json::from_value(event.payload.clone()).context("email event")?;
    let (recipient, kind, status, attempts, error) = match &payload {
        EmailEvent::Delivered {
            recipient_id,
            kind,
            attempt,
            ..
        } => (*recipient_id, *kind, "delivered", *attempt, None),
        EmailEvent::DeliveryFailed {
            recipient_id,
            kind,
            attempt,
            error,
            ..
        } => (
            *recipient_id,
            *kind,
            "pending",
            *attempt,
            Some(error.as_str()),
        ),
        EmailEvent::DeadLettered {
            recipient_id,
            kind,
            attempts,
            last_error,
            ..
        } => (
            *recipient_id,
            *kind,
            "dead_lettered",
            *attempts,
            Some(last_error.as_str()),
        ),
        EmailEvent::RetryRequested { .. } => {
            sqlx::query(
                "UPDATE email_deliveries SET status = 'retry_requested', attempts = 0, \
                 updated_at = $2 WHERE notification_id = $1",
            )
            .bind(id)
            .bind(at)
            .execute(conn)
            .await?;
            return Ok(());
        }
    };
    let dead_at = (status == "dead_lettered").then_some(at);
    sqlx::query(
        "INSERT INTO email_deliveries (notification_id, recipient_id, kind, status, attempts, \
             last_error, updated_at, dead_lettered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (notification_id) DO UPDATE SET status = EXCLUDED.status, \
             attempts = EXCLUDED.attempts, \
             last_error = COALESCE(EXCLUDED.last_error, email_deliveries.last_error), \
             updated_at = EXCLUDED.updated_at, dead_lettered_at = EXCLUDED.dead_lettered_at",
    )
    .bind(id)
    .bind(recipient)
    .bind(kind.as_str())
    .bind(status)
    .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
    .bind(error)
    .bind(at)
    .bind(dead_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A notification row.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRow {
    pub id: Uuid,
    pub recipient_id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub class_id: Uuid,
    pub learning_session_id: Option<Uuid>,
    pub assessment_id: Option<Uuid>,
    pub student_id: Option<Uuid>,
    pub subject: Value,
    pub position: i64,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl<'r> FromRow<'r, PgRow> for NotificationRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            recipient_id: row.try_get("recipient_id")?,
            kind: row.try_get("kind")?,
            title: row.try_get("title")?,
            body: row.try_get("body")?,
            class_id: row.try_get("class_id")?,
            learning_session_id: row.try_get("learning_session_id")?,
            assessment_id: row.try_get("assessment_id")?,
            student_id: row.try_get("student_id")?,
            subject: row.try_get("subject")?,
            position: row.try_get("position")?,
            created_at: row.try_get("created_at")?,
            read_at: row.try_get("read_at")?,
        })
    }
}

const COLUMNS: &str = "id, recipient_id, kind, title, body, class_id, learning_session_id, \
                       assessment_id, student_id, subject, position, created_at, read_at";

pub async fn get<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<NotificationRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// A user's notifications, newest first, below position `before` when given.
pub async fn of_user<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    unread_only: bool,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<NotificationRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE recipient_id = $1 \
         AND ($2 = false OR read_at IS NULL) AND ($3::bigint IS NULL OR position < $3) \
         ORDER BY position DESC LIMIT $4"
    ))
    .bind(user_id)
    .bind(unread_only)
    .bind(before)
    .bind(limit)
    .fetch_all(executor)
    .await
}

/// A user's unread notifications (kept by the projection as they are created and read).
pub async fn unread_count<'e>(executor: impl PgExecutor<'e>, user_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT coalesce((SELECT unread FROM notification_unread_counts WHERE user_id = $1), 0)",
    )
    .bind(user_id)
    .fetch_one(executor)
    .await
}

/// The ids of a user's unread notifications.
pub async fn unread_ids<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM notifications WHERE recipient_id = $1 AND read_at IS NULL \
         ORDER BY position",
    )
    .bind(user_id)
    .fetch_all(executor)
    .await
}

/// A dead-lettered email.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterRow {
    pub notification_id: Uuid,
    pub recipient_id: Uuid,
    pub kind: NotificationKind,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub dead_lettered_at: Option<DateTime<Utc>>,
}

pub async fn dead_letters<'e>(executor: impl PgExecutor<'e>) -> sqlx::Result<Vec<DeadLetterRow>> {
    let rows = sqlx::query(
        "SELECT notification_id, recipient_id, kind, attempts, last_error, dead_lettered_at \
         FROM email_deliveries WHERE status = 'dead_lettered' \
         ORDER BY dead_lettered_at, notification_id LIMIT 1000",
    )
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(DeadLetterRow {
                notification_id: r.try_get("notification_id")?,
                recipient_id: r.try_get("recipient_id")?,
                kind: NotificationKind::parse(&kind)
                    .ok_or_else(|| sqlx::Error::Decode(format!("kind {kind}").into()))?,
                attempts: r.try_get("attempts")?,
                last_error: r.try_get("last_error")?,
                dead_lettered_at: r.try_get("dead_lettered_at")?,
            })
        })
        .collect()
}
