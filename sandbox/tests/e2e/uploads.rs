//! The Resumable Upload API (sessions, chunks at offsets, handles) and the
//! profile picture set from a handle and served by the sandbox.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{PNID, TOKEN, TestSandbox, assert_graph_error, config, into_json};

const APP_ID: &str = "300000000000001";
const PNG: &[u8] = include_bytes!("../../src/media/samples/sample.png");
const JPEG: &[u8] = include_bytes!("../../src/media/samples/sample.jpg");
const PDF: &[u8] = include_bytes!("../../src/media/samples/sample.pdf");

/// `POST /{app-id}/uploads` with `query`; the status and answer.
async fn open(sandbox: &TestSandbox, app_id: &str, query: &str) -> (StatusCode, Value) {
    let url = sandbox.graph_url(&format!("{app_id}/uploads?{query}"));
    into_json(sandbox.client.post(url).bearer_auth(TOKEN).send().await.unwrap()).await
}

/// Opens a session for a file of `length` bytes and `file_type`; its node id (`upload:…`).
async fn open_ok(sandbox: &TestSandbox, length: usize, file_type: &str) -> String {
    let (status, body) =
        open(sandbox, APP_ID, &format!("file_name=f&file_length={length}&file_type={file_type}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("upload:") && id.len() > "upload:".len(), "{id}");
    id
}

/// `POST /{upload-id}` with `chunk` at `offset`, the token as `OAuth` (Meta's documented form).
async fn send_chunk(sandbox: &TestSandbox, session: &str, offset: usize, chunk: &[u8]) -> (StatusCode, Value) {
    let response = sandbox
        .client
        .post(sandbox.graph_url(session))
        .header("authorization", format!("OAuth {TOKEN}"))
        .header("file_offset", offset.to_string())
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap();
    into_json(response).await
}

/// Uploads `bytes` in one chunk; the handle.
async fn upload_ok(sandbox: &TestSandbox, bytes: &[u8], file_type: &str) -> String {
    let session = open_ok(sandbox, bytes.len(), file_type).await;
    let (status, body) = send_chunk(sandbox, &session, 0, bytes).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body["h"].as_str().unwrap().to_owned()
}

/// Sets the profile picture of [`PNID`]; the status and answer.
async fn set_picture(sandbox: &TestSandbox, handle: &str) -> (StatusCode, Value) {
    let update = json!({"messaging_product": "whatsapp", "profile_picture_handle": handle});
    sandbox.graph_post(&format!("{PNID}/whatsapp_business_profile"), &update).await
}

/// The `profile_picture_url` of [`PNID`].
async fn picture_url(sandbox: &TestSandbox) -> String {
    let (status, body) =
        sandbox.graph_get(&format!("{PNID}/whatsapp_business_profile?fields=profile_picture_url")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"][0]["profile_picture_url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn one_chunk_upload_becomes_a_served_profile_picture() {
    let sandbox = TestSandbox::start(config(None)).await;
    assert_eq!(picture_url(&sandbox).await, "", "no picture by default");
    let handle = upload_ok(&sandbox, PNG, "image/png").await;
    assert!(handle.starts_with("4::"), "{handle}");

    let (status, body) = set_picture(&sandbox, &handle).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let url = picture_url(&sandbox).await;
    assert!(url.starts_with(&format!("{}/_sandbox/pictures/{PNID}_", sandbox.base)), "{url}");

    // Served without a token, byte for byte, with the upload's type.
    let response = sandbox.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
    let other = sandbox.client.get(sandbox.url("/_sandbox/pictures/nope.jpg")).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    // A handle can be used again; the new picture replaces the old one.
    let jpeg = upload_ok(&sandbox, JPEG, "image/jpeg").await;
    assert_eq!(set_picture(&sandbox, &jpeg).await.0, StatusCode::OK);
    let new_url = picture_url(&sandbox).await;
    let response = sandbox.client.get(&new_url).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.bytes().await.unwrap().as_ref(), JPEG);
    assert_eq!(sandbox.client.get(&url).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // Reset forgets the picture and the handles.
    sandbox.control_post("/_sandbox/reset", &json!({})).await;
    assert_eq!(picture_url(&sandbox).await, "");
    assert_eq!(sandbox.client.get(&new_url).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let (status, body) = set_picture(&sandbox, &jpeg).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn picture_urls_use_the_public_url() {
    let public = sandbox::Config { public_url: Some("http://sandbox.test:9080".into()), ..config(None) };
    let sandbox = TestSandbox::start(public).await;
    let handle = upload_ok(&sandbox, PNG, "image/png").await;
    assert_eq!(set_picture(&sandbox, &handle).await.0, StatusCode::OK);
    let url = picture_url(&sandbox).await;
    assert!(url.starts_with(&format!("http://sandbox.test:9080/_sandbox/pictures/{PNID}_")), "{url}");
    sandbox.stop().await;
}

#[tokio::test]
async fn two_chunk_upload_reports_its_offset() {
    let sandbox = TestSandbox::start(config(None)).await;
    let session = open_ok(&sandbox, PNG.len(), "image/png").await;
    let (status, body) = sandbox.graph_get(&session).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": session, "file_offset": 0})));

    let (first, rest) = PNG.split_at(20);
    let (status, body) = send_chunk(&sandbox, &session, 0, first).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": session, "file_offset": 20})));
    let (status, body) = sandbox.graph_get(&session).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": session, "file_offset": 20})));

    // The rest, with the token as Bearer this time.
    let response = sandbox
        .client
        .post(sandbox.graph_url(&session))
        .bearer_auth(TOKEN)
        .header("file_offset", "20")
        .body(rest.to_vec())
        .send()
        .await
        .unwrap();
    let (status, body) = into_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let handle = body["h"].as_str().unwrap().to_owned();
    let (_, body) = sandbox.graph_get(&session).await;
    assert_eq!(body["file_offset"], PNG.len());

    assert_eq!(set_picture(&sandbox, &handle).await.0, StatusCode::OK);
    let bytes = sandbox.client.get(picture_url(&sandbox).await).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), PNG);
    sandbox.stop().await;
}

#[tokio::test]
async fn chunks_must_start_at_the_current_offset() {
    let sandbox = TestSandbox::start(config(None)).await;
    let session = open_ok(&sandbox, 10, "application/pdf").await;
    let (status, body) = send_chunk(&sandbox, &session, 3, b"abc").await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("must be 0"), "{message}");

    assert_eq!(send_chunk(&sandbox, &session, 0, b"abcd").await.0, StatusCode::OK);
    let (status, body) = send_chunk(&sandbox, &session, 0, b"abcd").await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert!(body["error"]["message"].as_str().unwrap().contains("must be 4"), "{body}");
    // Bytes past file_length are refused, and nothing of them is kept.
    let (status, body) = send_chunk(&sandbox, &session, 4, b"efghijk").await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(sandbox.graph_get(&session).await.1["file_offset"], 4);

    // No file_offset header.
    let response = sandbox.client.post(sandbox.graph_url(&session)).bearer_auth(TOKEN).body("x").send().await.unwrap();
    let (status, body) = into_json(response).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn sessions_check_their_parameters_and_ids() {
    let sandbox = TestSandbox::start(config(None)).await;
    for query in [
        "file_name=a&file_length=10&file_type=image/gif",
        "file_name=a&file_length=10&file_type=text/plain",
        "file_name=a&file_length=10",
        "file_name=a&file_length=0&file_type=image/png",
        "file_name=a&file_length=-5&file_type=image/png",
        "file_name=a&file_length=big&file_type=image/png",
        "file_name=a&file_type=image/png",
        "file_length=10&file_type=image/png",
    ] {
        let (status, body) = open(&sandbox, APP_ID, query).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
        assert!(body["error"]["message"].as_str().unwrap().starts_with("(#100)"), "{query}: {body}");
    }
    for file_type in ["image/jpeg", "image/jpg", "image/png", "video/mp4", "application/pdf"] {
        open_ok(&sandbox, 10, file_type).await;
    }

    // Unknown app, other nodes, wrong method: the unsupported request.
    for (node, query) in [("300000000000009", "file_name=a&file_length=1&file_type=image/png"), (PNID, "")] {
        let (status, body) = open(&sandbox, node, query).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
        assert_eq!(body["error"]["error_subcode"], 33, "{body}");
    }
    let (status, body) = sandbox.graph_get(&format!("{APP_ID}/uploads")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);

    // Unknown sessions, by GET and POST; the token is needed as everywhere.
    let (status, body) = sandbox.graph_get("upload:bm9zdWNoc2Vzc2lvbg").await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["error_subcode"], 33);
    let (status, body) = send_chunk(&sandbox, "upload:bm9zdWNoc2Vzc2lvbg", 0, b"x").await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["error_subcode"], 33);
    let session = open_ok(&sandbox, 1, "image/png").await;
    let response = sandbox.client.get(sandbox.graph_url(&session)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    sandbox.stop().await;
}

#[tokio::test]
async fn profile_pictures_need_a_finished_image_handle() {
    let sandbox = TestSandbox::start(config(None)).await;
    let before = picture_url(&sandbox).await;

    let (status, body) = set_picture(&sandbox, "4::aW1hZ2UvanBlZw==:ARinvented").await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert!(body["error"]["message"].as_str().unwrap().contains("profile_picture_handle"), "{body}");

    let pdf = upload_ok(&sandbox, PDF, "application/pdf").await;
    let (status, body) = set_picture(&sandbox, &pdf).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert!(body["error"]["message"].as_str().unwrap().contains("application/pdf"), "{body}");

    // Declared a PNG, but the bytes are not one.
    let fake = upload_ok(&sandbox, b"not really a png", "image/png").await;
    let (status, body) = set_picture(&sandbox, &fake).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);

    // A refused update changes nothing, not even its other fields.
    let update = json!({"messaging_product": "whatsapp", "about": "changed", "profile_picture_handle": pdf});
    let (status, _) = sandbox.graph_post(&format!("{PNID}/whatsapp_business_profile"), &update).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, body) = sandbox.graph_get(&format!("{PNID}/whatsapp_business_profile?fields=about")).await;
    assert_ne!(body["data"][0]["about"], "changed");
    assert_eq!(picture_url(&sandbox).await, before);
    sandbox.stop().await;
}

#[tokio::test]
async fn chunks_may_be_larger_than_the_default_body_limit() {
    let sandbox = TestSandbox::start(config(None)).await;
    // A 5 MB picture in one chunk: more than axum's default 2 MB body limit.
    let mut big = PNG.to_vec();
    big.resize(5 * 1024 * 1024, 0);
    let handle = upload_ok(&sandbox, &big, "image/png").await;
    assert_eq!(set_picture(&sandbox, &handle).await.0, StatusCode::OK);
    let bytes = sandbox.client.get(picture_url(&sandbox).await).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes.len(), big.len());
    sandbox.stop().await;
}
