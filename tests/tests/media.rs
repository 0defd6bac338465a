//! `/v1/media` through the real stack with real files made by the tests:
//! uploads and downloads (up to 100 MB) with their on-prem errors,
//! deletes, sending by our media id (uploaded to Cloud once, again when
//! Cloud forgot it), inbound media downloaded before the webhook or on
//! first request, retention, and any coreapp serving any media id. Once
//! per engine, except the two-coreapp scenario (MySQL is the engine for
//! several coreapps).

use std::time::Duration;

use base64::Engine as _;
use e2e::{Auth, Engine, Options, Stack, files};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

e2e::on_all_engines!(
    uploads_round_trip_and_deletes_remove_them,
    large_files_stream_through,
    bad_uploads_get_onprem_errors,
    sending_by_id_uploads_once_and_again_when_cloud_forgot,
    inbound_media_is_downloaded_before_its_webhook_or_on_request,
    retention_removes_old_media_when_enabled,
);

const WAIT: Duration = Duration::from_secs(20);

fn id_of(a: &e2e::Answer) -> String {
    assert_eq!(a.status, StatusCode::CREATED, "upload: {}", a.body);
    assert!(a.body.get("meta").is_some(), "meta missing: {}", a.body);
    let id = a.body.pointer("/media/0/id").and_then(Value::as_str).expect("a media id");
    assert!(wire::messages::is_our_media_id(id), "{id} is not a UUID");
    id.to_string()
}

async fn uploads_round_trip_and_deletes_remove_them(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("image/png", files::png(400, 300, 1)),
        ("image/jpeg", files::jpeg(300_000, 2)),
        ("audio/ogg; codecs=opus", files::ogg_opus()),
        ("video/mp4", files::mp4(2_000_000, 3)),
        ("application/pdf", files::pdf(500_000, 4)),
    ];
    let mut ids = Vec::new();
    for (mime, bytes) in &cases {
        let id = id_of(&s.upload(&token, Some(mime), bytes.clone()).await);
        let (status, headers, body) = s.download(&token, &id).await;
        assert_eq!(status, StatusCode::OK, "{mime}");
        assert_eq!(headers["content-type"], *mime);
        assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(disposition.starts_with(&format!("attachment; filename={id}.")), "{disposition}");
        assert!(body == *bytes, "{mime}: the bytes came back changed");
        ids.push(id);
    }
    assert_eq!(s.media_files().len(), cases.len());

    // Identical bytes get their own id but are stored once.
    let again = id_of(&s.upload(&token, Some("image/png"), cases[0].1.clone()).await);
    assert_ne!(again, ids[0]);
    assert_eq!(s.media_files().len(), cases.len());

    // Deleting one id keeps the bytes the other still uses.
    let a = s.call(Method::DELETE, &format!("/v1/media/{}", ids[0]), Auth::Bearer(&token), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.get("meta").is_some());
    assert_eq!(s.download(&token, &ids[0]).await.0, StatusCode::NOT_FOUND, "a deleted id is gone");
    let (status, _, body) = s.download(&token, &again).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == cases[0].1);
    assert_eq!(s.media_files().len(), cases.len());

    // The last id of those bytes takes the file with it.
    let a = s.call(Method::DELETE, &format!("/v1/media/{again}"), Auth::Bearer(&token), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(s.media_files().len(), cases.len() - 1);
    let a = s.call(Method::GET, &format!("/v1/media/{again}"), Auth::Bearer(&token), None).await;
    a.assert_error(404, 1006);
    let a = s.call(Method::DELETE, &format!("/v1/media/{again}"), Auth::Bearer(&token), None).await;
    a.assert_error(404, 1006);

    // What was stored survives a restart.
    let mut s = s;
    s.restart().await;
    let token = s.admin_token().await;
    let (status, _, body) = s.download(&token, &ids[4]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == cases[4].1);
    s.stop().await;
}

