// The sandbox console: conversations as WhatsApp shows them, the user's side
// played from the composer, and the panels a developer tunes while testing.
// Plain JavaScript, no build step; every text from a message goes into the
// page as text (never as HTML).

const api = {
  get: (path) => call("GET", path),
  post: (path, body) => call("POST", path, body),
  patch: (path, body) => call("PATCH", path, body),
  del: (path) => call("DELETE", path),
};

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) {
    throw new Error(json?.error?.message || `${method} ${path}: ${res.status}`);
  }
  return json;
}

/** An element with attributes (`on*` functions become listeners) and children. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);
const state = {
  numbers: [],          // [{id, display}]
  conversations: [],    // as listed by the server
  current: null,        // {phone_number_id, user}
  items: [],            // the current conversation's items
  templates: [],
  replyTo: null,        // an item the user answers
  scrollDown: false,    // the user just wrote: show the end of the chat
};
const key = (c) => `${c.phone_number_id}/${c.user}`;
const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const mediaUrl = (id) => `/_sandbox/ui/media/${encodeURIComponent(id)}`;

// ---------------------------------------------------------------- panels ---

for (const button of document.querySelectorAll(".tabs button")) {
  button.addEventListener("click", () => showPanel(button.dataset.panel));
}

function showPanel(name) {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.setAttribute("aria-pressed", String(button.dataset.panel === name));
  }
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== name;
  if (name === "rules") loadRules();
  if (name === "faults") loadFaults();
  if (name === "clockpanel") loadClock();
  if (name === "templates") loadTemplates();
  if (name === "webhooks") loadDeliveries();
}

// --------------------------------------------------------- conversations ---

async function loadConversations() {
  const { data } = await api.get("/_sandbox/ui/api/conversations");
  state.conversations = data;
  renderConversations();
}

function renderConversations() {
  const list = $("conversations");
  list.replaceChildren(
    ...state.conversations.map((c) => {
      const current = state.current && key(state.current) === key(c);
      return el("li", {},
        el("button", {
          type: "button",
          "aria-current": current ? "true" : "false",
          "data-conversation": key(c),
          onclick: () => openConversation({ phone_number_id: c.phone_number_id, user: c.user }),
        },
          el("div", { class: "who" }, `+${c.user}`, c.name ? ` · ${c.name}` : ""),
          el("div", { class: "last" }, `${displayOf(c.phone_number_id)} · ${c.last_text || ""}`)));
    }));
}

function displayOf(pnid) {
  const n = state.numbers.find((n) => n.id === pnid);
  return n ? `+${n.display}` : pnid;
}

async function openConversation(conversation) {
  state.current = conversation;
  state.replyTo = null;
  $("replying").hidden = true;
  $("chat").hidden = false;
  document.querySelector(".chats").classList.add("open");
  $("chat-title").textContent = `+${conversation.user}`;
  $("chat-sub").textContent = `with ${displayOf(conversation.phone_number_id)}`;
  const path = `/_sandbox/ui/api/conversations/${conversation.phone_number_id}/${conversation.user}`;
  const { data } = await api.get(path);
  state.items = data;
  renderConversations();
  renderBubbles();
  $("text").focus();
}

$("back").addEventListener("click", () => {
  document.querySelector(".chats").classList.remove("open");
});

$("new-chat").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  openConversation({ phone_number_id: form.get("pnid"), user: String(form.get("user")).replace(/\D/g, "") });
});

// --------------------------------------------------------------- bubbles ---

function renderBubbles() {
  const list = $("bubbles");
  const byId = new Map(state.items.map((item) => [item.id, item]));
  // Reactions sit on the bubble they react to, the latest of each side.
  const reactions = new Map();
  for (const item of state.items) {
    if (item.type !== "reaction") continue;
    const r = item.message.reaction || {};
    const target = r.message_id;
    if (!target) continue;
    const mine = reactions.get(target) || {};
    mine[item.from] = r.emoji || "";
    reactions.set(target, mine);
  }
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(
    ...state.items.filter((item) => item.type !== "reaction").map((item) => bubble(item, byId, reactions.get(item.id))));
  if (atBottom || state.scrollDown || list.dataset.opened !== key(state.current)) list.scrollTop = list.scrollHeight;
  state.scrollDown = false;
  list.dataset.opened = key(state.current);
}

function bubble(item, byId, reactions) {
  const m = item.message || {};
  const contextId = item.from === "business" ? m.context?.message_id : m.context?.id;
  const quoted = contextId ? byId.get(contextId) : null;
  const node = el("li", { class: `bubble ${item.from}`, "data-id": item.id, "data-type": item.type },
    quoted ? el("div", { class: "quote" }, quoted.from === "business" ? "Business: " : "You: ", summary(quoted)) : null,
    content(item),
    el("div", { class: "meta" }, time(item.at_ms), item.from === "business" ? ticks(item) : null),
    errorLine(item),
    actions(item),
    reactionBadge(reactions));
  return node;
}

function reactionBadge(reactions) {
  if (!reactions) return null;
  const shown = Object.values(reactions).filter(Boolean);
  return shown.length ? el("span", { class: "reactions", "aria-label": `Reactions ${shown.join(" ")}` }, shown.join("")) : null;
}

const TICKS = { sent: "✓", delivered: "✓✓", read: "✓✓", played: "✓✓", failed: "⚠" };

function latestStatus(item) {
  const order = ["sent", "delivered", "read", "played"];
  let best = null;
  for (const s of item.statuses || []) {
    if (s.status === "failed") return s;
    if (!best || order.indexOf(s.status) > order.indexOf(best.status)) best = s;
  }
  return best;
}

function ticks(item) {
  const status = latestStatus(item);
  if (!status) return el("span", { class: "ticks pending", "data-status": "pending", "aria-label": "Pending" }, "🕓");
  return el("span", {
    class: `ticks ${status.status}`, "data-status": status.status, "aria-label": status.status,
    title: status.status,
  }, TICKS[status.status] || status.status);
}

function errorLine(item) {
  const status = latestStatus(item);
  const error = status?.status === "failed" ? (status.errors || [])[0] : null;
  if (!error) return null;
  return el("div", { class: "error", "data-error-code": error.code },
    `Failed: ${error.code} ${error.title || ""}${error.error_data?.details ? ` (${error.error_data.details})` : ""}`);
}

function actions(item) {
  if (item.from !== "business") return null;
  const picker = el("div", { class: "emoji-picker", hidden: true },
    ..."👍❤️😂😮😢🙏".match(/\p{Extended_Pictographic}/gu).map((emoji) =>
      el("button", { type: "button", "aria-label": `React ${emoji}`, onclick: () => react(item, emoji) }, emoji)));
  return el("div", {},
    el("div", { class: "actions" },
      el("button", { type: "button", onclick: () => startReply(item), "aria-label": "Reply to this message" }, "Reply"),
      el("button", {
        type: "button", "aria-label": "React to this message",
        onclick: () => { picker.hidden = !picker.hidden; },
      }, "React")),
    picker);
}

/** A line of text for a message (the conversation list, quotes). */
function summary(item) {
  const m = item.message || {};
  switch (item.type) {
    case "text": return m.text?.body || "";
    case "image": case "video": case "audio": case "document": case "sticker":
      return `[${item.type}] ${m[item.type]?.caption || m[item.type]?.filename || ""}`;
    case "location": return `[location] ${m.location?.name || ""}`;
    case "contacts": return `[contact] ${m.contacts?.[0]?.name?.formatted_name || ""}`;
    case "template": return `[template] ${m.template?.name || ""}`;
    case "interactive":
      if (item.from === "user") {
        const reply = m.interactive?.button_reply || m.interactive?.list_reply;
        return reply?.title || "[reply]";
      }
      return m.interactive?.body?.text || "[interactive]";
    case "button": return m.button?.text || "[button]";
    default: return `[${item.type}]`;
  }
}

