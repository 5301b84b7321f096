use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    InterventionOutcome, StruggleInterventionCommand as Command,
    StruggleInterventionError as Error, StruggleInterventionEvent as Event,
};
use crate::class::ClassId;
use crate::learning::{LearningSessionId, MAX_TEXT_CHARS};
use crate::user::UserId;
use crate::Aggregate;

/// Where an intervention stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// No such instance.
    NotStarted,
    /// Started: the teachers are being told and the recheck scheduled.
    Notifying,
    /// Waiting for the recheck timer.
    Waiting,
    /// The recheck fired; the decision waits for the process manager to read it in the log.
    Deciding,
    /// Posting the intervention message into the learning session.
    Intervening,
    /// Ended with its outcome.
    Ended,
}

/// The recheck timer of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recheck {
    pub timer_id: Uuid,
    pub due_at: DateTime<Utc>,
    pub fired: bool,
}

/// A struggle intervention: one learning session, one topic, one run (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StruggleIntervention {
    pub learning_session_id: Option<LearningSessionId>,
    pub class_id: Option<ClassId>,
    pub student_id: Option<UserId>,
    pub topic: String,
    /// The struggle detections this instance answers: the first, then those that joined.
    pub detections: Vec<Uuid>,
    /// How many teachers were told; `None` until they were.
    pub teachers_notified: Option<u32>,
    pub recheck: Option<Recheck>,
    /// The `recovery` detection seen, if any.
    pub recovery: Option<Uuid>,
    /// Whether the learning session is paused now (as far as the instance has seen).
    pub session_paused: bool,
    pub planned_message: Option<Uuid>,
    pub outcome: Option<InterventionOutcome>,
}

impl StruggleIntervention {
    pub fn step(&self) -> Step {
        if self.learning_session_id.is_none() {
            Step::NotStarted
        } else if self.outcome.is_some() {
            Step::Ended
        } else if self.planned_message.is_some() {
            Step::Intervening
        } else {
            match self.recheck {
                Some(Recheck { fired: true, .. }) => Step::Deciding,
                Some(_) => Step::Waiting,
                None => Step::Notifying,
            }
        }
    }

    /// Whether the instance still runs (started and not ended).
    pub fn is_running(&self) -> bool {
        self.learning_session_id.is_some() && self.outcome.is_none()
    }

    fn running(&self) -> Result<(), Error> {
        if self.learning_session_id.is_none() {
            Err(Error::NotFound)
        } else if self.outcome.is_some() {
            Err(Error::Ended)
        } else {
            Ok(())
        }
    }

    fn ended(outcome: InterventionOutcome, message_id: Option<Uuid>) -> Vec<Event> {
        vec![Event::Ended {
            outcome,
            message_id,
        }]
    }
}

impl Aggregate for StruggleIntervention {
    const TYPE: &'static str = "struggle_intervention";
    type Command = Command;
    type Event = Event;
    type Error = Error;