async fn large_files_stream_through(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    for size in [30 * 1024 * 1024, 100 * 1024 * 1024] {
        let pdf = files::pdf(size, size as u64);
        assert!(pdf.len() <= 100 * 1024 * 1024);
        let id = id_of(&s.upload(&token, Some("application/pdf"), pdf.clone()).await);
        let (status, headers, body) = s.download(&token, &id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-length"], pdf.len().to_string().as_str());
        assert!(body == pdf, "a {size}-byte file came back changed");
    }

    // One byte over 100 MB: refused from its Content-Length, before reading.
    let over = vec![b'%'; 100 * 1024 * 1024 + 1];
    let a = s.upload(&token, Some("application/pdf"), over.clone()).await;
    a.assert_error(400, 1009);
    assert_eq!(a.body["errors"][0]["details"], "Request content exceeds size of 100 MB");
    // ... and when it comes chunked, with no length, once the count passes it.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = over.chunks(1024 * 1024).map(|c| Ok(c.to_vec())).collect();
    let r = s
        .http
        .post(format!("{}/v1/media", s.webs[0]))
        .bearer_auth(&token)
        .header("Content-Type", "application/pdf")
        .body(reqwest::Body::wrap_stream(tokio_stream::iter(chunks)))
        .send()
        .await;
    // The webapp may answer before the client finished sending; either the
    // answer arrives, or the connection is closed under the client.
    if let Ok(r) = r {
        e2e::Answer::read(r).await.assert_error(400, 1009);
    }
    // Neither refused upload left anything on the volume.
    assert_eq!(s.media_files().len(), 2);
    let tmp = std::fs::read_dir(s.media_dir().join("tmp")).unwrap().count();
    assert_eq!(tmp, 0, "temporary files left behind");
    s.stop().await;
}

async fn bad_uploads_get_onprem_errors(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let png = files::png(10, 10, 9);

    s.upload(&token, None, png.clone()).await.assert_error(400, 1008);
    let a = s.upload(&token, Some("image/png"), Vec::new()).await;
    a.assert_error(400, 1008);
    assert_eq!(a.body["errors"][0]["details"], "Request had no (empty) content");
    let a = s.upload(&token, Some("text/html"), b"<html></html>".to_vec()).await;
    a.assert_error(400, 1009);
    assert!(a.body["errors"][0]["details"].as_str().unwrap().contains("image/jpeg"), "{}", a.body);
    // Over the type's own limit (images: 5 MB).
    let big = files::png(1400, 1400, 10);
    assert!(big.len() > 5 * 1024 * 1024);
    let a = s.upload(&token, Some("image/png"), big).await;
    a.assert_error(400, 1009);
    assert_eq!(a.body["errors"][0]["details"], "Media of type 'image/png' may be at most 5 MB");

    // Credentials, as everywhere.
    let r = s.http.post(format!("{}/v1/media", s.webs[0])).header("Content-Type", "image/png").body(png.clone());
    e2e::Answer::read(r.send().await.unwrap()).await.assert_error(401, 1005);
    s.call(Method::GET, "/v1/media/f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68", Auth::None, None)
        .await
        .assert_error(401, 1005);

    // Unknown ids, in every route and in a message.
    let unknown = "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68";
    s.call(Method::GET, &format!("/v1/media/{unknown}"), Auth::Bearer(&token), None).await.assert_error(404, 1006);
    s.call(Method::GET, "/v1/media/not-a-uuid", Auth::Bearer(&token), None).await.assert_error(404, 1006);
    s.call(Method::DELETE, &format!("/v1/media/{unknown}"), Auth::Bearer(&token), None).await.assert_error(404, 1006);
    let message = json!({"to": "15550001111", "type": "image", "image": {"id": unknown}});
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(message)).await;
    a.assert_error(404, 1006);
    assert!(s.cloud_received().await.is_empty(), "nothing reached Cloud");
    assert!(s.media_files().is_empty());
    s.stop().await;
}

/// What Cloud (the sandbox) holds under a Cloud media id: its bytes.
async fn cloud_media_bytes(s: &Stack, cloud_id: &str) -> Option<Vec<u8>> {
    let token = sandbox::Config::default().access_token;
    let r = s.http.get(format!("{}/v24.0/{cloud_id}", s.sandbox)).bearer_auth(&token).send().await.unwrap();
    if !r.status().is_success() {
        return None;
    }
    let info: Value = r.json().await.unwrap();
    let url = info["url"].as_str()?;
    let r = s.http.get(url).bearer_auth(&token).send().await.unwrap();
    Some(r.bytes().await.unwrap().to_vec())
}

async fn send(s: &Stack, token: &str, message: Value) -> String {
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(message)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["messages"][0]["id"].as_str().unwrap().to_string()
}

/// The Cloud payloads received for a recipient, oldest first.
async fn sent_to(s: &Stack, to: &str) -> Vec<Value> {
    let want = format!("+{to}");
    s.cloud_received()
        .await
        .into_iter()
        .filter(|e| e["payload"]["to"] == want.as_str())
        .map(|e| e["payload"].clone())
        .collect()
}

