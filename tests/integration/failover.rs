//! Two server processes on one database: each subscriber runs in exactly one; killing that
//! one moves it to the other.

use std::time::Duration;

use serde_json::Value;
use tests::{test_env, ServerProcess, TestDb, TestOptions};

async fn subscribers(client: &reqwest::Client, server: &ServerProcess) -> Vec<(String, bool)> {
    let health: Value = client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["active"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn active_in(list: &[(String, bool)], name: &str) -> bool {
    list.iter().any(|(n, active)| n == name && *active)
}

#[tokio::test]
async fn each_subscriber_runs_in_one_process_and_fails_over_when_it_dies() {
    let db = TestDb::create().await;
    let env = test_env(&db, &TestOptions::default());
    let a = ServerProcess::start(&env).await;
    let b = ServerProcess::start(&env).await;
    let client = reqwest::Client::new();
    let names = ["groups", "identity", "learning", "nats-relay"];

    // Settle: every subscriber is active in exactly one of the two.
    let mut settled = false;
    for _ in 0..200 {
        let (sa, sb) = (
            subscribers(&client, &a).await,
            subscribers(&client, &b).await,
        );
        if names.iter().all(|n| active_in(&sa, n) ^ active_in(&sb, n)) {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(settled, "each subscriber active in exactly one process");
    for _ in 0..10 {
        let (sa, sb) = (
            subscribers(&client, &a).await,
            subscribers(&client, &b).await,
        );
        for n in names {
            assert!(
                !(active_in(&sa, n) && active_in(&sb, n)),
                "{n} active twice"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let groups_in_a = active_in(&subscribers(&client, &a).await, "groups");
    let (dying, survivor) = if groups_in_a { (a, b) } else { (b, a) };
    dying.kill().await;

    let mut took_over = false;
    for _ in 0..200 {
        if active_in(&subscribers(&client, &survivor).await, "groups") {
            took_over = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        took_over,
        "the survivor took the groups projection over within 10 s"
    );

    // And it works: a write through the survivor is readable at once.
    tests::create_admin_cli(&env, "failover@test.example", "failover pw 1").await;
    let signed_in: Value = client
        .post(survivor.url("/auth/login"))
        .json(&serde_json::json!({"email": "failover@test.example", "password": "failover pw 1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_in["token"].as_str().unwrap();
    let created = client
        .post(survivor.url("/groups"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "After failover"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let group: Value = created.json().await.unwrap();
    assert_eq!(group["name"], "After failover");
    survivor.kill().await;
}
