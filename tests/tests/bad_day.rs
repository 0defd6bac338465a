//! Bad days, compressed into seconds: the business's webhook server down
//! for an hour, Cloud down for minutes, the media volume full or
//! read-only, a coreapp stopped with SIGTERM under load. Each scenario
//! asserts what the business sees afterwards (everything once, in order,
//! nothing failed that should not have) and prints how long recovery took.
//!
//! The media scenarios mount a tmpfs on the stack's media folder, so they
//! need root (CAP_SYS_ADMIN); without it they fail and say so. The SIGTERM
//! scenario runs coreapps as real processes (this package's `e2e-host`):
//! two on MariaDB, one on SQLite (a file one process owns), restarted
//! after the stop.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use coreapp::config::DbConfig;
use coreapp::store::db::Db;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Integer, Text};
use e2e::payloads::{notification, user_text};
use e2e::{APP_SECRET, Auth, Engine, PHONE_NUMBER_ID, Receiver, Stack, files};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

e2e::on_all_engines!(
    the_webhook_server_down_for_an_hour_gets_everything_once_in_order,
    cloud_down_for_minutes_fails_nothing_and_sends_soon_after,
    uploads_to_a_full_or_read_only_volume_fail_cleanly_and_recover,
    inbound_media_waits_for_space_on_a_full_volume,
);

const WAIT: Duration = Duration::from_secs(20);

// === the database, read behind the stack's back ===

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `SELECT COUNT(*) AS n ...` on the stack's database.
async fn count(db: &Db, sql: &str) -> i64 {
    let sql = sql.to_string();
    db.run(move |conn| Ok(diesel::sql_query(sql).load::<Count>(conn)?)).await.unwrap()[0].n
}

/// `UPDATE ...`: how many rows it changed.
async fn execute(db: &Db, sql: &str) -> usize {
    let sql = sql.to_string();
    db.run(move |conn| Ok(diesel::sql_query(sql).execute(conn)?)).await.unwrap()
}

// === 1. the business's webhook server down for an hour ===

/// How the outage is compressed. At the default settings
/// (`callback_backoff_delay_ms` 3,000, `max_callback_backoff_delay_ms`
/// 900,000) the n-th failure of an event waits 3n s, so within an hour the
/// oldest event is tried 49 times (3 + 6 + ... + 144 s = 3,528 s) and the
/// last wait is 2.4 minutes. Here each failure adds 10 ms up to 100 ms, and
/// the server stays down until the oldest event has been turned away at
/// least [`HOUR_OF_RETRIES`] times, and for at least [`OUTAGE_IN_CAPS`]
/// times the longest wait: an hour's retry cycles in about six seconds
/// (most of them at the cap, which at the defaults only an outage of more
/// than a day reaches).
const BACKOFF_STEP_MS: u64 = 10;
const BACKOFF_CAP_MS: u64 = 100;
const HOUR_OF_RETRIES: usize = 55;
const OUTAGE_IN_CAPS: u32 = 60;

/// The users of the scenario: each receives our messages (and so their
/// statuses) and writes to the business.
const CONTACTS: [&str; 4] = ["15557300001", "15557300002", "15557300003", "15557300004"];

#[derive(diesel::QueryableByName)]
struct Event {
    #[diesel(sql_type = Text)]
    contact: String,
    #[diesel(sql_type = Text)]
    payload: String,
}