async fn sending_by_id_uploads_once_and_again_when_cloud_forgot(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let jpeg = files::jpeg(200_000, 21);
    let id = id_of(&s.upload(&token, Some("image/jpeg"), jpeg.clone()).await);

    // First send: the file goes to Cloud, and the message names Cloud's id.
    let to = "15550002001";
    let first = send(&s, &token, json!({"to": to, "type": "image", "image": {"id": id, "caption": "one"}})).await;
    s.receiver
        .wait_for(WAIT, |v| v["statuses"][0]["id"] == first.as_str() && v["statuses"][0]["status"] == "delivered")
        .await;
    let payloads = sent_to(&s, to).await;
    let cloud_id = payloads[0]["image"]["id"].as_str().unwrap().to_string();
    assert_ne!(cloud_id, id);
    assert_eq!(payloads[0]["image"]["caption"], "one");
    assert!(cloud_media_bytes(&s, &cloud_id).await.unwrap() == jpeg, "Cloud holds other bytes");

    // Later sends reuse the upload, also inside templates and interactive headers.
    let to2 = "15550002002";
    send(&s, &token, json!({"to": to2, "type": "image", "image": {"id": id}})).await;
    send(&s, &token, json!({"to": to2, "type": "template", "template": {"namespace": "ns", "name": "spring_promo",
        "language": {"policy": "deterministic", "code": "en"},
        "components": [{"type": "header", "parameters": [{"type": "image", "image": {"id": id}}]},
                       {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ada"},
                                                       {"type": "text", "parameter_name": "discount", "text": "10%"}]}]}})).await;
    s.wait_until(WAIT, || async { sent_to(&s, to2).await.len() == 2 }).await.unwrap();
    let payloads = sent_to(&s, to2).await;
    assert_eq!(payloads[0]["image"]["id"], cloud_id.as_str());
    assert_eq!(payloads[1]["template"]["components"][0]["parameters"][0]["image"]["id"], cloud_id.as_str());

    // Cloud forgets uploads after 30 days: the send it accepted then fails
    // with 131053, and the stack uploads the file again and re-sends, so the
    // business sees the message delivered and never failed.
    s.advance_cloud_clock(json!({"days": 31})).await;
    assert!(cloud_media_bytes(&s, &cloud_id).await.is_none(), "the sandbox still has the upload");
    let to3 = "15550002003";
    let late = send(&s, &token, json!({"to": to3, "type": "image", "image": {"id": id}})).await;
    s.receiver
        .wait_for(WAIT, |v| v["statuses"][0]["id"] == late.as_str() && v["statuses"][0]["status"] == "delivered")
        .await;
    let payloads = sent_to(&s, to3).await;
    assert_eq!(payloads.len(), 2, "sent once with the old upload, once with the new");
    assert_eq!(payloads[0]["image"]["id"], cloud_id.as_str());
    let renewed = payloads[1]["image"]["id"].as_str().unwrap().to_string();
    assert_ne!(renewed, cloud_id);
    assert!(cloud_media_bytes(&s, &renewed).await.unwrap() == jpeg);
    let failed = s
        .receiver
        .received()
        .into_iter()
        .any(|v| v["statuses"][0]["id"] == late.as_str() && v["statuses"][0]["status"] == "failed");
    assert!(!failed, "the business was told the message failed");

    // Our own record of the upload's age: past it, the file is uploaded
    // again before the send, and Cloud never sees the stale id.
    let db = s.db().await;
    let (expire, current) = (id.clone(), renewed.clone());
    db.run(move |conn| Ok(coreapp::store::media::set_upload(conn, &expire, &current, 1)?)).await.unwrap();
    let to4 = "15550002004";
    let fresh = send(&s, &token, json!({"to": to4, "type": "image", "image": {"id": id}})).await;
    s.receiver
        .wait_for(WAIT, |v| v["statuses"][0]["id"] == fresh.as_str() && v["statuses"][0]["status"] == "delivered")
        .await;
    let payloads = sent_to(&s, to4).await;
    assert_eq!(payloads.len(), 1);
    assert_ne!(payloads[0]["image"]["id"], renewed.as_str());
    let newest = payloads[0]["image"]["id"].as_str().unwrap().to_string();

    // A Cloud media id given as `id` passes through untouched.
    let to5 = "15550002005";
    send(&s, &token, json!({"to": to5, "type": "image", "image": {"id": "1037543291543636"}})).await;
    s.wait_until(WAIT, || async { !sent_to(&s, to5).await.is_empty() }).await.unwrap();
    assert_eq!(sent_to(&s, to5).await[0]["image"]["id"], "1037543291543636");

    // A file deleted after its message was accepted, before it was sent
    // (held behind a slow earlier message to the same recipient): the
    // message fails with a media error.
    let doomed = id_of(&s.upload(&token, Some("application/pdf"), files::pdf(10_000, 22)).await);
    s.cloud_fault(json!({"match": {"path": "messages", "method": "POST"}, "delay_ms": 2000, "count": 1})).await;
    let to6 = "15550002006";
    send(&s, &token, json!({"to": to6, "type": "text", "text": {"body": "slow"}})).await;
    let orphan = send(&s, &token, json!({"to": to6, "type": "document", "document": {"id": doomed}})).await;
    let a = s.call(Method::DELETE, &format!("/v1/media/{doomed}"), Auth::Bearer(&token), None).await;
    assert_eq!(a.status, StatusCode::OK);
    let hook = s.receiver.wait_for(WAIT, |v| v["statuses"][0]["id"] == orphan.as_str()).await;
    assert_eq!(hook["statuses"][0]["status"], "failed", "{hook}");
    assert_eq!(hook["statuses"][0]["errors"][0]["code"], 400, "{hook}");
    assert_eq!(sent_to(&s, to6).await.len(), 1, "only the text reached Cloud");

    // Deleting a media id deletes its upload on Cloud as well.
    let a = s.call(Method::DELETE, &format!("/v1/media/{id}"), Auth::Bearer(&token), None).await;
    assert_eq!(a.status, StatusCode::OK);
    s.wait_until(WAIT, || async { cloud_media_bytes(&s, &newest).await.is_none() }).await.expect("Cloud copy deleted");
    s.stop().await;
}

