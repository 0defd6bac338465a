//! Every kind of webhook the sandbox emits, compared with the real payloads
//! in `tests/fixtures/`: the same key paths with the same JSON types, except
//! the documented differences listed with each case. Each body is also
//! checked against an independent HMAC.

use serde_json::{Value, json};

use crate::support::{
    Received, Receiver, TestSandbox, USER, assert_same_shape, assert_signed, config, eventually, fixture, items,
};

/// The parent BSUID of the pywa fixtures: the sandbox sends one only while
/// parent BSUIDs are on.
const PARENT: &[&str] = &["entry.changes.value.contacts.parent_user_id"];
/// `from_user_id` (2026), which the recorded message payloads predate.
const FROM_USER_ID: &[&str] = &["entry.changes.value.messages.from_user_id"];
/// What the bindambc payloads (2023) lack: every BSUID field.
const BSUID_OURS_ONLY: &[&str] = &["entry.changes.value.contacts.user_id", "entry.changes.value.messages.from_user_id"];
/// pywa's status fixtures carry a card with the profile name and a parent
/// BSUID (the sandbox's cards of users without a username are `wa_id` and
/// `user_id`, as Meta documents them), and a CBP-era `conversation`.
const STATUS_FIXTURE_ONLY: &[&str] = &[
    "entry.changes.value.contacts.profile",
    "entry.changes.value.contacts.parent_user_id",
    "entry.changes.value.statuses.conversation",
];
/// `recipient_user_id` (2026) and `pricing.type` (per-message pricing, July
/// 2025) postdate the status fixtures.
const STATUS_OURS_ONLY: &[&str] =
    &["entry.changes.value.statuses.recipient_user_id", "entry.changes.value.statuses.pricing.type"];
const RECIPIENT_USER_ID: &[&str] = &["entry.changes.value.statuses.recipient_user_id"];

/// A sandbox whose POSTs carry one item each, so each body matches one fixture.
async fn start() -> (Receiver, TestSandbox) {
    let receiver = Receiver::start(0).await;
    let sandbox =
        TestSandbox::start(sandbox::Config { webhook_batch_max: 1, ..config(Some(receiver.url.clone())) }).await;
    (receiver, sandbox)
}

/// The POST carrying status `status` of `wamid`.
async fn status_post(receiver: &Receiver, wamid: &str, status: &str) -> Received {
    eventually(&format!("{status} of {wamid}"), || {
        receiver
            .received()
            .into_iter()
            .find(|r| items(&r.json(), "statuses").iter().any(|s| s["id"] == wamid && s["status"] == status))
    })
    .await
}

fn check(received: &Received, fixture_name: &str, fixture_only: &[&str], ours_only: &[&str]) {
    assert_signed(received);
    assert_same_shape(&received.json(), &fixture(fixture_name), fixture_only, ours_only);
}

#[tokio::test]
async fn statuses_match_the_fixtures() {
    let (receiver, sandbox) = start().await;
    let wamid =
        sandbox.send_ok(json!({"to": USER, "text": {"body": "hi"}, "biz_opaque_callback_data": "order-42"})).await;
    check(
        &status_post(&receiver, &wamid, "sent").await,
        "pywa-status-sent-biz-opaque.json",
        STATUS_FIXTURE_ONLY,
        STATUS_OURS_ONLY,
    );
    let plain = sandbox.send_text(USER, "plain").await;
    check(
        &status_post(&receiver, &plain, "sent").await,
        "pywa-status-sent.json",
        STATUS_FIXTURE_ONLY,
        STATUS_OURS_ONLY,
    );
    check(
        &status_post(&receiver, &plain, "delivered").await,
        "pywa-status-delivered.json",
        STATUS_FIXTURE_ONLY,
        STATUS_OURS_ONLY,
    );
    // `read` carries no pricing: Cloud prices sent plus one of delivered/read.
    let no_pricing = [STATUS_FIXTURE_ONLY, &["entry.changes.value.statuses.pricing"]].concat();
    check(&status_post(&receiver, &plain, "read").await, "pywa-status-read.json", &no_pricing, RECIPIENT_USER_ID);

    let id = sandbox.upload_ok(include_bytes!("../../src/media/samples/sample.ogg"), "audio/ogg").await;
    let voice = sandbox.send_ok(json!({"to": USER, "type": "audio", "audio": {"id": id}})).await;
    check(&status_post(&receiver, &voice, "played").await, "pywa-status-played.json", &no_pricing, RECIPIENT_USER_ID);
    sandbox.stop().await;
}

