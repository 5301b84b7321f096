use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::class::ClassId;
use crate::learning::LearningSessionId;
use crate::user::UserId;

/// What the process manager and the timer asks of an intervention.
#[derive(Debug, Clone, PartialEq)]
pub enum StruggleInterventionCommand {
    /// A struggle detection on a topic with no running instance.
    Start {
        learning_session_id: LearningSessionId,
        class_id: ClassId,
        student_id: UserId,
        topic: String,
        /// The event id of the detection that started it.
        detection_id: Uuid,
    },
    /// A further struggle detection on the same topic while the instance runs.
    JoinStruggle { detection_id: Uuid },
    /// The teachers were told (in-app; email per their preferences).
    RecordTeachersNotified { recipients: u32 },
    /// The recheck timer row was written, due at `due_at` (the database clock).
    ScheduleRecheck {
        timer_id: Uuid,
        due_at: DateTime<Utc>,
    },
    /// The timer fired. Decides nothing yet: the decision waits until the process manager has
    /// read this in the log, after every event committed before it.
    FireRecheck { timer_id: Uuid },
    /// The tutoring service recorded a `recovery` on the topic.
    ObserveRecovery { detection_id: Uuid },
    /// The learning session was paused.
    ObservePause,
    /// The learning session was resumed.
    ObserveResume,
    /// The learning session was completed: ends a running instance at once.
    ObserveCompletion,
    /// The process manager has read the recheck in the log: decide.
    /// `message_id` is the id the intervention message would get.
    Decide { message_id: Uuid },
    /// The intervention message was posted into the learning session.
    RecordMessagePosted { message_id: Uuid },
    /// The learning session refused the message (paused or completed since the decision).
    RecordMessageRefused { message_id: Uuid },
}
