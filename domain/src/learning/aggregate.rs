//! The `LearningSession` aggregate: the state a learning session's commands are decided on,
//! the decisions (messages and free texts within their limits, no messages while paused,
//! nothing after completion) and their given/when/then tests.

use serde::{Deserialize, Serialize};

use super::{
    Detection, LearningSessionCommand, LearningSessionError, LearningSessionEvent, MessageRole,
};
use crate::class::ClassId;
use crate::user::UserId;
use crate::Aggregate;

/// The longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 8000;
/// The longest free text (evidence, reasons, summaries), in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Where a learning session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    Paused,
    Completed,
}

/// The write-side state of one learning session: only what its commands are decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LearningSession {
    pub started: bool,
    pub student_id: Option<UserId>,
    pub class_id: Option<ClassId>,
    pub status: Status,
    pub messages: u32,
    /// Detections of every kind recorded so far.
    #[serde(default)]
    pub detections: u32,
    /// The ids of the messages the workflows posted (each is posted once).
    #[serde(default)]
    pub workflow_messages: Vec<uuid::Uuid>,
}

fn text(value: &str) -> Result<(), LearningSessionError> {
    let chars = value.trim().chars().count();
    if chars == 0 || chars > MAX_TEXT_CHARS {
        return Err(LearningSessionError::TextSize);
    }
    Ok(())
}

impl LearningSession {
    fn ensure_open(&self) -> Result<(), LearningSessionError> {
        if !self.started {
            return Err(LearningSessionError::NotFound);
        }
        if self.status == Status::Completed {
            return Err(LearningSessionError::Completed);
        }
        Ok(())
    }

    fn check_message(&self, content: &str) -> Result<(), LearningSessionError> {
        if self.status == Status::Paused {
            return Err(LearningSessionError::Paused);
        }
        let chars = content.chars().count();
        if content.trim().is_empty() || chars > MAX_MESSAGE_CHARS {
            return Err(LearningSessionError::MessageSize);
        }
        Ok(())
    }
}

impl Aggregate for LearningSession {
    const TYPE: &'static str = "learning_session";
    type Command = LearningSessionCommand;
    type Event = LearningSessionEvent;
    type Error = LearningSessionError;

    fn handle(
        &self,
        command: LearningSessionCommand,
    ) -> Result<Vec<LearningSessionEvent>, LearningSessionError> {
        use LearningSessionCommand as C;
        use LearningSessionEvent as E;
        if let C::Start {
            student_id,
            class_id,
            group_id,
            tool_id,
        } = command
        {
            if self.started {
                return Err(LearningSessionError::AlreadyStarted);
            }
            return Ok(vec![E::Started {
                student_id,
                class_id,
                group_id,
                tool_id,
            }]);
        }
        self.ensure_open()?;
        Ok(match command {
            C::Start { .. } => unreachable!("handled above"),
            C::PostMessage { role, content } => {
                self.check_message(&content)?;
                vec![E::MessagePosted {
                    role,
                    content,
                    message_id: None,
                }]
            }
            C::PostWorkflowMessage {
                message_id,
                content,
            } => {
                if self.workflow_messages.contains(&message_id) {
                    return Ok(vec![]);
                }
                self.check_message(&content)?;
                vec![E::MessagePosted {
                    role: MessageRole::Assistant,
                    content,
                    message_id: Some(message_id),
                }]
            }
            C::RecordDetection(Detection::Recovery { topic }) => {
                text(&topic)?;
                vec![E::RecoveryDetected { topic }]
            }
            C::RecordDetection(Detection::Misbehavior {
                category,
                severity,
                evidence,
            }) => {
                text(&category)?;
                text(&evidence)?;
                vec![E::MisbehaviorDetected {
                    category,
                    severity,
                    evidence,
                }]
            }
            C::RecordDetection(Detection::Struggle {
                topic,
                indicators,
                duration_seconds,
            }) => {
                text(&topic)?;
                indicators.iter().try_for_each(|i| text(i))?;
                vec![E::StruggleDetected {
                    topic,
                    indicators,
                    duration_seconds,
                }]
            }
            C::RecordDetection(Detection::SafetyConcern {
                concern_type,
                urgency,
                evidence,
            }) => {
                text(&concern_type)?;
                // Evidence is optional here, but bounded like every free text.
                if evidence.chars().count() > MAX_TEXT_CHARS {
                    return Err(LearningSessionError::TextSize);
                }
                vec![E::SafetyConcernDetected {
                    concern_type,
                    urgency,
                    evidence,
                }]
            }
            C::Pause { reason } => {
                text(&reason)?;
                if self.status == Status::Paused {
                    return Ok(vec![]);
                }
                vec![E::Paused { reason }]
            }
            C::Resume { reason } => {
                text(&reason)?;
                if self.status != Status::Paused {
                    return Err(LearningSessionError::NotPaused);
                }
                vec![E::Resumed { reason }]
            }
            C::Complete {
                summary,
                topics_covered,
            } => {
                text(&summary)?;
                topics_covered.iter().try_for_each(|t| text(t))?;
                vec![E::Completed {
                    summary,
                    topics_covered,
                }]
            }
        })
    }

