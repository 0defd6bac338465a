//! The sandbox console (`GET /_sandbox/ui`, `sandbox/console/`) in a real
//! browser: Debian's `chromium` driven over WebDriver (`chromium-driver`)
//! with fantoccini, against a whole stack whose Cloud is the sandbox. The
//! business sends through the on-prem API; the test plays the WhatsApp
//! user in the page, and checks what reaches the business's webhook.
//!
//! Screenshots of the main views go to `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{Auth, Engine, Stack};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// A headless Chromium through its WebDriver, closed (and the driver
/// killed) at the end.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    async fn start() -> Browser {
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("chromedriver is not installed: apt-get install chromium chromium-driver");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                // --no-sandbox: the tests may run as root, which Chromium's own sandbox refuses.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=en-US"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser { client, driver }
    }

    async fn open_console(&self, s: &Stack) {
        self.client.goto(&format!("{}/_sandbox/ui", s.sandbox)).await.unwrap();
        self.until_js("return document.getElementById('link').textContent === 'live'", "the live feed").await;
    }

    /// Waits until `script` (a function body) returns true.
    async fn until_js(&self, script: &str, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.client.execute(script, vec![]).await.unwrap_or(Value::Null);
            if value == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let page = self.client.source().await.unwrap_or_default();
                panic!("{what}: not seen within {WAIT:?}; the page:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let element = self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await;
        element.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    }

    /// Opens the conversation of `user` with the stack's number.
    async fn open_chat(&self, user: &str) {
        self.click(&format!("[data-conversation='{}/{user}']", e2e::PHONE_NUMBER_ID)).await;
        self.until_js("return !document.getElementById('chat').hidden", "the chat").await;
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

async fn send(s: &Stack, token: &str, message: Value) -> String {
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(message)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["messages"][0]["id"].as_str().unwrap().to_string()
}

/// Cloud's wamid (the sandbox's) of the last message of `kind` the stack
/// sent to `user`, once the coreapp has sent it: the page's bubbles carry
/// it (the on-prem API answers ids of its own).
async fn sandbox_wamid(s: &Stack, user: &str, kind: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let url = format!("{}/_sandbox/sent?to={user}&type={kind}", s.sandbox);
        let sent: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        if let Some(wamid) = sent["data"].as_array().and_then(|l| l.last()).and_then(|m| m["wamid"].as_str()) {
            return wamid.to_string();
        }
        assert!(Instant::now() < deadline, "no {kind} to {user} reached the sandbox within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_text_and_a_template_show_with_their_ticks_up_to_read() {
    let s = Stack::start(Engine::Sqlite).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let user = "15557400001";
    send(
        &s,
        &token,
        json!({"to": user, "text": {"body": "Your order has shipped: https://example.com/o/1"}, "preview_url": true}),
    )
    .await;
    send(
        &s,
        &token,
        json!({"to": user, "type": "template", "template": {
        "namespace": "sandbox", "name": "hello_world", "language": {"policy": "deterministic", "code": "en_US"}}}),
    )
    .await;
    let browser = Browser::start().await;
    browser.open_console(&s).await;
    for kind in ["text", "template"] {
        let wamid = sandbox_wamid(&s, user, kind).await;
        if kind == "text" {
            browser.open_chat(user).await;
        }
        let script = format!(
            "const b = document.querySelector(\"[data-id='{wamid}'] .ticks\"); return !!b && b.dataset.status === 'read'"
        );
        browser.until_js(&script, &format!("the {kind} read")).await;
    }
    browser
        .until_js(
            "return !!document.querySelector(\"[data-type='text'] [data-preview='true']\")",
            "the link preview flag",
        )
        .await;
    browser
        .until_js(
            "const t = document.querySelector(\"[data-type='template'] [data-template='hello_world']\"); \
             return !!t && t.textContent.includes('Hello World')",
            "the template rendered from the stored one",
        )
        .await;
    browser.screenshot("chat").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tapping_a_reply_button_reaches_the_business_as_a_button_reply_with_its_context() {
    let s = Stack::start(Engine::Sqlite).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let user = "15557400002";
    // The user writes first: interactive messages need the 24-hour window.
    s.user_sends(json!({"from": user, "type": "text", "text": {"body": "Can I change my booking?"}})).await;
    let id = send(
        &s,
        &token,
        json!({"to": user, "type": "interactive", "interactive": {
        "type": "button",
        "body": {"text": "Keep Tuesday 10:00?"},
        "action": {"buttons": [
            {"type": "reply", "reply": {"id": "keep", "title": "Keep it"}},
            {"type": "reply", "reply": {"id": "move", "title": "Move it"}}]}}}),
    )
    .await;
    let wamid = sandbox_wamid(&s, user, "interactive").await;
    let browser = Browser::start().await;
    browser.open_console(&s).await;
    browser.open_chat(user).await;
    browser.click(&format!("[data-id='{wamid}'] button[data-reply='Move it']")).await;
    let hook = s
        .receiver
        .wait_for(WAIT, |h| h["messages"].as_array().is_some_and(|l| l.iter().any(|m| m["type"] == "interactive")))
        .await;
    let message = hook["messages"].as_array().unwrap().iter().find(|m| m["type"] == "interactive").unwrap();
    assert_eq!(message["interactive"]["type"], "button_reply", "{message}");
    assert_eq!(message["interactive"]["button_reply"]["id"], "move", "{message}");
    assert_eq!(message["interactive"]["button_reply"]["title"], "Move it", "{message}");
    // Cloud named the sandbox's wamid; the business sees its own message id.
    assert_eq!(message["context"]["id"], id.as_str(), "the reply names the message it answers: {message}");
    assert_eq!(message["from"], user);
    // The user's answer shows in the chat, quoting the business's message.
    browser
        .until_js(
            "const b = [...document.querySelectorAll('.bubble.user')].pop(); \
             return !!b && b.textContent.includes('Move it') && !!b.querySelector('.quote')",
            "the user's reply bubble",
        )
        .await;
    browser.screenshot("reply-button").await;
    browser.close().await;
}

/// A user's photo: a 240x160 PNG made for these tests (`tests/assets/`).
fn png() -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/console-photo.png")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_the_user_attaches_shows_and_reaches_the_business_as_media_it_downloads() {
    let s = Stack::start(Engine::Sqlite).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let user = "15557400003";
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.png");
    std::fs::write(&photo, png()).unwrap();

    let browser = Browser::start().await;
    browser.open_console(&s).await;
    // A new chat, opened from the form as a developer would.
    let field = browser.client.find(Locator::Css("#new-chat input[name=user]")).await.unwrap();
    field.send_keys(user).await.unwrap();
    browser.click("#new-chat button[type=submit]").await;
    browser.until_js("return !document.getElementById('chat').hidden", "the new chat").await;
    let input = browser.client.find(Locator::Css("#file")).await.unwrap();
    input.send_keys(&photo.display().to_string()).await.unwrap();

    let hook = s
        .receiver
        .wait_for(WAIT, |h| h["messages"].as_array().is_some_and(|l| l.iter().any(|m| m["type"] == "image")))
        .await;
    let message = hook["messages"].as_array().unwrap().iter().find(|m| m["type"] == "image").unwrap();
    assert_eq!(message["from"], user);
    let media_id = message["image"]["id"].as_str().expect("an image id").to_string();
    let (status, _, bytes) = s.download(&token, &media_id).await;
    assert_eq!(status, 200, "the business downloads the user's image");
    assert_eq!(bytes, png(), "the business gets the bytes the user attached");

    browser
        .until_js(
            "const i = document.querySelector('.bubble.user img.media'); return !!i && i.complete && i.naturalWidth === 240",
            "the image in the chat",
        )
        .await;
    browser.screenshot("image").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_window_rule_on_makes_the_next_free_form_send_fail_with_131047() {
    let s = Stack::start(Engine::Sqlite).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let user = "15557400004";
    let browser = Browser::start().await;
    browser.open_console(&s).await;

    // The rule switched on in the Rules panel, as a developer would.
    browser.click("button[data-panel='rules']").await;
    browser.until_js("return document.querySelector('#rules-form [name=mps]').value !== ''", "the rules").await;
    browser.click("#rules-form input[name=window]").await;
    browser.click("#rules-form button[type=submit]").await;
    browser.until_js("return document.getElementById('rules-result').textContent === 'Applied.'", "applied").await;
    let settings: Value = reqwest::get(format!("{}/_sandbox/settings", s.sandbox)).await.unwrap().json().await.unwrap();
    assert_eq!(settings["rules"]["window"]["enabled"], true, "{settings}");
    browser.screenshot("rules").await;

    // A free-form text to a user who never wrote.
    send(&s, &token, json!({"to": user, "text": {"body": "Are you still there?"}})).await;
    let wamid = sandbox_wamid(&s, user, "text").await;
    browser.click("button[data-panel='chats']").await;
    browser.open_chat(user).await;
    browser
        .until_js(
            &format!(
                "const b = document.querySelector(\"[data-id='{wamid}']\"); \
                 return !!b && b.querySelector('.ticks').dataset.status === 'failed' \
                 && b.querySelector('.error').dataset.errorCode === '131047'"
            ),
            "the send failed with 131047",
        )
        .await;
    browser.screenshot("failed-131047").await;

    // The webhooks the sandbox sent, with their results.
    browser.click("button[data-panel='webhooks']").await;
    browser
        .until_js(
            "return document.querySelectorAll(\"#delivery-rows tr[data-outcome='delivered']\").length > 0",
            "deliveries",
        )
        .await;
    browser.screenshot("webhooks").await;

    // A phone-sized window: the list, then the chat alone.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.click("button[data-panel='chats']").await;
    browser.screenshot("phone").await;
    browser.close().await;
}

/// The user's message of `kind` in a business webhook that `pick` accepts.
async fn user_message(s: &Stack, kind: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let found = |hook: &Value| {
        hook["messages"].as_array().and_then(|l| l.iter().find(|m| m["type"] == kind && pick(m)).cloned())
    };
    let hook = s.receiver.wait_for(WAIT, |h| found(h).is_some()).await;
    found(&hook).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_message_shows_and_the_user_reacts_replies_picks_and_shares_a_location() {
    let s = Stack::start(Engine::Sqlite).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let user = "15557400005";
    s.user_sends(json!({"from": user, "type": "text", "text": {"body": "hi, a question"}})).await;
    let hi = user_message(&s, "text", |m| m["text"]["body"] == "hi, a question").await;
    let hi_id = hi["id"].as_str().unwrap().to_string();

    // The business answers with one message of each kind.
    let list = send(
        &s,
        &token,
        json!({"to": user, "type": "interactive", "interactive": {
        "type": "list", "body": {"text": "Pick a slot"},
        "action": {"button": "Slots", "sections": [{"title": "Tuesday", "rows": [
            {"id": "t10", "title": "10:00"}, {"id": "t14", "title": "14:00", "description": "afternoon"}]}]}}}),
    )
    .await;
    let place = send(
        &s,
        &token,
        json!({"to": user, "type": "location", "location": {
        "latitude": 52.52, "longitude": 13.405, "name": "The shop", "address": "Main St 1"}}),
    )
    .await;
    let card = send(
        &s,
        &token,
        json!({"to": user, "type": "contacts", "contacts": [{
        "name": {"formatted_name": "Support Desk", "first_name": "Support"},
        "phones": [{"phone": "+15550001111", "type": "WORK"}]}]}),
    )
    .await;
    let uploaded = s.upload(&token, Some("image/png"), png()).await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let media_id = uploaded.body["media"][0]["id"].as_str().unwrap().to_string();
    send(&s, &token, json!({"to": user, "type": "image", "image": {"id": media_id, "caption": "Your receipt"}})).await;
    send(&s, &token, json!({"to": user, "type": "reaction", "reaction": {"message_id": hi_id, "emoji": "👍"}})).await;
    send(&s, &token, json!({"to": user, "context": {"message_id": hi_id}, "text": {"body": "Thanks for writing"}}))
        .await;

    let browser = Browser::start().await;
    browser.open_console(&s).await;
    browser.open_chat(user).await;
    for (what, script) in [
        ("the list", "return !!document.querySelector(\"[data-type='interactive'] button[aria-expanded]\")"),
        (
            "the location",
            "const b = document.querySelector(\"[data-type='location']\"); return !!b && b.textContent.includes('The shop')",
        ),
        (
            "the contact card",
            "const b = document.querySelector(\"[data-type='contacts']\"); return !!b && b.textContent.includes('Support Desk')",
        ),
        (
            "the image from the sandbox's media",
            "const i = document.querySelector(\"[data-type='image'] img.media\"); return !!i && i.complete && i.naturalWidth === 240",
        ),
        (
            "the reaction on the user's bubble",
            "const b = document.querySelector('.bubble.user .reactions'); return !!b && b.textContent.includes('👍')",
        ),
        (
            "the reply quoting the user",
            "const b = [...document.querySelectorAll('.bubble.business')].find(b => b.textContent.includes('Thanks for writing')); return !!b && !!b.querySelector('.quote') && b.querySelector('.quote').textContent.includes('hi, a question')",
        ),
    ] {
        browser.until_js(script, what).await;
    }
    browser.screenshot("kinds").await;

    // A row picked from the list.
    let list_wamid = sandbox_wamid(&s, user, "interactive").await;
    browser.click(&format!("[data-id='{list_wamid}'] button[aria-expanded]")).await;
    browser.click(&format!("[data-id='{list_wamid}'] button[data-reply='14:00']")).await;
    let picked = user_message(&s, "interactive", |m| m["interactive"]["type"] == "list_reply").await;
    assert_eq!(picked["interactive"]["list_reply"]["id"], "t14", "{picked}");
    assert_eq!(picked["context"]["id"], list.as_str(), "{picked}");

    // A reaction to the location.
    let place_wamid = sandbox_wamid(&s, user, "location").await;
    browser.click(&format!("[data-id='{place_wamid}'] button[aria-label='React to this message']")).await;
    browser.click(&format!("[data-id='{place_wamid}'] button[aria-label='React 👍']")).await;
    let reaction = user_message(&s, "reaction", |_| true).await;
    assert_eq!(reaction["reaction"]["message_id"], place.as_str(), "{reaction}");
    assert_eq!(reaction["reaction"]["emoji"], "👍", "{reaction}");

    // A reply to the contact card, typed and sent.
    let card_wamid = sandbox_wamid(&s, user, "contacts").await;
    browser.click(&format!("[data-id='{card_wamid}'] button[aria-label='Reply to this message']")).await;
    browser.client.find(Locator::Css("#text")).await.unwrap().send_keys("Is this the right desk?").await.unwrap();
    browser.click("#composer button[type=submit]").await;
    let reply = user_message(&s, "text", |m| m["text"]["body"] == "Is this the right desk?").await;
    assert_eq!(reply["context"]["id"], card.as_str(), "{reply}");

    // A location shared from the form.
    browser.click("#share-location").await;
    browser.click("#location button[type=submit]").await;
    let shared = user_message(&s, "location", |_| true).await;
    assert_eq!(shared["location"]["latitude"], 37.4847, "{shared}");
    assert_eq!(shared["location"]["name"], "Meta HQ", "{shared}");

    browser
        .until_js(
            "return [...document.querySelectorAll('.bubble.user')].some(b => b.textContent.includes('Is this the right desk?') && !!b.querySelector('.quote'))",
            "the user's reply quoting the card",
        )
        .await;
    browser.screenshot("user-side").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panels_set_template_status_faults_and_the_clock() {
    let s = Stack::start(Engine::Sqlite).await;
    let browser = Browser::start().await;
    browser.open_console(&s).await;
    let sandbox_get = |path: &str| {
        let url = format!("{}{path}", s.sandbox);
        async move { reqwest::get(url).await.unwrap().json::<Value>().await.unwrap() }
    };

    // A template paused by a click.
    browser.click("button[data-panel='templates']").await;
    browser.click("button[aria-label='Set hello_world en_US PAUSED']").await;
    browser
        .until_js(
            "const c = document.querySelector(\"tr[data-template='hello_world/en_US'] [data-status]\"); return !!c && c.dataset.status === 'PAUSED'",
            "the template paused",
        )
        .await;
    let templates = sandbox_get("/_sandbox/ui/api/templates").await;
    let hello = templates["data"].as_array().unwrap().iter().find(|t| t["name"] == "hello_world").unwrap().clone();
    assert_eq!(hello["status"], "PAUSED");
    browser.screenshot("templates").await;

    // A fault added, listed, removed.
    browser.click("button[data-panel='faults']").await;
    browser.click("#fault-form button[type=submit]").await;
    browser.until_js("return document.querySelectorAll('#fault-list li').length === 1", "the fault listed").await;
    assert_eq!(sandbox_get("/_sandbox/faults").await["data"].as_array().unwrap().len(), 1);
    browser.click("#fault-list button").await;
    browser.until_js("return document.querySelectorAll('#fault-list li').length === 0", "the fault removed").await;
    assert_eq!(sandbox_get("/_sandbox/faults").await["data"], json!([]));

    // The clock moved a day and an hour.
    browser.click("button[data-panel='clockpanel']").await;
    browser.click("button[data-advance='{\"hours\":25}']").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let clock = sandbox_get("/_sandbox/clock").await;
        if clock["offset_ms"].as_i64().unwrap_or(0) >= 25 * 3_600_000 {
            break;
        }
        assert!(Instant::now() < deadline, "the clock did not move: {clock}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.close().await;
}
