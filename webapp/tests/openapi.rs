//! `webapp/openapi.json` against what the webapp serves: it must parse as
//! OpenAPI 3.1, hang together (references, path parameters, operation ids,
//! responses, security, tags), describe exactly the routes of
//! `webapp::router::table()`, and be what `GET /v1/openapi.json` serves.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

/// The methods a path item may hold, as OpenAPI spells them.
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Fewer operations than this means the document (or a check) lost most
/// of the surface; there are about 80.
const MIN_OPERATIONS: usize = 50;

/// Operations that answer 201 on success; every other successful answer is 200.
const CREATED: &[(&str, &str)] = &[
    ("POST", "/v1/messages"),
    ("POST", "/v1/media"),
    ("POST", "/v1/users"),
    ("POST", "/v1/settings/profile/photo"),
    ("POST", "/v1/account"),
    ("POST", "/v1/account/verify"),
    ("POST", "/v1/account/shards"),
    ("POST", "/v1/certificates/external"),
];

/// Operations that can never succeed (no 2xx, 403/1005 always): besides the
/// retired features, what the Cloud API cannot do.
const CLOUD_CANNOT: &[(&str, &str)] =
    &[("DELETE", "/v1/settings/account/two-step"), ("DELETE", "/v1/settings/profile/photo")];

/// Answer without credentials.
const PUBLIC: &[(&str, &str)] =
    &[("GET", "/"), ("GET", "/v1/openapi.json"), ("GET", "/cloud/webhooks"), ("POST", "/cloud/webhooks")];

const RETIRED_PREFIXES: &[&str] = &["/v1/groups", "/v1/stickerpacks", "/v1/admin/"];

fn text() -> String {
    std::fs::read_to_string(FILE).unwrap_or_else(|e| panic!("cannot read {FILE}: {e}"))
}

fn document() -> Value {
    serde_json::from_str(&text()).unwrap_or_else(|e| panic!("{FILE} is not JSON: {e}"))
}

/// One operation of the document.
struct Op<'a> {
    method: String,
    path: &'a str,
    item: &'a Value,
    op: &'a Value,
}

impl Op<'_> {
    fn key(&self) -> (String, String) {
        (self.method.clone(), self.path.to_string())
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn is(&self, list: &[(&str, &str)]) -> bool {
        list.iter().any(|(m, p)| *m == self.method && *p == self.path)
    }
}

fn operations(doc: &Value) -> Vec<Op<'_>> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let mut ops = Vec::new();
    for (path, item) in paths {
        let item_map = item.as_object().unwrap_or_else(|| panic!("path item {path} is not an object"));
        for (key, op) in item_map {
            if METHODS.contains(&key.as_str()) {
                ops.push(Op { method: key.to_uppercase(), path, item, op });
            } else {
                assert!(
                    matches!(key.as_str(), "parameters" | "summary" | "description" | "servers"),
                    "{path}: unexpected path item key {key:?} (a method must be lower case)"
                );
            }
        }
    }
    ops
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut v = v;
    for _ in 0..8 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {r}"));
                v = doc.pointer(pointer).unwrap_or_else(|| panic!("$ref {r} does not resolve"));
            }
            None => return v,
        }
    }
    panic!("$ref chain too long at {v}");
}