/// The business's webhook server answers 503 through a long outage while
/// users keep writing (signed Cloud webhooks) and our messages keep
/// producing statuses. Afterwards every event arrives exactly once, each
/// contact's in the order they were queued: users' messages in the order
/// they were written, each message's `delivered` before its `read`.
async fn the_webhook_server_down_for_an_hour_gets_everything_once_in_order(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let backoff =
        json!({"callback_backoff_delay_ms": BACKOFF_STEP_MS, "max_callback_backoff_delay_ms": BACKOFF_CAP_MS});
    let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(backoff)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let db = s.db().await;

    s.receiver.fail_with(503);
    let down = Instant::now();
    let min_outage = Duration::from_millis(BACKOFF_CAP_MS) * OUTAGE_IN_CAPS;
    let first_body = format!("{} #0", CONTACTS[0]);
    let refusals_of_first =
        || s.receiver.refused().iter().filter(|v| v["messages"][0]["text"]["body"] == first_body.as_str()).count();
    // Traffic while it is down: a user writes every 100 ms (the users in
    // turn), and every third time the business sends one of them a message.
    let mut written: HashMap<&str, Vec<String>> = HashMap::new();
    let mut sent: Vec<String> = Vec::new();
    let mut tick = 0usize;
    while down.elapsed() < min_outage || refusals_of_first() < HOUR_OF_RETRIES {
        assert!(
            down.elapsed() < Duration::from_secs(60),
            "the oldest event was tried only {} times in {:?}",
            refusals_of_first(),
            down.elapsed()
        );
        let user = CONTACTS[tick % CONTACTS.len()];
        let body = format!("{user} #{tick}");
        let m = notification(vec![user_text(PHONE_NUMBER_ID, user, &format!("wamid.HOUR{tick}"), &body)]);
        assert_eq!(s.cloud_posts(&m).await, StatusCode::OK);
        written.entry(user).or_default().push(body);
        if tick.is_multiple_of(3) {
            let to = CONTACTS[(tick / 3) % CONTACTS.len()];
            let message = json!({"to": to, "text": {"body": format!("to {to} #{tick}")}});
            let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(message)).await;
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
            sent.push(a.body["messages"][0]["id"].as_str().unwrap().to_string());
        }
        tick += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outage = down.elapsed();
    let refusals = refusals_of_first();

    // Every event is queued: one per user message, `delivered` and `read`
    // per message sent (`sent` is off by default).
    let user_messages: usize = written.values().map(Vec::len).sum();
    let expected = user_messages + 2 * sent.len();
    let queued = "SELECT COUNT(*) AS n FROM webhook_outbox";
    s.wait_until(WAIT, || async { count(&db, queued).await >= expected as i64 }).await.unwrap_or_else(|_| {
        panic!("expected {expected} queued events");
    });
    // Everything before the outbox has finished (sends, Cloud's statuses,
    // the intake), so no further event is still to come.
    s.wait_until(WAIT, || async { s.unsettled(&db).await.iter().all(|(stage, _)| *stage == "events") })
        .await
        .unwrap_or_else(|_| panic!("work other than the events stayed under way"));
    let queue: Vec<Event> = db
        .run(|conn| {
            Ok(diesel::sql_query("SELECT contact, payload FROM webhook_outbox WHERE state = 'pending' ORDER BY id")
                .load::<Event>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(queue.len(), expected, "events queued while the server was down");
    assert!(s.receiver.received().is_empty(), "the server took nothing while down");
    let queue: Vec<(String, Value)> =
        queue.into_iter().map(|e| (e.contact, serde_json::from_str(&e.payload).unwrap())).collect();

    // The server comes back.
    s.receiver.fail_with(0);
    let back = Instant::now();
    s.wait_until(Duration::from_secs(60), || async { s.receiver.received().len() >= expected }).await.unwrap_or_else(
        |_| panic!("only {} of {expected} events arrived after the server came back", s.receiver.received().len()),
    );
    let drained = back.elapsed();
    // Once nothing is under way, anything sent twice has arrived too.
    s.settled().await;
    let got = s.receiver.received();
    assert_eq!(got.len(), expected, "each event exactly once");

    // Each arrival is a queued event, each queued event arrives once, and
    // a contact's events arrive in their queue order.
    let mut last_of: HashMap<&str, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for event in &got {
        let at = queue.iter().position(|(_, q)| q == event).unwrap_or_else(|| panic!("not a queued event: {event}"));
        assert!(seen.insert(at), "arrived twice: {event}");
        let contact = queue[at].0.as_str();
        if let Some(before) = last_of.insert(contact, at) {
            assert!(before < at, "contact {contact}: {event} arrived after a later event");
        }
    }
    // ... which is the order users wrote in, and each message's lifecycle.
    for user in CONTACTS {
        let bodies: Vec<&str> = got
            .iter()
            .filter(|v| v["messages"][0]["from"] == user)
            .filter_map(|v| v["messages"][0]["text"]["body"].as_str())
            .collect();
        assert_eq!(bodies, written[user], "{user}'s messages in the order written");
    }
    for id in &sent {
        let lifecycle: Vec<&str> = got
            .iter()
            .filter(|v| v["statuses"][0]["id"] == id.as_str())
            .filter_map(|v| v["statuses"][0]["status"].as_str())
            .collect();
        assert_eq!(lifecycle, ["delivered", "read"], "statuses of {id}");
    }
    assert_eq!(count(&db, queued).await, 0, "the outbox is empty once delivered");
    eprintln!(
        "webhook server down {outage:.1?}: {expected} events from {} contacts ({user_messages} user messages, {} \
         statuses) waited; the oldest was turned away {refusals} times (an hour at the default backoff is 49); all \
         arrived {drained:.2?} after the server came back",
        CONTACTS.len(),
        2 * sent.len()
    );
    s.stop().await;
}

// === 2. Cloud down for minutes ===

/// What a message sent during an outage has been through once Cloud has
/// been down for minutes: its failures so far (`attempts`) decide how long
/// it waits next. 12 failures at the doubling backoff (1 s, 2 s, 4 s, ...)
/// is a message that has been retried through minutes of outage, whatever
/// the cap; the scenario writes that history into the queue instead of
/// living through it.
const MINUTES_OF_FAILURES: i32 = 12;

/// Cloud's return to the last waiting message accepted: the longest retry
/// delay (30 s, `coreapp::clients::cloud::RETRY_DELAY_CAP`) and a few seconds to
/// send. A longer cap fails this scenario.
const RECOVERY_BOUND: Duration = Duration::from_secs(35);

#[derive(diesel::QueryableByName)]
struct Tried {
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = BigInt)]
    next_attempt_at: i64,
}

/// The messages Cloud has refused so far: one per recipient (the others
/// wait behind it), with their failures and next try.
async fn tried(db: &Db) -> Vec<Tried> {
    db.run(|conn| {
        Ok(diesel::sql_query(
            "SELECT attempts, next_attempt_at FROM outbound_messages WHERE state = 'pending' AND attempts > 0",
        )
        .load::<Tried>(conn)?)
    })
    .await
    .unwrap()
}

async fn clear_cloud_faults(s: &Stack) {
    let r = s.http.delete(format!("{}/_sandbox/faults", s.sandbox)).send().await.unwrap();
    assert!(r.status().is_success(), "sandbox kept its faults");
}

async fn gateway_status(s: &Stack) -> Value {
    s.call(Method::GET, "/v1/health", Auth::ApiKey(e2e::API_KEY), None).await.body["health"]["gateway_status"].clone()
}

/// Cloud answers 503 to everything, then drops every connection, while
/// the business keeps sending. Messages wait (none is marked failed),
/// health says Cloud is unreachable, and once Cloud is back every message
/// goes within [`RECOVERY_BOUND`], each once, each recipient's in order.
async fn cloud_down_for_minutes_fails_nothing_and_sends_soon_after(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let db = s.db().await;

    s.cloud_fault(json!({"status": 503})).await;
    let down = Instant::now();
    let recipients = ["15557400001", "15557400002", "15557400003", "15557400004"];
    let mut ids = Vec::new();
    let send_round = |round: usize| {
        let (s, token) = (&s, &token);
        async move {
            let mut ids = Vec::new();
            for to in recipients {
                let message = json!({"to": to, "text": {"body": format!("{to} #{round}")}});
                let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(message)).await;
                assert_eq!(a.status, StatusCode::CREATED, "accepted while Cloud is down: {}", a.body);
                ids.push(a.body["messages"][0]["id"].as_str().unwrap().to_string());
            }
            ids
        }
    };
    for round in 0..3 {
        ids.extend(send_round(round).await);
    }
    // Retried on 503s: the first message of each recipient fails a few times.
    s.wait_until(WAIT, || async {
        let t = tried(&db).await;
        t.len() == recipients.len() && t.iter().all(|m| m.attempts >= 3)
    })
    .await
    .expect("each recipient's first message tried three times");
    s.wait_until(Duration::from_secs(5), || async { gateway_status(&s).await == "disconnected" })
        .await
        .expect("health shows Cloud unreachable");

    // Then Cloud drops connections instead of answering, and the messages
    // carry the history of minutes of outage.
    clear_cloud_faults(&s).await;
    s.cloud_fault(json!({"drop_connection": true})).await;
    ids.extend(send_round(3).await);
    let aged = format!(
        "UPDATE outbound_messages SET attempts = {MINUTES_OF_FAILURES} \
         WHERE state = 'pending' AND attempts BETWEEN 1 AND {} AND lease_owner IS NULL",
        MINUTES_OF_FAILURES - 1
    );
    s.wait_until(WAIT, || async {
        // A message in the middle of an attempt is left alone; it is aged
        // on the next round, once it has settled.
        execute(&db, &aged).await;
        tried(&db).await.iter().all(|m| m.attempts >= MINUTES_OF_FAILURES)
    })
    .await
    .expect("the history written");
    // Each fails once more, and draws its next wait from that history.
    s.wait_until(WAIT, || async { tried(&db).await.iter().all(|m| m.attempts > MINUTES_OF_FAILURES) })
        .await
        .expect("each waiting message tried again on dropped connections");
    let now = coreapp::store::db::now_ms();
    let longest_wait = tried(&db).await.iter().map(|m| m.next_attempt_at - now).max().unwrap_or(0);
    assert!(s.cloud_received().await.is_empty(), "Cloud accepted nothing while down");
    let failed = "SELECT COUNT(*) AS n FROM outbound_messages WHERE state = 'failed'";
    assert_eq!(count(&db, failed).await, 0, "nothing failed while Cloud was down");
    assert!(s.receiver.received().iter().all(|v| v["statuses"][0]["status"] != "failed"));
    let outage = down.elapsed();

    // Cloud is back.
    clear_cloud_faults(&s).await;
    let back = Instant::now();
    let accepted = || async {
        let sent = s.cloud_received().await;
        sent.iter().filter(|e| e["payload"]["text"]["body"].is_string()).count() >= ids.len()
    };
    if s.wait_until(RECOVERY_BOUND, accepted).await.is_err() {
        let waiting = tried(&db).await.iter().map(|m| m.next_attempt_at - coreapp::store::db::now_ms()).max();
        panic!(
            "{} of {} messages still waiting {RECOVERY_BOUND:?} after Cloud came back (next try in {waiting:?} ms): \
             the retry delay keeps them too long",
            ids.len() - s.cloud_received().await.len(),
            ids.len()
        );
    }
    let recovered = back.elapsed();
    for id in &ids {
        let st = s
            .receiver
            .wait_for(WAIT, |v| v["statuses"][0]["id"] == id.as_str() && v["statuses"][0]["status"] == "read")
            .await;
        assert_eq!(st["statuses"][0]["status"], "read");
    }
    assert!(s.receiver.received().iter().all(|v| v["statuses"][0]["status"] != "failed"), "no failed status");
    s.wait_until(Duration::from_secs(5), || async { gateway_status(&s).await == "connected" })
        .await
        .expect("health shows Cloud reachable again");

    // Each message reached Cloud once, each recipient's in order.
    let sent = s.cloud_received().await;
    for to in recipients {
        let bodies: Vec<&str> = sent
            .iter()
            .filter(|e| e["payload"]["to"] == format!("+{to}"))
            .filter_map(|e| e["payload"]["text"]["body"].as_str())
            .collect();
        let want: Vec<String> = (0..4).map(|round| format!("{to} #{round}")).collect();
        assert_eq!(bodies, want, "{to}: each once, in order");
    }
    eprintln!(
        "Cloud down {outage:.1?} (503, then dropped connections; the waiting messages aged to \
         {MINUTES_OF_FAILURES} failures): none failed; the longest next try was {:.1} s away; all {} messages \
         accepted {recovered:.1?} after Cloud came back",
        longest_wait as f64 / 1000.0,
        ids.len()
    );
    s.stop().await;
}

