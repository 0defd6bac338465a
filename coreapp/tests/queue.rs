//! The claim mechanism every work queue rests on, on both engines: a claim
//! is exclusive while its lease runs, passes to another node once it lapses,
//! a node that lost its claim cannot settle, and webhook events of one
//! contact are handed out oldest first.

use coreapp::config::DbConfig;
use coreapp::store::db::{Db, migrate, now_ms};
use coreapp::store::queue::{self, Queue, Settle, State};
use coreapp::store::{outbound, outbox};
use coreapp::testing::TestEngine;

struct TestDb {
    db: Db,
    config: DbConfig,
    _dir: tempfile::TempDir,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = coreapp::store::db::drop_server_database(&self.config);
    }
}

fn open(engine: TestEngine) -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let config = coreapp::testing::config(engine, dir.path(), "q.db");
    migrate(&config).expect("migrations (is MariaDB running on 127.0.0.1:3306?)");
    // Migrating twice is harmless.
    assert!(migrate(&config).unwrap().is_empty());
    let db = Db::connect(&config, 4).unwrap();
    TestDb { db, config, _dir: dir }
}

async fn claims_are_exclusive_until_the_lease_lapses(engine: TestEngine) {
    let t = open(engine);
    let ids =
        t.db.run(|c| {
            let now = now_ms();
            for i in 0..5 {
                outbound::insert(c, &format!("msg-{i}"), &format!("1555000000{i}"), "{}", now - 10 + i, None)?;
            }
            let a = queue::claim(c, Queue::Outbound, "node-a/1", now, 60_000, 3)?;
            let b = queue::claim(c, Queue::Outbound, "node-b/1", now, 60_000, 10)?;
            Ok((a, b))
        })
        .await
        .unwrap();
    let (a, b) = ids;
    assert_eq!(a, ["msg-0", "msg-1", "msg-2"], "oldest first");
    assert_eq!(b, ["msg-3", "msg-4"], "nothing claimed twice");

    // Node a dies: once its lease lapses, node b takes the work over, and a
    // late answer from node a no longer counts.
    let (taken, late) =
        t.db.run(|c| {
            let later = now_ms() + 61_000;
            let taken = queue::claim(c, Queue::Outbound, "node-b/1", later, 60_000, 10)?;
            let s = Settle { state: State::Done, attempts: 1, next_attempt_at: later, last_error: None };
            let late = queue::settle(c, Queue::Outbound, "msg-0", "node-a/1", &s)?;
            Ok((taken, late))
        })
        .await
        .unwrap();
    assert_eq!(taken.len(), 5, "b's own lapsed claims count too: {taken:?}");
    assert!(!late, "a node that lost its claim cannot settle");

    // A retry waits for its time; a restarted node resumes its own claims
    // at once instead of after the lease.
    let (early, resumed, after, due) =
        t.db.run(|c| {
            let now = now_ms();
            let s = Settle {
                state: State::Pending,
                attempts: 1,
                next_attempt_at: now + 100_000,
                last_error: Some("busy".into()),
            };
            assert!(queue::settle(c, Queue::Outbound, "msg-1", "node-b/1", &s)?);
            let early = queue::claim(c, Queue::Outbound, "node-c/1", now + 1_000, 60_000, 10)?;
            let resumed = queue::release_node(c, Queue::Outbound, "node-b")?;
            let after = queue::claim(c, Queue::Outbound, "node-c/1", now + 1_000, 60_000, 10)?;
            let due = queue::depth(c, Queue::Outbound)?;
            Ok((early, resumed, after, due))
        })
        .await
        .unwrap();
    assert!(early.is_empty(), "leased or not yet due: {early:?}");
    assert_eq!(resumed, 4);
    assert_eq!(after, ["msg-0", "msg-2", "msg-3", "msg-4"]);
    assert_eq!(due, 5, "nothing settled as done yet");
}