fn collect_refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    out.push((at.clone(), child.as_str().unwrap_or_else(|| panic!("{at}: $ref is not a string"))));
                } else {
                    collect_refs(child, format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_refs(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// `{name}` segments of a path template.
fn template_params(path: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap_or_else(|| panic!("{path}: unclosed '{{'")) + start;
        let name = &rest[start + 1..end];
        assert!(!name.is_empty(), "{path}: empty path parameter");
        assert!(out.insert(name.to_string()), "{path}: parameter {name} appears twice");
        rest = &rest[end + 1..];
    }
    out
}

#[test]
fn parses_as_openapi_3_1() {
    let text = text();
    let spec = oas3::from_json(&text).unwrap_or_else(|e| panic!("oas3 cannot parse {FILE}: {e}"));
    assert!(spec.openapi.starts_with("3.1"), "openapi is {:?}", spec.openapi);
    spec.validate_version().expect("a 3.1.x version oas3 supports");
    assert_eq!(spec.info.title, "wa-onprem On-Premises API");
    assert_eq!(spec.info.version, env!("CARGO_PKG_VERSION"), "info.version follows the workspace version");
    assert_eq!(spec.primary_server().map(|s| s.url.as_str()), Some("https://localhost:9090"));

    // The typed view sees every operation, and every response and
    // parameter reference resolves in it too (oas3 drops those it cannot).
    let raw = document();
    let raw_ops = operations(&raw);
    let typed: Vec<_> = spec.operations().collect();
    assert_eq!(typed.len(), raw_ops.len(), "oas3 sees a different number of operations");
    assert!(typed.len() > MIN_OPERATIONS, "only {} operations", typed.len());
    for (path, method, op) in &typed {
        let raw_op = &raw["paths"][path.as_str()][method.as_str().to_lowercase()];
        let declared = raw_op["responses"].as_object().map_or(0, |r| r.len());
        assert_eq!(op.responses(&spec).len(), declared, "{method} {path}: a response does not resolve");
        let params = op.parameters(&spec).expect("parameters resolve");
        assert_eq!(params.len(), raw_op["parameters"].as_array().map_or(0, Vec::len), "{method} {path}: parameters");
        if op.request_body.is_some() {
            op.request_body(&spec).unwrap_or_else(|e| panic!("{method} {path}: request body: {e}"));
        }
    }
    let schemes = spec.components.as_ref().map(|c| c.security_schemes.len()).unwrap_or_default();
    assert_eq!(schemes, 3, "bearer, apikey and basic");
}

#[test]
fn every_ref_resolves_to_a_component() {
    let doc = document();
    let mut refs = Vec::new();
    collect_refs(&doc, String::new(), &mut refs);
    assert!(refs.len() > 100, "only {} $refs: the document lost its shared components", refs.len());
    let mut bad = Vec::new();
    for (at, r) in &refs {
        let kind_ok = ["schemas", "responses", "parameters", "requestBodies", "headers", "securitySchemes"]
            .iter()
            .any(|kind| r.starts_with(&format!("#/components/{kind}/")));
        let target = r.strip_prefix('#').and_then(|p| doc.pointer(p));
        if !kind_ok || target.is_none() {
            bad.push(format!("{at}: {r}"));
        }
    }
    assert!(bad.is_empty(), "unresolved $refs:\n{}", bad.join("\n"));

    // And no component is left unused.
    let used: BTreeSet<&str> = refs.iter().map(|(_, r)| *r).collect();
    let mut unused = Vec::new();
    for kind in ["schemas", "responses", "parameters"] {
        for name in doc["components"][kind].as_object().into_iter().flat_map(|m| m.keys()) {
            let r = format!("#/components/{kind}/{name}");
            if !used.contains(r.as_str()) {
                unused.push(r);
            }
        }
    }
    assert!(unused.is_empty(), "components nobody uses:\n{}", unused.join("\n"));
}

#[test]
fn path_parameters_match_the_templates() {
    let doc = document();
    let ops = operations(&doc);
    let mut checked = 0;
    let mut templated = 0;
    for op in &ops {
        let wanted = template_params(op.path);
        let mut declared = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let lists = [&op.item["parameters"], &op.op["parameters"]];
        for p in lists.into_iter().filter_map(Value::as_array).flatten() {
            let p = resolve(&doc, p);
            let name = p["name"].as_str().unwrap_or_else(|| panic!("{}: a parameter without name", op.name()));
            let location = p["in"].as_str().unwrap_or_else(|| panic!("{}: parameter {name} without `in`", op.name()));
            assert!(
                matches!(location, "path" | "query" | "header" | "cookie"),
                "{}: parameter {name} in {location}",
                op.name()
            );
            // The operation may override a path-level one, not repeat it.
            seen.insert((name.to_string(), location.to_string()));
            if location == "path" {
                assert_eq!(p["required"], Value::Bool(true), "{}: path parameter {name} must be required", op.name());
                assert!(p.get("schema").is_some(), "{}: path parameter {name} has no schema", op.name());
                declared.insert(name.to_string());
            }
        }
        let op_params = op.op["parameters"].as_array().map_or(0, Vec::len);
        let item_params = op.item["parameters"].as_array().map_or(0, Vec::len);
        assert!(seen.len() <= op_params + item_params);
        let missing: Vec<_> = wanted.difference(&declared).collect();
        let extra: Vec<_> = declared.difference(&wanted).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: path parameters undeclared {missing:?}, declared but not in the path {extra:?}",
            op.name()
        );
        templated += usize::from(!wanted.is_empty());
        checked += 1;
    }
    assert!(checked > MIN_OPERATIONS, "only {checked} operations checked");
    assert!(templated > 20, "only {templated} operations with path parameters");
}

#[test]
fn query_parameters_are_documented() {
    let doc = document();
    let ops = operations(&doc);
    let query = |op: &Op<'_>| -> BTreeMap<String, Value> {
        op.op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "query")
            .map(|p| (p["name"].as_str().unwrap_or_default().to_string(), p["schema"].clone()))
            .collect()
    };
    let mut formats = 0;
    for op in &ops {
        let params = query(op);
        let monitoring = op.method == "GET"
            && (op.path == "/metrics" || op.path == "/v1/metrics" || op.path.starts_with("/v1/stats/"));
        if monitoring {
            let enums = &params.get("format").unwrap_or_else(|| panic!("{}: no `format`", op.name()))["enum"];
            assert_eq!(enums, &serde_json::json!(["json", "prometheus"]), "{}", op.name());
            let content = &op.op["responses"]["200"]["content"];
            assert!(content.get("text/plain").is_some(), "{}: no Prometheus text answer", op.name());
            formats += 1;
        }
    }
    assert_eq!(formats, 6, "/metrics, /v1/metrics and the four /v1/stats routes");
    let photo = ops.iter().find(|o| o.method == "GET" && o.path == "/v1/settings/profile/photo").expect("photo GET");
    assert_eq!(query(photo)["format"]["enum"], serde_json::json!(["link"]));
    let hub = ops.iter().find(|o| o.method == "GET" && o.path == "/cloud/webhooks").expect("webhook GET");
    let names: BTreeSet<String> = query(hub).into_keys().collect();
    assert_eq!(names, ["hub.challenge", "hub.mode", "hub.verify_token"].map(String::from).into());
}

