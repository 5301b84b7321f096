//! The examples of the workflow endpoints' bodies: the story of `routes/examples.rs` (Lincoln
//! High School, Algebra I, Ada the student), with a safety concern and a struggle on fractions.

use chrono::{DateTime, Utc};
use poem_openapi::types::Example;
use uuid::Uuid;

use super::dto::{
    ConcernDetailDto, ConcernDto, ConcernPage, InterventionDto, InterventionPage, OutcomeDto,
    ResolveConcern, StepDto, TimerDto, WorkflowDto,
};
use crate::routes::text::Text;
const CONCERN: Uuid = Uuid::from_u128(0x5a1e_0c0c_e000_5000_8000_0000_0000_0001);
const INTERVENTION: Uuid = Uuid::from_u128(0x5a1e_0c0c_e000_5000_8000_0000_0000_0002);
const CLASS: Uuid = Uuid::from_u128(0x0193_1c3d_4e5f_7061_8c7d_8e9f_a0b1_2c3d);
const SESSION: Uuid = Uuid::from_u128(0x0193_2d4e_5f60_7172_9d8e_9fa0_b1c2_3d4e);
const ADA: Uuid = Uuid::from_u128(0x0193_3e4f_6071_7283_ae9f_a0b1_c2d3_4e5f);
const COUNSELOR: Uuid = Uuid::from_u128(0x0193_4f60_7182_7394_bfa0_b1c2_d3e4_5f60);

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("example time")
}

impl Example for ConcernDto {
    fn example() -> Self {
        Self {
            id: CONCERN,
            class_id: CLASS,
            learning_session_id: SESSION,
            student_id: ADA,
            concern_type: "distress".into(),
            urgency: "immediate".into(),
            status: "acknowledged".into(),
            level: Some(0),
            session_paused: true,
            acknowledged_by: Some(COUNSELOR),
            acknowledged_at: Some(at("2026-12-06T10:04:00Z")),
            resolved_by: None,
            resolved_at: None,
            outcome: None,
            opened_at: at("2026-12-06T10:00:00Z"),
        }
    }
}

impl Example for ConcernPage {
    fn example() -> Self {
        Self {
            position: 48_240,
            items: vec![ConcernDto::example()],
            next_cursor: None,
        }
    }
}

impl Example for ConcernDetailDto {
    fn example() -> Self {
        Self {
            id: CONCERN,
            class_id: CLASS,
            learning_session_id: SESSION,
            student_id: ADA,
            concern_type: "distress".into(),
            urgency: "immediate".into(),
            evidence: "said they feel unsafe at home".into(),
            status: "acknowledged".into(),
            acknowledged_by: Some(COUNSELOR),
            resolved_by: None,
            outcome: None,
            notes: None,
            opened_at: at("2026-12-06T10:00:00Z"),
            timeline: vec![StepDto {
                event_type: "safety_concern.acknowledged".into(),
                at: at("2026-12-06T10:04:00Z"),
                actor: format!("user:{COUNSELOR}"),
                data: serde_json::json!({
                    "type": "safety_concern.acknowledged",
                    "by": COUNSELOR,
                }),
            }],
            pending_timers: vec![],
        }
    }
}

impl Example for ResolveConcern {
    fn example() -> Self {
        Self {
            outcome: OutcomeDto::Referred,
            notes: Text(
                "Spoke with Ada and her family; referred to the school psychologist.".into(),
            ),
        }
    }
}

impl Example for InterventionDto {
    fn example() -> Self {
        Self {
            id: INTERVENTION,
            learning_session_id: SESSION,
            student_id: ADA,
            topic: "fractions".into(),
            step: "ended".into(),
            detections: 2,
            teachers_notified: Some(1),
            outcome: Some("ai_intervention".into()),
            started_at: at("2026-12-06T10:00:00Z"),
            ended_at: Some(at("2026-12-06T10:05:00Z")),
        }
    }
}

impl Example for InterventionPage {
    fn example() -> Self {
        Self {
            position: 48_240,
            items: vec![InterventionDto::example()],
            next_cursor: None,
        }
    }
}

impl Example for WorkflowDto {
    fn example() -> Self {
        Self {
            id: INTERVENTION,
            workflow_type: "struggle_intervention".into(),
            class_id: CLASS,
            learning_session_id: SESSION,
            state: "waiting".into(),
            outcome: None,
            started_at: at("2026-12-06T10:00:00Z"),
            ended_at: None,
            steps: vec![StepDto {
                event_type: "intervention.recheck_scheduled".into(),
                at: at("2026-12-06T10:00:00Z"),
                actor: "system:workflows".into(),
                data: serde_json::json!({
                    "type": "intervention.recheck_scheduled",
                    "timer_id": "5a1e0c0c-e000-5000-8000-000000000003",
                    "due_at": "2026-12-06T10:05:00Z",
                }),
            }],
            pending_timers: vec![TimerDto {
                id: Uuid::from_u128(0x5a1e_0c0c_e000_5000_8000_0000_0000_0003),
                purpose: "recheck".into(),
                due_at: at("2026-12-06T10:05:00Z"),
            }],
        }
    }
}