function content(item) {
  const m = item.message || {};
  switch (item.type) {
    case "text": return textContent(m.text || {});
    case "image": case "video": case "audio": case "document": case "sticker": return media(item.type, m[item.type] || {});
    case "location": return location(m.location || {});
    case "contacts": return contacts(m.contacts || []);
    case "template": return template(item, m.template || {});
    case "interactive": return item.from === "business" ? interactive(item, m.interactive || {}) : el("div", {}, summary(item));
    case "button": return el("div", {}, m.button?.text || "");
    default: return el("div", { class: "sub" }, `[${item.type}]`);
  }
}

function textContent(text) {
  const body = text.body || "";
  const link = text.preview_url ? body.match(/https?:\/\/\S+/) : null;
  return el("div", {},
    el("div", { class: "text" }, body),
    link ? el("div", { class: "preview", "data-preview": "true" }, `Link preview: ${link[0]}`) : null);
}

function media(kind, m) {
  let shown;
  if (m.id) {
    const src = mediaUrl(m.id);
    if (kind === "image") shown = el("img", { class: "media", src, alt: m.caption || "Image" });
    else if (kind === "sticker") shown = el("img", { class: "media sticker", src, alt: "Sticker" });
    else if (kind === "video") shown = el("video", { class: "media", src, controls: true, "aria-label": "Video" });
    else if (kind === "audio") shown = el("audio", { src, controls: true, "aria-label": m.voice ? "Voice note" : "Audio" });
    else shown = el("div", { class: "doc" }, "📄", el("span", {}, m.filename || "document"));
    const download = el("a", { href: src, download: m.filename || `${kind}`, class: "sub" }, "Download");
    shown = el("div", {}, shown, download);
  } else if (m.link) {
    // A link the business gave: shown, never loaded by the console.
    shown = el("div", { class: "doc" }, `[${kind}] `, el("span", { class: "sub" }, `link (not loaded): ${m.link}`));
  } else {
    shown = el("div", { class: "sub" }, `[${kind}]`);
  }
  return el("div", {}, shown, m.caption ? el("div", { class: "caption" }, m.caption) : null);
}