#[tokio::test]
async fn v23_statuses_match_the_conversation_era_fixture() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(sandbox::Config {
        webhook_batch_max: 1,
        webhook_version: "v23.0".into(),
        ..config(Some(receiver.url.clone()))
    })
    .await;
    let wamid = sandbox.send_text(USER, "hi").await;
    let sent = status_post(&receiver, &wamid, "sent").await;
    check(
        &sent,
        "pywa-status-sent.json",
        &["entry.changes.value.contacts.profile", "entry.changes.value.contacts.parent_user_id"],
        STATUS_OURS_ONLY,
    );
    // The 2023 Bindambc payload has no `contacts` at all.
    check(
        &sent,
        "bindambc-status-sent-cbp-business-initiated.json",
        &[],
        &[STATUS_OURS_ONLY, &["entry.changes.value.contacts"]].concat(),
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn failed_statuses_match_the_fixtures() {
    let (receiver, sandbox) = start().await;
    sandbox.settings(json!({"rules": {"window": {"enabled": true}, "undeliverable": {"enabled": true}}})).await;

    let outside = sandbox.send_text(USER, "too late").await;
    let post = status_post(&receiver, &outside, "failed").await;
    check(&post, "bindambc-status-failed-131047.json", &[], &[]);
    let error = &items(&post.json(), "statuses")[0]["errors"][0];
    assert_eq!(error["code"], 131047);
    assert_eq!(error["title"], "Re-engagement message");
    assert_eq!(error["message"], "Re-engagement message");

    let undeliverable = sandbox
        .send_ok(json!({"to": "16505550000", "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}}))
        .await;
    let post = status_post(&receiver, &undeliverable, "failed").await;
    check(&post, "pywa-status-failed-130472.json", &["entry.changes.value.contacts"], &[]);
    assert_eq!(items(&post.json(), "statuses")[0]["errors"][0]["code"], 131026);

    // A video link that turns out to be a web page: Meta's exact details, with `\/`.
    sandbox.inbound(json!({"from": USER, "text": {"body": "send me the video"}})).await;
    let video = sandbox
        .send_ok(json!({"to": USER, "type": "video", "video": {"link": "https://cdn.example.com/v.html"}}))
        .await;
    let post = status_post(&receiver, &video, "failed").await;
    check(&post, "bindambc-status-failed-131053.json", &[], &["entry.changes.value.statuses.errors.href"]);
    let raw = std::str::from_utf8(&post.body).unwrap();
    assert!(
        raw.contains(
            r#""details":"Unsupported Video mime type text\/html. Please use one of video\/mp4, video\/3gpp.""#
        ),
        "{raw}"
    );
    sandbox.stop().await;
}

/// Injects `request` and compares its webhook with `fixture_name`.
async fn inbound_case(
    receiver: &Receiver,
    sandbox: &TestSandbox,
    request: Value,
    fixture_name: &str,
    fixture_only: &[&str],
    ours_only: &[&str],
) -> Value {
    let answer = sandbox.inbound(request).await;
    let post = receiver.message_post(answer["id"].as_str().unwrap()).await;
    check(&post, fixture_name, fixture_only, ours_only);
    items(&post.json(), "messages").remove(0)
}

#[tokio::test]
async fn inbound_messages_match_the_fixtures() {
    let (receiver, sandbox) = start().await;
    let business = sandbox.send_text(USER, "our question").await;
    let with_name = |mut request: Value| {
        request["from"] = json!(USER);
        request["name"] = json!("Test Name");
        request
    };
    let cases: Vec<(Value, &str, Vec<&str>)> = vec![
        (json!({"type": "text", "text": {"body": "hi"}}), "pywa-text.json", PARENT.to_vec()),
        (
            json!({"type": "text", "text": {"body": "re"}, "context": {"id": business}}),
            "pywa-text-reply-context.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "text", "text": {"body": "from an ad"}, "referral": {"source_url": "https://fb.me/ad", "source_id": "1",
                "source_type": "ad", "headline": "Sale", "body": "Now", "media_type": "image", "image_url": "https://x.test/i.jpg",
                "video_url": "https://x.test/v.mp4", "thumbnail_url": "https://x.test/t.jpg", "ctwa_clid": "ARA1"}}),
            "pywa-text-referral-ctwa.json",
            PARENT.to_vec(),
        ),
        (json!({"type": "image"}), "pywa-image.json", PARENT.to_vec()),
        (json!({"type": "image", "image": {"with_url": true}}), "pywa-image-with-url.json", PARENT.to_vec()),
        (
            json!({"type": "video", "video": {"caption": "caption"}, "context": {"forwarded": true}}),
            "pywa-video-forwarded.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "document", "document": {"caption": "caption", "filename": "filename.pdf"}, "context": {"forwarded": true}}),
            "pywa-document.json",
            PARENT.to_vec(),
        ),
        (json!({"type": "audio", "audio": {"voice": true}}), "pywa-audio-voice.json", PARENT.to_vec()),
        (json!({"type": "sticker", "sticker": {"animated": true}}), "pywa-sticker-animated.json", PARENT.to_vec()),
        (
            json!({"type": "location", "location": {"latitude": 37.46, "longitude": -122.21, "name": "Facebook HQ",
                "address": "1 Hacker Way", "url": "https://maps.example.com/x"}, "context": {"forwarded": true}}),
            "pywa-location.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "contacts", "contacts": [{"name": {"first_name": "Chandler", "last_name": "Bing",
                "formatted_name": "Chandler Bing"}, "phones": [{"phone": "+1 555-555-5555", "wa_id": "15555555555", "type": "CELL"}]}]}),
            "pywa-contacts.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}}),
            "pywa-interactive-button-reply.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "list_reply",
                "list_reply": {"id": "r1", "title": "Pizza", "description": "Hot"}}}),
            "pywa-interactive-list-reply.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "nfm_reply",
                "nfm_reply": {"response_json": {"flow_token": "t", "rating": "5"}}}}),
            "pywa-interactive-nfm-reply.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "button", "button": {"payload": "CONFIRM-42", "text": "Confirm"}}),
            "pywa-button-quick-reply.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "reaction", "reaction": {"message_id": business, "emoji": "😮"}}),
            "pywa-reaction.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "reaction", "reaction": {"message_id": business}}),
            "pywa-reaction-removed.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "order", "order": {"catalog_id": "354160437058781", "text": "", "product_items": [
                {"product_retailer_id": "HAMBURGER", "quantity": 3, "item_price": 30, "currency": "ILS"}]}}),
            "pywa-order.json",
            PARENT.to_vec(),
        ),
        (
            json!({"type": "system", "system": {"type": "user_changed_number", "new_wa_id": "16505550001"}}),
            "pywa-system-user-changed-number.json",
            vec![],
        ),
        (json!({"type": "unsupported", "unsupported": {"type": "poll"}}), "pywa-unsupported.json", PARENT.to_vec()),
    ];
    for (request, fixture_name, fixture_only) in cases {
        let message =
            inbound_case(&receiver, &sandbox, with_name(request), fixture_name, &fixture_only, FROM_USER_ID).await;
        assert!(message["timestamp"].as_str().unwrap().parse::<u64>().is_ok(), "{fixture_name}");
        assert_eq!(message["from"], USER);
    }
    // These two predate BSUIDs altogether.
    let request = with_name(json!({"type": "text", "text": {"body": "hi"}}));
    inbound_case(&receiver, &sandbox, request, "bindambc-text.json", &[], BSUID_OURS_ONLY).await;
    let request = with_name(json!({"type": "system", "system": {"type": "customer_identity_changed"}}));
    inbound_case(&receiver, &sandbox, request, "pywa-system-identity-changed.json", &[], BSUID_OURS_ONLY).await;
    sandbox.stop().await;
}

