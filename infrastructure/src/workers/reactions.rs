//! The reactions subscriber (the original design's workers): turns misbehavior detections and
//! unsure assessments into notifications for the class's teachers. Which events call for a
//! notice, and its wording, are the rules of `application::notices`; this is the wiring.
//! Struggles and safety concerns are the workflows' (`workers::workflows`).
//!
//! (Misbehavior of any severity also counts on the class dashboard: that is the `dashboards`
//! projection.) Each notification is a command with a deterministic id derived from the
//! causing event, the kind and the recipient, so a batch that is delivered again after a crash
//! — or the whole log after a reset of this subscriber — creates nothing twice. Recipients and
//! names come from the read models once those have caught up with the causing event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use application::notices::Notice;
use application::notifications::{NewNotification, Notifications};
use application::CommandContext;
use async_trait::async_trait;
use domain::assessment::{Assessment, AssessmentEvent};
use domain::learning::{LearningSession, LearningSessionEvent};
use domain::notification::{NotificationPreferences, NotificationSubject};
use domain::Aggregate as _;
use futures::{StreamExt as _, TryStreamExt as _};
use projections::directory::DirectoryProjection;
use projections::identity::IdentityProjection;
use projections::{directory, Checkpoints, LoggedEvent, Projection, Sink};
use sqlx::PgPool;
use uuid::Uuid;

use super::memo::Memo;

pub const NAME: &str = "reactions";

/// The event types that may call for notifications.
const REACTING_TO: &[&str] = &["behavior.misbehavior_detected", "assessment.recorded"];

/// Commands in flight at once within a batch.
const CONCURRENCY: usize = 8;

pub struct Reactions {
    pool: PgPool,
    checkpoints: Checkpoints,
    notifications: Arc<Notifications>,
    /// Fault injection for tests (`REACTIONS_FAULT_AFTER_COMMANDS`): the first batch fails
    /// after this many commands, as if the process had crashed mid-batch.
    fault_after: Mutex<Option<usize>>,
}

impl Reactions {
    pub fn new(
        pool: PgPool,
        checkpoints: Checkpoints,
        notifications: Arc<Notifications>,
        fault_after: Option<usize>,
    ) -> Self {
        Self {
            pool,
            checkpoints,
            notifications,
            fault_after: Mutex::new(fault_after),
        }
    }

    /// Waits until the read models have applied everything up to `position` that concerns
    /// them, so that the recipients are those of the moment of the event (not of an older
    /// state). They are woken only by their own aggregate types, so their checkpoint may lag
    /// behind `position` with nothing left to apply: that counts as caught up.
    async fn wait_for_sources(&self, position: i64) -> anyhow::Result<()> {
        let sources: [&dyn Projection; 2] = [&DirectoryProjection, &IdentityProjection];
        for source in sources {
            let name = source.name();
            self.checkpoints
                .wait_for_handled(
                    name,
                    source.aggregate_types(),
                    Some(position),
                    Duration::from_secs(30),
                )
                .await
                .with_context(|| format!("waiting for {name}"))?;
        }
        Ok(())
    }

    /// The notifications one event calls for.
    async fn plan(
        &self,
        event: &LoggedEvent,
        memo: &BatchMemo,
    ) -> anyhow::Result<Vec<NewNotification>> {
        let Some(mut reaction) = Reaction::of(event)? else {
            return Ok(vec![]);
        };
        if reaction.class_id.is_nil() {
            (reaction.class_id, reaction.student_id) = memo
                .sessions
                .get(reaction.session_id, || {
                    session_facts(&self.pool, reaction.session_id)
                })
                .await?;
        }
        let class = memo
            .classes
            .get(reaction.class_id, || async {
                directory::get_class(&self.pool, reaction.class_id)
                    .await?
                    .with_context(|| format!("class {}", reaction.class_id))
            })
            .await?;
        let recipients = memo
            .teachers
            .get(class.id, || async {
                Ok::<_, anyhow::Error>(directory::class_teachers(&self.pool, class.id).await?)
            })
            .await?;
        if recipients.is_empty() {
            return Ok(vec![]);
        }
        let student_name = memo
            .names
            .get(reaction.student_id, || async {
                Ok::<_, anyhow::Error>(
                    directory::contact(&self.pool, reaction.student_id)
                        .await?
                        .map(|(_, name)| name)
                        .unwrap_or_else(|| "A student".to_owned()),
                )
            })
            .await?;
        let (title, body) = reaction.notice.texts(&class.name, &student_name);
        let subject = NotificationSubject {
            class_id: class.id,
            class_name: class.name.clone(),
            learning_session_id: Some(reaction.session_id),
            assessment_id: reaction.assessment_id,
            student_id: Some(reaction.student_id),
            student_name: Some(student_name),
            details: reaction.notice.details.clone(),
        };
        let mut planned = Vec::with_capacity(recipients.len());
        for recipient_id in recipients {
            let email = memo
                .preferences
                .get(recipient_id, || {
                    self.notifications.preferences(recipient_id)
                })
                .await?
                .email_for(reaction.notice.kind);
            planned.push(NewNotification {
                recipient_id,
                kind: reaction.notice.kind,
                title: title.clone(),
                body: body.clone(),
                subject: subject.clone(),
                email,
                cause_event_id: event.event_id,
            });
        }
        Ok(planned)
    }
}