function location(l) {
  return el("div", { class: "card" }, "📍 ", el("strong", {}, l.name || "Location"),
    l.address ? el("div", {}, l.address) : null,
    el("div", { class: "sub" }, `${l.latitude}, ${l.longitude}`));
}

function contacts(list) {
  return el("div", {}, ...list.map((c) => el("div", { class: "card" },
    "👤 ", el("strong", {}, c.name?.formatted_name || "Contact"),
    ...(c.phones || []).map((p) => el("div", { class: "sub" }, `${p.type || "phone"}: ${p.phone || p.wa_id || ""}`)))));
}

/** Fills `{{1}}` or `{{name}}` from a component's parameters. */
function fill(text, parameters) {
  const values = (parameters || []).map(paramText);
  return String(text || "").replace(/\{\{\s*([\w]+)\s*\}\}/g, (whole, name) => {
    if (/^\d+$/.test(name)) return values[Number(name) - 1] ?? whole;
    const named = (parameters || []).find((p) => p.parameter_name === name);
    return named ? paramText(named) : whole;
  });
}

function paramText(p) {
  switch (p?.type) {
    case "text": return p.text;
    case "currency": return p.currency?.fallback_value ?? `${p.currency?.amount_1000 / 1000} ${p.currency?.code}`;
    case "date_time": return p.date_time?.fallback_value ?? "";
    default: return p?.text ?? "";
  }
}

