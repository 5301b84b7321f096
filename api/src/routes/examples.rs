//! The OpenAPI document's examples of what clients send, outside `/auth` (whose examples,
//! with Ada's account, are in [`super::auth::examples`]). They tell one story: Lincoln High
//! School, its Algebra I class, a tutoring tool, and Ada as a student working with it. Each
//! keeps within its endpoint's limits (lengths, ranges, enumerations); the ids are made up.

use poem_openapi::types::Example;
use uuid::Uuid;

use super::assessments::{RecordAssessment, ReviewAssessment, ScoreInput, TraceInput};
use super::classes::{MoveClass, UpdateClass};
use super::groups::{CreateClass, MoveGroup, SetRole, UpdateGroup};
use super::learning::{Complete, Misbehavior, PostMessage, Reason, RoleDto, SafetyConcern};
use super::learning::{SeverityDto, StartSession, Struggle, UrgencyDto};
use super::notifications::{EmailPreferencesDto, NotificationPreferencesDto};
use super::service_accounts::CreateServiceAccount;
use super::text::Text;
use super::tools::{CreateTool, UpdateTool};

/// The district above the school.
const DISTRICT: Uuid = Uuid::from_u128(0x0193_0a1b_2c3d_7e4f_8a5b_6c7d_8e9f_0a1b);
/// Lincoln High School.
const SCHOOL: Uuid = Uuid::from_u128(0x0193_0b2c_3d4e_7f50_9b6c_7d8e_9fa0_1b2c);
/// Algebra I.
const CLASS: Uuid = Uuid::from_u128(0x0193_1c3d_4e5f_7061_8c7d_8e9f_a0b1_2c3d);
/// The tutoring tool.
const TOOL: Uuid = Uuid::from_u128(0x0193_2d4e_5f60_7172_9d8e_9fa0_b1c2_3d4e);

fn text(s: &str) -> Text {
    Text(s.to_owned())
}

impl Example for UpdateGroup {
    fn example() -> Self {
        Self {
            name: Some(text("Lincoln High School (North Campus)")),
        }
    }
}

impl Example for MoveGroup {
    fn example() -> Self {
        Self {
            parent_id: Some(DISTRICT),
        }
    }
}

impl Example for SetRole {
    fn example() -> Self {
        Self {
            role: text("teacher"),
        }
    }
}

impl Example for CreateClass {
    fn example() -> Self {
        Self {
            name: text("Algebra I"),
        }
    }
}

impl Example for UpdateClass {
    fn example() -> Self {
        Self {
            name: Some(text("Algebra I (Period 3)")),
        }
    }
}

impl Example for MoveClass {
    fn example() -> Self {
        Self { group_id: SCHOOL }
    }
}

impl Example for CreateTool {
    fn example() -> Self {
        Self {
            name: text("Socratic Math Tutor"),
            description: Some(text(
                "Asks guiding questions instead of giving answers; for algebra and geometry.",
            )),
        }
    }
}

impl Example for UpdateTool {
    fn example() -> Self {
        Self {
            name: None,
            description: Some(text(
                "Asks guiding questions instead of giving answers; algebra, geometry and \
                 statistics.",
            )),
        }
    }
}

impl Example for CreateServiceAccount {
    fn example() -> Self {
        Self {
            name: text("Tutor model service"),
            group_ids: vec![SCHOOL],
        }
    }
}

impl Example for StartSession {
    fn example() -> Self {
        Self {
            class_id: CLASS,
            tool_id: TOOL,
        }
    }
}

impl Example for PostMessage {
    fn example() -> Self {
        Self {
            role: RoleDto::Student,
            content: text("How do I solve 3x + 5 = 20?"),
        }
    }
}

impl Example for Reason {
    fn example() -> Self {
        Self {
            reason: text("Class discussion first; we continue after the break."),
        }
    }
}

impl Example for Complete {
    fn example() -> Self {
        Self {
            summary: text("Solved two-step linear equations with guidance, then alone."),
            topics_covered: vec!["linear equations".into(), "inverse operations".into()],
        }
    }
}

// `DetectionBody` is a union, which carries no example of its own in poem-openapi: each
// kind has one, without the `type` that selects it.
impl Example for Misbehavior {
    fn example() -> Self {
        Self {
            category: text("asking for answers only"),
            severity: SeverityDto::Low,
            evidence: text("Asked the tutor three times to just give the final answer."),
        }
    }
}

impl Example for Struggle {
    fn example() -> Self {
        Self {
            topic: text("linear equations"),
            indicators: vec![
                "repeated wrong answers".into(),
                "long pauses between messages".into(),
            ],
            duration_seconds: 600,
        }
    }
}

impl Example for SafetyConcern {
    fn example() -> Self {
        Self {
            concern_type: text("distress"),
            urgency: UrgencyDto::SameDay,
            evidence: Some(text("Wrote that they feel overwhelmed and cannot sleep.")),
        }
    }
}

impl Example for ScoreInput {
    fn example() -> Self {
        Self {
            criterion: text("Shows each step"),
            score: 3.0,
            max: 4.0,
        }
    }
}

impl Example for TraceInput {
    fn example() -> Self {
        Self {
            model: text("tutor-grader-2026-10"),
            prompt_hash: text("sha256:9f2c4e1a7b3d5f60"),
            input_snapshot: serde_json::json!({
                "question": "Solve 3x + 5 = 20",
                "answer": "3x = 15, x = 5"
            }),
            raw_response: text("{\"scores\":[{\"criterion\":\"Shows each step\",\"score\":3}]}"),
            parsed_result: serde_json::json!({
                "scores": [{"criterion": "Shows each step", "score": 3}]
            }),
        }
    }
}

impl Example for RecordAssessment {
    fn example() -> Self {
        Self {
            assignment_id: None,
            scores: vec![ScoreInput::example()],
            confidence: 0.72,
            trace: TraceInput::example(),
        }
    }
}

impl Example for ReviewAssessment {
    fn example() -> Self {
        Self {
            notes: Some(text("Score confirmed; the second step was shown on paper.")),
        }
    }
}

impl Example for EmailPreferencesDto {
    fn example() -> Self {
        Self {
            misbehavior: Some(true),
            struggle: Some(true),
            safety_concern: Some(true),
            assessment_review: Some(false),
        }
    }
}

impl Example for NotificationPreferencesDto {
    fn example() -> Self {
        Self {
            email: EmailPreferencesDto::example(),
        }
    }
}