async fn webhook_events_of_one_contact_go_in_order(engine: TestEngine) {
    let t = open(engine);
    let (first, second, third) =
        t.db.run(|c| {
            let now = now_ms();
            let a1 = outbox::insert(c, "alice", outbox::EventKind::Status, "{\"n\":1}", now)?;
            let _a2 = outbox::insert(c, "alice", outbox::EventKind::Status, "{\"n\":2}", now)?;
            let b1 = outbox::insert(c, "bob", outbox::EventKind::Status, "{\"n\":3}", now)?;
            let first = queue::claim(c, Queue::Outbox, "n/1", now, 60_000, 10)?;
            assert_eq!(first, [a1.clone(), b1.clone()], "one head per contact");
            // Alice's first event fails and waits: her second one waits too.
            let s = Settle { state: State::Pending, attempts: 1, next_attempt_at: now + 3_000, last_error: None };
            queue::settle(c, Queue::Outbox, &a1, "n/1", &s)?;
            assert_eq!(queue::finish_many(c, Queue::Outbox, std::slice::from_ref(&b1), "n/1")?, 1);
            let second = queue::claim(c, Queue::Outbox, "n/1", now + 100, 60_000, 10)?;
            let third = queue::claim(c, Queue::Outbox, "n/1", now + 3_001, 60_000, 10)?;
            Ok((first, second, third))
        })
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert!(second.is_empty(), "alice's second event waits for her first: {second:?}");
    assert_eq!(third, [first[0].clone()], "then the first is retried, still ahead of the second");
}

#[tokio::test]
async fn mysql_claims() {
    claims_are_exclusive_until_the_lease_lapses(TestEngine::Mysql).await;
}

#[tokio::test]
async fn pgsql_claims() {
    claims_are_exclusive_until_the_lease_lapses(TestEngine::Pgsql).await;
}

#[tokio::test]
async fn sqlite_claims() {
    claims_are_exclusive_until_the_lease_lapses(TestEngine::Sqlite).await;
}

#[tokio::test]
async fn mysql_webhook_order() {
    webhook_events_of_one_contact_go_in_order(TestEngine::Mysql).await;
}

#[tokio::test]
async fn pgsql_webhook_order() {
    webhook_events_of_one_contact_go_in_order(TestEngine::Pgsql).await;
}

#[tokio::test]
async fn sqlite_webhook_order() {
    webhook_events_of_one_contact_go_in_order(TestEngine::Sqlite).await;
}

/// Periodic jobs (the media collector) run on one node at a time: the
/// holder renews its lease, others get it only once it lapsed.
async fn job_leases_have_one_holder(engine: TestEngine) {
    use coreapp::store::leases::{MEDIA_GC, acquire};
    let t = open(engine);
    let got =
        t.db.run(|c| {
            let now = now_ms();
            Ok([
                acquire(c, MEDIA_GC, "node-a/1", now, now + 1_000)?,
                acquire(c, MEDIA_GC, "node-b/1", now + 10, now + 1_010)?,
                acquire(c, MEDIA_GC, "node-a/1", now + 500, now + 1_500)?,
                acquire(c, MEDIA_GC, "node-b/1", now + 1_200, now + 2_200)?,
                acquire(c, MEDIA_GC, "node-b/1", now + 1_600, now + 2_600)?,
                acquire(c, MEDIA_GC, "node-a/1", now + 1_700, now + 2_700)?,
                acquire(c, "no-such-job", "node-a/1", now, now + 1_000)?,
            ])
        })
        .await
        .unwrap();
    assert_eq!(got, [true, false, true, false, true, false, false]);
}

/// A claim renewed by its holder (a long media transfer) is not handed to
/// another node when the original lease would have lapsed.
async fn a_renewed_claim_stays_with_its_holder(engine: TestEngine) {
    let t = open(engine);
    let got =
        t.db.run(|c| {
            let now = now_ms();
            outbound::insert(c, "long", "15550000009", "{}", now - 1, None)?;
            let first = queue::claim(c, Queue::Outbound, "node-a/1", now, 1_000, 1)?;
            let renewed = queue::renew(c, Queue::Outbound, "long", "node-a/1", now + 5_000)?;
            let stranger = queue::renew(c, Queue::Outbound, "long", "node-b/1", now + 9_000)?;
            let taken = queue::claim(c, Queue::Outbound, "node-b/1", now + 2_000, 1_000, 1)?;
            let later = queue::claim(c, Queue::Outbound, "node-b/1", now + 5_001, 1_000, 1)?;
            Ok((first, renewed, stranger, taken, later))
        })
        .await
        .unwrap();
    assert_eq!(got.0, ["long"]);
    assert!(got.1 && !got.2, "only the holder renews");
    assert!(got.3.is_empty(), "renewed past the first lease");
    assert_eq!(got.4, ["long"], "taken over once the renewed lease lapsed");
}

