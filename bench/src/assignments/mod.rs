//! Submissions accepted per second at 8 clients against `POST /groups` at 8 clients in the
//! same run (issue #21), alternating, three rounds each.
//!
//! A submission is `POST /submissions/{id}/submit`: it reads the assignment and the
//! submission from the write side, appends `submission.submitted`, and answers once the
//! `assignments` read model has it (as `POST /groups` answers once the directory has the
//! group). 64 students of one class each hold a submission to one published assignment; each
//! operation takes a student nobody else is using (so no two clients write one stream) and
//! submits again (a resubmission before the due time).

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::json;
use tests::{json_id, register, spawn_app_with, TestApp, TestOptions};
use tokio::sync::Mutex;

use crate::closed_loop::{client, rate, secs};

const STUDENTS: usize = 64;

/// A student's token and their submission's id.
type Student = (String, String);

async fn students(app: &TestApp) -> Vec<Student> {
    let group = json_id(&app.create_group("Bench school", None).await);
    let class = json_id(&app.create_class(&group, "Bench class").await);
    let created = app
        .post_json(
            &format!("/classes/{class}/assignments"),
            &json!({"title": "Bench essay", "max_score": 10, "due_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let assignment = json_id(&created.json().await.expect("assignment"));
    let published = app
        .request(
            reqwest::Method::POST,
            &format!("/assignments/{assignment}/publish"),
        )
        .send()
        .await
        .expect("publish");
    assert_eq!(published.status(), 200);
    let mut students = Vec::with_capacity(STUDENTS);
    for n in 0..STUDENTS {
        let (token, user) = register(
            app,
            &format!("student{n}@bench.example"),
            "bench password 1",
        )
        .await;
        app.put_role(
            &format!("/classes/{class}/members/{}", json_id(&user)),
            "student",
        )
        .await;
        let (status, body) = tests::send(
            app,
            &token,
            reqwest::Method::POST,
            &format!("/assignments/{assignment}/submissions"),
            Some(json!({"content": "first draft"})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        students.push((token, json_id(&body)));
    }
    students
}

pub async fn run() {
    let app = spawn_app_with(TestOptions {
        env: vec![
            ("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000000".into()),
            ("DATABASE_MAX_CONNECTIONS".into(), "20".into()),
        ],
        ..TestOptions::default()
    })
    .await;
    let free = Arc::new(Mutex::new(VecDeque::from(students(&app).await)));
    println!(
        "submissions vs POST /groups, 8 clients, {} s steps",
        secs().as_secs()
    );
    let http = client();
    let url = app.address.clone();
    let token = app.token.clone();
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..3 {
        let (http_g, url_g, token_g) = (http.clone(), url.clone(), token.clone());
        let groups = rate(8, move |n| {
            let (http, url, token) = (http_g.clone(), url_g.clone(), token_g.clone());
            async move {
                http.post(format!("{url}/groups"))
                    .bearer_auth(&token)
                    .json(&json!({"name": format!("Bench group {round}-{n}")}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 201)
            }
        })
        .await;
        app.wait_for_all_subscribers().await;
        let (http_s, url_s, free_s) = (http.clone(), url.clone(), free.clone());
        let submits = rate(8, move |n| {
            let (http, url, free) = (http_s.clone(), url_s.clone(), free_s.clone());
            async move {
                let student = free.lock().await.pop_front().expect("a free student");
                let ok = http
                    .post(format!("{url}/submissions/{}/submit", student.1))
                    .bearer_auth(&student.0)
                    .json(&json!({"content": format!("draft {n}")}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                free.lock().await.push_back(student);
                ok
            }
        })
        .await;
        app.wait_for_all_subscribers().await;
        println!("  round {round}: POST /groups {groups:>7.0} req/s, submit {submits:>7.0} req/s");
        rates[0].push(groups);
        rates[1].push(submits);
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "  mean: POST /groups {:.0} req/s, submissions {:.0} req/s: ratio {:.3}",
        mean(&rates[0]),
        mean(&rates[1]),
        mean(&rates[1]) / mean(&rates[0])
    );
}
