//! The global log never lets a reader skip an event, even when transactions commit out of
//! position order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use projections::log::{read_after, read_slice, LogFilter};
use sqlx::{Connection as _, PgPool};
use tests::TestDb;

async fn migrated() -> (TestDb, PgPool) {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    infrastructure::db::migrate(&pool).await.unwrap();
    (db, pool)
}

const INSERT: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                      event_version, payload, metadata) \
                      VALUES ('test', $1, $2, 'test.happened', '1', '{}', '{}')";

async fn all_ids(pool: &PgPool) -> Vec<String> {
    read_all(pool)
        .await
        .into_iter()
        .map(|e| e.aggregate_id)
        .collect()
}

/// The whole readable log, once every committed event is readable. Transactions of other
/// tests (xmin is cluster-wide) may hold the safe bound back for a moment: readers poll.
async fn read_all(pool: &PgPool) -> Vec<projections::LoggedEvent> {
    let committed: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    for _ in 0..1000 {
        let events = read_after(pool, 0, 10_000, &LogFilter::default())
            .await
            .unwrap();
        if events.len() as i64 == committed {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the safe bound did not pass the committed events");
}

#[tokio::test]
async fn an_event_committed_later_with_a_lower_position_is_not_skipped() {
    let (_db, pool) = migrated().await;
    let mut first = pool.begin().await.unwrap();
    sqlx::query(INSERT)
        .bind("first")
        .bind(1_i64)
        .execute(&mut *first)
        .await
        .unwrap();
    let mut second = pool.begin().await.unwrap();
    sqlx::query(INSERT)
        .bind("second")
        .bind(1_i64)
        .execute(&mut *second)
        .await
        .unwrap();
    second.commit().await.unwrap();

    // `second` is committed, but `first` (lower position) is still in flight: a reader that
    // returned `second` now would move its checkpoint past `first` and skip it.
    let visible = read_after(&pool, 0, 100, &LogFilter::default())
        .await
        .unwrap();
    assert!(
        visible.is_empty(),
        "nothing readable while an older transaction is open"
    );
    assert!(
        projections::log::head(&pool).await.unwrap() > 0,
        "second is committed"
    );

    // A subscriber that reads only some types is held back the same way: the stretch it
    // reports as covered ends before the open transaction's position.
    let slice = read_slice(&pool, 0, 100, Some(&["other_type"]))
        .await
        .unwrap();
    assert!(slice.events.is_empty());
    let second_position: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        slice.covered < second_position,
        "covered {} must stay below the open transaction's events",
        slice.covered
    );

    first.commit().await.unwrap();
    assert_eq!(all_ids(&pool).await, ["first", "second"]);
    // Once it commits, a filtered reader covers both without returning them, and one that
    // asks for their type gets both.
    let slice = read_slice(&pool, 0, 100, Some(&["other_type"]))
        .await
        .unwrap();
    assert!(slice.events.is_empty());
    assert!(slice.covered >= second_position);
    let slice = read_slice(&pool, 0, 1, None).await.unwrap();
    assert_eq!(slice.events.len(), 1, "the limit holds");
    assert_eq!(
        slice.covered, slice.events[0].position,
        "covered stops at the limit"
    );
}

/// A subscriber's write transaction (a read-model writer's connection) cannot append events,
/// so readers of the log do not wait for it, however old its transaction id.
#[tokio::test]
async fn a_read_model_writer_holds_nothing_back_and_cannot_append() {
    let (db, pool) = migrated().await;
    let options: sqlx::postgres::PgConnectOptions = db.url.parse().unwrap();
    let mut writer =
        sqlx::PgConnection::connect_with(&projections::log::read_model_writer(options))
            .await
            .unwrap();
    let mut open = writer.begin().await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(&mut *open)
        .await
        .unwrap();
    sqlx::query(INSERT)
        .bind("after")
        .bind(1_i64)
        .execute(&pool)
        .await
        .unwrap();
    let events = read_all(&pool).await;
    assert_eq!(events.len(), 1);
    assert!(
        events[0].position > id << 16,
        "an event newer than the writer's open transaction is readable"
    );

    let refused = sqlx::query(INSERT)
        .bind("forged")
        .bind(1_i64)
        .execute(&mut *open)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("read-model writer"),
        "{refused}"
    );
    open.rollback().await.unwrap();
}

#[tokio::test]
async fn positions_within_a_transaction_follow_insert_order() {
    let (_db, pool) = migrated().await;
    let mut tx = pool.begin().await.unwrap();
    for seq in 1..=5_i64 {
        sqlx::query(INSERT)
            .bind("multi")
            .bind(seq)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let events = read_all(&pool).await;
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5]);
    assert!(events
        .windows(2)
        .all(|w| w[1].position == w[0].position + 1));
}

#[tokio::test]
async fn the_log_is_append_only() {
    let (_db, pool) = migrated().await;
    sqlx::query(INSERT)
        .bind("x")
        .bind(1_i64)
        .execute(&pool)
        .await
        .unwrap();
    for statement in [
        "UPDATE events SET payload = '{\"forged\": true}'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let error = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
}

#[tokio::test]
async fn a_tailing_reader_sees_every_event_of_concurrent_writers_exactly_once() {
    let (_db, pool) = migrated().await;
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in 0..150_i64 {
                    let mut tx = pool.begin().await.unwrap();
                    sqlx::query(INSERT)
                        .bind(format!("w{w}-{i}"))
                        .bind(1_i64)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    // Hold some transactions open so commits interleave out of order.
                    if (i + w) % 3 == 0 {
                        tokio::time::sleep(Duration::from_millis((i % 4) as u64)).await;
                    }
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    let tailer = {
        let pool = pool.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut checkpoint = 0;
            let mut seen = Vec::new();
            loop {
                let finished = done.load(Ordering::Acquire);
                let batch = read_after(&pool, checkpoint, 100, &LogFilter::default())
                    .await
                    .unwrap();
                if let Some(last) = batch.last() {
                    checkpoint = last.position;
                }
                let empty = batch.is_empty();
                seen.extend(batch.into_iter().map(|e| e.aggregate_id));
                if finished && seen.len() >= 8 * 150 {
                    return seen;
                }
                if empty {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::Release);
    let seen = tailer.await.unwrap();
    let all = all_ids(&pool).await;
    assert_eq!(all.len(), 8 * 150);
    assert_eq!(seen, all, "the tailer saw the whole log, in order, once");
}