#[tokio::test]
async fn replies_name_the_business_message_in_context() {
    let (receiver, sandbox) = start().await;
    let business = sandbox.send_text(USER, "Yes or no?").await;
    let answer = sandbox
        .inbound(json!({"from": USER, "type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}}}))
        .await;
    let post = receiver.message_post(answer["id"].as_str().unwrap()).await;
    let message = items(&post.json(), "messages").remove(0);
    assert_eq!(message["context"], json!({"from": "15550000001", "id": business}));
    assert_eq!(message["interactive"], json!({"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}}));
    sandbox.stop().await;
}

#[tokio::test]
async fn value_errors_and_template_updates_match_the_fixtures() {
    let (receiver, sandbox) = start().await;
    let (status, _) = sandbox
        .control_post(
            "/_sandbox/webhook",
            &json!({"errors": [{"code": 131000, "details": "Unsupported webhook payload"}]}),
        )
        .await;
    assert_eq!(status, 200);
    let post =
        eventually("value errors", || receiver.received().into_iter().find(|r| !items(&r.json(), "errors").is_empty()))
            .await;
    check(
        &post,
        "pywa-value-errors-131000.json",
        &["entry.changes.value.contacts", "entry.changes.value.messages"],
        &["entry.changes.value.errors.href"],
    );

    let (status, body) = sandbox
        .control_post(
            "/_sandbox/templates/status",
            &json!({"name": "order_confirmation", "language": "en_US", "status": "approved"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let post = eventually("template update", || {
        receiver
            .received()
            .into_iter()
            .find(|r| r.json()["entry"][0]["changes"][0]["field"] == "message_template_status_update")
    })
    .await;
    check(&post, "pywa-template-status-approved.json", &[], &[]);
    let value = &post.json()["entry"][0]["changes"][0]["value"];
    assert_eq!(value["message_template_id"], 1_000_000_000_000_002u64);
    assert_eq!(value["event"], "APPROVED");
    sandbox.stop().await;
}
