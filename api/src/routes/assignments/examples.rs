//! The examples of the assignment and submission bodies: the story of `routes/examples.rs`
//! (Lincoln High School, Algebra I, Ada the student) with an assignment on fractions.

use chrono::{DateTime, Utc};
use poem_openapi::types::{Example, MaybeUndefined};
use uuid::Uuid;

use super::{
    AssignmentDto, AssignmentList, AssignmentStatusDto, CreateAssignment, CreateSubmission,
    GradeDto, GradeSubmission, StudentAssignmentDto, StudentAssignmentList,
    SubmissionAssessmentDto, SubmissionDto, SubmissionList, SubmissionStatusDto, SubmitSubmission,
    UpdateAssignment,
};
use crate::routes::text::Text;

const ASSIGNMENT: Uuid = Uuid::from_u128(0x0193_9a1b_2c3d_7e4f_8a5b_6c7d_8e9f_0a1b);
const SUBMISSION: Uuid = Uuid::from_u128(0x6f3e_2d1c_0b9a_5876_9543_2109_8765_4321);
const CLASS: Uuid = Uuid::from_u128(0x0193_1c3d_4e5f_7061_8c7d_8e9f_a0b1_2c3d);
const TOOL: Uuid = Uuid::from_u128(0x0193_0b2c_3d4e_7f50_8b6c_7d8e_9fa0_1b2c);
const SESSION: Uuid = Uuid::from_u128(0x0193_2d4e_5f60_7172_9d8e_9fa0_b1c2_3d4e);
const ADA: Uuid = Uuid::from_u128(0x0193_3e4f_6071_7283_ae9f_a0b1_c2d3_4e5f);
const TEACHER: Uuid = Uuid::from_u128(0x0193_5a6b_7c8d_7e9f_8a0b_1c2d_3e4f_5a6b);
const ASSESSMENT: Uuid = Uuid::from_u128(0x0193_6b7c_8d9e_7fa0_8b1c_2d3e_4f5a_6b7c);

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("example time")
}

impl Example for AssignmentDto {
    fn example() -> Self {
        Self {
            id: ASSIGNMENT,
            class_id: CLASS,
            title: "Adding fractions".into(),
            instructions: "Add 1/2 and 1/3, then explain each step.".into(),
            tool_id: Some(TOOL),
            due_at: Some(at("2026-12-11T16:00:00Z")),
            max_score: Some(10),
            status: AssignmentStatusDto::Published,
            archived: false,
            created_by: Some(TEACHER),
            created_at: at("2026-12-07T09:00:00Z"),
            updated_at: at("2026-12-07T09:05:00Z"),
            version: 2,
            submitted_count: 14,
            graded_count: 9,
        }
    }
}

impl Example for AssignmentList {
    fn example() -> Self {
        Self {
            items: vec![AssignmentDto::example()],
        }
    }
}

impl Example for CreateAssignment {
    fn example() -> Self {
        Self {
            title: Text("Adding fractions".into()),
            instructions: Some(Text("Add 1/2 and 1/3, then explain each step.".into())),
            tool_id: Some(TOOL),
            due_at: Some(at("2026-12-11T16:00:00Z")),
            max_score: Some(10),
        }
    }
}

impl Example for UpdateAssignment {
    fn example() -> Self {
        Self {
            title: None,
            instructions: None,
            tool_id: MaybeUndefined::Undefined,
            due_at: MaybeUndefined::Value(at("2026-12-12T16:00:00Z")),
            max_score: MaybeUndefined::Undefined,
        }
    }
}

impl Example for GradeDto {
    fn example() -> Self {
        Self {
            score: Some(9),
            max_score: Some(10),
            feedback: "Clear steps; simplify the last fraction.".into(),
            graded_by: Some(TEACHER),
            graded_at: Some(at("2026-12-12T08:30:00Z")),
        }
    }
}

impl Example for SubmissionAssessmentDto {
    fn example() -> Self {
        Self {
            id: ASSESSMENT,
            learning_session_id: SESSION,
            scores: serde_json::json!([{"criterion": "reasoning", "score": 4, "max": 5}]),
            confidence: 0.86,
            recorded_at: at("2026-12-10T15:20:00Z"),
            reviewed_at: None,
        }
    }
}

impl Example for SubmissionDto {
    fn example() -> Self {
        Self {
            id: SUBMISSION,
            assignment_id: ASSIGNMENT,
            class_id: CLASS,
            student_id: ADA,
            student_name: Some("Ada Student".into()),
            content: "1/2 + 1/3 = 3/6 + 2/6 = 5/6".into(),
            evidence: vec![SESSION],
            status: SubmissionStatusDto::Graded,
            attempts: 1,
            late: false,
            submitted_at: Some(at("2026-12-10T15:30:00Z")),
            grade: Some(GradeDto::example()),
            assessments: Some(vec![SubmissionAssessmentDto::example()]),
            created_at: at("2026-12-10T15:00:00Z"),
            updated_at: at("2026-12-12T08:30:00Z"),
            version: 3,
        }
    }
}

impl Example for SubmissionList {
    fn example() -> Self {
        Self {
            items: vec![SubmissionDto::example()],
        }
    }
}

impl Example for CreateSubmission {
    fn example() -> Self {
        Self {
            content: Some(Text("1/2 + 1/3 = 3/6 + 2/6 = 5/6".into())),
            evidence: Some(vec![SESSION]),
        }
    }
}

impl Example for SubmitSubmission {
    fn example() -> Self {
        Self {
            content: None,
            evidence: None,
        }
    }
}

impl Example for GradeSubmission {
    fn example() -> Self {
        Self {
            score: Some(9),
            feedback: Some(Text("Clear steps; simplify the last fraction.".into())),
        }
    }
}

impl Example for StudentAssignmentDto {
    fn example() -> Self {
        Self {
            assignment: AssignmentDto::example(),
            submission_id: Some(SUBMISSION),
            submission_status: Some(SubmissionStatusDto::Submitted),
            late: Some(false),
            score: None,
            submitted_at: Some(at("2026-12-10T15:30:00Z")),
        }
    }
}

impl Example for StudentAssignmentList {
    fn example() -> Self {
        Self {
            items: vec![StudentAssignmentDto::example()],
        }
    }
}