    fn handle(&self, command: Command) -> Result<Vec<Event>, Error> {
        if let Command::Start {
            learning_session_id,
            class_id,
            student_id,
            topic,
            detection_id,
        } = command
        {
            if self.learning_session_id.is_some() {
                // The same start delivered again (a replay) is no change.
                return if self.detections.first() == Some(&detection_id) {
                    Ok(vec![])
                } else {
                    Err(Error::AlreadyStarted)
                };
            }
            let chars = topic.trim().chars().count();
            if chars == 0 || chars > MAX_TEXT_CHARS {
                return Err(Error::Topic);
            }
            return Ok(vec![Event::Started {
                learning_session_id,
                class_id,
                student_id,
                topic,
                detection_id,
            }]);
        }
        self.running()?;
        Ok(match command {
            Command::Start { .. } => unreachable!("handled above"),
            Command::JoinStruggle { detection_id } => {
                if self.detections.contains(&detection_id) {
                    vec![]
                } else {
                    vec![Event::StruggleJoined { detection_id }]
                }
            }
            Command::RecordTeachersNotified { recipients } => {
                if self.teachers_notified.is_some() {
                    vec![]
                } else {
                    vec![Event::TeachersNotified { recipients }]
                }
            }
            Command::ScheduleRecheck { timer_id, due_at } => match self.recheck {
                Some(recheck) if recheck.timer_id == timer_id => vec![],
                Some(_) => return Err(Error::UnknownTimer),
                None => vec![Event::RecheckScheduled { timer_id, due_at }],
            },
            Command::FireRecheck { timer_id } => match self.recheck {
                Some(recheck) if recheck.timer_id != timer_id => return Err(Error::UnknownTimer),
                None => return Err(Error::UnknownTimer),
                Some(Recheck { fired: true, .. }) => vec![],
                Some(_) => vec![Event::RecheckFired { timer_id }],
            },
            Command::ObserveRecovery { detection_id } => {
                if self.recovery.is_some() {
                    vec![]
                } else {
                    vec![Event::RecoveryObserved { detection_id }]
                }
            }
            Command::ObservePause => {
                if self.session_paused {
                    vec![]
                } else {
                    vec![Event::SessionPaused]
                }
            }
            Command::ObserveResume => {
                if self.session_paused {
                    vec![Event::SessionResumed]
                } else {
                    vec![]
                }
            }
            Command::ObserveCompletion => Self::ended(InterventionOutcome::SessionEnded, None),
            Command::Decide { message_id } => {
                if !matches!(self.recheck, Some(Recheck { fired: true, .. })) {
                    return Err(Error::NotDue);
                }
                match self.planned_message {
                    Some(planned) if planned == message_id => vec![],
                    Some(_) => return Err(Error::UnknownMessage),
                    None if self.recovery.is_some() => {
                        Self::ended(InterventionOutcome::SelfRecovered, None)
                    }
                    None if self.session_paused => {
                        Self::ended(InterventionOutcome::SessionEnded, None)
                    }
                    None => vec![Event::MessagePlanned { message_id }],
                }
            }
            Command::RecordMessagePosted { message_id } => {
                if self.planned_message != Some(message_id) {
                    return Err(Error::UnknownMessage);
                }
                Self::ended(InterventionOutcome::AiIntervention, Some(message_id))
            }
            Command::RecordMessageRefused { message_id } => {
                if self.planned_message != Some(message_id) {
                    return Err(Error::UnknownMessage);
                }
                Self::ended(InterventionOutcome::SessionEnded, None)
            }
        })
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Started {
                learning_session_id,
                class_id,
                student_id,
                topic,
                detection_id,
            } => {
                self.learning_session_id = Some(learning_session_id);
                self.class_id = Some(class_id);
                self.student_id = Some(student_id);
                self.topic = topic;
                self.detections = vec![detection_id];
            }
            Event::StruggleJoined { detection_id } => self.detections.push(detection_id),
            Event::TeachersNotified { recipients } => self.teachers_notified = Some(recipients),
            Event::RecheckScheduled { timer_id, due_at } => {
                self.recheck = Some(Recheck {
                    timer_id,
                    due_at,
                    fired: false,
                });
            }
            Event::RecheckFired { .. } => {
                if let Some(recheck) = &mut self.recheck {
                    recheck.fired = true;
                }
            }
            Event::RecoveryObserved { detection_id } => self.recovery = Some(detection_id),
            Event::SessionPaused => self.session_paused = true,
            Event::SessionResumed => self.session_paused = false,
            Event::MessagePlanned { message_id } => self.planned_message = Some(message_id),
            Event::Ended { outcome, .. } => self.outcome = Some(outcome),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    const DETECTION: u128 = 100;
    const TIMER: u128 = 200;
    const MESSAGE: u128 = 300;

    fn due() -> DateTime<Utc> {
        "2026-12-06T10:05:00Z".parse().unwrap()
    }

    fn start() -> Command {
        Command::Start {
            learning_session_id: id(1),
            class_id: id(2),
            student_id: id(3),
            topic: "fractions".into(),
            detection_id: id(DETECTION),
        }
    }

    fn started() -> Event {
        Event::Started {
            learning_session_id: id(1),
            class_id: id(2),
            student_id: id(3),
            topic: "fractions".into(),
            detection_id: id(DETECTION),
        }
    }

    /// Started, teachers told, recheck scheduled: the instance waits.
    fn waiting() -> Vec<Event> {
        vec![
            started(),
            Event::TeachersNotified { recipients: 2 },
            Event::RecheckScheduled {
                timer_id: id(TIMER),
                due_at: due(),
            },
        ]
    }

    fn fired(mut events: Vec<Event>) -> Vec<Event> {
        events.push(Event::RecheckFired {
            timer_id: id(TIMER),
        });
        events
    }

    #[test]
    fn a_struggle_starts_an_instance() {
        given_no_previous_events::<StruggleIntervention>()
            .when(start())
            .then_expect_events(vec![started()]);
    }

    #[test]
    fn the_same_start_again_changes_nothing_and_another_is_refused() {
        given::<StruggleIntervention>(vec![started()])
            .when(start())
            .then_expect_events(vec![]);
        given::<StruggleIntervention>(vec![started()])
            .when(Command::Start {
                learning_session_id: id(1),
                class_id: id(2),
                student_id: id(3),
                topic: "fractions".into(),
                detection_id: id(DETECTION + 1),
            })
            .then_expect_error(Error::AlreadyStarted);
    }

    #[test]
    fn an_empty_topic_is_refused() {
        given_no_previous_events::<StruggleIntervention>()
            .when(Command::Start {
                learning_session_id: id(1),
                class_id: id(2),
                student_id: id(3),
                topic: "  ".into(),
                detection_id: id(DETECTION),
            })
            .then_expect_error(Error::Topic);
    }

    #[test]
    fn a_further_struggle_joins_once() {
        given::<StruggleIntervention>(waiting())
            .when(Command::JoinStruggle {
                detection_id: id(DETECTION + 1),
            })
            .then_expect_events(vec![Event::StruggleJoined {
                detection_id: id(DETECTION + 1),
            }]);
        given::<StruggleIntervention>(waiting())
            .when(Command::JoinStruggle {
                detection_id: id(DETECTION),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn nothing_joins_an_instance_that_does_not_exist_or_has_ended() {
        given_no_previous_events::<StruggleIntervention>()
            .when(Command::JoinStruggle {
                detection_id: id(DETECTION),
            })
            .then_expect_error(Error::NotFound);
        let mut events = waiting();
        events.push(Event::Ended {
            outcome: InterventionOutcome::SessionEnded,
            message_id: None,
        });
        given::<StruggleIntervention>(events)
            .when(Command::JoinStruggle {
                detection_id: id(DETECTION + 1),
            })
            .then_expect_error(Error::Ended);
    }

    #[test]
    fn teachers_are_recorded_as_told_once() {
        given::<StruggleIntervention>(vec![started()])
            .when(Command::RecordTeachersNotified { recipients: 2 })
            .then_expect_events(vec![Event::TeachersNotified { recipients: 2 }]);
        given::<StruggleIntervention>(waiting())
            .when(Command::RecordTeachersNotified { recipients: 2 })
            .then_expect_events(vec![]);
    }

    /// A waiting instance that ended (the session completed).
    fn ended() -> Vec<Event> {
        let mut events = waiting();
        events.push(Event::Ended {
            outcome: InterventionOutcome::SessionEnded,
            message_id: None,
        });
        events
    }

    #[test]
    fn teachers_are_not_recorded_as_told_without_a_running_instance() {
        given_no_previous_events::<StruggleIntervention>()
            .when(Command::RecordTeachersNotified { recipients: 2 })
            .then_expect_error(Error::NotFound);
        given::<StruggleIntervention>(ended())
            .when(Command::RecordTeachersNotified { recipients: 2 })
            .then_expect_error(Error::Ended);
    }

    #[test]
    fn a_recovery_is_not_observed_without_a_running_instance() {
        given_no_previous_events::<StruggleIntervention>()
            .when(Command::ObserveRecovery {
                detection_id: id(DETECTION + 9),
            })
            .then_expect_error(Error::NotFound);
        given::<StruggleIntervention>(ended())
            .when(Command::ObserveRecovery {
                detection_id: id(DETECTION + 9),
            })
            .then_expect_error(Error::Ended);
    }

    #[test]
    fn a_pause_is_not_observed_without_a_running_instance() {
        given_no_previous_events::<StruggleIntervention>()
            .when(Command::ObservePause)
            .then_expect_error(Error::NotFound);
        given::<StruggleIntervention>(ended())
            .when(Command::ObservePause)
            .then_expect_error(Error::Ended);
    }

    #[test]
    fn a_resumption_is_not_observed_without_a_running_instance() {
        given_no_previous_events::<StruggleIntervention>()
            .when(Command::ObserveResume)
            .then_expect_error(Error::NotFound);
        let mut paused_then_ended = waiting();
        paused_then_ended.extend([
            Event::SessionPaused,
            Event::RecheckFired {
                timer_id: id(TIMER),
            },
            Event::Ended {
                outcome: InterventionOutcome::SessionEnded,
                message_id: None,
            },
        ]);
        given::<StruggleIntervention>(paused_then_ended)
            .when(Command::ObserveResume)
            .then_expect_error(Error::Ended);
    }

    #[test]
    fn the_recheck_is_scheduled_once() {
        given::<StruggleIntervention>(vec![started()])
            .when(Command::ScheduleRecheck {
                timer_id: id(TIMER),
                due_at: due(),
            })
            .then_expect_events(vec![Event::RecheckScheduled {
                timer_id: id(TIMER),
                due_at: due(),
            }]);
        given::<StruggleIntervention>(waiting())
            .when(Command::ScheduleRecheck {
                timer_id: id(TIMER + 1),
                due_at: due(),
            })
            .then_expect_error(Error::UnknownTimer);
    }

    #[test]
    fn the_recheck_fires_once_and_only_its_own_timer() {
        given::<StruggleIntervention>(waiting())
            .when(Command::FireRecheck {
                timer_id: id(TIMER),
            })
            .then_expect_events(vec![Event::RecheckFired {
                timer_id: id(TIMER),
            }]);
        given::<StruggleIntervention>(fired(waiting()))
            .when(Command::FireRecheck {
                timer_id: id(TIMER),
            })
            .then_expect_events(vec![]);
        given::<StruggleIntervention>(waiting())
            .when(Command::FireRecheck {
                timer_id: id(TIMER + 1),
            })
            .then_expect_error(Error::UnknownTimer);
    }

    #[test]
    fn no_decision_before_the_recheck() {
        given::<StruggleIntervention>(waiting())
            .when(Command::Decide {
                message_id: id(MESSAGE),
            })
            .then_expect_error(Error::NotDue);
    }

    #[test]
    fn a_recovery_seen_before_the_recheck_means_self_recovered() {
        let mut events = waiting();
        events.push(Event::RecoveryObserved {
            detection_id: id(DETECTION + 9),
        });
        given::<StruggleIntervention>(fired(events))
            .when(Command::Decide {
                message_id: id(MESSAGE),
            })
            .then_expect_events(vec![Event::Ended {
                outcome: InterventionOutcome::SelfRecovered,
                message_id: None,
            }]);
    }

    #[test]
    fn a_recovery_is_observed_once() {
        given::<StruggleIntervention>(waiting())
            .when(Command::ObserveRecovery {
                detection_id: id(DETECTION + 9),
            })
            .then_expect_events(vec![Event::RecoveryObserved {
                detection_id: id(DETECTION + 9),
            }]);
        let mut events = waiting();
        events.push(Event::RecoveryObserved {
            detection_id: id(DETECTION + 9),
        });
        given::<StruggleIntervention>(events)
            .when(Command::ObserveRecovery {
                detection_id: id(DETECTION + 10),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_session_paused_at_the_recheck_means_session_ended() {
        let mut events = waiting();
        events.push(Event::SessionPaused);
        given::<StruggleIntervention>(fired(events))
            .when(Command::Decide {
                message_id: id(MESSAGE),
            })
            .then_expect_events(vec![Event::Ended {
                outcome: InterventionOutcome::SessionEnded,
                message_id: None,
            }]);
    }

    #[test]
    fn a_session_paused_and_resumed_meanwhile_still_gets_the_intervention() {
        let mut events = waiting();
        events.extend([Event::SessionPaused, Event::SessionResumed]);
        given::<StruggleIntervention>(fired(events))
            .when(Command::Decide {
                message_id: id(MESSAGE),
            })
            .then_expect_events(vec![Event::MessagePlanned {
                message_id: id(MESSAGE),
            }]);
    }

    #[test]
    fn pauses_and_resumes_are_recorded_as_changes_only() {
        given::<StruggleIntervention>(waiting())
            .when(Command::ObservePause)
            .then_expect_events(vec![Event::SessionPaused]);
        given::<StruggleIntervention>(waiting())
            .when(Command::ObserveResume)
            .then_expect_events(vec![]);
        let mut events = waiting();
        events.push(Event::SessionPaused);
        given::<StruggleIntervention>(events.clone())
            .when(Command::ObservePause)
            .then_expect_events(vec![]);
        given::<StruggleIntervention>(events)
            .when(Command::ObserveResume)
            .then_expect_events(vec![Event::SessionResumed]);
    }

    #[test]
    fn a_completed_session_ends_the_instance_at_once() {
        given::<StruggleIntervention>(waiting())
            .when(Command::ObserveCompletion)
            .then_expect_events(vec![Event::Ended {
                outcome: InterventionOutcome::SessionEnded,
                message_id: None,
            }]);
    }

    #[test]
    fn a_still_struggling_student_gets_a_message_then_the_instance_ends() {
        given::<StruggleIntervention>(fired(waiting()))
            .when(Command::Decide {
                message_id: id(MESSAGE),
            })
            .then_expect_events(vec![Event::MessagePlanned {
                message_id: id(MESSAGE),
            }]);
        let mut events = fired(waiting());
        events.push(Event::MessagePlanned {
            message_id: id(MESSAGE),
        });
        given::<StruggleIntervention>(events.clone())
            .when(Command::Decide {
                message_id: id(MESSAGE),
            })
            .then_expect_events(vec![]);
        given::<StruggleIntervention>(events.clone())
            .when(Command::RecordMessagePosted {
                message_id: id(MESSAGE),
            })
            .then_expect_events(vec![Event::Ended {
                outcome: InterventionOutcome::AiIntervention,
                message_id: Some(id(MESSAGE)),
            }]);
        given::<StruggleIntervention>(events)
            .when(Command::RecordMessagePosted {
                message_id: id(MESSAGE + 1),
            })
            .then_expect_error(Error::UnknownMessage);
    }

    #[test]
    fn a_message_the_session_refuses_ends_the_instance_with_the_session() {
        let mut events = fired(waiting());
        events.push(Event::MessagePlanned {
            message_id: id(MESSAGE),
        });
        given::<StruggleIntervention>(events.clone())
            .when(Command::RecordMessageRefused {
                message_id: id(MESSAGE),
            })
            .then_expect_events(vec![Event::Ended {
                outcome: InterventionOutcome::SessionEnded,
                message_id: None,
            }]);
        given::<StruggleIntervention>(fired(waiting()))
            .when(Command::RecordMessageRefused {
                message_id: id(MESSAGE),
            })
            .then_expect_error(Error::UnknownMessage);
    }

    #[test]
    fn an_ended_instance_refuses_everything_but_its_own_start() {
        let mut events = fired(waiting());
        events.push(Event::Ended {
            outcome: InterventionOutcome::SelfRecovered,
            message_id: None,
        });
        given::<StruggleIntervention>(events.clone())
            .when(Command::ObserveCompletion)
            .then_expect_error(Error::Ended);
        given::<StruggleIntervention>(events.clone())
            .when(Command::Decide {
                message_id: id(MESSAGE),
            })
            .then_expect_error(Error::Ended);
        given::<StruggleIntervention>(events)
            .when(start())
            .then_expect_events(vec![]);
    }

    #[test]
    fn the_step_follows_the_events() {
        let mut state = StruggleIntervention::default();
        assert_eq!(state.step(), Step::NotStarted);
        state.apply(started());
        assert_eq!(state.step(), Step::Notifying);
        for event in waiting().into_iter().skip(1) {
            state.apply(event);
        }
        assert_eq!(state.step(), Step::Waiting);
        state.apply(Event::RecheckFired {
            timer_id: id(TIMER),
        });
        assert_eq!(state.step(), Step::Deciding);
        state.apply(Event::MessagePlanned {
            message_id: id(MESSAGE),
        });
        assert_eq!(state.step(), Step::Intervening);
        assert!(state.is_running());
        state.apply(Event::Ended {
            outcome: InterventionOutcome::AiIntervention,
            message_id: Some(id(MESSAGE)),
        });
        assert_eq!(state.step(), Step::Ended);
        assert!(!state.is_running());
    }
}
