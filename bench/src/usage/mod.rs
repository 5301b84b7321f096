//! The group usage benchmark (binary `usage`; what it measures is described at the top of
//! `bench/src/bin/usage.rs`).

use std::time::{Duration, Instant};

use chrono::{Datelike as _, Days, NaiveDate};
use serde_json::Value;
use tests::{json_id, spawn_app, TestApp};
use uuid::Uuid;

use crate::closed_loop::{client, rate, secs};
use crate::stats::{ms, quantile};

/// Closed-loop clients of each step.
const CLIENTS: usize = 8;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seeded world: sizes, the district and the range.
struct World {
    district: String,
    school: String,
    from: NaiveDate,
    to: NaiveDate,
    counter_rows: i64,
    active_rows: i64,
}

/// Rows of `usage_active_days`, by column: class, year, tool, student, days.
#[derive(Default)]
struct ActiveRows(Vec<Uuid>, Vec<i32>, Vec<Uuid>, Vec<Uuid>, Vec<String>);

/// A small deterministic generator (xorshift), so that every run seeds the same rows.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The district, its schools and their classes through the API; a year of usage straight into
/// the read model with SQL (a read benchmark: how the rows came is not measured).
async fn seed(app: &TestApp) -> World {
    let schools = setting("BENCH_SCHOOLS", 50);
    let classes_per_school = setting("BENCH_CLASSES_PER_SCHOOL", 4);
    let students_per_class = setting("BENCH_STUDENTS_PER_CLASS", 25);
    let tools = setting("BENCH_TOOLS", 2);
    let district = json_id(&app.create_group("Bench District", None).await);
    let mut classes = Vec::new();
    let mut first_school = String::new();
    let mut groups = vec![district.clone()];
    for s in 0..schools {
        let school = json_id(
            &app.create_group(&format!("School {s}"), Some(&district))
                .await,
        );
        for c in 0..classes_per_school {
            let class = json_id(&app.create_class(&school, &format!("Class {s}.{c}")).await);
            classes.push((s, class.parse::<Uuid>().expect("class id")));
        }
        if s == 0 {
            first_school = school.clone();
        }
        groups.push(school);
    }
    let tool_ids: Vec<Uuid> = {
        let mut ids = Vec::new();
        for t in 0..tools {
            ids.push(
                json_id(&app.create_tool(&district, &format!("Tool {t}")).await)
                    .parse()
                    .expect("tool id"),
            );
        }
        ids
    };
    app.wait_for_subscribers().await;

    let to = chrono::Utc::now().date_naive();
    let from = to - Days::new(365);
    // Counters: every class, every day of the year, every tool; submissions (no tool) on
    // weekdays.
    sqlx::query(
        "INSERT INTO usage_daily (class_id, day, tool_id, sessions_started, sessions_completed, \
             messages, struggles, misbehaviors, safety_concerns, recoveries) \
         SELECT c, d::date, t, 1 + (random() * 20)::int, (random() * 15)::int, \
                (random() * 300)::int, (random() * 4)::int, (random() * 3)::int, \
                (random() * 1.2)::int, (random() * 3)::int \
         FROM unnest($1::uuid[]) c, unnest($2::uuid[]) t, \
              generate_series($3::date, $4::date, interval '1 day') d",
    )
    .bind(classes.iter().map(|(_, c)| *c).collect::<Vec<_>>())
    .bind(&tool_ids)
    .bind(from)
    .bind(to)
    .execute(&app.pool)
    .await
    .expect("seed counters");
    sqlx::query(
        "INSERT INTO usage_daily (class_id, day, tool_id, assignments_submitted) \
         SELECT c, d::date, '00000000-0000-0000-0000-000000000000', (random() * 25)::int \
         FROM unnest($1::uuid[]) c, generate_series($2::date, $3::date, interval '1 day') d \
         WHERE extract(isodow FROM d) < 6",
    )
    .bind(classes.iter().map(|(_, c)| *c).collect::<Vec<_>>())
    .bind(from)
    .bind(to)
    .execute(&app.pool)
    .await
    .expect("seed submissions");
    // Active days: each school has its students, each class 25 of them (a student is in two
    // classes of their school), active with each tool on about 40 % of the school days.
    let mut dice = Dice(0x05ee_d0f0_5a9e);
    let school_students: Vec<Vec<Uuid>> = (0..schools)
        .map(|_| {
            (0..students_per_class * classes_per_school / 2)
                .map(|_| Uuid::now_v7())
                .collect()
        })
        .collect();
    let mut rows = ActiveRows::default();
    let mut per_school_class = vec![0usize; schools];
    for (school, class) in &classes {
        let k = per_school_class[*school];
        per_school_class[*school] += 1;
        let students = &school_students[*school];
        for i in 0..students_per_class {
            let student = students[(k * students_per_class / 2 + i) % students.len()];
            for tool in &tool_ids {
                for year in [from.year(), to.year()] {
                    let bits: String = (0..366u32)
                        .map(|day| {
                            let date = NaiveDate::from_yo_opt(year, day + 1);
                            let weekday =
                                date.is_some_and(|d| d.weekday().number_from_monday() < 6);
                            if weekday && dice.chance(40) {
                                '1'
                            } else {
                                '0'
                            }
                        })
                        .collect();
                    rows.0.push(*class);
                    rows.1.push(year);
                    rows.2.push(*tool);
                    rows.3.push(student);
                    rows.4.push(bits);
                }
            }
        }
    }
    for chunk in 0..rows.0.len().div_ceil(5000) {
        let range = chunk * 5000..((chunk + 1) * 5000).min(rows.0.len());
        sqlx::query(
            "INSERT INTO usage_active_days (class_id, year, tool_id, student_id, days) \
             SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::uuid[], \
                                  $5::text[]::bit(366)[]) ON CONFLICT DO NOTHING",
        )
        .bind(&rows.0[range.clone()])
        .bind(&rows.1[range.clone()])
        .bind(&rows.2[range.clone()])
        .bind(&rows.3[range.clone()])
        .bind(&rows.4[range])
        .execute(&app.pool)
        .await
        .expect("seed active days");
    }
    // The rollup, as the projection keeps it: each class's rows added to every group of its
    // path (the projection followed the tree's events before the rows were seeded).
    sqlx::query(
        "INSERT INTO usage_rollup (group_id, day, tool_id, class_rows, sessions_started, \
             sessions_completed, messages, struggles, misbehaviors, safety_concerns, recoveries, \
             assignments_submitted) \
         SELECT a, u.day, u.tool_id, count(*), sum(sessions_started), sum(sessions_completed), \
             sum(messages), sum(struggles), sum(misbehaviors), sum(safety_concerns), \
             sum(recoveries), sum(assignments_submitted) \
         FROM usage_daily u JOIN usage_classes c ON c.class_id = u.class_id \
         JOIN usage_groups g ON g.group_id = c.group_id CROSS JOIN unnest(g.path) AS a \
         GROUP BY a, u.day, u.tool_id",
    )
    .execute(&app.pool)
    .await
    .expect("seed the rollup");
    // The rollup's sets of active students, as the projection keeps them: students numbered,
    // then each group's sets counted from its subtree's active days.
    sqlx::query(
        "INSERT INTO usage_students (student_id, number) \
         SELECT s, (row_number() OVER (ORDER BY s) - 1)::int \
         FROM (SELECT DISTINCT student_id AS s FROM usage_active_days) x",
    )
    .execute(&app.pool)
    .await
    .expect("number the students");
    let mut conn = app.pool.acquire().await.expect("connection");
    for group in &groups {
        projections::usage::recount_students(&mut conn, group.parse().expect("group id"))
            .await
            .expect("count the active students");
    }
    drop(conn);
    sqlx::query(
        "ANALYZE usage_daily, usage_active_days, usage_rollup, usage_groups, usage_classes, \
         usage_students",
    )
    .execute(&app.pool)
    .await
    .expect("analyze");
    let count = |table: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    World {
        district,
        school: first_school,
        from,
        to,
        counter_rows: count("usage_daily").await,
        active_rows: count("usage_active_days").await,
    }
}

