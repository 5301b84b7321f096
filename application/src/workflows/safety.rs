//! The safety escalation's rules in the process manager (open, alert, pause, escalate,
//! follow up) and the use cases of the people who handle a concern ([`SafetyConcerns`]).
//!
//! Who is alerted at each level is [`super::audience`]'s rule; here are only its lookups (the
//! class's group chain, the admins and counselors of each group, the system admins). The
//! system admins are the last level: no further timer.
//!
//! `immediate` alerts are emailed whatever the recipients' email preferences; the others
//! follow them.

use std::sync::Arc;

use domain::group::{GroupId, GroupRole};
use domain::learning::{LearningSessionError, Urgency};
use domain::notification::{NotificationKind, NotificationSubject};
use domain::safety_escalation::{
    AlertTarget, ResolutionOutcome, SafetyEscalation, SafetyEscalationCommand as Command,
    SafetyEscalationError as Refused, SafetyEscalationEvent as Event, TimerPurpose,
};
use domain::user::UserId;
use domain::Aggregate as _;
use sqlx::PgPool;
use uuid::Uuid;

use super::audience::{Audience, AudienceLadder, GroupHandlers};
use super::{ids, Fallible, LogEntry, Workflows};
use crate::notices::Notice;
use crate::notifications::NewNotification;
use crate::ports::AppendListener;
use crate::{Appended, CommandContext, CommandError, CommandRunner, StoreError};

/// The pause reason the workflow gives.
pub const PAUSE_REASON: &str = "safety concern";