impl Reactions {
    /// [`Reactions::plan`], each notification with the context of its command.
    async fn plan_in_context(
        &self,
        event: &LoggedEvent,
        memo: &BatchMemo,
    ) -> anyhow::Result<Vec<(NewNotification, CommandContext)>> {
        let context = CommandContext {
            actor: format!("system:{NAME}"),
            correlation_id: event.meta("correlation_id").unwrap_or_default().to_owned(),
            causation_id: Some(event.event_id.to_string()),
        };
        Ok(self
            .plan(event, memo)
            .await?
            .into_iter()
            .map(|n| (n, context.clone()))
            .collect())
    }
}

/// What one batch looks up, once.
#[derive(Default)]
struct BatchMemo {
    sessions: Memo<Uuid, (Uuid, Uuid)>,
    classes: Memo<Uuid, directory::ClassRow>,
    /// The teachers of each class.
    teachers: Memo<Uuid, Vec<Uuid>>,
    names: Memo<Uuid, String>,
    preferences: Memo<Uuid, NotificationPreferences>,
}

/// What an event calls for, before recipients are known.
struct Reaction {
    notice: Notice,
    class_id: Uuid,
    session_id: Uuid,
    student_id: Uuid,
    assessment_id: Option<Uuid>,
}

impl Reaction {
    fn of(event: &LoggedEvent) -> anyhow::Result<Option<Self>> {
        if !REACTING_TO.contains(&event.event_type.as_str()) {
            return Ok(None);
        }
        if event.event_type == "assessment.recorded" {
            let AssessmentEvent::Recorded {
                learning_session_id,
                class_id,
                student_id,
                confidence,
                ..
            } = serde_json::from_value(event.payload.clone()).context("assessment event")?
            else {
                return Ok(None);
            };
            return Ok(Notice::assessment_review(confidence).map(|notice| Self {
                notice,
                class_id,
                session_id: learning_session_id,
                student_id,
                assessment_id: event.aggregate_id.parse().ok(),
            }));
        }
        let session_id: Uuid = event.aggregate_id.parse().context("session id")?;
        let payload: LearningSessionEvent =
            serde_json::from_value(event.payload.clone()).context("learning event")?;
        let LearningSessionEvent::MisbehaviorDetected {
            category,
            severity,
            evidence,
        } = payload
        else {
            return Ok(None);
        };
        // The session's class and student are filled in from its first event (`plan`).
        Ok(
            Notice::misbehavior(&category, severity, &evidence).map(|notice| Self {
                notice,
                class_id: Uuid::nil(),
                session_id,
                student_id: Uuid::nil(),
                assessment_id: None,
            }),
        )
    }
}

/// The class and student of a learning session, from its `session.started` event.
async fn session_facts(pool: &PgPool, session_id: Uuid) -> anyhow::Result<(Uuid, Uuid)> {
    let payload =
        projections::log::first_payload(pool, LearningSession::TYPE, &session_id.to_string())
            .await?
            .with_context(|| format!("the start of learning session {session_id}"))?;
    match serde_json::from_value(payload)? {
        LearningSessionEvent::Started {
            class_id,
            student_id,
            ..
        } => Ok((class_id, student_id)),
        other => anyhow::bail!("learning session {session_id} starts with {other:?}"),
    }
}

#[async_trait]
impl Sink for Reactions {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[LearningSession::TYPE, Assessment::TYPE])
    }

    async fn deliver(&self, events: &[LoggedEvent]) -> anyhow::Result<()> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let relevant: Vec<&LoggedEvent> = events
            .iter()
            .filter(|e| REACTING_TO.contains(&e.event_type.as_str()))
            .collect();
        if relevant.is_empty() {
            return Ok(());
        }
        let until = relevant.last().map_or(last.position, |e| e.position);
        self.wait_for_sources(until).await?;
        let memo = BatchMemo::default();
        let mut plans: Vec<Vec<(NewNotification, CommandContext)>> = Vec::new();
        for chunk in relevant.chunks(CONCURRENCY) {
            plans.extend(
                futures::future::try_join_all(
                    chunk.iter().map(|event| self.plan_in_context(event, &memo)),
                )
                .await?,
            );
        }
        let planned: Vec<(NewNotification, CommandContext)> = plans.into_iter().flatten().collect();
        // Armed until a batch that issues commands comes along.
        let fault_after = if planned.is_empty() {
            None
        } else {
            self.fault_after.lock().expect("fault lock").take()
        };
        if let Some(n) = fault_after {
            // Injected crash: the first n commands take effect, then the batch fails.
            for (notification, context) in planned.into_iter().take(n) {
                self.notifications.create(&context, notification).await?;
            }
            anyhow::bail!("injected fault after {n} reaction commands");
        }
        // Each recipient's notifications are created one after the other, in the order of
        // their causes, so that an inbox (newest first, by log position) lists them in the
        // order things happened; different recipients' run concurrently.
        let mut by_recipient: Vec<Vec<(NewNotification, CommandContext)>> = Vec::new();
        for (notification, context) in planned {
            match by_recipient
                .iter_mut()
                .find(|queue| queue[0].0.recipient_id == notification.recipient_id)
            {
                Some(queue) => queue.push((notification, context)),
                None => by_recipient.push(vec![(notification, context)]),
            }
        }
        futures::stream::iter(by_recipient)
            .map(|queue| async move {
                for (notification, context) in queue {
                    self.notifications.create(&context, notification).await?;
                }
                Ok::<_, anyhow::Error>(())
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }
}