function template(item, t) {
  const stored = state.templates.find((s) => s.name === t.name && s.language === t.language?.code);
  const given = (type) => (t.components || []).filter((c) => c.type === type);
  if (!stored) return el("div", {}, el("strong", {}, t.name), el("div", { class: "sub" }, "(template not found in the sandbox)"));
  const parts = [];
  for (const component of stored.components || []) {
    const type = String(component.type || "").toUpperCase();
    if (type === "HEADER") {
      const params = given("header")[0]?.parameters || [];
      if ((component.format || "TEXT") === "TEXT") parts.push(el("div", { class: "tpl-header" }, fill(component.text, params)));
      else {
        const kind = component.format.toLowerCase();
        const param = params.find((p) => p.type === kind);
        parts.push(media(kind, param?.[kind] || {}));
      }
    } else if (type === "BODY") {
      parts.push(el("div", { class: "text" }, fill(component.text, given("body")[0]?.parameters)));
    } else if (type === "FOOTER") {
      parts.push(el("div", { class: "footer" }, component.text));
    } else if (type === "BUTTONS") {
      const buttons = component.buttons || [];
      parts.push(el("div", { class: "choices" }, ...buttons.map((b, index) => {
        if (String(b.type).toUpperCase() === "QUICK_REPLY") {
          const sent = given("button").find((c) => String(c.index) === String(index));
          const payload = sent?.parameters?.find((p) => p.type === "payload")?.payload || b.text;
          return el("button", {
            type: "button", "data-reply": b.text,
            onclick: () => sendInbound({ type: "button", button: { text: b.text, payload } }, item.id),
          }, b.text);
        }
        return el("div", { class: "sub" }, `🔗 ${b.text}${b.url ? ` (${b.url})` : ""}`);
      })));
    }
  }
  return el("div", { "data-template": t.name }, ...parts);
}

function interactive(item, i) {
  const header = i.header?.type === "text" ? el("div", { class: "tpl-header" }, i.header.text)
    : i.header ? media(i.header.type, i.header[i.header.type] || {}) : null;
  const body = el("div", { class: "text" }, i.body?.text || "");
  const footer = i.footer ? el("div", { class: "footer" }, i.footer.text) : null;
  let controls = null;
  if (i.type === "button") {
    controls = el("div", { class: "choices" }, ...(i.action?.buttons || []).map((b) => el("button", {
      type: "button", "data-reply": b.reply?.title,
      onclick: () => sendInbound({
        type: "interactive",
        interactive: { type: "button_reply", button_reply: { id: b.reply?.id, title: b.reply?.title } },
      }, item.id),
    }, b.reply?.title)));
  } else if (i.type === "list") {
    const rows = el("ul", { class: "list-rows", hidden: true }, ...(i.action?.sections || []).flatMap((section) => [
      section.title ? el("li", { class: "sub" }, section.title) : null,
      ...(section.rows || []).map((row) => el("li", {}, el("button", {
        type: "button", "data-reply": row.title,
        onclick: () => sendInbound({
          type: "interactive",
          interactive: { type: "list_reply", list_reply: { id: row.id, title: row.title, description: row.description } },
        }, item.id),
      }, row.title, row.description ? el("div", { class: "sub" }, row.description) : null))),
    ]));
    const open = el("button", {
      type: "button", "aria-expanded": "false",
      onclick: () => { rows.hidden = !rows.hidden; open.setAttribute("aria-expanded", String(!rows.hidden)); },
    }, `☰ ${i.action?.button || "Options"}`);
    controls = el("div", { class: "choices" }, open, rows);
  } else if (i.type === "cta_url") {
    const p = i.action?.parameters || {};
    controls = el("div", { class: "choices" }, el("div", { class: "sub" }, `🔗 ${p.display_text} (${p.url})`));
  } else {
    controls = el("div", { class: "sub" }, `[interactive ${i.type}]`);
  }
  return el("div", {}, header, body, footer, controls);
}

// ------------------------------------------------------------- user side ---

async function sendInbound(message, contextId) {
  const c = state.current;
  if (!c) return;
  const body = { from: c.user, phone_number_id: c.phone_number_id, ...message };
  const context = contextId || state.replyTo?.id;
  if (context && message.type !== "reaction") body.context = { id: context };
  try {
    state.scrollDown = true;
    await api.post("/_sandbox/inbound", body);
    cancelReply();
  } catch (e) {
    alert(e.message);
  }
}

function startReply(item) {
  state.replyTo = item;
  $("replying-text").textContent = `Replying to: ${summary(item)}`;
  $("replying").hidden = false;
  $("text").focus();
}

function cancelReply() {
  state.replyTo = null;
  $("replying").hidden = true;
}

$("cancel-reply").addEventListener("click", cancelReply);

