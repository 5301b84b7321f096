use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AlertTarget, ResolutionOutcome, TimerPurpose};
use crate::class::ClassId;
use crate::group::GroupId;
use crate::learning::{LearningSessionId, Urgency};
use crate::user::UserId;

/// What the process manager, the timer and the people handling a concern ask of it.
#[derive(Debug, Clone, PartialEq)]
pub enum SafetyEscalationCommand {
    /// A safety concern was detected.
    Open {
        learning_session_id: LearningSessionId,
        class_id: ClassId,
        group_id: GroupId,
        student_id: UserId,
        concern_type: String,
        urgency: Urgency,
        /// What the tutoring service saw (may be empty).
        evidence: String,
        /// The event id of the detection.
        detection_id: Uuid,
    },
    /// The alert of `level` (0: the class's group) went to `target`.
    RecordAlert {
        level: u32,
        target: AlertTarget,
        recipients: u32,
    },
    /// The workflow paused the learning session (or found it paused or completed).
    RecordSessionPaused,
    /// A timer row was written, due at `due_at` (the database clock).
    ScheduleTimer {
        timer_id: Uuid,
        purpose: TimerPurpose,
        due_at: DateTime<Utc>,
    },
    /// The timer fired.
    FireTimer { timer_id: Uuid },
    /// The follow-up of a `monitor` concern went out.
    RecordFollowUp { recipients: u32 },
    /// Someone allowed to handle the concern has seen it: the escalation stops.
    Acknowledge { by: UserId },
    /// Someone allowed to handle the concern closed it.
    Resolve {
        by: UserId,
        outcome: ResolutionOutcome,
        notes: String,
    },
}