#[tokio::test]
async fn mysql_renewed_claims() {
    a_renewed_claim_stays_with_its_holder(TestEngine::Mysql).await;
}

#[tokio::test]
async fn pgsql_renewed_claims() {
    a_renewed_claim_stays_with_its_holder(TestEngine::Pgsql).await;
}

#[tokio::test]
async fn sqlite_renewed_claims() {
    a_renewed_claim_stays_with_its_holder(TestEngine::Sqlite).await;
}

#[tokio::test]
async fn mysql_job_leases() {
    job_leases_have_one_holder(TestEngine::Mysql).await;
}

#[tokio::test]
async fn pgsql_job_leases() {
    job_leases_have_one_holder(TestEngine::Pgsql).await;
}

#[tokio::test]
async fn sqlite_job_leases() {
    job_leases_have_one_holder(TestEngine::Sqlite).await;
}

/// Two nodes reserving send slots of one number get windows one after the
/// other, never overlapping, so together they keep the number's rate.
async fn send_slots_line_up_across_nodes(engine: TestEngine) {
    use coreapp::store::pacing::reserve;
    let t = open(engine);
    let other = Db::connect(&t.config, 2).unwrap();
    let now_us = now_ms() * 1000;
    let interval = 12_500; // 80 messages a second
    let a = t.db.run(move |c| reserve(c, "100000000000001", 64, interval, now_us)).await.unwrap();
    let b = other.run(move |c| reserve(c, "100000000000001", 10, interval, now_us + 1_000)).await.unwrap();
    let c = t.db.run(move |c| reserve(c, "100000000000001", 5, interval, now_us + 2_000)).await.unwrap();
    assert_eq!(a, now_us, "an idle number starts now");
    assert_eq!(b, a + 64 * interval, "the second node's batch starts after the first's");
    assert_eq!(c, b + 10 * interval);
    // Another number has a budget of its own; an idle gap is not saved up.
    let d = other.run(move |c| reserve(c, "100000000000002", 1, interval, now_us)).await.unwrap();
    assert_eq!(d, now_us);
    let later = now_us + 60_000_000;
    let e = t.db.run(move |c| reserve(c, "100000000000001", 1, interval, later)).await.unwrap();
    assert_eq!(e, later);
}

#[tokio::test]
async fn mysql_send_slots() {
    send_slots_line_up_across_nodes(TestEngine::Mysql).await;
}

#[tokio::test]
async fn pgsql_send_slots() {
    send_slots_line_up_across_nodes(TestEngine::Pgsql).await;
}

#[tokio::test]
async fn sqlite_send_slots() {
    send_slots_line_up_across_nodes(TestEngine::Sqlite).await;
}