// === 3. the media volume full or read-only ===

/// A tmpfs mounted on a folder (the stack's media volume) for one test,
/// unmounted when dropped, even when the test fails.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `8m`) on `dir`, with the folders the
    /// coreapp keeps on its volume.
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "this scenario mounts a small tmpfs on the media folder, which needs root (CAP_SYS_ADMIN): \
                 mount failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("this scenario mounts a small tmpfs on the media folder: cannot run mount: {e}"),
        }
        let volume = Tmpfs { dir: dir.to_path_buf() };
        for sub in ["tmp", "blobs"] {
            std::fs::create_dir_all(dir.join(sub)).expect("the media folders on the tmpfs");
        }
        volume
    }

    /// `mount -o remount,<options>`, e.g. `ro` or `rw`.
    fn remount(&self, options: &str) {
        let out = Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(&self.dir).output().unwrap();
        assert!(out.status.success(), "remount {options}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }

    /// Fills the volume to the last byte with a file of its own, and
    /// returns the file (removing it gives the space back).
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = file.write_all(&chunk) {
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "filling the volume: {e}");
                return path;
            }
        }
    }

    /// Gives `bytes` of the filler's space back.
    fn free(&self, filler: &Path, bytes: u64) {
        let file = std::fs::OpenOptions::new().write(true).open(filler).unwrap();
        let len = file.metadata().unwrap().len();
        file.set_len(len - bytes).unwrap();
    }

    /// Temporary files left on the volume (an upload's `tmp/*.part`).
    fn leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.join("tmp")).unwrap().map(|e| e.unwrap().path()).collect()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a process of the stack may still have a file open there.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn media_id(a: &e2e::Answer) -> String {
    assert_eq!(a.status, StatusCode::CREATED, "upload: {}", a.body);
    a.body.pointer("/media/0/id").and_then(Value::as_str).expect("a media id").to_string()
}

