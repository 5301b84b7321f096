//! The email delivery subscriber: sends the emails of notifications created with `email:
//! true`, and dead letters an admin asked to retry.
//!
//! Each email is tried up to `attempts` times with exponentially growing delays (from
//! `first_delay`); every failure, the delivery and the final dead-lettering are events of the
//! email's own stream (aggregate `email_delivery`, id = the notification's). Before sending,
//! the worker reads that stream: an email already delivered or dead-lettered is not sent again,
//! so a batch delivered twice (crash) or the whole log replayed sends nothing twice. The one
//! unavoidable window — the SMTP server accepted the message and the process died before the
//! `email.delivered` event was written — sends again, with the same `Message-ID` header.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use application::notifications::Notifications;
use application::ports::{Mailer, OutgoingEmail};
use application::{CommandContext, CommandError};
use async_trait::async_trait;
use domain::email::{EmailCommand, EmailDelivery as EmailStream, EmailError};
use domain::notification::{
    Notification, NotificationEvent, NotificationKind, NotificationSubject,
};
use domain::Aggregate as _;
use futures::StreamExt as _;
use projections::metrics::Metrics;
use projections::{directory, LoggedEvent, Sink};
use sqlx::PgPool;
use uuid::Uuid;

use super::memo::Memo;
use super::templates::{EmailContext, EmailTemplates};

pub const NAME: &str = "email_delivery";

/// Emails sent at once.
const CONCURRENCY: usize = 8;

/// Retry policy (`MAIL_RETRY_ATTEMPTS`, `MAIL_RETRY_DELAY_MS`).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
}

pub struct EmailDelivery {
    pub pool: PgPool,
    pub notifications: Arc<Notifications>,
    pub mailer: Arc<dyn Mailer>,
    pub templates: EmailTemplates,
    pub retry: Retry,
    /// `FRONTEND_URL`, for links.
    pub frontend_url: String,
    /// Where emails sent, failed and dead-lettered are counted.
    pub metrics: Arc<Metrics>,
}

/// A notification to email.
struct Job {
    id: Uuid,
    recipient_id: Uuid,
    kind: NotificationKind,
    title: String,
    body: String,
    subject: NotificationSubject,
    context: CommandContext,
}

fn created(payload: serde_json::Value) -> anyhow::Result<Option<NotificationEvent>> {
    let event: NotificationEvent = serde_json::from_value(payload).context("notification event")?;
    Ok(matches!(event, NotificationEvent::Created { email: true, .. }).then_some(event))
}

impl EmailDelivery {
    fn count(&self, outcome: &str) {
        self.metrics.email(outcome);
    }

    /// The job an event calls for, if any.
    async fn job(&self, event: &LoggedEvent) -> anyhow::Result<Option<Job>> {
        let (id, notification) = match event.event_type.as_str() {
            "notification.created" => {
                let Some(n) = created(event.payload.clone())? else {
                    return Ok(None);
                };
                (event.aggregate_id.parse().context("notification id")?, n)
            }
            "email.retry_requested" => {
                let id: Uuid = event.aggregate_id.parse().context("email id")?;
                // The notification's creation, from the write side.
                let payload = projections::log::first_payload(
                    &self.pool,
                    Notification::TYPE,
                    &id.to_string(),
                )
                .await?
                .with_context(|| format!("notification {id}"))?;
                let Some(n) = created(payload)? else {
                    return Ok(None);
                };
                (id, n)
            }
            _ => return Ok(None),
        };
        let NotificationEvent::Created {
            recipient_id,
            kind,
            title,
            body,
            subject,
            ..
        } = notification
        else {
            return Ok(None);
        };
        Ok(Some(Job {
            id,
            recipient_id,
            kind,
            title,
            body,
            subject: *subject,
            context: CommandContext {
                actor: format!("system:{NAME}"),
                correlation_id: event.meta("correlation_id").unwrap_or_default().to_owned(),
                causation_id: Some(event.event_id.to_string()),
            },
        }))
    }