/// A node that goes silent in the middle of a transaction (its link cut,
/// the process frozen) does not hold its row locks for long: the server
/// ends a transaction of ours idle for 10 s, and another node waiting on
/// the same row goes on.
async fn a_transaction_left_idle_is_ended_by_the_server(engine: TestEngine) {
    use coreapp::store::pacing::reserve;
    let t = open(engine);
    let other = Db::connect(&t.config, 2).unwrap();
    let now_us = now_ms() * 1000;
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let db = t.db.clone();
    let silent = tokio::spawn(async move {
        db.run(move |c| {
            coreapp::store::db::transaction(c, |c| {
                reserve(c, "100000000000001", 1, 1_000, now_us)?;
                let _ = locked_tx.send(());
                // No statement and no commit for longer than the server allows.
                std::thread::sleep(std::time::Duration::from_secs(14));
                Ok(())
            })
        })
        .await
    });
    locked_rx.await.unwrap();
    let start = std::time::Instant::now();
    let slot = other.run(move |c| reserve(c, "100000000000001", 1, 1_000, now_us)).await;
    let waited = start.elapsed();
    assert!(slot.is_ok(), "the other node's reservation failed: {slot:?}");
    // Ten times the expected wait would be 100 s; the server's lock wait
    // limits (50 s on MariaDB) would end it first: under 40 s means the
    // silent transaction was ended, not waited out.
    assert!(waited < std::time::Duration::from_secs(40), "waited {waited:?} for a silent node's lock");
    assert!(silent.await.unwrap().is_err(), "the silent node's transaction must not commit after it was ended");
    println!("{engine:?}: the other node went on after {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_idle_transaction_ended() {
    a_transaction_left_idle_is_ended_by_the_server(TestEngine::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_idle_transaction_ended() {
    a_transaction_left_idle_is_ended_by_the_server(TestEngine::Pgsql).await;
}

/// A send made again with its id (its answer was lost, the webapp asked
/// another coreapp) is stored once; another message under a stored id is
/// refused. Rows sharing a write with a replay are stored as usual.
async fn a_message_id_is_stored_once(engine: TestEngine) {
    use coreapp::store::accept::{Acceptor, Stored};
    let t = open(engine);
    let acceptor = Acceptor::start(t.db.clone());
    let row = |id: &str, payload: &str| {
        outbound::NewOutbound::new(id.into(), "15550001".into(), payload.into(), now_ms(), None)
    };
    let first = wire::ids::message_id();
    assert_eq!(acceptor.store(row(&first, r#"{"type":"text"}"#)).await.unwrap(), Stored::New);

    // The replay and a new message queue together and share a write, as
    // under load.
    let second = wire::ids::message_id();
    let (replay, fresh) = tokio::join!(
        acceptor.store(row(&first, r#"{"type":"text"}"#)),
        acceptor.store(row(&second, r#"{"type":"text"}"#)),
    );
    assert_eq!(replay.unwrap(), Stored::Replayed);
    assert_eq!(fresh.unwrap(), Stored::New);

    let clash = acceptor.store(row(&first, r#"{"type":"image"}"#)).await.unwrap_err();
    let status = tonic::Status::from(clash);
    let error = proto::errors::answered(&status).expect("an on-prem error");
    assert_eq!(error.code, wire::ErrorCode::AlreadyExists);

    let stored = t.db.run(move |c| Ok(outbound::load(c, &[first.clone(), second.clone()])?)).await.unwrap();
    assert_eq!(stored.len(), 2, "one row per id");
    assert!(stored.iter().all(|r| r.payload == r#"{"type":"text"}"#), "the first message stands");
}

#[tokio::test]
async fn mysql_message_ids() {
    a_message_id_is_stored_once(TestEngine::Mysql).await;
}

#[tokio::test]
async fn pgsql_message_ids() {
    a_message_id_is_stored_once(TestEngine::Pgsql).await;
}

#[tokio::test]
async fn sqlite_message_ids() {
    a_message_id_is_stored_once(TestEngine::Sqlite).await;
}

/// Sends Cloud accepted are recorded together (one transaction for all
/// that queued meanwhile): each gets its own wamid and attempts, the users
/// Cloud named are registered once, and a send whose claim lapsed (another
/// node holds the message now) is reported as not recorded, alone.
async fn accepted_sends_are_recorded_together(engine: TestEngine) {
    use coreapp::store::sent::{Accepted, SentRecorder};
    use coreapp::store::whatsapp_users;
    let t = open(engine);
    let owner = "node-a/1";
    t.db.run(move |c| {
        let now = now_ms();
        for i in 0..4 {
            outbound::insert(c, &format!("sent-{i}"), &format!("1555100000{i}"), "{}", now - 10 + i, None)?;
        }
        assert_eq!(queue::claim(c, Queue::Outbound, owner, now, 60_000, 10)?.len(), 4);
        // sent-2's claim lapsed and node b took it.
        diesel::sql_query("UPDATE outbound_messages SET lease_owner = 'node-b/1' WHERE id = 'sent-2'").execute(c)?;
        Ok(())
    })
    .await
    .unwrap();
    use diesel::RunQueryDsl;
    let recorder = SentRecorder::start(t.db.clone(), owner.into(), std::time::Duration::from_secs(5));
    let user = |bsuid: &str, phone: Option<&str>| wire::identity::UserFacts {
        bsuid: wire::identity::Bsuid::parse(bsuid),
        phone: phone.map(String::from),
        ..Default::default()
    };
    let accepted = |i: i32, user| Accepted {
        sent: outbound::Sent { id: format!("sent-{i}"), wamid: format!("wamid.S{i}"), attempts: i + 1 },
        user,
    };
    let (a, b, c, d) = tokio::join!(
        recorder.record(accepted(0, Some(user("US.1000000000000000001", Some("15551000000"))))),
        recorder.record(accepted(1, Some(user("US.1000000000000000001", Some("15551000000"))))),
        recorder.record(accepted(2, Some(user("US.1000000000000000002", None)))),
        recorder.record(accepted(3, None)),
    );
    assert_eq!([a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()], [true, true, false, true]);

    let (rows, users, sent) =
        t.db.run(|c| {
            let ids: Vec<String> = (0..4).map(|i| format!("sent-{i}")).collect();
            let rows = outbound::load(c, &ids)?;
            let bsuids = ["US.1000000000000000001".to_string(), "US.1000000000000000002".to_string()];
            let users = whatsapp_users::find_by_bsuids(c, &bsuids)?;
            Ok((rows, users, queue::count_in_state(c, Queue::Outbound, State::Sent)?))
        })
        .await
        .unwrap();
    assert_eq!(sent, 3, "the lapsed one is not marked sent");
    for r in &rows {
        let i: i32 = r.id.trim_start_matches("sent-").parse().unwrap();
        if i == 2 {
            assert_eq!(r.wamid, None, "node b's message is left to node b");
        } else {
            assert_eq!(r.wamid.as_deref(), Some(format!("wamid.S{i}").as_str()));
            assert_eq!(r.attempts, i + 1);
        }
    }
    assert_eq!(users.len(), 2, "each user once: {users:?}");
    let first = users.iter().find(|u| u.bsuid == "US.1000000000000000001").unwrap();
    assert_eq!(first.phone.as_deref(), Some("15551000000"));
}

#[tokio::test]
async fn mysql_sends_recorded() {
    accepted_sends_are_recorded_together(TestEngine::Mysql).await;
}

#[tokio::test]
async fn pgsql_sends_recorded() {
    accepted_sends_are_recorded_together(TestEngine::Pgsql).await;
}

#[tokio::test]
async fn sqlite_sends_recorded() {
    accepted_sends_are_recorded_together(TestEngine::Sqlite).await;
}

#[derive(diesel::QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "Variable_name")]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "Value")]
    value: String,
}

/// Rows this session has read through indexes and sorted, as MariaDB counts
/// them.
fn rows_read(c: &mut coreapp::store::db::AnyConnection) -> Result<i64, coreapp::error::CoreError> {
    use diesel::RunQueryDsl;
    let rows: Vec<StatusRow> = diesel::sql_query(
        "SHOW SESSION STATUS WHERE Variable_name IN \
         ('Handler_read_key', 'Handler_read_next', 'Handler_read_rnd', 'Handler_read_rnd_next', 'Sort_rows')",
    )
    .load(c)?;
    Ok(rows
        .iter()
        .filter(|r| r.name.starts_with("Handler_read") || r.name == "Sort_rows")
        .map(|r| r.value.parse::<i64>().unwrap_or(0))
        .sum())
}

/// A claim reads about as many rows as it hands out however long the queue
/// behind them. Left to choose, the server sometimes sorted every due row
/// on each claim (which plan it takes depends on its statistics of the
/// moment), so a backlog made each claim slower and the queue fell further
/// behind; sorted under `FOR UPDATE`, all of them stayed locked too.
#[tokio::test]
async fn mysql_a_claim_reads_what_it_hands_out_however_long_the_backlog() {
    const BACKLOG: usize = 20_000;
    let t = open(TestEngine::Mysql);
    let reads =
        t.db.run(|c| {
            let start = now_ms() - 60_000;
            // As a backlog builds: a few rows at a time, each group
            // committed at its own moment.
            for chunk in 0..BACKLOG / 1000 {
                coreapp::store::db::transaction(c, |c| {
                    for group in 0..100 {
                        let at = start + (chunk * 100 + group) as i64;
                        coreapp::store::inbound::insert_events(c, &vec![b"{}".to_vec(); 10], at)?;
                        for i in 0..10 {
                            let n = chunk * 1000 + group * 10 + i;
                            outbound::insert(c, &format!("m{n:06}"), &format!("1555{n:07}"), "{}", at, None)?;
                        }
                    }
                    Ok(())
                })?;
            }
            diesel::RunQueryDsl::execute(diesel::sql_query("ANALYZE TABLE inbound_events, outbound_messages"), c)?;
            let mut reads = Vec::new();
            for queue in [Queue::Inbound, Queue::Outbound] {
                let before = rows_read(c)?;
                // The intake's and the sender's batch.
                let ids = queue::claim(c, queue, "node-a/1", now_ms(), 60_000, 128)?;
                assert_eq!(ids.len(), 128);
                reads.push((queue, rows_read(c)? - before));
            }
            Ok(reads)
        })
        .await
        .unwrap();
    for (queue, read) in reads {
        // 128 rows claimed, each checked against its recipient's earlier
        // ones, and the counters' own reads: a thousand or so at most, where
        // a sort reads the whole backlog.
        assert!(read < 5_000, "{queue:?}: a claim of 128 out of {BACKLOG} read {read} rows");
    }
}

#[derive(diesel::QueryableByName)]
struct ReadRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Rows of the queue tables this transaction has read, by scans and
/// through indexes, as PostgreSQL counts them.
fn pgsql_rows_read(c: &mut coreapp::store::db::AnyConnection) -> Result<i64, coreapp::error::CoreError> {
    use diesel::RunQueryDsl;
    let rows: Vec<ReadRow> = diesel::sql_query(
        "SELECT COALESCE(SUM(seq_tup_read + COALESCE(idx_tup_fetch, 0)), 0)::bigint AS n \
         FROM pg_stat_xact_user_tables WHERE relname IN ('inbound_events', 'outbound_messages')",
    )
    .load(c)?;
    Ok(rows[0].n)
}

/// As [`mysql_a_claim_reads_what_it_hands_out_however_long_the_backlog`]
/// on PostgreSQL, whose planner has no hints: the claim is written so that
/// walking the claim index in order is its only good plan, whatever the
/// statistics say (taken here before the backlog, as a busy server's are).
#[tokio::test]
async fn pgsql_a_claim_reads_what_it_hands_out_however_long_the_backlog() {
    const BACKLOG: usize = 20_000;
    let t = open(TestEngine::Pgsql);
    let reads =
        t.db.run(|c| {
            // Statistics of empty queues, as after a quiet night.
            diesel::RunQueryDsl::execute(diesel::sql_query("ANALYZE inbound_events, outbound_messages"), c)?;
            let start = now_ms() - 60_000;
            for chunk in 0..BACKLOG / 1000 {
                coreapp::store::db::transaction(c, |c| {
                    for group in 0..100 {
                        let at = start + (chunk * 100 + group) as i64;
                        coreapp::store::inbound::insert_events(c, &vec![b"{}".to_vec(); 10], at)?;
                        for i in 0..10 {
                            let n = chunk * 1000 + group * 10 + i;
                            outbound::insert(c, &format!("m{n:06}"), &format!("1555{n:07}"), "{}", at, None)?;
                        }
                    }
                    Ok(())
                })?;
            }
            let mut reads = Vec::new();
            for queue in [Queue::Inbound, Queue::Outbound] {
                // One transaction around the claim (its own becomes a
                // savepoint), whose counters are this claim's alone.
                let read = coreapp::store::db::transaction(c, |c| {
                    let before = pgsql_rows_read(c)?;
                    let ids = queue::claim(c, queue, "node-a/1", now_ms(), 60_000, 128)?;
                    assert_eq!(ids.len(), 128);
                    Ok(pgsql_rows_read(c)? - before)
                })?;
                reads.push((queue, read));
            }
            Ok(reads)
        })
        .await
        .unwrap();
    for (queue, read) in reads {
        assert!(read < 5_000, "{queue:?}: a claim of 128 out of {BACKLOG} read {read} rows");
    }
}

/// Threads of this process, as the kernel counts them.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
}

/// Calls beyond the pool's connections wait their turn as tasks: 64 at
/// once on a one-connection pool take a blocking thread or two, not 64
/// threads parked on the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_pool_wait_without_a_thread_each() {
    const CALLS: usize = 64;
    let t = open(TestEngine::Sqlite);
    let before = threads();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CALLS {
        let db = t.db.clone();
        calls.spawn(async move {
            db.run(|_| {
                std::thread::sleep(std::time::Duration::from_millis(10));
                Ok(())
            })
            .await
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let during = threads();
    while let Some(done) = calls.join_next().await {
        done.unwrap().unwrap();
    }
    // Other tests of this file run meanwhile and have threads of their own:
    // the margin is wide, where a thread per call adds 64.
    assert!(during < before + CALLS / 2, "{before} threads before, {during} with {CALLS} calls waiting");
}
