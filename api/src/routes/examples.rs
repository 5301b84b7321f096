//! The OpenAPI document's examples of what clients send and get, outside `/auth` (whose
//! examples are beside its DTOs; Ada's account is in [`super::identity::examples`]). They
//! tell one story: Lincoln High School, its Algebra I class, a tutoring tool, and Ada as a
//! student working with it. Each keeps within its endpoint's limits (lengths, ranges,
//! enumerations); the ids are made up.

use poem_openapi::types::Example;
use uuid::Uuid;

use super::assessments::{
    AssessmentDto, AssessmentList, RecordAssessment, ReviewAssessment, ScoreDto, ScoreInput,
    TraceDto, TraceInput,
};
use super::classes::{MoveClass, SetClassRole, UpdateClass};
use super::dashboards::DashboardDto;
use super::directory::{ClassDto, ClassList, MemberDto, MemberList};
use super::groups::{CreateClass, GroupDto, GroupPage, MoveGroup, SetRole, UpdateGroup};
use super::health::{Health, Readiness, SubscriberState};
use super::identity::examples::{at, USER};
use super::learning::{
    Complete, EntryDto, LearningSessionDto, LearningSessionList, Misbehavior, PostMessage, Reason,
    Recovery, RoleDto, SafetyConcern, SeverityDto, StartLearningSession, Struggle, UrgencyDto,
};
use super::me::{Abilities, MembershipDto, Memberships};
use super::notifications::{
    DeadLetterDto, DeadLetterList, EmailPreferencesDto, MarkedRead, NotificationPage,
    NotificationPreferencesDto, RetryAccepted, UnreadCount,
};
use super::service_accounts::{CreateServiceAccount, ServiceAccountSecret};
use super::text::Text;
use super::themes::{SetTheme, ThemeDto, ThemeValueDto};
use super::tools::{CreateTool, ToolDto, ToolList, UpdateTool};
use super::views::{
    DashboardCountersDto, DashboardEventDto, MisbehaviorCounts, NotificationDto, SeverityCountsDto,
    StrugglingStudentDto,
};

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
            role: "counselor".into(),
        }
    }
}