#[test]
fn operation_ids_are_unique_camel_case() {
    let doc = document();
    let mut ids = BTreeMap::new();
    for op in operations(&doc) {
        let id = op.op["operationId"].as_str().unwrap_or_else(|| panic!("{}: no operationId", op.name()));
        let mut chars = id.chars();
        let camel = chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric());
        assert!(camel, "{}: operationId {id:?} is not camelCase", op.name());
        let summary = op.op["summary"].as_str().unwrap_or_default();
        assert!(!summary.trim().is_empty(), "{}: no summary", op.name());
        if let Some(other) = ids.insert(id.to_string(), op.name()) {
            panic!("operationId {id} is used by {other} and {}", op.name());
        }
    }
    assert!(ids.len() > MIN_OPERATIONS, "only {} operation ids", ids.len());
}

#[test]
fn every_operation_has_success_errors_and_security() {
    let doc = document();
    let schemes: BTreeSet<&str> =
        doc["components"]["securitySchemes"].as_object().expect("securitySchemes").keys().map(String::as_str).collect();
    assert_eq!(schemes, BTreeSet::from(["apikey", "basic", "bearer"]));
    let top = doc["security"].as_array().expect("a top-level security default");
    assert!(!top.is_empty(), "the top-level security default is empty");
    let check_requirements = |list: &Vec<Value>, what: &str| {
        for requirement in list {
            let req = requirement.as_object().unwrap_or_else(|| panic!("{what}: requirement is not an object"));
            for name in req.keys() {
                assert!(schemes.contains(name.as_str()), "{what}: unknown security scheme {name}");
            }
        }
    };
    check_requirements(top, "top level");

    let ops = operations(&doc);
    let mut public = BTreeSet::new();
    let mut never_succeed = BTreeSet::new();
    let mut checked = 0;
    for op in &ops {
        let name = op.name();
        match op.op.get("security") {
            None => {}
            Some(Value::Array(list)) if list.is_empty() => {
                public.insert(op.key());
            }
            Some(Value::Array(list)) => check_requirements(list, &name),
            Some(other) => panic!("{name}: security is {other}"),
        }
        assert!(op.op["description"].as_str().is_some_and(|d| d.len() > 20), "{name}: no real description");

        let responses = op.op["responses"].as_object().unwrap_or_else(|| panic!("{name}: no responses"));
        for (status, response) in responses {
            let valid = status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit());
            assert!(valid, "{name}: response key {status:?}");
            assert!(resolve(&doc, response)["description"].is_string(), "{name} {status}: no description");
        }
        let success: BTreeSet<&str> = responses.keys().map(String::as_str).filter(|s| s.starts_with('2')).collect();
        let unavailable = op.op.get("x-unavailable") == Some(&Value::Bool(true));
        if unavailable {
            never_succeed.insert(op.key());
            assert!(success.is_empty(), "{name} never succeeds but documents {success:?}");
            let forbidden = resolve(&doc, &op.op["responses"]["403"]);
            let media = &forbidden["content"]["application/json"];
            assert_eq!(media["schema"]["$ref"], "#/components/schemas/ErrorResponse", "{name}: 403 body");
            assert_eq!(media["example"]["errors"][0]["code"], 1005, "{name}: the 403 documents code 1005");
        } else {
            let expected = if op.is(CREATED) { "201" } else { "200" };
            assert_eq!(success, BTreeSet::from([expected]), "{name}: success statuses");
        }
        // Authenticated operations say what a caller without credentials gets.
        let authenticated = !matches!(op.op.get("security"), Some(Value::Array(l)) if l.is_empty());
        if authenticated {
            assert!(responses.contains_key("401"), "{name}: no 401");
        }
        checked += 1;
    }
    assert!(checked > MIN_OPERATIONS, "only {checked} operations checked");

    let expected_public: BTreeSet<_> = PUBLIC.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(public, expected_public, "operations without credentials");

    let mut expected_never: BTreeSet<_> = CLOUD_CANNOT.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let retired: Vec<_> = webapp::router::table()
        .into_iter()
        .filter(|(_, p)| RETIRED_PREFIXES.iter().any(|prefix| p.starts_with(prefix)))
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert!(retired.len() > 20, "only {} retired routes", retired.len());
    expected_never.extend(retired);
    assert_eq!(never_succeed, expected_never, "operations marked `x-unavailable` (403/1005 always)");
}

