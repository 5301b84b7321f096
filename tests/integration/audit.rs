//! The audit chain: seals, signed checkpoints (checked with openssl, copied to NATS), and
//! verification that names what was tampered with, as a database superuser with the
//! triggers off would tamper.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::{Connection as _, PgConnection};
use tests::{eventually, run_cli, spawn_app_with, test_env, TestApp, TestOptions};

fn options(extra: &[(&str, &str)]) -> TestOptions {
    TestOptions {
        env: extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..TestOptions::default()
    }
}

async fn verify(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app.get(&format!("/audit/verify{query}")).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The report's failure as (kind, position, event id).
fn failure(report: &Value) -> (String, i64, String) {
    let f = &report["failures"][0];
    assert!(f.is_object(), "expected a failure: {report}");
    assert_eq!(report["failures"].as_array().unwrap().len(), 1, "{report}");
    (
        f["kind"].as_str().unwrap().to_owned(),
        f["position"].as_i64().unwrap(),
        f["event_id"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A connection of the database's owner with every trigger off: the append-only triggers
/// stop the application, not an operator who can do this.
async fn attacker(app: &TestApp) -> PgConnection {
    let mut conn = PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sql).execute(&mut *conn).await.unwrap();
}

/// The log's (position, event id) in order.
async fn log(app: &TestApp) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT position, event_id::text FROM events ORDER BY position")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn a_busy_app(extra: &[(&str, &str)]) -> TestApp {
    let app = spawn_app_with(options(extra)).await;
    for i in 0..6 {
        let group = app.create_group(&format!("Sealed {i}"), None).await;
        app.patch_json(
            &format!("/groups/{}", group["id"].as_str().unwrap()),
            &json!({"name": format!("Sealed {i} renamed")}),
        )
        .await;
    }
    app.wait_for_all_subscribers().await;
    app
}

#[tokio::test]
async fn a_clean_log_verifies_and_its_checkpoints_check_out_with_openssl_and_on_nats() {
    let app = a_busy_app(&[
        ("AUDIT_CHECKPOINT_EVERY_EVENTS", "5"),
        ("AUDIT_CHECKPOINT_INTERVAL_MS", "300"),
    ])
    .await;
    let (status, report) = verify(&app, "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["failures"], json!([]), "{report}");
    assert_eq!(report["events_checked"], app.log_length().await, "{report}");
    assert_eq!(report["to_position"], app.log_head().await);
    assert_eq!(report["signatures_checked"], true);
    assert!(
        report["checkpoints_checked"].as_i64().unwrap() >= 2,
        "{report}"
    );

    // Every 5 events, and the newest seal once the last checkpoint is 300 ms old.
    let head = app.log_head().await;
    let page = eventually(
        "a checkpoint of the newest seal, published",
        Duration::from_secs(10),
        || async {
            let page: Value = app.get("/audit/checkpoints").await.json().await.unwrap();
            let newest = &page["items"][0];
            (newest["position"] == head && !newest["published_at"].is_null()).then_some(page)
        },
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert!(items.len() >= 2, "{page}");

    // The auditor's way (docs/audit.md): the message from position and hash, openssl.
    let key: Value = app
        .http
        .get(app.url("/audit/public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key["algorithm"], "Ed25519");
    let dir = std::env::temp_dir().join(format!("rapt-audit-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key.pem"), key["pem"].as_str().unwrap()).unwrap();
    let checkpoint = &items[0];
    let openssl_verifies = |position: &Value| {
        use base64::Engine as _;
        std::fs::write(
            dir.join("message.txt"),
            format!(
                "raptscallions audit checkpoint v1\nposition {position}\nhash {}\n",
                checkpoint["hash"].as_str().unwrap()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("signature.bin"),
            base64::engine::general_purpose::STANDARD
                .decode(checkpoint["signature"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        std::process::Command::new("openssl")
            .current_dir(&dir)
            .args([
                "pkeyutl", "-verify", "-pubin", "-inkey", "key.pem", "-rawin",
            ])
            .args(["-in", "message.txt", "-sigfile", "signature.bin"])
            .output()
            .expect("openssl runs")
            .status
            .success()
    };
    assert!(openssl_verifies(&checkpoint["position"]));
    assert!(
        !openssl_verifies(&json!(head + 1)),
        "another position does not verify"
    );
    std::fs::remove_dir_all(&dir).ok();

    // A copy outside the database: the newest checkpoint on the stream.
    let client = async_nats::connect(&app.config.nats_url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let stream = jetstream
        .get_stream(app.db.audit_stream_name())
        .await
        .unwrap();
    let subject = format!("{}.audit.checkpoints", app.config.nats_subject_prefix);
    let message = stream
        .get_last_raw_message_by_subject(&subject)
        .await
        .unwrap();
    let copy: Value = serde_json::from_slice(&message.payload).unwrap();
    for field in ["position", "ordinal", "hash", "signature", "public_key"] {
        assert_eq!(
            copy[field], checkpoint[field],
            "{field}: {copy} vs {checkpoint}"
        );
    }

    // A batch delivered again (a crash before the sealer's checkpoint moved) seals nothing
    // twice.
    let seals: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_seals")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let sealer = projections::audit::sealer::Sealer {
        pool: app.pool.clone(),
        key: None,
        checkpoint_every: 5,
    };
    let first: i64 = sqlx::query_scalar("SELECT min(position) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sealer.seal(first, head).await.unwrap();
    let again: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_seals")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(again, seals);
    let (_, report) = verify(&app, "").await;
    assert_eq!(report["verified"], true, "{report}");

    // The chain is append-only for the application too.
    let refused = sqlx::query("UPDATE audit_seals SET ordinal = ordinal")
        .execute(&app.pool)
        .await;
    assert!(refused.is_err(), "seals refuse updates");
    let refused = sqlx::query("DELETE FROM audit_checkpoints")
        .execute(&app.pool)
        .await;
    assert!(refused.is_err(), "checkpoints refuse deletes");
}

const TABLES: [&str; 3] = ["events", "audit_seals", "audit_checkpoints"];

/// Keeps a copy of the log and its chain, to put back after each tampering.
async fn keep_originals(db: &mut PgConnection) {
    for table in TABLES {
        exec(
            db,
            &format!("CREATE TEMP TABLE original_{table} AS SELECT * FROM {table}"),
        )
        .await;
    }
}

async fn put_back_originals(db: &mut PgConnection) {
    for table in TABLES {
        exec(
            db,
            &format!("DELETE FROM {table}; INSERT INTO {table} SELECT * FROM original_{table}"),
        )
        .await;
    }
}

#[tokio::test]
async fn each_kind_of_tampering_is_named_at_the_event_it_touched() {
    let app = a_busy_app(&[("AUDIT_CHECKPOINT_EVERY_EVENTS", "4")]).await;
    let events = log(&app).await;
    assert!(events.len() >= 12, "{events:?}");
    let (p, id) = events[5].clone();
    let (q, next_id) = events[6].clone();
    let mut db = attacker(&app).await;
    keep_originals(&mut db).await;
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT min(position) FROM audit_checkpoints WHERE position > $1")
            .bind(p)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let env = test_env(&app.db, &options(&[]));
    // Someone who holds the key signs a checkpoint of a chain that is not the log's.
    let forged = "cd".repeat(32);
    let forged_signature = hex::encode(
        tests::app::test_audit_key()
            .sign(checkpoint, &[0xcd; 32])
            .to_bytes(),
    );
    let cases: Vec<(&str, String, &str, i64, Option<&str>)> = vec![
        (
            "an altered payload",
            format!("UPDATE events SET payload = payload || '{{\"x\": 1}}' WHERE position = {p}"),
            "event_altered", p, Some(&id),
        ),
        (
            "altered metadata",
            format!("UPDATE events SET metadata = metadata || '{{\"actor\": \"user:nobody\"}}' WHERE position = {p}"),
            "event_altered", p, Some(&id),
        ),
        (
            "an altered recorded time",
            format!("UPDATE events SET recorded_at = recorded_at - interval '1 day' WHERE position = {p}"),
            "event_altered", p, Some(&id),
        ),
        (
            "a deleted event",
            format!("DELETE FROM events WHERE position = {p}"),
            "event_deleted", p, Some(&id),
        ),
        (
            "an inserted event",
            format!(
                "INSERT INTO events SELECT aggregate_type, aggregate_id || '-forged', sequence, \
                 event_type, event_version, payload, metadata, gen_random_uuid(), position + 32768, \
                 recorded_at FROM events WHERE position = {p}"
            ),
            "event_inserted", p + 32768, None,
        ),
        (
            "two events swapped",
            format!(
                "UPDATE events SET position = -1 WHERE position = {p}; \
                 UPDATE events SET position = {p} WHERE position = {q}; \
                 UPDATE events SET position = {q} WHERE position = -1"
            ),
            "event_reordered", p, Some(&id),
        ),
        (
            "an altered seal",
            format!("UPDATE audit_seals SET hash = sha256(hash) WHERE position = {p}"),
            "seal_altered", p, Some(&id),
        ),
        (
            "a deleted seal",
            format!("DELETE FROM audit_seals WHERE position = {p}"),
            "seal_deleted", p, Some(&id),
        ),
        (
            "a forged checkpoint signature",
            format!("UPDATE audit_checkpoints SET signature = sha512(signature) WHERE position = {checkpoint}"),
            "checkpoint_signature", checkpoint, None,
        ),
        (
            "a checkpoint's hash changed (its signature no longer matches)",
            format!("UPDATE audit_checkpoints SET hash = sha256(hash) WHERE position = {checkpoint}"),
            "checkpoint_signature", checkpoint, None,
        ),
        (
            "a checkpoint of another hash, re-signed with the key",
            format!(
                "UPDATE audit_checkpoints SET hash = '\\x{forged}', signature = '\\x{forged_signature}' \
                 WHERE position = {checkpoint}"
            ),
            "checkpoint_mismatch", checkpoint, None,
        ),
    ];
    for (what, sql, kind, position, event_id) in cases {
        exec(&mut db, &sql).await;
        let (status, report) = verify(&app, "").await;
        assert_eq!(status, 200, "{what}");
        assert_eq!(report["verified"], false, "{what}: {report}");
        let (k, at, event) = failure(&report);
        assert_eq!((k.as_str(), at), (kind, position), "{what}: {report}");
        if let Some(id) = event_id {
            assert_eq!(event, id, "{what}: {report}");
        }
        if kind == "event_altered" && what == "an altered payload" {
            // The command line says so too, and fails.
            let (ok, output) = run_cli(&env, &["verify"]).await;
            assert!(!ok, "{output}");
            assert!(
                output.contains("event_altered") && output.contains(&p.to_string()),
                "{output}"
            );
        }
        put_back_originals(&mut db).await;
    }
    // The next event of the swap was named by the first position it touched; with both put
    // back, the log verifies again, by the API and by the command line.
    let _ = next_id;
    let (_, report) = verify(&app, "").await;
    assert_eq!(report["verified"], true, "{report}");
    let (ok, output) = run_cli(&env, &["verify"]).await;
    assert!(ok, "{output}");
    assert!(output.contains("verified"), "{output}");
}

#[tokio::test]
async fn an_anchor_verifies_what_came_after_it_and_a_bad_one_is_named_or_refused() {
    let app = a_busy_app(&[("AUDIT_CHECKPOINT_EVERY_EVENTS", "3")]).await;
    let page: Value = app.get("/audit/checkpoints").await.json().await.unwrap();
    // The first when the log began (nothing signed yet), then one every 3 events or more
    // (a batch may take the count past 3); the interval (a minute) signs no other.
    let ordinals: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|c| c["ordinal"].as_i64().unwrap())
        .collect();
    assert!(ordinals.len() >= 3, "{page}");
    assert!(
        ordinals.windows(2).all(|w| w[1] - w[0] >= 3),
        "{ordinals:?}"
    );
    let anchor = page["items"][0].clone();
    let position = anchor["position"].as_i64().unwrap();
    let hash = anchor["hash"].as_str().unwrap().to_owned();
    let signature = anchor["signature"].as_str().unwrap().to_owned();
    for i in 0..3 {
        app.create_group(&format!("After the anchor {i}"), None)
            .await;
    }
    app.wait_for_all_subscribers().await;
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE position > $1")
        .bind(position)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let query = |position: i64, hash: &str, signature: &str| {
        let encode = |s: &str| {
            s.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        };
        format!(
            "?position={position}&hash={hash}&signature={}",
            encode(signature)
        )
    };
    let (status, report) = verify(&app, &query(position, &hash, &signature)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["from_position"], position);
    assert_eq!(
        report["events_checked"], after,
        "only what came after the anchor"
    );
    // Its end is the next anchor (no signature: one the auditor took from a report).
    let next = format!(
        "?position={}&hash={}",
        report["to_position"],
        report["last_hash"].as_str().unwrap()
    );
    let (_, again) = verify(&app, &next).await;
    assert_eq!(
        (again["verified"].clone(), again["events_checked"].clone()),
        (json!(true), json!(0)),
        "{again}"
    );

    // A chain rewritten since the anchor was taken no longer has its hash there.
    let other_hash = "ab".repeat(32);
    let (_, report) = verify(&app, &format!("?position={position}&hash={other_hash}")).await;
    assert_eq!(failure(&report).0, "anchor_mismatch", "{report}");
    let (_, report) = verify(&app, &query(position, &other_hash, &signature)).await;
    assert_eq!(failure(&report).0, "anchor_signature", "{report}");
    let (_, report) = verify(&app, &format!("?position={}&hash={hash}", position + 1)).await;
    assert_eq!(failure(&report).0, "anchor_not_found", "{report}");

    // Malformed anchors are refused before anything is read.
    for bad in [
        format!("?position={position}"),
        format!("?hash={hash}"),
        format!("?position={position}&hash=xyz"),
        format!("?position=0&hash={hash}"),
        format!("?position={position}&hash={hash}&signature=not-base64"),
        format!("?position={position}&hash={hash}&signature=AAAA"),
        format!("?position=yesterday&hash={hash}"),
    ] {
        let (status, body) = verify(&app, &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["type"]
                .as_str()
                .unwrap()
                .ends_with("/invalid-parameter"),
            "{body}"
        );
    }

    // The same verification as newline-delimited JSON ends with the report.
    let text = app
        .get(&format!(
            "/audit/verify/stream{}",
            query(position, &hash, &signature)
        ))
        .await
        .text()
        .await
        .unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["report"]["verified"], true, "{text}");
    assert_eq!(last["report"]["events_checked"], after, "{text}");
}

/// A checksum of every row of the live read models: whatever a comparison does, it must not
/// change them (their checkpoints do move: the app's other subscribers keep running).
async fn live_fingerprint(app: &TestApp) -> String {
    let tables: Vec<&str> = projections::all_projections()
        .iter()
        .flat_map(|p| p.tables().to_vec())
        .collect();
    let mut fingerprint = String::new();
    for table in tables {
        let sum: Option<String> = sqlx::query_scalar(&format!(
            "SELECT md5(string_agg(to_jsonb(t)::text, '|' ORDER BY to_jsonb(t)::text)) FROM {table} t"
        ))
        .fetch_one(&app.pool)
        .await
        .unwrap();
        fingerprint.push_str(&format!("{table}={sum:?};"));
    }
    fingerprint
}

#[tokio::test]
async fn replay_compare_is_clean_on_a_live_system_and_names_a_row_altered_by_hand() {
    let sink = tests::SmtpSink::start().await;
    let app = spawn_app_with(TestOptions::mailing_to(&sink, &[])).await;
    let f = tests::SchoolFixture::build(&app).await;
    for detection in [
        json!({"type": "struggle", "topic": "fractions", "indicators": ["repeated errors"],
               "duration_seconds": 300}),
        json!({"type": "safety_concern", "concern_type": "distress", "urgency": "same_day",
               "evidence": "said they feel unsafe"}),
    ] {
        tests::detect(&app, &f.service, &f.session, detection).await;
    }
    // A second student active in the class: the usage read model numbers its students in the
    // order of their first act, whatever the batches of the live run and of the rebuild.
    let second = f.add_student(&app, "rui.second", "Rui Second").await;
    f.start_session(&app, &second).await;
    app.wait_for_all_subscribers().await;
    // Nothing else changes the read models from here (the timers wait for minutes).
    let before = live_fingerprint(&app).await;
    let env = test_env(&app.db, &options(&[]));
    let (ok, output) = run_cli(&env, &["replay", "--compare", "--all"]).await;
    assert!(ok, "{output}");
    let read_models = projections::all_projections().len();
    assert!(
        output.contains(&format!("0 of {read_models} read models differ")),
        "{output}"
    );
    assert!(output.contains("dashboards: identical"), "{output}");
    assert_eq!(
        live_fingerprint(&app).await,
        before,
        "the live tables are untouched"
    );

    // A row changed by hand: named, with the row on both sides, and left as it is.
    sqlx::query("UPDATE groups SET name = 'Tampered School' WHERE id = $1::uuid")
        .bind(&f.school)
        .execute(&app.pool)
        .await
        .unwrap();
    let (ok, output) = run_cli(&env, &["replay", "--compare", "groups"]).await;
    assert!(!ok, "{output}");
    assert!(output.contains("groups: DIFFERS"), "{output}");
    assert!(output.contains("1 only live, 1 only rebuilt"), "{output}");
    assert!(
        output.contains("- {") && output.contains("Tampered School"),
        "{output}"
    );
    assert!(
        output.contains("+ {") && output.contains("Hill School"),
        "{output}"
    );
    let name: String = sqlx::query_scalar("SELECT name FROM groups WHERE id = $1::uuid")
        .bind(&f.school)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name, "Tampered School", "compare repairs nothing");
}

#[tokio::test]
async fn the_state_at_a_past_moment_is_what_the_api_showed_then() {
    let app = spawn_app_with(options(&[])).await;
    let group = app.create_group("Before", None).await;
    let id = group["id"].as_str().unwrap().to_owned();
    app.create_group("Another", None).await;
    app.wait_for_all_subscribers().await;
    let then: Value = app
        .get(&format!("/groups/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let listed_then: Value = app.get("/groups").await.json().await.unwrap();
    let (position, recorded_at): (i64, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.patch_json(&format!("/groups/{id}"), &json!({"name": "After"}))
        .await;
    app.create_group("Later", None).await;
    app.wait_for_all_subscribers().await;

    let at_time = recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    for at in [position.to_string(), at_time.clone()] {
        let response = app
            .request(reqwest::Method::GET, &format!("/streams/group/{id}/state"))
            .query(&[("at", &at)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{at}");
        let state: Value = response.json().await.unwrap();
        assert_eq!(state["state"]["name"], then["name"], "{at}: {state}");
        assert_eq!(state["sequence"], 1, "{state}");
    }
    let now: Value = app
        .get(&format!("/streams/group/{id}/state"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["state"]["name"], "After", "{now}");
    // Secrets stay on the server, then as now.
    let admin: (String,) = sqlx::query_as("SELECT id::text FROM users LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let user: Value = app
        .get(&format!("/streams/user/{}/state", admin.0))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["state"]["password_hash"], "[redacted]", "{user}");
    // Before the stream began; a malformed moment; no such stream.
    let early = app.get(&format!("/streams/group/{id}/state?at=1")).await;
    assert_eq!(early.status(), 404);
    let bad = app
        .get(&format!("/streams/group/{id}/state?at=last%20tuesday"))
        .await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/invalid-parameter"),
        "{body}"
    );
    let missing = app
        .get(&format!("/streams/group/{}/state", uuid::Uuid::nil()))
        .await;
    assert_eq!(missing.status(), 404);

    // Every read model as it stood then, in a schema of its own.
    let env = test_env(&app.db, &options(&[]));
    let (ok, output) = run_cli(
        &env,
        &["replay", "--as-of", &at_time, "--into", "as_of_then"],
    )
    .await;
    assert!(ok, "{output}");
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM as_of_then.groups ORDER BY name")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let mut listed: Vec<String> = listed_then["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    assert_eq!(names, listed, "{output}");
    let (ok, output) = run_cli(
        &env,
        &[
            "replay",
            "--as-of",
            &position.to_string(),
            "--into",
            "as_of_then",
        ],
    )
    .await;
    assert!(!ok, "an existing schema is refused: {output}");
    let live: String = sqlx::query_scalar("SELECT name FROM groups WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(live, "After", "the live read model is untouched");
}
