//! The struggle intervention's rules in the process manager: start or join on a struggle,
//! tell the teachers, schedule the recheck, record what happens to the session meanwhile, and
//! decide when the recheck is read in the log.

use domain::learning::{LearningSessionError, LearningSessionEvent};
use domain::notification::NotificationKind;
use domain::struggle_intervention::{
    Step, StruggleIntervention, StruggleInterventionCommand as Command,
    StruggleInterventionError as Refused, StruggleInterventionEvent as Event,
};
use domain::Aggregate as _;
use uuid::Uuid;

use super::{ids, runs, Fallible, LogEntry, SessionFacts, Workflows};
use crate::notices::Notice;
use crate::notifications::NewNotification;
use crate::{CommandContext, CommandError};

/// A command whose refusal means "nothing left to do" (the instance ended, or never existed).
fn settled<T>(result: Result<T, CommandError<Refused>>) -> Fallible<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(CommandError::Rejected(Refused::Ended | Refused::NotFound)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

impl Workflows {
    pub(super) async fn on_learning_event(&self, entry: LogEntry<'_>) -> Fallible<()> {
        let session_id = entry.stream_id()?;
        let event: LearningSessionEvent = serde_json::from_value(entry.payload.clone())?;
        let context = entry.context();
        match event {
            LearningSessionEvent::StruggleDetected {
                topic,
                indicators,
                duration_seconds,
            } => {
                let notice = Notice::struggle(&topic, &indicators, duration_seconds);
                self.on_struggle(&entry, session_id, &topic, notice).await
            }
            LearningSessionEvent::RecoveryDetected { topic } => {
                let key = ids::topic_key(&topic);
                if let Some(run) =
                    runs::running_on_topic(&self.pool, session_id, &key, entry.position).await?
                {
                    let command = Command::ObserveRecovery {
                        detection_id: entry.event_id,
                    };
                    settled(self.interventions.execute(run, command, &context).await)?;
                }
                Ok(())
            }
            LearningSessionEvent::Paused { .. } => {
                self.tell_runs(session_id, entry.position, Command::ObservePause, &context)
                    .await
            }
            LearningSessionEvent::Resumed { .. } => {
                self.tell_runs(session_id, entry.position, Command::ObserveResume, &context)
                    .await
            }
            LearningSessionEvent::Completed { .. } => {
                self.tell_runs(
                    session_id,
                    entry.position,
                    Command::ObserveCompletion,
                    &context,
                )
                .await
            }
            LearningSessionEvent::SafetyConcernDetected {
                concern_type,
                urgency,
                evidence,
            } => {
                self.on_safety_concern(&entry, session_id, concern_type, urgency, evidence)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// Sends `command` to every intervention of the session running at `position`.
    async fn tell_runs(
        &self,
        session_id: Uuid,
        position: i64,
        command: Command,
        context: &CommandContext,
    ) -> Fallible<()> {
        for run in runs::running_in_session(&self.pool, session_id, position).await? {
            settled(
                self.interventions
                    .execute(run, command.clone(), context)
                    .await,
            )?;
        }
        Ok(())
    }

    async fn on_struggle(
        &self,
        entry: &LogEntry<'_>,
        session_id: Uuid,
        topic: &str,
        notice: Notice,
    ) -> Fallible<()> {
        let context = entry.context();
        let key = ids::topic_key(topic);
        // Two independent questions at once (the second is wasted when the run is joined).
        let (running, facts) = tokio::join!(
            runs::running_on_topic(&self.pool, session_id, &key, entry.position),
            self.directory.learning_session(session_id),
        );
        if let Some(run) = running? {
            let join = Command::JoinStruggle {
                detection_id: entry.event_id,
            };
            // A run that has ended meanwhile refuses; then this detection starts a new one.
            if settled(self.interventions.execute(run, join, &context).await)?.is_some() {
                return Ok(());
            }
        }
        let Some(facts) = facts? else {
            return Err(format!("learning session {session_id} has no start").into());
        };
        let id = ids::intervention(entry.event_id);
        let start = Command::Start {
            learning_session_id: session_id,
            class_id: facts.class_id,
            student_id: facts.student_id,
            topic: topic.to_owned(),
            detection_id: entry.event_id,
        };
        // Decided before anyone is told: a start the saga refuses notifies nobody.
        self.interventions.decide_new(id, [start.clone()])?;
        if self
            .start_at_once(entry, &facts, id, start.clone(), &key, notice.clone())
            .await?
        {
            return Ok(());
        }
        // The stream exists: this detection was handled before (a redelivery, a replay).
        // Finish what that pass left undone, step by step on the stream as it is.
        let (_, mut state) = self
            .interventions
            .execute_for_state(id, start, &context)
            .await?;
        runs::started(&self.pool, id, session_id, &key, entry.position).await?;
        if state.teachers_notified.is_none() && state.is_running() {
            let told = self
                .notify_teachers(entry, &facts, session_id, notice)
                .await?;
            let record = Command::RecordTeachersNotified { recipients: told };
            match settled(
                self.interventions
                    .execute_for_state(id, record, &context)
                    .await,
            )? {
                Some((_, next)) => state = next,
                None => return Ok(()),
            }
        }
        self.ensure_recheck(id, &state, &context).await
    }

    /// The first pass over a struggle that starts an instance: the teachers are told first
    /// (their notifications' ids come from the detection, so telling them again is nothing),
    /// then the start, the teachers told and the scheduled recheck are one append, written
    /// with the run's routing row and the timer's row in one transaction. So the teachers'
    /// alert waits for no write of the saga, and the saga costs one append. `false` if the
    /// stream exists already (nothing was written).
    async fn start_at_once(
        &self,
        entry: &LogEntry<'_>,
        facts: &SessionFacts,
        id: Uuid,
        start: Command,
        topic_key: &str,
        notice: Notice,
    ) -> Fallible<bool> {
        let session_id = entry.stream_id()?;
        let told = self
            .notify_teachers(entry, facts, session_id, notice)
            .await?;
        let timer_id = ids::timer(id, "recheck");
        let due_at =
            super::timers::due_after(&self.pool, self.settings.struggle_recheck_after).await?;
        let decided = self.interventions.decide_new(
            id,
            [
                start,
                Command::RecordTeachersNotified { recipients: told },
                Command::ScheduleRecheck { timer_id, due_at },
            ],
        )?;
        let mut tx = self.pool.begin().await?;
        match self
            .interventions
            .append_in(&mut tx, decided, &entry.context())
            .await
        {
            Ok(_) => {}
            Err(CommandError::Conflict) => return Ok(false),
            Err(other) => return Err(other.into()),
        }
        runs::started(&mut *tx, id, session_id, topic_key, entry.position).await?;
        super::timers::insert(
            &mut *tx,
            timer_id,
            StruggleIntervention::TYPE,
            id,
            "recheck",
            due_at,
        )
        .await?;
        self.interventions.commit(tx).await?;
        self.timer_scheduled.ring(due_at);
        Ok(true)
    }

    async fn notify_teachers(
        &self,
        entry: &LogEntry<'_>,
        facts: &SessionFacts,
        session_id: Uuid,
        notice: Notice,
    ) -> Fallible<u32> {
        self.directory.caught_up_with(entry.position).await?;
        let teachers = self.directory.class_teachers(facts.class_id).await?;
        let class_name = self
            .directory
            .class_name(facts.class_id)
            .await?
            .unwrap_or_default();
        let student_name = self.student_name(facts.student_id).await?;
        let (title, body) = notice.texts(&class_name, &student_name);
        let context = entry.context();
        for teacher in &teachers {
            let email = self
                .notifications
                .preferences(*teacher)
                .await?
                .email_for(NotificationKind::Struggle);
            self.notifications
                .create(
                    &context,
                    NewNotification {
                        recipient_id: *teacher,
                        kind: notice.kind,
                        title: title.clone(),
                        body: body.clone(),
                        subject: domain::notification::NotificationSubject {
                            class_id: facts.class_id,
                            class_name: class_name.clone(),
                            learning_session_id: Some(session_id),
                            assessment_id: None,
                            student_id: Some(facts.student_id),
                            student_name: Some(student_name.clone()),
                            details: notice.details.clone(),
                        },
                        email,
                        cause_event_id: entry.event_id,
                    },
                )
                .await?;
        }
        Ok(teachers.len() as u32)
    }

    /// Schedules the recheck unless it is, and (re)writes its row while it waits.
    async fn ensure_recheck(
        &self,
        id: Uuid,
        state: &StruggleIntervention,
        context: &CommandContext,
    ) -> Fallible<()> {
        if !state.is_running() {
            return Ok(());
        }
        let recheck = match state.recheck {
            Some(recheck) => recheck,
            None => {
                let timer_id = ids::timer(id, "recheck");
                let due_at =
                    super::timers::due_after(&self.pool, self.settings.struggle_recheck_after)
                        .await?;
                let command = Command::ScheduleRecheck { timer_id, due_at };
                let Some((_, state)) = settled(
                    self.interventions
                        .execute_for_state(id, command, context)
                        .await,
                )?
                else {
                    return Ok(());
                };
                state.recheck.ok_or("the recheck was not recorded")?
            }
        };
        if !recheck.fired {
            self.ensure_timer_row(
                recheck.timer_id,
                StruggleIntervention::TYPE,
                id,
                "recheck",
                recheck.due_at,
            )
            .await?;
        }
        Ok(())
    }

    pub(super) async fn on_intervention_event(&self, entry: LogEntry<'_>) -> Fallible<()> {
        let id = entry.stream_id()?;
        let event: Event = serde_json::from_value(entry.payload.clone())?;
        match event {
            // Read in log order: everything committed before the timer fired is on the
            // instance by now, so the decision misses nothing.
            Event::RecheckFired { .. } => {
                let context = entry.context();
                let decide = Command::Decide {
                    message_id: ids::intervention_message(id),
                };
                match self
                    .interventions
                    .execute_for_state(id, decide, &context)
                    .await
                {
                    Ok((_, state)) => self.intervene(id, state, &context).await,
                    Err(CommandError::Rejected(_)) => Ok(()),
                    Err(other) => Err(other.into()),
                }
            }
            Event::Ended { .. } => Ok(runs::ended(&self.pool, id, entry.position).await?),
            _ => Ok(()),
        }
    }

    /// Posts the planned message into the learning session, then records it.
    async fn intervene(
        &self,
        id: Uuid,
        state: StruggleIntervention,
        context: &CommandContext,
    ) -> Fallible<()> {
        let (Step::Intervening, Some(message_id), Some(session_id)) = (
            state.step(),
            state.planned_message,
            state.learning_session_id,
        ) else {
            return Ok(());
        };
        let content = self.message.render(&state.topic)?;
        let posted = self
            .learning
            .post_workflow_message(context, session_id, message_id, content)
            .await;
        let record = match posted {
            Ok(_) => Command::RecordMessagePosted { message_id },
            Err(CommandError::Rejected(
                LearningSessionError::Paused | LearningSessionError::Completed,
            )) => Command::RecordMessageRefused { message_id },
            Err(other) => return Err(other.into()),
        };
        settled(self.interventions.execute(id, record, context).await)?;
        Ok(())
    }
}
