//! Finding 5: one `POST /v1/contacts` with 120,000 numbers ran for 40 s,
//! one upsert each, and starved the pool: sends got 500 and health took
//! 20 s. Requests are now capped and their writes batched, and a coreapp
//! works on two checks at a time.

use std::time::Duration;

use e2e::{API_KEY, Auth, Engine, Stack};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

e2e::on_all_engines!(contact_checks_are_capped_and_do_not_starve_others);

fn numbers(n: usize, offset: usize) -> Vec<Value> {
    (0..n).map(|i| json!(format!("+1 555 {:07}", offset + i))).collect()
}

async fn contact_checks_are_capped_and_do_not_starve_others(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;

    // The request as found: refused at once, nothing checked.
    let huge = json!({"blocking": "wait", "contacts": numbers(120_000, 0)});
    let a = s.call(Method::POST, "/v1/contacts", Auth::Bearer(&token), Some(huge)).await;
    a.assert_error(400, 1009);
    assert!(a.body.to_string().contains("10000"), "the error names the limit: {}", a.body);

    // Three checks at the cap at once, forced to write every number, while
    // health and sends keep being asked.
    let checks = (0..3).map(|k| {
        let body = json!({"blocking": "wait", "force_check": true, "contacts": numbers(10_000, k * 10_000)});
        let (s, token) = (&s, &token);
        async move { s.call(Method::POST, "/v1/contacts", Auth::Bearer(token), Some(body)).await }
    });
    let checks = futures::future::join_all(checks);
    let others = async {
        let mut worst = Duration::ZERO;
        let mut answers = Vec::new();
        for i in 0..20 {
            let started = tokio::time::Instant::now();
            let health = s.call(Method::GET, "/v1/health", Auth::ApiKey(API_KEY), None).await;
            let send = json!({"to": format!("1555900{i:04}"), "type": "text", "text": {"body": "still here"}});
            let sent = s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(send)).await;
            worst = worst.max(started.elapsed());
            answers.push((health.status, sent.status));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (worst, answers)
    };
    let (results, (worst, answers)) = tokio::join!(checks, others);
    for a in &results {
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let contacts = a.body["contacts"].as_array().expect("results");
        assert_eq!(contacts.len(), 10_000);
        assert!(contacts.iter().all(|c| c["status"] == "valid"), "every number is written correctly");
    }
    for (health, sent) in answers {
        assert_eq!((health, sent), (StatusCode::OK, StatusCode::CREATED), "health and sends keep working");
    }
    // A failure bound, ten times what a health check and a send take here
    // while the checks run: before, health alone took 20 s.
    assert!(worst < Duration::from_secs(10), "a health check and a send took {worst:?} during contact checks");

    // The results were stored: a second check of the same numbers answers
    // from them.
    let again = json!({"blocking": "wait", "contacts": numbers(3, 0)});
    let a = s.call(Method::POST, "/v1/contacts", Auth::Bearer(&token), Some(again)).await;
    assert_eq!(a.body["contacts"][0]["wa_id"], "15550000000", "{}", a.body);
    s.stop().await;
}