async fn inbound_media_is_downloaded_before_its_webhook_or_on_request(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let photo = files::jpeg(150_000, 31);
    let voice = files::ogg_opus();

    // Auto-download on for images and voice notes.
    let patch = json!({"media": {"auto_download": ["image", "voice"]}});
    let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(patch)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let user = "15550003001";
    s.user_sends(json!({"from": user, "type": "image", "image": {"data": b64(&photo), "mime_type": "image/jpeg", "caption": "look"}})).await;
    s.user_sends(json!({"from": user, "type": "audio", "audio": {"data": b64(&voice), "mime_type": "audio/ogg; codecs=opus", "voice": true}})).await;
    s.user_sends(json!({"from": user, "type": "text", "text": {"body": "after the media"}})).await;
    let image = s.receiver.wait_for(WAIT, |v| v["messages"][0]["type"] == "image").await;
    let note = s.receiver.wait_for(WAIT, |v| v["messages"][0]["type"] == "voice").await;
    s.receiver.wait_for(WAIT, |v| v["messages"][0]["text"]["body"] == "after the media").await;
    for (hook, kind, bytes) in [(&image, "image", &photo), (&note, "voice", &voice)] {
        let object = &hook["messages"][0][kind];
        let id = object["id"].as_str().unwrap();
        assert!(wire::messages::is_our_media_id(id), "{hook}");
        let file = object["file"].as_str().unwrap_or_else(|| panic!("no file in {hook}"));
        assert!(std::path::Path::new(file).starts_with(s.media_dir()), "{file}");
        assert!(std::fs::read(file).unwrap() == *bytes, "{kind}: the file on the volume is not the user's");
        let (status, headers, body) = s.download(&token, id).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == *bytes, "{kind}: GET served other bytes");
        assert_eq!(headers["content-type"], object["mime_type"].as_str().unwrap());
    }
    assert_eq!(image["messages"][0]["image"]["caption"], "look");
    // One contact's webhooks keep their order while a download is awaited.
    let order: Vec<String> = s
        .receiver
        .received()
        .iter()
        .filter(|v| v["messages"][0]["from"] == user)
        .map(|v| v["messages"][0]["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, ["image", "voice", "text"]);

    // A download Cloud answers with errors at first is retried.
    s.cloud_fault(json!({"match": {"path": "attachments"}, "status": 503, "count": 2})).await;
    let retried = files::jpeg(20_000, 32);
    s.user_sends(
        json!({"from": "15550003002", "type": "image", "image": {"data": b64(&retried), "mime_type": "image/jpeg"}}),
    )
    .await;
    let hook = s.receiver.wait_for(WAIT, |v| v["messages"][0]["from"] == "15550003002").await;
    let file = hook["messages"][0]["image"]["file"].as_str().expect("file after retries");
    assert!(std::fs::read(file).unwrap() == retried);

    // Auto-download off (documents were never on): no `file`, and the
    // first GET fetches the bytes from Cloud.
    let doc = files::pdf(80_000, 33);
    s.user_sends(json!({"from": "15550003003", "type": "document", "document": {"data": b64(&doc), "mime_type": "application/pdf", "filename": "invoice.pdf"}})).await;
    let hook = s.receiver.wait_for(WAIT, |v| v["messages"][0]["from"] == "15550003003").await;
    let object = &hook["messages"][0]["document"];
    assert!(object.get("file").is_none(), "{hook}");
    let files_before = s.media_files().len();
    let (status, headers, body) = s.download(&token, object["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == doc);
    assert_eq!(headers["content-disposition"], "attachment; filename=invoice.pdf");
    assert_eq!(s.media_files().len(), files_before + 1, "the fetched file is kept on the volume");

    // A webhook's own download URL lives 5 minutes; after that a fresh one
    // is looked up.
    let late = files::jpeg(30_000, 34);
    let patch = json!({"media": {"auto_download": []}});
    s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(patch)).await;
    s.user_sends(json!({"from": "15550003004", "type": "image", "image": {"data": b64(&late), "mime_type": "image/jpeg", "with_url": true}})).await;
    let hook = s.receiver.wait_for(WAIT, |v| v["messages"][0]["from"] == "15550003004").await;
    assert!(hook["messages"][0]["image"].get("file").is_none(), "{hook}");
    s.advance_cloud_clock(json!({"minutes": 10})).await;
    let (status, _, body) = s.download(&token, hook["messages"][0]["image"]["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == late);

    // A voice note with auto-download off: fetched on request, too.
    s.user_sends(json!({"from": "15550003005", "type": "audio", "audio": {"data": b64(&voice), "mime_type": "audio/ogg; codecs=opus", "voice": true}})).await;
    let note = s.receiver.wait_for(WAIT, |v| v["messages"][0]["from"] == "15550003005").await;
    assert_eq!(note["messages"][0]["type"], "voice");
    assert!(note["messages"][0]["voice"].get("file").is_none(), "{note}");
    let (status, _, body) = s.download(&token, note["messages"][0]["voice"]["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == voice);

    // Forwarding what a user sent: the file is uploaded to Cloud as ours.
    let to = "15550003099";
    let forwarded = hook["messages"][0]["image"]["id"].as_str().unwrap();
    send(&s, &token, json!({"to": to, "type": "image", "image": {"id": forwarded}})).await;
    s.wait_until(WAIT, || async { !sent_to(&s, to).await.is_empty() }).await.unwrap();
    let cloud_id = sent_to(&s, to).await[0]["image"]["id"].as_str().unwrap().to_string();
    assert!(cloud_media_bytes(&s, &cloud_id).await.unwrap() == late);
    s.stop().await;
}

async fn retention_removes_old_media_when_enabled(engine: Engine) {
    let options = Options {
        gc_interval: Duration::from_millis(200),
        media_retention: Duration::from_secs(2),
        ..Options::default()
    };
    let s = Stack::start_with(engine, options).await;
    let token = s.admin_token().await;
    let kept = id_of(&s.upload(&token, Some("application/pdf"), files::pdf(5_000, 41)).await);
    // Off by default (`garbagecollector_enable.media` is false): past the
    // retention and several collections later, the file is still served.
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.wait_collector_runs(3).await;
    assert_eq!(s.download(&token, &kept).await.0, StatusCode::OK);

    let patch = json!({"garbagecollector_enable": {"media": true}});
    let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(patch)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let fresh = id_of(&s.upload(&token, Some("application/pdf"), files::pdf(5_000, 42)).await);
    s.wait_until(WAIT, || async { s.download(&token, &kept).await.0 == StatusCode::NOT_FOUND }).await.unwrap();
    // The newer one is younger than the retention and stays until it is not.
    assert_eq!(s.download(&token, &fresh).await.0, StatusCode::OK);
    s.wait_until(WAIT, || async { s.media_files().is_empty() }).await.expect("the files went with their ids");
    s.stop().await;
}

/// Two coreapps on one database and one volume: an upload through one is
/// served and deleted through the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_coreapp_serves_any_media() {
    let options = Options { coreapps: 2, webapps: 2, ..Options::default() };
    let s = Stack::start_with(Engine::Mysql, options).await;
    let token = s.admin_token().await;
    let png = files::png(300, 300, 51);
    let id = id_of(&s.upload_on(0, &token, Some("image/png"), png.clone()).await);
    let (status, _, body) = s.download_on(1, &token, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == png);
    let a = s.call_on(1, Method::DELETE, &format!("/v1/media/{id}"), Auth::Bearer(&token), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(s.download_on(0, &token, &id).await.0, StatusCode::NOT_FOUND);
    assert!(s.media_files().is_empty());
    s.stop().await;
}