/// An upload that runs out of space answers 500/1014 "The media volume is
/// full", one to a read-only volume 403/1005 "The media volume is not
/// writable"; neither leaves a temporary or partial file behind, files
/// already there still download, and uploads work again once space (or
/// write access) returns.
async fn uploads_to_a_full_or_read_only_volume_fail_cleanly_and_recover(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let volume = Tmpfs::mount(&s.media_dir(), "16m");
    let logo = files::png(64, 64, 40);
    let kept = media_id(&s.upload(&token, Some("image/png"), logo.clone()).await);
    assert_eq!(s.media_files().len(), 1, "the upload is on the tmpfs");

    // Full: 300 KB left, a 1 MB upload runs out of space half-way.
    let filler = volume.fill();
    volume.free(&filler, 300 * 1024);
    let photo = files::jpeg(1_000_000, 41);
    let a = s.upload(&token, Some("image/jpeg"), photo.clone()).await;
    a.assert_error(500, 1014);
    assert_eq!(a.body["errors"][0]["details"], "The media volume is full", "{}", a.body);
    assert_eq!(volume.leftovers(), Vec::<PathBuf>::new(), "a half-written upload left its temporary file");
    assert_eq!(s.media_files().len(), 1, "no partial file placed");
    // The half-written file's space was given back: a small upload fits.
    let small = files::jpeg(100_000, 42);
    let small_id = media_id(&s.upload(&token, Some("image/jpeg"), small.clone()).await);
    assert!(s.download(&token, &small_id).await.2 == small);
    let (status, _, body) = s.download(&token, &kept).await;
    assert_eq!(status, StatusCode::OK, "a full volume still serves its files");
    assert!(body == logo);

    // Space returns.
    std::fs::remove_file(filler).unwrap();
    let id = media_id(&s.upload(&token, Some("image/jpeg"), photo.clone()).await);
    let (status, _, body) = s.download(&token, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == photo, "the upload after the space returned came back changed");

    // Read-only.
    volume.remount("ro");
    let pdf = files::pdf(300_000, 43);
    let a = s.upload(&token, Some("application/pdf"), pdf.clone()).await;
    a.assert_error(403, 1005);
    assert_eq!(a.body["errors"][0]["details"], "The media volume is not writable", "{}", a.body);
    assert_eq!(volume.leftovers(), Vec::<PathBuf>::new());
    let (status, _, body) = s.download(&token, &id).await;
    assert_eq!(status, StatusCode::OK, "a read-only volume still serves its files");
    assert!(body == photo);

    // Writable again.
    volume.remount("rw");
    let id = media_id(&s.upload(&token, Some("application/pdf"), pdf.clone()).await);
    assert!(s.download(&token, &id).await.2 == pdf);
    assert_eq!(s.media_files().len(), 4);
    assert_eq!(volume.leftovers(), Vec::<PathBuf>::new());
    drop(volume);
    s.stop().await;
}

