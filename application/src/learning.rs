//! Learning-session use cases.

use std::sync::Arc;

use domain::learning::{
    Detection, LearningSession, LearningSessionCommand, LearningSessionError, LearningSessionId,
    MessageRole,
};
use domain::tool::{Tool, ToolId};
use domain::user::UserId;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::AppendListener;
use crate::{Appended, CommandContext, CommandError, CommandRunner, StoreError};

pub type LearningCommandError = CommandError<LearningSessionError>;

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the tool is not offered to this class")]
    ToolNotAvailable,
    #[error(transparent)]
    Command(#[from] LearningCommandError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct LearningSessions {
    runner: CommandRunner<LearningSession>,
    tools: CommandRunner<Tool>,
}

impl LearningSessions {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool.clone(), listener.clone()),
            tools: CommandRunner::new(pool, listener),
        }
    }

    /// Starts a session. The caller was authorized to start sessions in the class; the tool
    /// must be active and belong to the class's group or one of its ancestors.
    pub async fn start(
        &self,
        context: &CommandContext,
        student_id: UserId,
        class_id: Uuid,
        class_group_path: &[Uuid],
        tool_id: ToolId,
    ) -> Result<(LearningSessionId, Appended), StartError> {
        let (tool, _) = self.tools.load(tool_id).await?;
        let offered = tool.created
            && !tool.archived
            && tool.group_id.is_some_and(|g| class_group_path.contains(&g));
        if !offered {
            return Err(StartError::ToolNotAvailable);
        }
        let group_id = *class_group_path
            .last()
            .ok_or(StartError::ToolNotAvailable)?;
        let id = Uuid::now_v7();
        let appended = self
            .runner
            .execute_new(
                id,
                LearningSessionCommand::Start {
                    student_id,
                    class_id,
                    group_id,
                    tool_id,
                },
                context,
            )
            .await
            .map_err(StartError::Command)?;
        Ok((id, appended))
    }

    pub async fn post_message(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        role: MessageRole,
        content: String,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute_retrying(
                id,
                LearningSessionCommand::PostMessage { role, content },
                context,
            )
            .await
    }

    /// Posts a workflow's assistant message under the id the workflow derived for it: the
    /// same id again changes nothing.
    pub async fn post_workflow_message(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        message_id: Uuid,
        content: String,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute(
                id,
                LearningSessionCommand::PostWorkflowMessage {
                    message_id,
                    content,
                },
                context,
            )
            .await
    }

    pub async fn record_detection(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        detection: Detection,
    ) -> Result<(Appended, LearningSession), LearningCommandError> {
        self.runner
            .execute_for_state_retrying(
                id,
                LearningSessionCommand::RecordDetection(detection),
                context,
            )
            .await
    }

    pub async fn pause(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        reason: String,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute_retrying(id, LearningSessionCommand::Pause { reason }, context)
            .await
    }

    pub async fn resume(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        reason: String,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute_retrying(id, LearningSessionCommand::Resume { reason }, context)
            .await
    }

    pub async fn complete(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        summary: String,
        topics_covered: Vec<String>,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute_retrying(
                id,
                LearningSessionCommand::Complete {
                    summary,
                    topics_covered,
                },
                context,
            )
            .await
    }
}

/// What a learning session shows to those who may read it but not its class's safety
/// concerns (the policy's `class.read_safety_concerns`, which the class's counselors and the
/// admins above it hold): the session's own student, whatever else they are, and everyone
/// else the policy lets read the session (its teachers, the tutoring service). Their view
/// drops the concerns the tutoring service recorded, gives a pause made by the safety
/// workflow a reason chosen for the reader ([`Reader::pause_reason`]) instead of
/// [`crate::workflows::PAUSE_REASON`], and its `detection_count` leaves the concerns out.
/// Everything else stays as it is: the session is still shown paused (nobody posts until
/// someone resumes it), and the entries keep their `sequence` (their place in the session's
/// stream), so the hidden entries leave gaps in it.
pub mod without_concerns {
    use projections::learning::{EntryRow, SAFETY_CONCERN_KIND};

