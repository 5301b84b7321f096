use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    AlertTarget, ResolutionOutcome, SafetyEscalationCommand as Command,
    SafetyEscalationError as Error, SafetyEscalationEvent as Event, TimerPurpose,
};
use crate::class::ClassId;
use crate::group::GroupId;
use crate::learning::{LearningSessionId, Urgency, MAX_TEXT_CHARS};
use crate::user::UserId;
use crate::Aggregate;

/// Where a concern stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationStep {
    /// No such concern.
    NotOpened,
    /// Alerts go out and climb the group tree until someone acknowledges.
    Escalating,
    /// A `monitor` concern waits for its follow-up.
    AwaitingFollowUp,
    /// Acknowledged, followed up, or every level alerted: open until someone resolves it.
    AwaitingResolution,
    /// Resolved: the outcome.
    Resolved,
}

/// The timer a concern waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTimer {
    pub timer_id: Uuid,
    pub purpose: TimerPurpose,
    pub due_at: DateTime<Utc>,
}

/// A safety concern and its escalation (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SafetyEscalation {
    pub learning_session_id: Option<LearningSessionId>,
    pub class_id: Option<ClassId>,
    pub group_id: Option<GroupId>,
    pub student_id: Option<UserId>,
    pub concern_type: String,
    pub urgency: Option<Urgency>,
    pub evidence: String,
    pub detection_id: Option<Uuid>,
    /// The alerts so far, level by level (index = level).
    pub alerts: Vec<AlertTarget>,
    pub session_paused: bool,
    /// The timer the concern waits on; an acknowledgement or the resolution cancels it.
    pub timer: Option<PendingTimer>,
    /// Timers that fired (a timer fires at most once).
    pub fired_timers: Vec<Uuid>,
    pub follow_up_sent: bool,
    pub acknowledged_by: Option<UserId>,
    pub resolution: Option<(UserId, ResolutionOutcome)>,
}

impl SafetyEscalation {
    pub fn step(&self) -> EscalationStep {
        if self.learning_session_id.is_none() {
            EscalationStep::NotOpened
        } else if self.resolution.is_some() {
            EscalationStep::Resolved
        } else if self.acknowledged_by.is_some()
            || self.follow_up_sent
            || self.alerts.last() == Some(&AlertTarget::SystemAdmins)
        {
            EscalationStep::AwaitingResolution
        } else if self.urgency == Some(Urgency::Monitor) {
            EscalationStep::AwaitingFollowUp
        } else {
            EscalationStep::Escalating
        }
    }

    /// Open: not resolved yet.
    pub fn is_open(&self) -> bool {
        self.learning_session_id.is_some() && self.resolution.is_none()
    }

    fn open(&self) -> Result<(), Error> {
        if self.learning_session_id.is_none() {
            Err(Error::NotFound)
        } else if self.resolution.is_some() {
            Err(Error::Resolved)
        } else {
            Ok(())
        }
    }
}

impl Aggregate for SafetyEscalation {
    const TYPE: &'static str = "safety_escalation";
    type Command = Command;
    type Event = Event;
    type Error = Error;