function react(item, emoji) {
  sendInbound({ type: "reaction", reaction: { message_id: item.id, emoji } });
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (!text.trim()) return;
  $("text").value = "";
  sendInbound({ type: "text", text: { body: text } });
});

$("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  const data = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
  const mime = file.type || "application/octet-stream";
  const kind = mime === "image/webp" ? "sticker"
    : mime.startsWith("image/") ? "image"
    : mime.startsWith("video/") ? "video"
    : mime.startsWith("audio/") ? "audio" : "document";
  const object = { data, mime_type: mime };
  if (kind === "document") object.filename = file.name;
  sendInbound({ type: kind, [kind]: object });
});

$("share-location").addEventListener("click", () => {
  $("location").hidden = !$("location").hidden;
});

$("location").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $("location").hidden = true;
  sendInbound({
    type: "location",
    location: {
      latitude: Number(form.get("latitude")), longitude: Number(form.get("longitude")),
      name: form.get("name") || undefined, address: form.get("address") || undefined,
    },
  });
});

// ---------------------------------------------------------------- rules ---

async function loadRules() {
  const s = await api.get("/_sandbox/settings");
  const f = $("rules-form").elements;
  f.window.checked = s.rules.window.enabled;
  f.throughput.checked = s.rules.throughput.enabled;
  f.mps.value = s.rules.throughput.mps;
  f.pair.checked = s.rules.pair_rate_limit.enabled;
  f.burst.value = s.rules.pair_rate_limit.burst;
  f.period_ms.value = s.rules.pair_rate_limit.period_ms;
  f.undeliverable.checked = s.rules.undeliverable.enabled;
  f.patterns.value = s.rules.undeliverable.patterns.join(",");
  f.read_rate.value = s.lifecycle.read_rate;
}

$("rules-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target.elements;
  const patch = {
    rules: {
      window: { enabled: f.window.checked },
      throughput: { enabled: f.throughput.checked, mps: Number(f.mps.value) },
      pair_rate_limit: { enabled: f.pair.checked, burst: Number(f.burst.value), period_ms: Number(f.period_ms.value) },
      undeliverable: {
        enabled: f.undeliverable.checked,
        patterns: f.patterns.value.split(",").map((p) => p.trim()).filter(Boolean),
      },
    },
    lifecycle: { read_rate: Number(f.read_rate.value) },
  };
  try {
    await api.patch("/_sandbox/settings", patch);
    $("rules-result").textContent = "Applied.";
  } catch (e) {
    $("rules-result").textContent = e.message;
  }
});

// --------------------------------------------------------------- faults ---

async function loadFaults() {
  const { data } = await api.get("/_sandbox/faults");
  $("fault-list").replaceChildren(...data.map((fault) => el("li", {},
    el("span", {}, `${fault.id}: ${fault.match?.path || "any path"} → `,
      fault.error ? `error ${fault.error.code} (HTTP ${fault.error.http || 400})` : JSON.stringify(fault),
      `, rate ${fault.rate}, fired ${fault.fired}`),
    el("button", { type: "button", "aria-label": `Remove fault ${fault.id}`, onclick: async () => {
      await api.del(`/_sandbox/faults/${fault.id}`);
      loadFaults();
    } }, "Remove"))));
}

$("fault-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target.elements;
  const spec = { error: { code: Number(f.code.value), http: Number(f.http.value) }, rate: Number(f.rate.value) };
  if (f.path.value.trim()) spec.match = { path: f.path.value.trim() };
  try {
    await api.post("/_sandbox/faults", spec);
    $("fault-result").textContent = "Added.";
    loadFaults();
  } catch (e) {
    $("fault-result").textContent = e.message;
  }
});

// ---------------------------------------------------------------- clock ---

async function loadClock() {
  const c = await api.get("/_sandbox/clock");
  showClock(c);
}

function showClock(c) {
  $("clock").textContent = `sandbox time ${new Date(c.now_ms).toLocaleString()}`;
  $("clock-now").textContent = new Date(c.now_ms).toLocaleString();
  $("clock-offset").textContent = `${Math.round(c.offset_ms / 60000)} min`;
}