    /// Who is shown a session without its safety concerns.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Reader {
        /// The session's student: they never see a safety concern about themselves.
        TheStudent,
        /// Anyone else who may read the session but not the class's safety concerns: the
        /// class's teachers, the tutoring service.
        Watcher,
    }

    /// The reason a student is shown for a pause the safety workflow made: true (the school's
    /// safeguarding runs it) and silent about why. A pause by a person keeps their words.
    pub const PAUSE_REASON_FOR_THE_STUDENT: &str = "paused by your school";

    /// The reason the session's teachers (and the tutoring service) are shown for a pause the
    /// safety workflow made. Teachers are adults of the class, responsible for it, and they
    /// may resume the session: they are told that it is paused on purpose and that someone
    /// who handles safety concerns is on it (the counselors and admins above the class, whom
    /// the workflow alerted; "a counselor" stands for them), so that they leave it to them
    /// rather than resume it, and can tell the student it is in hand. What the concern is
    /// (its type, urgency, evidence) stays with those the policy lets read it, as in
    /// `GET /safety-concerns`; the teachers' dashboard counts the open ones, nothing more.
    pub const PAUSE_REASON_FOR_WATCHERS: &str = "paused for a counselor's review";

    impl Reader {
        /// The reason this reader is shown for a pause the safety workflow made.
        pub fn pause_reason(self) -> &'static str {
            match self {
                Self::TheStudent => PAUSE_REASON_FOR_THE_STUDENT,
                Self::Watcher => PAUSE_REASON_FOR_WATCHERS,
            }
        }
    }

    /// The entries of a session as `reader` sees them.
    pub fn entries(entries: Vec<EntryRow>, reader: Reader) -> Vec<EntryRow> {
        entries
            .into_iter()
            .filter(|entry| entry.kind != SAFETY_CONCERN_KIND)
            .map(|mut entry| {
                if entry.actor.as_deref() == Some(crate::workflows::ACTOR)
                    && entry.data.get("reason").is_some()
                {
                    entry.data["reason"] = reader.pause_reason().into();
                }
                entry
            })
            .collect()
    }

    /// The session's `detection_count` without its safety concerns.
    pub fn detection_count(detections: i32, safety_concerns: i64) -> i32 {
        let concerns = i32::try_from(safety_concerns).unwrap_or(i32::MAX);
        detections.saturating_sub(concerns).max(0)
    }

    #[cfg(test)]
    mod tests {
        use chrono::Utc;
        use serde_json::json;

        use super::*;

        fn entry(sequence: i64, data: serde_json::Value, actor: Option<&str>) -> EntryRow {
            EntryRow {
                sequence,
                kind: data["type"].as_str().unwrap().to_owned(),
                data,
                recorded_at: Utc::now(),
                actor: actor.map(str::to_owned),
            }
        }

        /// A message, a concern and the workflow's pause.
        fn a_concern_and_its_pause() -> Vec<EntryRow> {
            vec![
                entry(
                    2,
                    json!({"type": "session.message_posted", "role": "student", "content": "hi"}),
                    None,
                ),
                entry(
                    3,
                    json!({"type": "safety.concern_detected", "concern_type": "self_harm",
                           "urgency": "immediate", "evidence": "said so"}),
                    None,
                ),
                entry(
                    4,
                    json!({"type": "session.paused", "reason": "safety concern"}),
                    Some("system:workflows"),
                ),
            ]
        }

        #[test]
        fn the_student_sees_no_concern_and_no_reason_for_the_workflow_pause() {
            let seen = entries(a_concern_and_its_pause(), Reader::TheStudent);
            let sequences: Vec<i64> = seen.iter().map(|e| e.sequence).collect();
            assert_eq!(sequences, [2, 4]);
            assert_eq!(
                seen[1].data,
                json!({"type": "session.paused", "reason": "paused by your school"})
            );
            assert_eq!(seen[0].data["content"], "hi");
        }

        #[test]
        fn a_teacher_sees_no_concern_and_that_a_counselor_reviews_the_pause() {
            let seen = entries(a_concern_and_its_pause(), Reader::Watcher);
            let sequences: Vec<i64> = seen.iter().map(|e| e.sequence).collect();
            assert_eq!(sequences, [2, 4]);
            assert_eq!(
                seen[1].data,
                json!({"type": "session.paused", "reason": "paused for a counselor's review"})
            );
        }

        #[test]
        fn the_dashboards_tell_the_workflow_s_pause_by_the_same_actor() {
            assert_eq!(
                crate::workflows::ACTOR,
                projections::dashboards::WORKFLOWS_ACTOR
            );
        }

        #[test]
        fn a_pause_by_a_person_keeps_its_reason() {
            let pause = entry(
                2,
                json!({"type": "session.paused", "reason": "safety concern"}),
                Some("user:0195a3a0-0000-7000-8000-000000000001"),
            );
            let resume = entry(
                3,
                json!({"type": "session.resumed", "reason": "back to work"}),
                Some("user:0195a3a0-0000-7000-8000-000000000001"),
            );
            for reader in [Reader::TheStudent, Reader::Watcher] {
                let seen = entries(vec![pause.clone(), resume.clone()], reader);
                assert_eq!(seen, [pause.clone(), resume.clone()]);
            }
        }

        #[test]
        fn other_detections_stay_and_the_count_leaves_the_concerns_out() {
            let struggle = entry(
                2,
                json!({"type": "learning.struggle_detected", "topic": "fractions",
                       "indicators": [], "duration_seconds": 60}),
                None,
            );
            assert_eq!(entries(vec![struggle.clone()], Reader::Watcher), [struggle]);
            assert_eq!(detection_count(3, 2), 1);
            assert_eq!(detection_count(3, 0), 3);
            assert_eq!(detection_count(1, 5), 0);
        }
    }
}
