//! Media: multipart upload, metadata with a 5-minute URL, download with the
//! token, delete, size and type limits (131053), expiry on the sandbox
//! clock, inbound media the business can download, media sends.

use base64::Engine as _;
use http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{PNID, PNID2, Receiver, TOKEN, TestSandbox, USER, assert_graph_error, config, names, two_numbers};

const PNG: &[u8] = include_bytes!("../../src/media/samples/sample.png");

async fn download(sandbox: &TestSandbox, url: &str, token: Option<&str>) -> (StatusCode, Option<String>, Vec<u8>) {
    let mut request = sandbox.client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let mime = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    (status, mime, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn upload_describe_download_delete() {
    let sandbox = TestSandbox::start(config(None)).await;
    let id = sandbox.upload_ok(PNG, "image/png").await;
    assert!(id.len() >= 15 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");

    let (status, meta) = sandbox.graph_get(&id).await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    let keys: Vec<&str> = meta.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 6, "{meta}");
    assert_eq!(meta["messaging_product"], "whatsapp");
    assert_eq!(meta["mime_type"], "image/png");
    assert_eq!(meta["file_size"], PNG.len());
    assert_eq!(meta["sha256"], hex::encode(Sha256::digest(PNG)));
    assert_eq!(meta["id"], id.as_str());
    let url = meta["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/whatsapp_business/attachments/?mid={id}&ext=", sandbox.base)), "{url}");

    let (status, mime, bytes) = download(&sandbox, url, Some(TOKEN)).await;
    assert_eq!((status, mime.as_deref()), (StatusCode::OK, Some("image/png")));
    assert_eq!(bytes, PNG);
    // The token is required; a tampered URL is unknown.
    assert_eq!(download(&sandbox, url, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(download(&sandbox, url, Some("wrong")).await.0, StatusCode::UNAUTHORIZED);
    let tampered = url.replace("&hash=AT", "&hash=AU");
    assert_eq!(download(&sandbox, &tampered, Some(TOKEN)).await.0, StatusCode::NOT_FOUND);

    // Only the number it was uploaded on sees it, when the number is named.
    let (status, _) = sandbox.graph_get(&format!("{id}?phone_number_id={PNID}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sandbox.graph_get(&format!("{id}?phone_number_id=100000000000009")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);

    let (status, body) = sandbox.graph_delete(&id).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (status, body) = sandbox.graph_get(&id).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["error_subcode"], 33);
    assert_eq!(download(&sandbox, url, Some(TOKEN)).await.0, StatusCode::NOT_FOUND);
    sandbox.stop().await;
}

#[tokio::test]
async fn urls_last_five_minutes_and_ids_thirty_days() {
    let sandbox = TestSandbox::start(config(None)).await;
    let id = sandbox.upload_ok(PNG, "image/png").await;
    let (_, meta) = sandbox.graph_get(&id).await;
    let url = meta["url"].as_str().unwrap().to_owned();
    sandbox.advance(json!({"minutes": 4})).await;
    assert_eq!(download(&sandbox, &url, Some(TOKEN)).await.0, StatusCode::OK);
    sandbox.advance(json!({"minutes": 1})).await;
    assert_eq!(download(&sandbox, &url, Some(TOKEN)).await.0, StatusCode::NOT_FOUND);
    // A fresh URL works again.
    let (_, meta) = sandbox.graph_get(&id).await;
    assert_eq!(download(&sandbox, meta["url"].as_str().unwrap(), Some(TOKEN)).await.0, StatusCode::OK);

    sandbox.advance(json!({"days": 29})).await;
    assert_eq!(sandbox.graph_get(&id).await.0, StatusCode::OK);
    sandbox.advance(json!({"days": 1})).await;
    let (status, body) = sandbox.graph_get(&id).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn uploads_are_checked() {
    let sandbox = TestSandbox::start(config(None)).await;
    let product = [("messaging_product", "whatsapp")];
    for (bytes, mime, code) in [
        (&b"<html></html>"[..], "text/html", 131053),
        (&b""[..], "image/png", 131053),
        (include_bytes!("../../src/media/samples/sample.jpg").as_slice(), "image/png", 131053),
    ] {
        let (status, body) = sandbox.upload(PNID, bytes, mime, &product).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, code);
        assert_eq!(body["error"]["message"], "(#131053) Media upload error");
    }
    let (_, body) = sandbox.upload(PNID, b"<html>", "text/html", &product).await;
    assert!(body["error"]["error_data"]["details"].as_str().unwrap().contains("Received file of type 'text/html'"));

    // Images stop at 5 MB.
    let mut big = PNG.to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    let (status, body) = sandbox.upload(PNID, &big, "image/png", &product).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 131053);
    big.truncate(5 * 1024 * 1024);
    let (status, _) = sandbox.upload(PNID, &big, "image/png", &product).await;
    assert_eq!(status, StatusCode::OK);

    // The `type` field wins over the part's content type; both are optional but one is needed.
    let (status, body) = sandbox
        .upload(PNID, PNG, "application/octet-stream", &[("messaging_product", "whatsapp"), ("type", "image/png")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = sandbox.upload(PNID, PNG, "image/png", &[]).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["message"], "(#100) The parameter messaging_product is required.");
    let (status, body) = sandbox.upload(PNID, PNG, "", &product).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["message"], "(#100) The parameter file is required.");
    let response = sandbox
        .client
        .post(sandbox.graph_url(&format!("{PNID}/media")))
        .bearer_auth(TOKEN)
        .json(&json!({"messaging_product": "whatsapp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, body) = sandbox.upload("999", PNG, "image/png", &product).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn inbound_media_can_be_downloaded_for_seven_days() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(two_numbers(Some(receiver.url.clone()))).await;
    let pdf = b"%PDF-1.4\n% a tiny document\n";
    let data = base64::engine::general_purpose::STANDARD.encode(pdf);
    let answer = sandbox
        .inbound(json!({"from": USER, "phone_number_id": PNID2, "type": "document",
            "document": {"data": data, "mime_type": "application/pdf", "filename": "invoice.pdf", "caption": "my invoice"}}))
        .await;
    let media_id = answer["media"]["id"].as_str().unwrap().to_owned();
    let post = receiver.message_post(answer["id"].as_str().unwrap()).await;
    let message = crate::support::items(&post.json(), "messages").remove(0);
    let document = &message["document"];
    assert_eq!(document["id"], media_id.as_str());
    assert_eq!(document["filename"], "invoice.pdf");
    assert_eq!(document["caption"], "my invoice");
    assert_eq!(document["mime_type"], "application/pdf");
    // Webhooks give the hash in base64, the media node in hex.
    let digest = Sha256::digest(pdf);
    assert_eq!(document["sha256"], base64::engine::general_purpose::STANDARD.encode(digest));

    let (status, meta) = sandbox.graph_get(&format!("{media_id}?phone_number_id={PNID2}")).await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    assert_eq!(meta["sha256"], hex::encode(digest));
    let (status, _, bytes) = download(&sandbox, meta["url"].as_str().unwrap(), Some(TOKEN)).await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, &pdf[..]));

    // Without bytes, a small valid sample of the type.
    let answer = sandbox.inbound(json!({"from": USER, "type": "image"})).await;
    let image = answer["media"]["id"].as_str().unwrap().to_owned();
    let (_, meta) = sandbox.graph_get(&image).await;
    let (_, mime, bytes) = download(&sandbox, meta["url"].as_str().unwrap(), Some(TOKEN)).await;
    assert_eq!(mime.as_deref(), Some("image/jpeg"));
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF]);

    sandbox.advance(json!({"days": 6})).await;
    assert_eq!(sandbox.graph_get(&media_id).await.0, StatusCode::OK);
    sandbox.advance(json!({"days": 1})).await;
    let (status, body) = sandbox.graph_get(&media_id).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn media_sends_by_id_and_link() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let image = sandbox.upload_ok(PNG, "image/png").await;
    let sent = |kind: &str, object: Value| {
        let mut payload = json!({"to": USER, "type": kind});
        payload[kind] = object;
        payload
    };
    let ok = sandbox.send_ok(sent("image", json!({"id": image, "caption": "look"}))).await;
    let ok_link = sandbox.send_ok(sent("document", json!({"link": "https://cdn.example.com/x.pdf"}))).await;
    for wamid in [&ok, &ok_link] {
        receiver.status(wamid, "delivered").await;
    }
    // Accepted, then failed: an unknown id, and a file the type cannot carry.
    let unknown = sandbox.send_ok(sent("image", json!({"id": "1234567890123456"}))).await;
    let wrong_type = sandbox.send_ok(sent("sticker", json!({"id": image}))).await;
    for wamid in [&unknown, &wrong_type] {
        let statuses = receiver.statuses_of(wamid, |s| !s.is_empty()).await;
        assert_eq!(names(&statuses), ["failed"]);
        assert_eq!(statuses[0]["errors"][0]["code"], 131053);
    }
    let details =
        receiver.statuses_of(&wrong_type, |s| !s.is_empty()).await[0]["errors"][0]["error_data"]["details"].clone();
    assert_eq!(details, "Unsupported Sticker mime type image/png. Please use one of image/webp.");
    sandbox.stop().await;
}