/// Latencies of `n` requests one after the other.
async fn sequential(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    accept: &str,
    n: usize,
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = http
            .get(url)
            .bearer_auth(token)
            .header("Accept", accept)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{url}");
        response.bytes().await.expect("body");
        times.push(started.elapsed());
    }
    times.sort();
    times
}

/// Requests per second of `GET url` at [`CLIENTS`] clients.
async fn get_rate(http: &reqwest::Client, url: &str, token: &str, accept: &'static str) -> f64 {
    let (http, url, token) = (http.clone(), url.to_owned(), token.to_owned());
    rate(CLIENTS, move |_| {
        let request = http.get(&url).bearer_auth(&token).header("Accept", accept);
        async move {
            match request.send().await {
                Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    })
    .await
}

pub async fn run() {
    let app = spawn_app().await;
    app.wait_for_subscribers().await;
    let seeding = Instant::now();
    let world = seed(&app).await;
    let seeded = seeding.elapsed();
    let http = client();
    let token = app.token.clone();
    let base = app.url("");
    let base = base.trim_end_matches('/');
    let group_url = format!("{base}/groups/{}", world.district);
    let range = format!("from={}&to={}", world.from, world.to);
    let usage_url = format!("{group_url}/usage?{range}");
    let school_url = format!("{base}/groups/{}/usage?{range}", world.school);
    println!(
        "# usage benchmark: {CLIENTS} clients, steps of {:?}; seeded in {:.1} s: {} counter rows, \
         {} active-day rows, {} to {}",
        secs(),
        seeded.as_secs_f64(),
        world.counter_rows,
        world.active_rows,
        world.from,
        world.to
    );
    let body: Value = http
        .get(&usage_url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("usage")
        .json()
        .await
        .expect("usage json");
    let json_bytes = body.to_string().len();
    println!(
        "district report: {} rows, totals {}, {json_bytes} bytes of JSON",
        body["rows"].as_array().map_or(0, Vec::len),
        body["totals"]
    );

    // The report's own time, inside the server's process: both reads and the counting.
    let mut inside = Vec::new();
    for _ in 0..10 {
        let mut conn = app.pool.acquire().await.expect("connection");
        let started = Instant::now();
        projections::usage::report(
            &mut conn,
            world.district.parse().expect("id"),
            world.from,
            world.to,
            None,
        )
        .await
        .expect("report");
        inside.push(started.elapsed());
    }
    inside.sort();
    println!(
        "projections::usage::report for the district, alone: p50 {:.1} ms, max {:.1} ms",
        ms(quantile(&inside, 0.5)),
        ms(quantile(&inside, 1.0))
    );
    // Where the report's time goes: each read's own execution in PostgreSQL.
    for (name, sql, first, last) in [(
        "counters",
        projections::usage::counters_sql(),
        world.from.to_string(),
        world.to.to_string(),
    )] {
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN (ANALYZE, FORMAT TEXT) {}",
            sql.replace("$1", &format!("'{}'::uuid", world.district))
                .replace("$2", &format!("'{first}'"))
                .replace("$3", &format!("'{last}'"))
                .replace("$4::uuid", "NULL::uuid")
                .replace("$4", "NULL::uuid")
        ))
        .fetch_all(&app.pool)
        .await
        .expect("explain");
        let time = plan.iter().rev().find(|l| l.starts_with("Execution Time"));
        println!(
            "{name} read of the district: {}",
            time.map_or("?", |t| t.as_str())
        );
        if std::env::var("BENCH_PLANS").is_ok() {
            println!("{}", plan.join("\n"));
        }
    }
    for (name, url, accept) in [
        (
            "GET /groups/{district}",
            group_url.as_str(),
            "application/json",
        ),
        (
            "GET /groups/{district}/usage",
            usage_url.as_str(),
            "application/json",
        ),
        ("… as CSV", usage_url.as_str(), "text/csv"),
        (
            "GET /groups/{school}/usage",
            school_url.as_str(),
            "application/json",
        ),
    ] {
        let times = sequential(&http, url, &token, accept, 20).await;
        println!(
            "{name}, one client, 20 requests: p50 {:.1} ms, p95 {:.1} ms",
            ms(quantile(&times, 0.5)),
            ms(quantile(&times, 0.95))
        );
    }

    // Alternating, so that drifts of a shared machine fall on both.
    let rounds = setting("BENCH_ROUNDS", 2);
    let (mut group_rates, mut usage_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let group = get_rate(&http, &group_url, &token, "application/json").await;
        let usage = get_rate(&http, &usage_url, &token, "application/json").await;
        println!(
            "round {round}: GET /groups/{{district}} {group:.0}/s, \
             GET /groups/{{district}}/usage (a year) {usage:.0}/s, ratio {:.3}",
            usage / group
        );
        group_rates.push(group);
        usage_rates.push(usage);
    }
    let csv = get_rate(&http, &usage_url, &token, "text/csv").await;
    let school = get_rate(&http, &school_url, &token, "application/json").await;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "\nmeans: GET /groups/{{district}} {:.0}/s, usage {:.0}/s; **usage ÷ group = {:.3}** \
         (the group read is {:.1}× as fast); CSV {csv:.0}/s; one school's usage {school:.0}/s",
        mean(&group_rates),
        mean(&usage_rates),
        mean(&usage_rates) / mean(&group_rates),
        mean(&group_rates) / mean(&usage_rates)
    );
}
