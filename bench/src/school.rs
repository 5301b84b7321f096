//! The school the detection benchmarks run in: a class with a tool, a teacher and a student
//! with many learning sessions, and the tutoring service's secret.

use serde_json::{json, Value};
use tests::{json_id, register, TestApp};

/// Sessions the detections rotate over (one student, many sessions: streams stay short, as
/// real sessions are).
pub const SESSIONS: usize = 200;

/// What the detections need: the sessions they rotate over and the secret that sends them;
/// and the student's token, for the messages of the mixed-load benchmark.
pub struct Fixture {
    pub sessions: Vec<String>,
    pub service_secret: String,
    pub student_token: String,
}

/// A school with a class, a tool, a teacher and a student with [`SESSIONS`] sessions, and a
/// service account.
pub async fn fixture(app: &TestApp) -> Fixture {
    let group = json_id(&app.create_group("Bench school", None).await);
    let class = json_id(&app.create_class(&group, "Bench class").await);
    let tool = json_id(&app.create_tool(&group, "Tutor").await);
    let mut student = String::new();
    for (email, role) in [
        ("teacher@bench.example", "teacher"),
        ("student@bench.example", "student"),
    ] {
        let (token, user) = register(app, email, "bench password 1").await;
        app.put_role(
            &format!("/classes/{class}/members/{}", json_id(&user)),
            role,
        )
        .await;
        if role == "student" {
            student = token;
        }
    }
    let account = app.create_service_account("Tutor service", &group).await;
    let service_secret = account["secret"].as_str().expect("secret").to_owned();
    let mut sessions = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        let session: Value = app
            .http
            .post(app.url("/learning-sessions"))
            .bearer_auth(&student)
            .json(&json!({"class_id": class, "tool_id": tool}))
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("session json");
        sessions.push(json_id(&session));
    }
    Fixture {
        sessions,
        service_secret,
        student_token: student,
    }
}