#[derive(diesel::QueryableByName)]
struct Attempts {
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// With auto-download on and the volume full, a user's photo cannot be
/// stored: its webhook is held (with the user's later ones behind it;
/// other users' go on), the download is retried, and once space returns
/// the webhook arrives once, with the file, before the user's next message.
async fn inbound_media_waits_for_space_on_a_full_volume(engine: Engine) {
    use base64::Engine as _;
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let patch = json!({"media": {"auto_download": ["image"]}});
    let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(patch)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let db = s.db().await;
    let volume = Tmpfs::mount(&s.media_dir(), "8m");
    let filler = volume.fill();

    let (user, other) = ("15557500001", "15557500002");
    let photo = files::jpeg(200_000, 44);
    let data = base64::engine::general_purpose::STANDARD.encode(&photo);
    s.user_sends(json!({"from": user, "type": "image", "image": {"data": data, "mime_type": "image/jpeg"}})).await;
    s.user_sends(json!({"from": user, "type": "text", "text": {"body": "after the photo"}})).await;
    s.user_sends(json!({"from": other, "type": "text", "text": {"body": "meanwhile"}})).await;
    s.receiver.wait_for(WAIT, |v| v["messages"][0]["text"]["body"] == "meanwhile").await;

    // The download fails for want of space, again and again.
    let tries = || async {
        let rows = db
            .run(|conn| Ok(diesel::sql_query("SELECT attempts FROM media_downloads").load::<Attempts>(conn)?))
            .await
            .unwrap();
        rows.first().map_or(0, |r| r.attempts)
    };
    s.wait_until(WAIT, || async { tries().await >= 3 }).await.expect("the download tried three times");
    let failed_tries = tries().await;
    assert!(
        !s.receiver.received().iter().any(|v| v["messages"][0]["from"] == user),
        "the user's webhooks wait for the photo"
    );
    // A user's events are kept in order under their BSUID.
    let sandbox_user: Value =
        s.http.get(format!("{}/_sandbox/users/{user}", s.sandbox)).send().await.unwrap().json().await.unwrap();
    let bsuid = sandbox_user["user_id"].as_str().expect("the user's BSUID").to_string();
    let held = format!("SELECT COUNT(*) AS n FROM webhook_outbox WHERE contact = '{bsuid}'");
    assert_eq!(count(&db, &held).await, 2, "both of the user's events are held, not lost");
    assert_eq!(volume.leftovers(), Vec::<PathBuf>::new(), "failed downloads left temporary files");
    assert!(s.media_files().is_empty(), "no partial file placed");

    // Space returns.
    std::fs::remove_file(filler).unwrap();
    let back = Instant::now();
    let hook = s.receiver.wait_for(WAIT, |v| v["messages"][0]["from"] == user).await;
    s.receiver.wait_for(WAIT, |v| v["messages"][0]["text"]["body"] == "after the photo").await;
    let waited = back.elapsed();
    let image = &hook["messages"][0]["image"];
    let file = image["file"].as_str().unwrap_or_else(|| panic!("the photo arrived without its file: {hook}"));
    assert!(std::fs::read(file).unwrap() == photo, "the file on the volume is not the user's photo");
    s.settled().await;
    let order: Vec<String> = s
        .receiver
        .received()
        .iter()
        .filter(|v| v["messages"][0]["from"] == user)
        .map(|v| v["messages"][0]["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(order, ["image", "text"], "each once, in order");
    assert_eq!(volume.leftovers(), Vec::<PathBuf>::new());
    eprintln!(
        "media volume full: the photo's download failed {failed_tries} times, its webhook and the next one held; \
         both arrived {waited:.1?} after space returned"
    );
    drop(volume);
    s.stop().await;
}

// === 4. a coreapp stopped with SIGTERM under load ===

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A coreapp as a real process, configured from the environment as
/// deployed; killed if still running when dropped.
struct CoreProcess {
    node_id: String,
    addr: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl CoreProcess {
    fn start(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_e2e-host"));
        cmd.arg("coreapp")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("WA_CORE_LISTEN", &self.addr)
            .env("WA_NODE_ID", &self.node_id)
            .env("RUST_LOG", std::env::var("WA_TEST_LOG").unwrap_or_else(|_| "off".into()))
            .stdin(Stdio::null());
        self.child = Some(cmd.spawn().expect("start a coreapp"));
    }

    /// Sends SIGTERM, as an orchestrator stopping the node would.
    fn sigterm(&self) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// The exit status, once the process has ended.
    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().expect("wait for the coreapp")?;
        self.child = None;
        Some(status)
    }
}

impl Drop for CoreProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a node's processes still hold, by table: claimed rows of the work
/// queues and job leases (owners are `<node id>/<instance>`), and its
/// registration among the nodes.
async fn held_by(db: &Db, node_id: &str) -> Vec<(&'static str, i64)> {
    let mut held = Vec::new();
    for table in ["outbound_messages", "inbound_events", "webhook_outbox", "media_downloads", "job_leases"] {
        held.push((
            table,
            count(db, &format!("SELECT COUNT(*) AS n FROM {table} WHERE lease_owner LIKE '{node_id}/%'")).await,
        ));
    }
    held.push(("nodes", count(db, &format!("SELECT COUNT(*) AS n FROM nodes WHERE node_id = '{node_id}'")).await));
    held.retain(|(_, n)| *n > 0);
    held
}

/// The outbound messages a node is sending right now.
async fn sending_by(db: &Db, node_id: &str) -> i64 {
    count(db, &format!("SELECT COUNT(*) AS n FROM outbound_messages WHERE lease_owner LIKE '{node_id}/%'")).await
}

/// Messages the business sends each second while the coreapp stops, and
/// what Cloud takes (`WA_CLOUD_SEND_RATE`): a backlog builds, so the node
/// stopped has sends in hand.
const OFFERED_PER_S: u64 = 40;
const CLOUD_RATE: &str = "10";
/// Sends the stopped node has claimed and not yet settled when SIGTERM comes.
const MIN_IN_HAND: i64 = 5;
const LOAD_FOR: Duration = Duration::from_secs(4);

/// A whole stack around real coreapp processes: the sandbox, a webapp in
/// this process talking to every coreapp, the business's webhook server.
struct Cluster {
    db_config: DbConfig,
    _dir: tempfile::TempDir,
    sandbox: String,
    web: String,
    http: reqwest::Client,
    receiver: Receiver,
    cores: Vec<CoreProcess>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Cluster {
    async fn start(engine: Engine, coreapps: usize) -> Cluster {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let db_config = e2e::db_config(engine, dir.path());
        let migrate = db_config.clone();
        tokio::task::spawn_blocking(move || coreapp::store::db::migrate(&migrate)).await.unwrap().expect("migrations");
        let cluster_dir = dir.path().join("cluster");
        e2e::write_cluster_dir(&cluster_dir);

        let sandbox_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let web_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = format!("http://{}", sandbox_l.local_addr().unwrap());
        let web = format!("http://{}", web_l.local_addr().unwrap());
        let mut stops = Vec::new();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        let sandbox_config = sandbox::Config {
            app_secret: APP_SECRET.into(),
            webhook_url: Some(format!("{web}/cloud/webhooks")),
            status_delay: Duration::from_millis(50),
            ..sandbox::Config::default()
        };
        tokio::spawn(sandbox::run(sandbox_config, sandbox_l, async move {
            let _ = stopped.await;
        }));

        let mut env = vec![
            ("WA_MEDIA_DIR", dir.path().join("media").display().to_string()),
            ("WA_CLUSTER_DIR", cluster_dir.display().to_string()),
            ("WA_CLOUD_BASE_URL", sandbox.clone()),
            ("WA_CLOUD_ACCESS_TOKEN", sandbox::Config::default().access_token),
            ("WA_CLOUD_PHONE_NUMBER_ID", PHONE_NUMBER_ID.into()),
            ("WA_CLOUD_SEND_RATE", CLOUD_RATE.into()),
        ];
        env.extend(e2e::db_env(&db_config));
        let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mut cores: Vec<CoreProcess> = (1..=coreapps)
            .map(|i| CoreProcess {
                node_id: format!("core{i}"),
                addr: format!("127.0.0.1:{}", free_port()),
                env: env.clone(),
                child: None,
            })
            .collect();
        for core in &mut cores {
            core.start();
        }

        let web_config = webapp::Config {
            servername: "localhost".into(),
            tls: false,
            core_addrs: cores.iter().map(|c| c.addr.clone()).collect(),
            cluster: e2e::cluster_link(proto::cluster::Role::Webapp),
            api_key: Some(e2e::API_KEY.into()),
            version: "2.53.0".into(),
            cloud_app_secret: APP_SECRET.into(),
            cloud_verify_token: e2e::VERIFY_TOKEN.into(),
            jwt_key: None,
            revocation_poll: Duration::from_secs(1),
            messages_rps: 0,
            messages_burst: 0,
            edge: Default::default(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        tokio::spawn(webapp::run(web_config, web_l, async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http.get(format!("{web}/")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "the webapp did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let receiver = Receiver::start().await;
        Cluster { db_config, _dir: dir, sandbox, web, http, receiver, cores, stops }
    }

    async fn db(&self) -> Db {
        let config = self.db_config.clone();
        tokio::task::spawn_blocking(move || Db::connect(&config, 2)).await.unwrap().unwrap()
    }

    /// Logs in as admin (changing the factory password) and points the
    /// business's webhooks at the receiver.
    async fn admin(&self) -> String {
        let r = self
            .http
            .post(format!("{}/v1/users/login", self.web))
            .basic_auth("admin", Some("secret"))
            .json(&json!({"new_password": e2e::ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        let login: Value = r.json().await.unwrap();
        let token = login["users"][0]["token"].as_str().unwrap_or_else(|| panic!("login: {login}")).to_string();
        let patch = json!({"webhooks": {"url": self.receiver.url()}});
        let r = self.http.patch(format!("{}/v1/settings/application", self.web)).bearer_auth(&token).json(&patch);
        assert!(r.send().await.unwrap().status().is_success());
        token
    }

    /// `POST /v1/messages`: our id when accepted, else the answer.
    async fn send(&self, token: &str, to: &str, body: &str) -> Result<String, Value> {
        let message = json!({"to": to, "text": {"body": body}});
        let r = self.http.post(format!("{}/v1/messages", self.web)).bearer_auth(token).json(&message).send().await;
        let r = r.map_err(|e| json!({"transport": e.to_string()}))?;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        if status == StatusCode::CREATED {
            Ok(answer["messages"][0]["id"].as_str().unwrap().to_string())
        } else {
            Err(json!({"status": status.as_u16(), "answer": answer}))
        }
    }

    /// How many times Cloud accepted each message body.
    async fn accepted_by_cloud(&self) -> HashMap<String, usize> {
        let sent: Value =
            self.http.get(format!("{}/_sandbox/sent", self.sandbox)).send().await.unwrap().json().await.unwrap();
        let mut per_body = HashMap::new();
        for e in sent["data"].as_array().unwrap() {
            if let Some(b) = e["payload"]["text"]["body"].as_str() {
                *per_body.entry(b.to_string()).or_default() += 1;
            }
        }
        per_body
    }

    async fn stop(mut self) {
        self.cores.clear();
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        let config = self.db_config.clone();
        let _ = tokio::task::spawn_blocking(move || coreapp::store::db::drop_server_database(&config)).await;
    }
}

/// Steady sends through the webapp; coreapp `victim` gets SIGTERM once it
/// has sends in hand. It must stop within its grace period, exit cleanly
/// and leave no claim, job lease or registration behind; every accepted
/// message must reach `read` (through the other coreapp, or through the
/// same one restarted when it is the only one), and Cloud must have
/// accepted each exactly once: a graceful stop sends nothing twice.
async fn sigterm_under_load(engine: Engine, coreapps: usize) {
    let mut c = Cluster::start(engine, coreapps).await;
    let token = c.admin().await;
    let db = c.db().await;
    // The node that runs the media collector, so its job lease is in hand too.
    let deadline = Instant::now() + Duration::from_secs(10);
    let victim = loop {
        let mut holder = None;
        for (i, core) in c.cores.iter().enumerate() {
            let sql = format!("SELECT COUNT(*) AS n FROM job_leases WHERE lease_owner LIKE '{}/%'", core.node_id);
            if count(&db, &sql).await > 0 {
                holder = Some(i);
            }
        }
        if let Some(i) = holder {
            break i;
        }
        assert!(Instant::now() < deadline, "no coreapp took the collector's lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let victim_id = c.cores[victim].node_id.clone();

    let mut accepted: HashMap<String, String> = HashMap::new();
    // Refused sends: the body, the answer, when.
    let mut refused: Vec<(String, Value, Instant)> = Vec::new();
    let mut signalled: Option<(Instant, i64)> = None;
    let mut exit: Option<(ExitStatus, Duration)> = None;
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < LOAD_FOR || exit.is_none() {
        assert!(started.elapsed() < Duration::from_secs(60), "the coreapp did not stop within 60 s of SIGTERM");
        if started.elapsed() < LOAD_FOR {
            let body = format!("load {i}");
            match c.send(&token, &format!("1555800{i:04}"), &body).await {
                Ok(id) => {
                    accepted.insert(id, body);
                }
                Err(answer) => refused.push((body, answer, Instant::now())),
            }
            i += 1;
        }
        if signalled.is_none() && started.elapsed() > LOAD_FOR / 3 {
            let in_hand = sending_by(&db, &victim_id).await;
            if in_hand >= MIN_IN_HAND {
                c.cores[victim].sigterm();
                signalled = Some((Instant::now(), in_hand));
            }
        }
        if let Some((at, _)) = signalled
            && exit.is_none()
            && let Some(status) = c.cores[victim].exited()
        {
            exit = Some((status, at.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(1000 / OFFERED_PER_S)).await;
    }
    let (signal_at, in_hand) = signalled.expect("the coreapp never had sends in hand to be stopped with");
    let (status, stopping) = exit.unwrap();
    assert!(status.success(), "the coreapp exited with {status} after SIGTERM");
    // Sends are refused only once the node stops: for good when it was the
    // only one (until it is back), else only while the webapp notices
    // (a send that finds the node gone goes to the other one).
    for (body, answer, at) in &refused {
        assert!(*at > signal_at, "'{body}' refused before the stop: {answer}");
        assert_eq!(answer["answer"]["errors"][0]["code"], 1014, "'{body}': {answer}");
        if coreapps > 1 {
            assert!(*at < signal_at + Duration::from_secs(3), "'{body}' refused {:?} after the stop", *at - signal_at);
        }
    }

    // It left nothing behind.
    let held = held_by(&db, &victim_id).await;
    assert!(held.is_empty(), "{victim_id} still holds rows after its stop: {held:?}");
    if coreapps == 1 {
        c.cores[victim].start();
    }

    // Every accepted message reaches `read`.
    let read = |got: &[Value], id: &str| {
        got.iter().any(|v| v["statuses"][0]["id"] == id && v["statuses"][0]["status"] == "read")
    };
    let resumed = Instant::now();
    let deadline = resumed + Duration::from_secs(60);
    loop {
        let got = c.receiver.received();
        let missing: Vec<&String> = accepted.keys().filter(|id| !read(&got, id)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} accepted messages never reached read",
            missing.len(),
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = resumed.elapsed();

    // Cloud accepted each exactly once; a refused request never went.
    let per_body = c.accepted_by_cloud().await;
    for body in accepted.values() {
        assert_eq!(per_body.get(body).copied().unwrap_or(0), 1, "Cloud's acceptances of '{body}'");
    }
    for (body, answer, _) in &refused {
        assert_eq!(per_body.get(body).copied().unwrap_or(0), 0, "'{body}' was refused ({answer}) but sent");
    }
    eprintln!(
        "SIGTERM to {victim_id} of {coreapps} with {in_hand} sends in hand: exited cleanly {stopping:.1?} later, \
         nothing left claimed; {} messages accepted, {} refused ({:?}); all reached read through {} \
         within {drained:.1?} of the load's end, each accepted by Cloud once",
        accepted.len(),
        refused.len(),
        refused
            .iter()
            .map(|(_, a, _)| format!("{} {}", a["status"], a["answer"]["errors"][0]["code"]))
            .collect::<std::collections::BTreeSet<_>>(),
        if coreapps == 1 { "the coreapp restarted" } else { "the other coreapp" }
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_coreapp_stopped_with_sigterm_under_load_hands_its_work_over() {
    sigterm_under_load(Engine::Mysql, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_coreapp_stopped_with_sigterm_under_load_resumes_after_restart() {
    sigterm_under_load(Engine::Sqlite, 1).await;
}