for (const button of document.querySelectorAll("[data-advance]")) {
  button.addEventListener("click", async () => showClock(await api.post("/_sandbox/clock/advance", JSON.parse(button.dataset.advance))));
}

// ------------------------------------------------------------ templates ---

async function loadTemplates() {
  const { data } = await api.get("/_sandbox/ui/api/templates");
  state.templates = data;
  $("template-rows").replaceChildren(...data.map((t) => el("tr", { "data-template": `${t.name}/${t.language}` },
    el("td", {}, t.name), el("td", {}, t.language), el("td", {}, t.category),
    el("td", { "data-status": t.status }, t.status),
    el("td", {}, el("div", { class: "buttons" }, ...["APPROVED", "REJECTED", "PAUSED"].map((status) => el("button", {
      type: "button", "aria-label": `Set ${t.name} ${t.language} ${status}`,
      onclick: async () => {
        await api.post("/_sandbox/templates/status", { id: t.id, status });
        loadTemplates();
      },
    }, status.toLowerCase())))))));
}

// ------------------------------------------------------------- webhooks ---

async function loadDeliveries() {
  const { data, url } = await api.get("/_sandbox/ui/api/deliveries");
  $("webhook-url").textContent = url ? `To ${url}` : "No webhook URL is set: nothing is sent (statuses included).";
  $("delivery-rows").replaceChildren(...data.slice().reverse().map(deliveryRow));
}

function deliveryRow(d) {
  const ok = d.outcome === "delivered";
  return el("tr", { "data-outcome": d.outcome },
    el("td", {}, new Date(d.at_ms).toLocaleTimeString()),
    el("td", {}, d.items.join(", ")),
    el("td", { class: ok ? "ok" : "bad" }, d.outcome, d.error ? ` (${d.error})` : ""),
    el("td", {}, d.attempts));
}

// ---------------------------------------------------------------- live ---

function listen() {
  const events = new EventSource("/_sandbox/ui/events");
  events.addEventListener("open", () => { $("link").textContent = "live"; });
  events.addEventListener("error", () => { $("link").textContent = "reconnecting…"; });
  events.addEventListener("item", (event) => {
    const { conversation, item } = JSON.parse(event.data);
    upsertConversation(conversation, item);
    if (state.current && key(state.current) === key(conversation)) {
      state.items.push(item);
      renderBubbles();
    }
  });
  events.addEventListener("status", (event) => {
    const { conversation, id, status } = JSON.parse(event.data);
    if (!state.current || key(state.current) !== key(conversation)) return;
    const item = state.items.find((i) => i.id === id);
    if (!item) return;
    item.statuses.push(status);
    renderBubbles();
  });
  events.addEventListener("delivery", () => {
    if (!$("webhooks").hidden) loadDeliveries();
  });
  events.addEventListener("changed", async (event) => {
    const { what } = JSON.parse(event.data);
    if (what === "templates") await loadTemplates();
    if (what === "clock") loadClock();
    if (what === "reset") { state.current = null; $("chat").hidden = true; loadConversations(); }
    // The page fell behind the feed: read everything again.
    if (what === "resync") {
      await loadConversations();
      if (state.current) openConversation(state.current);
      if (!$("webhooks").hidden) loadDeliveries();
    }
  });
}

function upsertConversation(conversation, item) {
  const found = state.conversations.find((c) => key(c) === key(conversation));
  const text = summary(item);
  if (found) {
    found.last_text = text;
    found.last_at_ms = item.at_ms;
    state.conversations.splice(state.conversations.indexOf(found), 1);
    state.conversations.unshift(found);
  } else {
    state.conversations.unshift({ ...conversation, last_text: text, last_at_ms: item.at_ms });
  }
  renderConversations();
}

async function start() {
  const info = await api.get("/_sandbox/ui/api/info");
  state.numbers = info.phone_numbers;
  $("pnid").replaceChildren(...info.phone_numbers.map((n) => el("option", { value: n.id }, `+${n.display} (${n.id})`)));
  await Promise.all([loadConversations(), loadTemplates(), loadClock()]);
  listen();
}

start().catch((e) => { $("link").textContent = `error: ${e.message}`; });