    fn handle(&self, command: Command) -> Result<Vec<Event>, Error> {
        if let Command::Open {
            learning_session_id,
            class_id,
            group_id,
            student_id,
            concern_type,
            urgency,
            evidence,
            detection_id,
        } = command
        {
            if self.learning_session_id.is_some() {
                // The same detection delivered again (a replay) is no change.
                return if self.detection_id == Some(detection_id) {
                    Ok(vec![])
                } else {
                    Err(Error::AlreadyOpened)
                };
            }
            return Ok(vec![Event::Opened {
                learning_session_id,
                class_id,
                group_id,
                student_id,
                concern_type,
                urgency,
                evidence,
                detection_id,
            }]);
        }
        self.open()?;
        Ok(match command {
            Command::Open { .. } => unreachable!("handled above"),
            Command::RecordAlert {
                level,
                target,
                recipients,
            } => {
                let next = self.alerts.len() as u32;
                if level < next {
                    vec![]
                } else if level > next {
                    return Err(Error::LevelOutOfOrder);
                } else if level > 0 && self.acknowledged_by.is_some() {
                    return Err(Error::AlreadyAcknowledged);
                } else {
                    vec![Event::Alerted {
                        level,
                        target,
                        recipients,
                    }]
                }
            }
            Command::RecordSessionPaused => {
                if self.session_paused {
                    vec![]
                } else {
                    vec![Event::SessionPaused]
                }
            }
            Command::ScheduleTimer {
                timer_id,
                purpose,
                due_at,
            } => {
                if self.fired_timers.contains(&timer_id)
                    || self.timer.is_some_and(|t| t.timer_id == timer_id)
                {
                    vec![]
                } else if self.timer.is_some() {
                    return Err(Error::UnknownTimer);
                } else if self.acknowledged_by.is_some()
                    && matches!(purpose, TimerPurpose::AcknowledgementTimeout { .. })
                {
                    return Err(Error::AlreadyAcknowledged);
                } else {
                    vec![Event::TimerScheduled {
                        timer_id,
                        purpose,
                        due_at,
                    }]
                }
            }
            Command::FireTimer { timer_id } => {
                if self.fired_timers.contains(&timer_id) {
                    vec![]
                } else if self.timer.is_some_and(|t| t.timer_id == timer_id) {
                    vec![Event::TimerFired { timer_id }]
                } else {
                    // Never scheduled, or cancelled by an acknowledgement.
                    return Err(Error::UnknownTimer);
                }
            }
            Command::RecordFollowUp { recipients } => {
                if self.follow_up_sent {
                    vec![]
                } else {
                    vec![Event::FollowUpSent { recipients }]
                }
            }
            Command::Acknowledge { by } => {
                if self.acknowledged_by.is_some() {
                    return Err(Error::AlreadyAcknowledged);
                }
                vec![Event::Acknowledged { by }]
            }
            Command::Resolve { by, outcome, notes } => {
                let chars = notes.trim().chars().count();
                if chars == 0 || chars > MAX_TEXT_CHARS {
                    return Err(Error::Notes);
                }
                vec![Event::Resolved { by, outcome, notes }]
            }
        })
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Opened {
                learning_session_id,
                class_id,
                group_id,
                student_id,
                concern_type,
                urgency,
                evidence,
                detection_id,
            } => {
                self.learning_session_id = Some(learning_session_id);
                self.class_id = Some(class_id);
                self.group_id = Some(group_id);
                self.student_id = Some(student_id);
                self.concern_type = concern_type;
                self.urgency = Some(urgency);
                self.evidence = evidence;
                self.detection_id = Some(detection_id);
            }
            Event::Alerted { target, .. } => self.alerts.push(target),
            Event::SessionPaused => self.session_paused = true,
            Event::TimerScheduled {
                timer_id,
                purpose,
                due_at,
            } => {
                self.timer = Some(PendingTimer {
                    timer_id,
                    purpose,
                    due_at,
                });
            }
            Event::TimerFired { timer_id } => {
                self.fired_timers.push(timer_id);
                if self.timer.is_some_and(|t| t.timer_id == timer_id) {
                    self.timer = None;
                }
            }
            Event::FollowUpSent { .. } => self.follow_up_sent = true,
            Event::Acknowledged { by } => {
                self.acknowledged_by = Some(by);
                if matches!(
                    self.timer,
                    Some(PendingTimer {
                        purpose: TimerPurpose::AcknowledgementTimeout { .. },
                        ..
                    })
                ) {
                    self.timer = None;
                }
            }
            Event::Resolved { by, outcome, .. } => {
                self.resolution = Some((by, outcome));
                self.timer = None;
            }
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
    const COUNSELOR: u128 = 7;

    fn due() -> DateTime<Utc> {
        "2026-12-06T10:15:00Z".parse().unwrap()
    }

    fn open(urgency: Urgency) -> Command {
        Command::Open {
            learning_session_id: id(1),
            class_id: id(2),
            group_id: id(3),
            student_id: id(4),
            concern_type: "self_harm".into(),
            urgency,
            evidence: "said so".into(),
            detection_id: id(DETECTION),
        }
    }

    fn opened(urgency: Urgency) -> Event {
        Event::Opened {
            learning_session_id: id(1),
            class_id: id(2),
            group_id: id(3),
            student_id: id(4),
            concern_type: "self_harm".into(),
            urgency,
            evidence: "said so".into(),
            detection_id: id(DETECTION),
        }
    }

    fn alerted(level: u32) -> Event {
        Event::Alerted {
            level,
            target: AlertTarget::Group {
                group_id: id(3 + level as u128),
            },
            recipients: 2,
        }
    }

    fn ack_timer(level: u32) -> Event {
        Event::TimerScheduled {
            timer_id: id(TIMER + level as u128),
            purpose: TimerPurpose::AcknowledgementTimeout { level },
            due_at: due(),
        }
    }

    /// An immediate concern: alerted at level 0, session paused, waiting for an ack.
    fn immediate() -> Vec<Event> {
        vec![
            opened(Urgency::Immediate),
            alerted(0),
            Event::SessionPaused,
            ack_timer(0),
        ]
    }

    #[test]
    fn a_detection_opens_a_concern_once() {
        given_no_previous_events::<SafetyEscalation>()
            .when(open(Urgency::Immediate))
            .then_expect_events(vec![opened(Urgency::Immediate)]);
        given::<SafetyEscalation>(vec![opened(Urgency::Immediate)])
            .when(open(Urgency::Immediate))
            .then_expect_events(vec![]);
    }

    #[test]
    fn another_detection_cannot_reopen_a_concern() {
        given::<SafetyEscalation>(vec![opened(Urgency::Monitor)])
            .when(Command::Open {
                learning_session_id: id(1),
                class_id: id(2),
                group_id: id(3),
                student_id: id(4),
                concern_type: "self_harm".into(),
                urgency: Urgency::Monitor,
                evidence: "said so".into(),
                detection_id: id(DETECTION + 1),
            })
            .then_expect_error(Error::AlreadyOpened);
    }

    #[test]
    fn alerts_climb_one_level_at_a_time() {
        given::<SafetyEscalation>(vec![opened(Urgency::Immediate)])
            .when(Command::RecordAlert {
                level: 0,
                target: AlertTarget::Group { group_id: id(3) },
                recipients: 2,
            })
            .then_expect_events(vec![alerted(0)]);
        given::<SafetyEscalation>(immediate())
            .when(Command::RecordAlert {
                level: 0,
                target: AlertTarget::Group { group_id: id(3) },
                recipients: 2,
            })
            .then_expect_events(vec![]);
        given::<SafetyEscalation>(immediate())
            .when(Command::RecordAlert {
                level: 2,
                target: AlertTarget::SystemAdmins,
                recipients: 1,
            })
            .then_expect_error(Error::LevelOutOfOrder);
    }

    #[test]
    fn an_acknowledged_concern_does_not_escalate() {
        let mut events = immediate();
        events.push(Event::Acknowledged { by: id(COUNSELOR) });
        given::<SafetyEscalation>(events.clone())
            .when(Command::RecordAlert {
                level: 1,
                target: AlertTarget::Group { group_id: id(4) },
                recipients: 2,
            })
            .then_expect_error(Error::AlreadyAcknowledged);
        // The acknowledgement cancelled the pending timeout.
        given::<SafetyEscalation>(events)
            .when(Command::FireTimer {
                timer_id: id(TIMER),
            })
            .then_expect_error(Error::UnknownTimer);
    }

    #[test]
    fn the_session_is_recorded_paused_once() {
        given::<SafetyEscalation>(vec![opened(Urgency::Immediate), alerted(0)])
            .when(Command::RecordSessionPaused)
            .then_expect_events(vec![Event::SessionPaused]);
        given::<SafetyEscalation>(immediate())
            .when(Command::RecordSessionPaused)
            .then_expect_events(vec![]);
    }

    /// An immediate concern that was resolved.
    fn resolved() -> Vec<Event> {
        let mut events = immediate();
        events.push(Event::Resolved {
            by: id(COUNSELOR),
            outcome: ResolutionOutcome::Addressed,
            notes: "done".into(),
        });
        events
    }

    #[test]
    fn no_pause_is_recorded_for_a_concern_that_is_resolved_or_does_not_exist() {
        given_no_previous_events::<SafetyEscalation>()
            .when(Command::RecordSessionPaused)
            .then_expect_error(Error::NotFound);
        let mut resolved_before_the_pause = vec![opened(Urgency::Immediate), alerted(0)];
        resolved_before_the_pause.push(Event::Resolved {
            by: id(COUNSELOR),
            outcome: ResolutionOutcome::FalsePositive,
            notes: "misread".into(),
        });
        given::<SafetyEscalation>(resolved_before_the_pause)
            .when(Command::RecordSessionPaused)
            .then_expect_error(Error::Resolved);
    }

    #[test]
    fn a_timer_is_scheduled_once_and_one_at_a_time() {
        given::<SafetyEscalation>(vec![opened(Urgency::Immediate), alerted(0)])
            .when(Command::ScheduleTimer {
                timer_id: id(TIMER),
                purpose: TimerPurpose::AcknowledgementTimeout { level: 0 },
                due_at: due(),
            })
            .then_expect_events(vec![ack_timer(0)]);
        given::<SafetyEscalation>(immediate())
            .when(Command::ScheduleTimer {
                timer_id: id(TIMER),
                purpose: TimerPurpose::AcknowledgementTimeout { level: 0 },
                due_at: due(),
            })
            .then_expect_events(vec![]);
        given::<SafetyEscalation>(immediate())
            .when(Command::ScheduleTimer {
                timer_id: id(TIMER + 1),
                purpose: TimerPurpose::AcknowledgementTimeout { level: 1 },
                due_at: due(),
            })
            .then_expect_error(Error::UnknownTimer);
    }

    #[test]
    fn a_timer_fires_once() {
        given::<SafetyEscalation>(immediate())
            .when(Command::FireTimer {
                timer_id: id(TIMER),
            })
            .then_expect_events(vec![Event::TimerFired {
                timer_id: id(TIMER),
            }]);
        let mut events = immediate();
        events.push(Event::TimerFired {
            timer_id: id(TIMER),
        });
        given::<SafetyEscalation>(events.clone())
            .when(Command::FireTimer {
                timer_id: id(TIMER),
            })
            .then_expect_events(vec![]);
        // The next level's timer can follow once the first has fired.
        events.push(alerted(1));
        given::<SafetyEscalation>(events)
            .when(Command::ScheduleTimer {
                timer_id: id(TIMER + 1),
                purpose: TimerPurpose::AcknowledgementTimeout { level: 1 },
                due_at: due(),
            })
            .then_expect_events(vec![ack_timer(1)]);
    }

    #[test]
    fn a_monitor_concern_gets_one_follow_up() {
        let events = vec![
            opened(Urgency::Monitor),
            Event::TimerScheduled {
                timer_id: id(TIMER),
                purpose: TimerPurpose::FollowUp,
                due_at: due(),
            },
            Event::TimerFired {
                timer_id: id(TIMER),
            },
        ];
        given::<SafetyEscalation>(events.clone())
            .when(Command::RecordFollowUp { recipients: 2 })
            .then_expect_events(vec![Event::FollowUpSent { recipients: 2 }]);
        let mut sent = events;
        sent.push(Event::FollowUpSent { recipients: 2 });
        given::<SafetyEscalation>(sent)
            .when(Command::RecordFollowUp { recipients: 2 })
            .then_expect_events(vec![]);
    }

    #[test]
    fn no_follow_up_is_recorded_for_a_concern_that_is_resolved_or_does_not_exist() {
        given_no_previous_events::<SafetyEscalation>()
            .when(Command::RecordFollowUp { recipients: 2 })
            .then_expect_error(Error::NotFound);
        let resolved_monitor = vec![
            opened(Urgency::Monitor),
            Event::TimerScheduled {
                timer_id: id(TIMER),
                purpose: TimerPurpose::FollowUp,
                due_at: due(),
            },
            Event::Resolved {
                by: id(COUNSELOR),
                outcome: ResolutionOutcome::NoActionNeeded,
                notes: "seen in class".into(),
            },
        ];
        given::<SafetyEscalation>(resolved_monitor)
            .when(Command::RecordFollowUp { recipients: 2 })
            .then_expect_error(Error::Resolved);
        given::<SafetyEscalation>(resolved())
            .when(Command::RecordFollowUp { recipients: 2 })
            .then_expect_error(Error::Resolved);
    }

    #[test]
    fn acknowledging_twice_is_refused() {
        given::<SafetyEscalation>(immediate())
            .when(Command::Acknowledge { by: id(COUNSELOR) })
            .then_expect_events(vec![Event::Acknowledged { by: id(COUNSELOR) }]);
        let mut events = immediate();
        events.push(Event::Acknowledged { by: id(COUNSELOR) });
        given::<SafetyEscalation>(events)
            .when(Command::Acknowledge {
                by: id(COUNSELOR + 1),
            })
            .then_expect_error(Error::AlreadyAcknowledged);
    }

    #[test]
    fn resolving_ends_the_concern_and_twice_is_refused() {
        let resolve = || Command::Resolve {
            by: id(COUNSELOR),
            outcome: ResolutionOutcome::Addressed,
            notes: "Talked with the student and the parents.".into(),
        };
        given::<SafetyEscalation>(immediate())
            .when(resolve())
            .then_expect_events(vec![Event::Resolved {
                by: id(COUNSELOR),
                outcome: ResolutionOutcome::Addressed,
                notes: "Talked with the student and the parents.".into(),
            }]);
        let mut events = immediate();
        events.push(Event::Resolved {
            by: id(COUNSELOR),
            outcome: ResolutionOutcome::Addressed,
            notes: "done".into(),
        });
        given::<SafetyEscalation>(events.clone())
            .when(resolve())
            .then_expect_error(Error::Resolved);
        given::<SafetyEscalation>(events.clone())
            .when(Command::Acknowledge { by: id(COUNSELOR) })
            .then_expect_error(Error::Resolved);
        given::<SafetyEscalation>(events)
            .when(Command::FireTimer {
                timer_id: id(TIMER),
            })
            .then_expect_error(Error::Resolved);
    }

    #[test]
    fn a_resolution_needs_notes() {
        given::<SafetyEscalation>(immediate())
            .when(Command::Resolve {
                by: id(COUNSELOR),
                outcome: ResolutionOutcome::FalsePositive,
                notes: "   ".into(),
            })
            .then_expect_error(Error::Notes);
    }

    #[test]
    fn nothing_happens_to_a_concern_that_does_not_exist() {
        given_no_previous_events::<SafetyEscalation>()
            .when(Command::Acknowledge { by: id(COUNSELOR) })
            .then_expect_error(Error::NotFound);
    }

    #[test]
    fn the_step_follows_the_events() {
        let mut state = SafetyEscalation::default();
        assert_eq!(state.step(), EscalationStep::NotOpened);
        for event in immediate() {
            state.apply(event);
        }
        assert_eq!(state.step(), EscalationStep::Escalating);
        state.apply(Event::Alerted {
            level: 1,
            target: AlertTarget::SystemAdmins,
            recipients: 1,
        });
        assert_eq!(state.step(), EscalationStep::AwaitingResolution);
        state.apply(Event::Resolved {
            by: id(COUNSELOR),
            outcome: ResolutionOutcome::Referred,
            notes: "n".into(),
        });
        assert_eq!(state.step(), EscalationStep::Resolved);
        assert!(!state.is_open());

        let mut monitor = SafetyEscalation::default();
        monitor.apply(opened(Urgency::Monitor));
        assert_eq!(monitor.step(), EscalationStep::AwaitingFollowUp);
        monitor.apply(Event::FollowUpSent { recipients: 1 });
        assert_eq!(monitor.step(), EscalationStep::AwaitingResolution);
    }

    #[test]
    fn resolution_outcomes_parse_from_their_names() {
        for outcome in [
            ResolutionOutcome::Addressed,
            ResolutionOutcome::Referred,
            ResolutionOutcome::NoActionNeeded,
            ResolutionOutcome::FalsePositive,
        ] {
            assert_eq!(ResolutionOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(ResolutionOutcome::parse("solved"), None);
    }
}