    fn link(&self, subject: &NotificationSubject, kind: NotificationKind) -> String {
        let base = self.frontend_url.trim_end_matches('/');
        match (kind, subject.assessment_id, subject.learning_session_id) {
            (NotificationKind::AssessmentReview, Some(a), _) => format!("{base}/assessments/{a}"),
            (_, _, Some(s)) => format!("{base}/learning-sessions/{s}"),
            _ => format!("{base}/classes/{}", subject.class_id),
        }
    }

    async fn record(&self, job: &Job, command: EmailCommand) -> anyhow::Result<()> {
        match self
            .notifications
            .record_email(&job.context, job.id, command)
            .await
        {
            Ok(_) | Err(CommandError::Rejected(EmailError::AlreadyDelivered)) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("recording email {}: {e}", job.id)),
        }
    }

    /// Sends one email, with retries, unless it is not due any more.
    async fn send(
        &self,
        job: Job,
        contacts: &Memo<Uuid, Option<(String, String)>>,
    ) -> anyhow::Result<()> {
        let state = self.notifications.email_delivery(job.id).await?;
        if !state.due() {
            return Ok(());
        }
        let failure = |error: String, last: bool| EmailCommand::RecordFailure {
            recipient_id: job.recipient_id,
            kind: job.kind,
            error,
            last,
        };
        let contact = contacts
            .get(job.recipient_id, || {
                directory::contact(&self.pool, job.recipient_id)
            })
            .await?;
        let Some((address, name)) = contact else {
            // Unknown or disabled account: nothing to retry.
            self.count("dead_lettered");
            return self
                .record(
                    &job,
                    failure("the recipient's account is disabled".into(), true),
                )
                .await;
        };
        let rendered = self.templates.render(
            job.kind,
            &EmailContext {
                recipient_name: name,
                title: job.title.clone(),
                body: job.body.clone(),
                class_name: job.subject.class_name.clone(),
                student_name: job
                    .subject
                    .student_name
                    .clone()
                    .unwrap_or_else(|| "a student".into()),
                link: self.link(&job.subject, job.kind),
                details: job.subject.details.clone(),
            },
        )?;
        let email = OutgoingEmail {
            to: address,
            subject: rendered.subject,
            text: rendered.text,
            html: Some(rendered.html),
            message_id: Some(format!("<{}@notifications.raptscallions>", job.id)),
        };
        let attempts = self.retry.attempts.max(1);
        let mut attempt = state.attempts + 1;
        loop {
            match self.mailer.send(&email).await {
                Ok(()) => {
                    self.count("sent");
                    return self
                        .record(
                            &job,
                            EmailCommand::RecordDelivered {
                                recipient_id: job.recipient_id,
                                kind: job.kind,
                            },
                        )
                        .await;
                }
                Err(error) => {
                    let last = attempt >= attempts;
                    tracing::warn!(email = %job.id, attempt, last, %error, "email not sent");
                    self.record(&job, failure(error.to_string(), last)).await?;
                    if last {
                        self.count("dead_lettered");
                        return Ok(());
                    }
                    self.count("failed");
                    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
                    tokio::time::sleep(self.retry.first_delay.saturating_mul(factor)).await;
                    attempt += 1;
                }
            }
        }
    }
}

#[async_trait]
impl Sink for EmailDelivery {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Notification::TYPE, EmailStream::TYPE])
    }

    async fn deliver(&self, events: &[LoggedEvent]) -> anyhow::Result<()> {
        let mut jobs: Vec<Job> = Vec::new();
        for event in events {
            if let Some(job) = self.job(event).await? {
                // One email once per batch (a redelivered slice may hold both its creation
                // and a retry request).
                if !jobs.iter().any(|j| j.id == job.id) {
                    jobs.push(job);
                }
            }
        }
        let contacts = Memo::default();
        // Every job runs to its end (an abandoned send could have been accepted by the SMTP
        // server without its outcome being recorded); then the first failure fails the batch.
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(jobs)
            .map(|job| self.send(job, &contacts))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }
}