#[test]
fn tags_are_declared() {
    let doc = document();
    let declared: Vec<&str> =
        doc["tags"].as_array().expect("top-level tags").iter().map(|t| t["name"].as_str().expect("tag name")).collect();
    let wanted = [
        "Users",
        "Messages",
        "Media",
        "Contacts",
        "Settings",
        "Profile",
        "Account",
        "Certificates",
        "Monitoring",
        "Retired",
        "Cloud",
        "Meta",
    ];
    assert_eq!(BTreeSet::from_iter(declared.iter().copied()), BTreeSet::from(wanted));
    assert_eq!(declared.len(), wanted.len(), "a tag is declared twice");
    let mut used = BTreeSet::new();
    for op in operations(&doc) {
        let tags = op.op["tags"].as_array().filter(|t| !t.is_empty());
        for tag in tags.unwrap_or_else(|| panic!("{}: no tags", op.name())) {
            let tag = tag.as_str().expect("tag is a string");
            assert!(declared.contains(&tag), "{}: tag {tag} is not declared", op.name());
            used.insert(tag);
        }
        let retired = op.op["tags"][0] == "Retired";
        let deprecated = op.op.get("deprecated") == Some(&Value::Bool(true));
        assert_eq!(retired, deprecated, "{}: exactly the retired operations are deprecated", op.name());
    }
    assert_eq!(used, BTreeSet::from(wanted), "every declared tag is used");
}

#[test]
fn documents_exactly_the_served_routes() {
    let table = webapp::router::table();
    let served: BTreeSet<(String, String)> = table.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(served.len(), table.len(), "the router registers a (method, path) twice");
    assert!(served.len() > MIN_OPERATIONS, "the router serves only {} routes", served.len());

    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc).iter().map(Op::key).collect();
    let missing: Vec<String> = served.difference(&documented).map(|(m, p)| format!("  {m} {p}")).collect();
    let not_served: Vec<String> = documented.difference(&served).map(|(m, p)| format!("  {m} {p}")).collect();
    assert!(
        missing.is_empty() && not_served.is_empty(),
        "webapp/openapi.json and webapp::router::table() differ\nmissing from the document:\n{}\ndocumented but not served:\n{}",
        missing.join("\n"),
        not_served.join("\n")
    );
}

#[test]
fn the_served_document_is_the_file() {
    let served: Value = serde_json::from_str(webapp::handlers::openapi::DOCUMENT).expect("the served document is JSON");
    assert_eq!(served, document());
    assert!(served["paths"].as_object().is_some_and(|p| p.len() > 30), "the served document has no real paths");
}