impl Example for SetClassRole {
    fn example() -> Self {
        Self {
            role: "teacher".into(),
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

impl Example for StartLearningSession {
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

impl Example for Recovery {
    fn example() -> Self {
        Self {
            topic: text("fractions"),
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

// What the API answers, outside `/auth`: the same school, class and tool, with Ada
// (`identity::examples::USER`) as the student and Grace as her teacher.

/// Grace Hopper, who teaches Algebra I.
const TEACHER: Uuid = Uuid::from_u128(0x0193_2c4e_8a10_7b3e_9f21_6d5a_4c3b_2a11);
/// Ada's learning session with the tutor.
const LEARNING_SESSION: Uuid = Uuid::from_u128(0x0193_5f1b_2c3d_7e4f_8a5b_6c7d_8e9f_0a1c);
const ASSESSMENT: Uuid = Uuid::from_u128(0x0193_5f2c_3d4e_7f50_9b6c_7d8e_9fa0_1b2d);
const NOTIFICATION: Uuid = Uuid::from_u128(0x0193_5f3d_4e5f_7061_8c7d_8e9f_a0b1_2c3e);

impl Example for GroupDto {
    fn example() -> Self {
        Self {
            id: SCHOOL,
            name: "Lincoln High School".into(),
            parent_id: Some(DISTRICT),
            path: vec![DISTRICT, SCHOOL],
            archived: false,
            created_at: at("2026-08-15T12:00:00Z"),
            updated_at: at("2026-08-15T12:00:00Z"),
            version: 1,
        }
    }
}

impl Example for GroupPage {
    fn example() -> Self {
        Self {
            items: vec![GroupDto::example()],
            next_cursor: Some("1786795200000000_01930b2c3d4e7f509b6c7d8e9fa01b2c".into()),
        }
    }
}

impl Example for MemberList {
    fn example() -> Self {
        let member = |user_id, email: &str, name: &str, role: &str, since| MemberDto {
            user_id,
            email: email.into(),
            name: name.into(),
            role: role.into(),
            since: at(since),
        };
        Self {
            items: vec![
                member(
                    TEACHER,
                    "grace@example.org",
                    "Grace Hopper",
                    "teacher",
                    "2026-08-20T09:10:00Z",
                ),
                member(
                    USER,
                    "ada@example.org",
                    "Ada Lovelace",
                    "student",
                    "2026-09-01T08:05:00Z",
                ),
            ],
        }
    }
}

impl Example for ClassDto {
    fn example() -> Self {
        Self {
            id: CLASS,
            group_id: SCHOOL,
            name: "Algebra I".into(),
            archived: false,
            created_at: at("2026-08-20T09:00:00Z"),
            // Created, then Grace and Ada added as members.
            updated_at: at("2026-09-01T08:05:00Z"),
            version: 3,
        }
    }
}

impl Example for ClassList {
    fn example() -> Self {
        Self {
            items: vec![ClassDto::example()],
        }
    }
}

impl Example for ToolDto {
    fn example() -> Self {
        Self {
            id: TOOL,
            group_id: SCHOOL,
            name: "Socratic Math Tutor".into(),
            description: "Asks guiding questions instead of giving answers; for algebra and \
                          geometry."
                .into(),
            archived: false,
            created_at: at("2026-08-25T10:00:00Z"),
            updated_at: at("2026-08-25T10:00:00Z"),
            version: 1,
        }
    }
}

impl Example for ToolList {
    fn example() -> Self {
        Self {
            items: vec![ToolDto::example()],
        }
    }
}

/// Lincoln High's theme as its Algebra I class shows it: the school's name and accent
/// colour, the district's primary colour and logo.
impl Example for SetTheme {
    fn example() -> Self {
        Self {
            display_name: Some(text("Lincoln High")),
            primary_color: None,
            accent_color: Some(text("#16a34a")),
            logo_url: None,
        }
    }
}

fn theme_value(value: &str, source: Uuid) -> ThemeValueDto {
    ThemeValueDto {
        value: Some(value.to_owned()),
        source: "group".into(),
        source_id: Some(source),
    }
}

impl Example for ThemeValueDto {
    fn example() -> Self {
        theme_value("#16a34a", SCHOOL)
    }
}

impl Example for ThemeDto {
    fn example() -> Self {
        Self {
            display_name: theme_value("Lincoln High", SCHOOL),
            primary_color: theme_value("#1e3a8a", DISTRICT),
            accent_color: ThemeValueDto::example(),
            logo_url: theme_value(
                "https://cdn.lincoln.example.org/district-logo.svg",
                DISTRICT,
            ),
        }
    }
}

impl Example for ServiceAccountSecret {
    fn example() -> Self {
        Self {
            id: Uuid::from_u128(0x0193_2e5f_6071_7283_8e9f_a0b1_c2d3_4e5f),
            secret: "svc_Qm9vdHN0cmFwIHRoZSB0dXRvciBzZXJ2aWNlIG9uY2U".into(),
        }
    }
}

impl Example for LearningSessionDto {
    fn example() -> Self {
        Self {
            id: LEARNING_SESSION,
            student_id: USER,
            class_id: CLASS,
            tool_id: TOOL,
            status: "active".into(),
            message_count: 2,
            detection_count: 1,
            summary: None,
            topics_covered: None,
            started_at: at("2026-11-26T09:40:00Z"),
            updated_at: at("2026-11-26T09:52:00Z"),
            completed_at: None,
            entries: Some(vec![
                EntryDto {
                    sequence: 2,
                    kind: "session.message_posted".into(),
                    data: serde_json::json!({
                        "type": "session.message_posted",
                        "role": "student",
                        "content": "How do I solve 3x + 5 = 20?"
                    }),
                    recorded_at: at("2026-11-26T09:41:00Z"),
                },
                EntryDto {
                    sequence: 3,
                    kind: "session.message_posted".into(),
                    data: serde_json::json!({
                        "type": "session.message_posted",
                        "role": "assistant",
                        "content": "What could you do to both sides to get 3x on its own?"
                    }),
                    recorded_at: at("2026-11-26T09:41:05Z"),
                },
                EntryDto {
                    sequence: 4,
                    kind: "learning.struggle_detected".into(),
                    data: serde_json::json!({
                        "type": "learning.struggle_detected",
                        "topic": "linear equations",
                        "indicators": ["repeated wrong answers", "long pauses between messages"],
                        "duration_seconds": 600
                    }),
                    recorded_at: at("2026-11-26T09:52:00Z"),
                },
            ]),
        }
    }
}

impl Example for LearningSessionList {
    fn example() -> Self {
        Self {
            items: vec![LearningSessionDto {
                entries: None,
                ..LearningSessionDto::example()
            }],
        }
    }
}

impl Example for AssessmentDto {
    fn example() -> Self {
        // What `RecordAssessment::example()` sent, as the API gives it back.
        let (score, recorded) = (ScoreInput::example(), TraceInput::example());
        // The real hash of the example trace, so that a client checking it finds it matches.
        let hash = application::assessments::content_hash(
            &recorded.input_snapshot,
            &recorded.raw_response.0,
        );
        Self {
            id: ASSESSMENT,
            learning_session_id: LEARNING_SESSION,
            class_id: CLASS,
            student_id: USER,
            assignment_id: None,
            scores: vec![ScoreDto {
                criterion: score.criterion.0,
                score: score.score,
                max: score.max,
            }],
            confidence: 0.72,
            recorded_at: at("2026-11-26T10:00:00Z"),
            reviewed_by: Some(TEACHER),
            reviewed_at: Some(at("2026-11-26T15:30:00Z")),
            review_notes: Some("Score confirmed; the second step was shown on paper.".into()),
            trace: TraceDto {
                model: recorded.model.0,
                prompt_hash: recorded.prompt_hash.0,
                input_snapshot: recorded.input_snapshot,
                raw_response: recorded.raw_response.0,
                parsed_result: recorded.parsed_result,
                content_hash: hash.clone(),
                computed_hash: hash,
                verified: true,
            },
        }
    }
}

/// The review queue: assessments no teacher has reviewed yet.
impl Example for AssessmentList {
    fn example() -> Self {
        Self {
            items: vec![AssessmentDto {
                reviewed_by: None,
                reviewed_at: None,
                review_notes: None,
                ..AssessmentDto::example()
            }],
        }
    }
}

impl Example for NotificationDto {
    fn example() -> Self {
        Self {
            id: NOTIFICATION,
            kind: "struggle".into(),
            title: "Ada Lovelace is struggling with linear equations in Algebra I".into(),
            body: "Indicators: repeated wrong answers, long pauses between messages".into(),
            class_id: CLASS,
            learning_session_id: Some(LEARNING_SESSION),
            assessment_id: None,
            student_id: Some(USER),
            created_at: at("2026-11-26T09:52:01Z"),
            read_at: None,
        }
    }
}

impl Example for NotificationPage {
    fn example() -> Self {
        Self {
            position: 48_240,
            items: vec![NotificationDto::example()],
            next_cursor: None,
        }
    }
}

impl Example for UnreadCount {
    fn example() -> Self {
        Self { count: 3 }
    }
}

impl Example for MarkedRead {
    fn example() -> Self {
        Self { marked: 3 }
    }
}

impl Example for DeadLetterList {
    fn example() -> Self {
        Self {
            items: vec![DeadLetterDto {
                id: NOTIFICATION,
                notification_id: NOTIFICATION,
                recipient_id: TEACHER,
                kind: "struggle".into(),
                attempts: 3,
                last_error: Some("SMTP: 421 service not available".into()),
                dead_lettered_at: Some(at("2026-11-26T10:20:00Z")),
            }],
        }
    }
}

impl Example for RetryAccepted {
    fn example() -> Self {
        Self {
            id: NOTIFICATION,
            status: "retry_requested".into(),
        }
    }
}

impl Example for Memberships {
    fn example() -> Self {
        Self {
            items: vec![MembershipDto {
                kind: "class".into(),
                id: CLASS,
                name: "Algebra I".into(),
                role: "student".into(),
                inherited_from: None,
            }],
        }
    }
}

impl Example for Abilities {
    fn example() -> Self {
        let actions = |list: &[&str]| list.iter().map(|a| (*a).to_owned()).collect();
        Self {
            system: vec![],
            groups: Default::default(),
            classes: [(
                CLASS.to_string(),
                actions(&[
                    "class.read",
                    "class.read_assignments",
                    "class.create_learning_session",
                    "class.create_submission",
                ]),
            )]
            .into(),
        }
    }
}

impl Example for Health {
    fn example() -> Self {
        let subscriber = |name: &str| SubscriberState {
            name: name.into(),
            active: true,
            position: 48_213,
            failures: 0,
        };
        Self {
            status: "ok".into(),
            nats: "ok".into(),
            subscribers: vec![subscriber("identity"), subscriber("groups")],
        }
    }
}

impl Example for Readiness {
    fn example() -> Self {
        Self {
            ready: true,
            database: "ok".into(),
            migrations: "ok".into(),
            nats: "ok".into(),
        }
    }
}

impl Example for DashboardDto {
    fn example() -> Self {
        Self {
            class_id: CLASS,
            position: 48_240,
            counters: DashboardCountersDto::example(),
            recent_events: vec![
                DashboardEventDto {
                    position: 48_213,
                    event_type: "learning.struggle_detected".into(),
                    learning_session_id: Some(LEARNING_SESSION),
                    student_id: Some(USER),
                    summary: "Struggling with linear equations".into(),
                    recorded_at: at("2026-11-26T09:52:00Z"),
                },
                DashboardEventDto {
                    position: 47_960,
                    event_type: "session.started".into(),
                    learning_session_id: Some(LEARNING_SESSION),
                    student_id: Some(USER),
                    summary: "Session started".into(),
                    recorded_at: at("2026-11-26T09:40:00Z"),
                },
            ],
        }
    }
}

impl Example for DashboardCountersDto {
    fn example() -> Self {
        Self {
            active_sessions: 14,
            misbehavior: MisbehaviorCounts {
                today: SeverityCountsDto {
                    low: 2,
                    medium: 0,
                    high: 0,
                    critical: 0,
                },
                total: SeverityCountsDto {
                    low: 17,
                    medium: 4,
                    high: 1,
                    critical: 0,
                },
            },
            struggling_students: vec![StrugglingStudentDto {
                student_id: USER,
                learning_session_id: LEARNING_SESSION,
                topic: "linear equations".into(),
                since: at("2026-11-26T09:52:00Z"),
            }],
            open_safety_concerns: 0,
            assessments_awaiting_review: 1,
            submissions_awaiting_grade: 1,
        }
    }
}