/// A command whose refusal means "nothing left to do" (resolved, acknowledged, cancelled).
fn settled<T>(result: Result<T, CommandError<Refused>>) -> Fallible<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(CommandError::Rejected(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

fn ack_purpose(level: u32) -> String {
    format!("ack/{level}")
}

const FOLLOW_UP: &str = "follow_up";

impl Workflows {
    pub(super) async fn on_safety_concern(
        &self,
        entry: &LogEntry<'_>,
        session_id: Uuid,
        concern_type: String,
        urgency: Urgency,
        evidence: String,
    ) -> Fallible<()> {
        let context = entry.context();
        let Some(facts) = self.directory.learning_session(session_id).await? else {
            return Err(format!("learning session {session_id} has no start").into());
        };
        let id = ids::safety_concern(entry.event_id);
        let open = Command::Open {
            learning_session_id: session_id,
            class_id: facts.class_id,
            group_id: facts.group_id,
            student_id: facts.student_id,
            concern_type: concern_type.clone(),
            urgency,
            evidence: evidence.clone(),
            detection_id: entry.event_id,
        };
        // A new stream unless this detection was handled before (then decided on the stream).
        let (_, mut state) = match self
            .escalations
            .execute_new_for_state(id, open.clone(), &context)
            .await
        {
            Err(CommandError::Conflict) => {
                self.escalations
                    .execute_for_state(id, open, &context)
                    .await?
            }
            other => other?,
        };
        if urgency != Urgency::Monitor && state.alerts.is_empty() && state.is_open() {
            self.directory.caught_up_with(entry.position).await?;
            let (groups, system_admins) = self.people_above(facts.group_id).await?;
            let Audience { target, recipients } = AudienceLadder {
                chain: &groups,
                system_admins: &system_admins,
                student: facts.student_id,
            }
            .first(urgency);
            let notice = Notice::safety_concern(&concern_type, urgency, &evidence, 0);
            self.alert(entry, &state, &recipients, &notice).await?;
            let record = Command::RecordAlert {
                level: 0,
                target,
                recipients: recipients.len() as u32,
            };
            match settled(
                self.escalations
                    .execute_for_state(id, record, &context)
                    .await,
            )? {
                Some((_, next)) => state = next,
                None => return Ok(()),
            }
        }
        if urgency == Urgency::Immediate && !state.session_paused && state.is_open() {
            match self
                .learning
                .pause(&context, session_id, PAUSE_REASON.to_owned())
                .await
            {
                // Paused now or before, or completed: nothing more to pause.
                Ok(_) | Err(CommandError::Rejected(LearningSessionError::Completed)) => {}
                Err(other) => return Err(other.into()),
            }
            match settled(
                self.escalations
                    .execute_for_state(id, Command::RecordSessionPaused, &context)
                    .await,
            )? {
                Some((_, next)) => state = next,
                None => return Ok(()),
            }
        }
        self.ensure_escalation_timer(id, &state, &context).await
    }

    /// What the audience ladder reads: the admins and counselors of the group `group_id` and
    /// of each group above it (the group first, the root last), and the system admins.
    async fn people_above(&self, group_id: GroupId) -> Fallible<(Vec<GroupHandlers>, Vec<UserId>)> {
        let chain = self.directory.group_chain(group_id).await?;
        let mut groups = Vec::with_capacity(chain.len());
        for group_id in chain {
            groups.push(GroupHandlers {
                group_id,
                admins: self
                    .directory
                    .group_handlers(group_id, &[GroupRole::Admin])
                    .await?,
                counselors: self
                    .directory
                    .group_handlers(group_id, &[GroupRole::Counselor])
                    .await?,
            });
        }
        Ok((groups, self.directory.system_admins().await?))
    }

    /// Creates the notification of `notice` for each recipient; the cause is the log event
    /// being handled, so a second pass addresses the same notifications.
    async fn alert(
        &self,
        entry: &LogEntry<'_>,
        state: &SafetyEscalation,
        recipients: &[UserId],
        notice: &Notice,
    ) -> Fallible<()> {
        let (Some(class_id), Some(session_id), Some(student_id)) =
            (state.class_id, state.learning_session_id, state.student_id)
        else {
            return Ok(());
        };
        let class_name = self
            .directory
            .class_name(class_id)
            .await?
            .unwrap_or_default();
        let student_name = self.student_name(student_id).await?;
        let (title, body) = notice.texts(&class_name, &student_name);
        let forced = state.urgency == Some(Urgency::Immediate);
        let context = entry.context();
        for recipient in recipients {
            let email = forced
                || self
                    .notifications
                    .preferences(*recipient)
                    .await?
                    .email_for(NotificationKind::SafetyConcern);
            self.notifications
                .create(
                    &context,
                    NewNotification {
                        recipient_id: *recipient,
                        kind: notice.kind,
                        title: title.clone(),
                        body: body.clone(),
                        subject: NotificationSubject {
                            class_id,
                            class_name: class_name.clone(),
                            learning_session_id: Some(session_id),
                            assessment_id: None,
                            student_id: Some(student_id),
                            student_name: Some(student_name.clone()),
                            details: notice.details.clone(),
                        },
                        email,
                        cause_event_id: entry.event_id,
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Schedules the timer the concern should wait on next, unless it is, and (re)writes the
    /// row of the timer it waits on.
    async fn ensure_escalation_timer(
        &self,
        id: Uuid,
        state: &SafetyEscalation,
        context: &CommandContext,
    ) -> Fallible<()> {
        if !state.is_open() {
            return Ok(());
        }
        let pending = match (state.timer, state.urgency) {
            (Some(timer), _) => Some(timer),
            (None, Some(Urgency::Monitor)) => {
                let timer_id = ids::timer(id, FOLLOW_UP);
                if state.follow_up_sent || state.fired_timers.contains(&timer_id) {
                    None
                } else {
                    self.schedule(
                        id,
                        timer_id,
                        TimerPurpose::FollowUp,
                        self.settings.safety_follow_up_after,
                        context,
                    )
                    .await?
                }
            }
            (None, Some(urgency)) => {
                let Some(level) = (state.alerts.len() as u32).checked_sub(1) else {
                    return Ok(());
                };
                let timer_id = ids::timer(id, &ack_purpose(level));
                if state.acknowledged_by.is_some()
                    || state.alerts.last() == Some(&AlertTarget::SystemAdmins)
                    || state.fired_timers.contains(&timer_id)
                {
                    None
                } else {
                    let delay = if urgency == Urgency::Immediate {
                        self.settings.safety_ack_timeout
                    } else {
                        self.settings.safety_same_day_ack_timeout
                    };
                    self.schedule(
                        id,
                        timer_id,
                        TimerPurpose::AcknowledgementTimeout { level },
                        delay,
                        context,
                    )
                    .await?
                }
            }
            (None, None) => None,
        };
        if let Some(timer) = pending {
            let purpose = match timer.purpose {
                TimerPurpose::FollowUp => FOLLOW_UP.to_owned(),
                TimerPurpose::AcknowledgementTimeout { level } => ack_purpose(level),
            };
            self.ensure_timer_row(
                timer.timer_id,
                SafetyEscalation::TYPE,
                id,
                &purpose,
                timer.due_at,
            )
            .await?;
        }
        Ok(())
    }

    async fn schedule(
        &self,
        id: Uuid,
        timer_id: Uuid,
        purpose: TimerPurpose,
        delay: std::time::Duration,
        context: &CommandContext,
    ) -> Fallible<Option<domain::safety_escalation::PendingTimer>> {
        let due_at = super::timers::due_after(&self.pool, delay).await?;
        let command = Command::ScheduleTimer {
            timer_id,
            purpose,
            due_at,
        };
        Ok(settled(
            self.escalations
                .execute_for_state(id, command, context)
                .await,
        )?
        .and_then(|(_, state)| state.timer))
    }

    pub(super) async fn on_escalation_event(&self, entry: LogEntry<'_>) -> Fallible<()> {
        let id = entry.stream_id()?;
        let Event::TimerFired { timer_id } = serde_json::from_value(entry.payload.clone())? else {
            return Ok(());
        };
        let (state, _) = self.escalations.load(id).await?;
        if !state.is_open() {
            return Ok(());
        }
        let context = entry.context();
        let (Some(group_id), Some(urgency), Some(student)) =
            (state.group_id, state.urgency, state.student_id)
        else {
            return Ok(());
        };
        self.directory.caught_up_with(entry.position).await?;
        let (groups, system_admins) = self.people_above(group_id).await?;
        let ladder = AudienceLadder {
            chain: &groups,
            system_admins: &system_admins,
            student,
        };
        if timer_id == ids::timer(id, FOLLOW_UP) {
            if state.follow_up_sent {
                return Ok(());
            }
            let recipients = ladder.follow_up().recipients;
            let notice = Notice::safety_follow_up(&state.concern_type, &state.evidence);
            self.alert(&entry, &state, &recipients, &notice).await?;
            let record = Command::RecordFollowUp {
                recipients: recipients.len() as u32,
            };
            settled(self.escalations.execute(id, record, &context).await)?;
            return Ok(());
        }
        let Some(level) = (state.alerts.len() as u32).checked_sub(1) else {
            return Ok(());
        };
        if timer_id != ids::timer(id, &ack_purpose(level)) || state.acknowledged_by.is_some() {
            return Ok(());
        }
        let Some(Audience { target, recipients }) =
            state.alerts.last().and_then(|last| ladder.after(*last))
        else {
            return Ok(());
        };
        let notice =
            Notice::safety_concern(&state.concern_type, urgency, &state.evidence, level + 1);
        self.alert(&entry, &state, &recipients, &notice).await?;
        let record = Command::RecordAlert {
            level: level + 1,
            target,
            recipients: recipients.len() as u32,
        };
        if let Some((_, state)) = settled(
            self.escalations
                .execute_for_state(id, record, &context)
                .await,
        )? {
            self.ensure_escalation_timer(id, &state, &context).await?;
        }
        Ok(())
    }
}

/// The use cases of the people who handle a safety concern. Who may is the policy's question,
/// asked before these run.
pub struct SafetyConcerns {
    runner: CommandRunner<SafetyEscalation>,
}

impl SafetyConcerns {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool, listener),
        }
    }

    /// The concern from the write side (always current); `None` if there is none.
    pub async fn load(&self, id: Uuid) -> Result<Option<SafetyEscalation>, StoreError> {
        let (state, version) = self.runner.load(id).await?;
        Ok((version > 0).then_some(state))
    }

    pub async fn acknowledge(
        &self,
        context: &CommandContext,
        id: Uuid,
        by: UserId,
    ) -> Result<(Appended, SafetyEscalation), CommandError<Refused>> {
        self.runner
            .execute_for_state_retrying(id, Command::Acknowledge { by }, context)
            .await
    }

    pub async fn resolve(
        &self,
        context: &CommandContext,
        id: Uuid,
        by: UserId,
        outcome: ResolutionOutcome,
        notes: String,
    ) -> Result<(Appended, SafetyEscalation), CommandError<Refused>> {
        self.runner
            .execute_for_state_retrying(id, Command::Resolve { by, outcome, notes }, context)
            .await
    }
}