    fn apply(&mut self, event: LearningSessionEvent) {
        use LearningSessionEvent as E;
        match event {
            E::Started {
                student_id,
                class_id,
                ..
            } => {
                self.started = true;
                self.student_id = Some(student_id);
                self.class_id = Some(class_id);
            }
            E::MessagePosted { message_id, .. } => {
                self.messages += 1;
                if let Some(id) = message_id {
                    self.workflow_messages.push(id);
                }
            }
            E::MisbehaviorDetected { .. }
            | E::StruggleDetected { .. }
            | E::RecoveryDetected { .. }
            | E::SafetyConcernDetected { .. } => self.detections += 1,
            E::Paused { .. } => self.status = Status::Paused,
            E::Resumed { .. } => self.status = Status::Active,
            E::Completed { .. } => self.status = Status::Completed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};
    use crate::group::GroupId;
    use crate::learning::{MessageRole, Severity};
    use crate::tool::ToolId;
    use LearningSessionCommand as C;
    use LearningSessionEvent as E;

    fn started() -> E {
        E::Started {
            student_id: UserId::from_u128(1),
            class_id: ClassId::from_u128(2),
            group_id: GroupId::from_u128(3),
            tool_id: ToolId::from_u128(4),
        }
    }

    #[test]
    fn the_state_counts_messages_and_detections() {
        let state = LearningSession::fold([
            started(),
            E::MessagePosted {
                role: MessageRole::Student,
                content: "hi".into(),
                message_id: None,
            },
            E::StruggleDetected {
                topic: "fractions".into(),
                indicators: vec![],
                duration_seconds: 60,
            },
            E::Paused {
                reason: "break".into(),
            },
            E::MisbehaviorDetected {
                category: "off_topic".into(),
                severity: Severity::Medium,
                evidence: "e".into(),
            },
        ]);
        assert_eq!((state.messages, state.detections), (1, 2));
        assert_eq!(state.status, Status::Paused);
    }

    #[test]
    fn start_once() {
        given_no_previous_events::<LearningSession>()
            .when(C::Start {
                student_id: UserId::from_u128(1),
                class_id: ClassId::from_u128(2),
                group_id: GroupId::from_u128(3),
                tool_id: ToolId::from_u128(4),
            })
            .then_expect_events(vec![started()]);
        given::<LearningSession>(vec![started()])
            .when(C::Start {
                student_id: UserId::from_u128(1),
                class_id: ClassId::from_u128(2),
                group_id: GroupId::from_u128(3),
                tool_id: ToolId::from_u128(4),
            })
            .then_expect_error(LearningSessionError::AlreadyStarted);
    }

    #[test]
    fn messages_have_a_size_limit_and_wait_while_paused() {
        given::<LearningSession>(vec![started()])
            .when(C::PostMessage {
                role: MessageRole::Student,
                content: "x".repeat(MAX_MESSAGE_CHARS + 1),
            })
            .then_expect_error(LearningSessionError::MessageSize);
        given::<LearningSession>(vec![
            started(),
            E::Paused {
                reason: "break".into(),
            },
        ])
        .when(C::PostMessage {
            role: MessageRole::Student,
            content: "hello".into(),
        })
        .then_expect_error(LearningSessionError::Paused);
        given::<LearningSession>(vec![started()])
            .when(C::PostMessage {
                role: MessageRole::Assistant,
                content: "What do you think?".into(),
            })
            .then_expect_events(vec![E::MessagePosted {
                role: MessageRole::Assistant,
                content: "What do you think?".into(),
                message_id: None,
            }]);
    }

    #[test]
    fn a_workflow_message_is_posted_once() {
        let id = uuid::Uuid::from_u128(9);
        let content = "Let me try explaining fractions in a different way.";
        let posted = E::MessagePosted {
            role: MessageRole::Assistant,
            content: content.into(),
            message_id: Some(id),
        };
        given::<LearningSession>(vec![started()])
            .when(C::PostWorkflowMessage {
                message_id: id,
                content: content.into(),
            })
            .then_expect_events(vec![posted.clone()]);
        given::<LearningSession>(vec![started(), posted])
            .when(C::PostWorkflowMessage {
                message_id: id,
                content: content.into(),
            })
            .then_expect_events(vec![]);
        given::<LearningSession>(vec![
            started(),
            E::Paused {
                reason: "break".into(),
            },
        ])
        .when(C::PostWorkflowMessage {
            message_id: id,
            content: "hello".into(),
        })
        .then_expect_error(LearningSessionError::Paused);
    }

    #[test]
    fn a_recovery_is_recorded_with_its_topic() {
        given::<LearningSession>(vec![started()])
            .when(C::RecordDetection(Detection::Recovery {
                topic: "fractions".into(),
            }))
            .then_expect_events(vec![E::RecoveryDetected {
                topic: "fractions".into(),
            }]);
        given::<LearningSession>(vec![started()])
            .when(C::RecordDetection(Detection::Recovery {
                topic: " ".into(),
            }))
            .then_expect_error(LearningSessionError::TextSize);
    }

    #[test]
    fn detections_pause_resume_and_completion() {
        given::<LearningSession>(vec![started()])
            .when(C::RecordDetection(Detection::Misbehavior {
                category: "off_topic".into(),
                severity: Severity::High,
                evidence: "asked for game cheats".into(),
            }))
            .then_expect_events(vec![E::MisbehaviorDetected {
                category: "off_topic".into(),
                severity: Severity::High,
                evidence: "asked for game cheats".into(),
            }]);
        given::<LearningSession>(vec![started()])
            .when(C::Resume { reason: "x".into() })
            .then_expect_error(LearningSessionError::NotPaused);
        let done = E::Completed {
            summary: "Fractions".into(),
            topics_covered: vec!["fractions".into()],
        };
        given::<LearningSession>(vec![started(), done])
            .when(C::PostMessage {
                role: MessageRole::Student,
                content: "hi".into(),
            })
            .then_expect_error(LearningSessionError::Completed);
    }
}
