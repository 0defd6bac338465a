use std::time::Duration;

use serde_json::json;

use super::*;

const TRICKY_HELP: &str = "Help with \"quotes\", a \\ backslash\nand a second line";
const TRICKY_VALUE: &str = "C:\\dir\\ \"x\" said\nbye";

/// A gauge, a labelled counter, a labelled histogram and a gauge with a
/// label value and help text that need escaping.
fn sample_families() -> Families {
    let mut families = Families::new();
    families.gauge("callback_queue_size", "Callbacks waiting to be sent", 3.0);
    families.counter_with("callback_requests", "Webhook POSTs by result", &[("result", "success")], 10.0).counter_with(
        "callback_requests",
        "Webhook POSTs by result",
        &[("result", "500")],
        2.0,
    );
    let mut latency = HistogramValue::new(&[10.0, 100.0, 1000.0]);
    for ms in [5.0, 10.0, 50.0, 150.0, 2000.0] {
        latency.observe(ms);
    }
    families.histogram_with("callback_requests_duration_ms", "Webhook POST latency", &[("type", "status")], latency);
    families.gauge_with("tricky", TRICKY_HELP, &[("path", TRICKY_VALUE)], 0.25);
    families
}

fn scrape(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

fn find<'a>(
    scrape: &'a prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> &'a prometheus_parse::Sample {
    let matching: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == metric
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .collect();
    assert_eq!(matching.len(), 1, "{metric} {labels:?} in {:?}", scrape.samples);
    matching[0]
}

/// prometheus-parse hands escaped text back as is; this undoes the
/// format's escapes so the test can compare with the original.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

#[test]
fn prometheus_text_parses_back_with_names_labels_values_and_buckets() {
    use prometheus_parse::{HistogramCount, Value as P};

    let s = scrape(&sample_families().to_prometheus());
    assert_eq!(s.samples.len(), 7, "{:?}", s.samples);

    assert_eq!(s.docs["callback_queue_size"], "Callbacks waiting to be sent");
    assert_eq!(find(&s, "callback_queue_size", &[]).value, P::Gauge(3.0));

    assert_eq!(s.docs["callback_requests"], "Webhook POSTs by result");
    assert_eq!(find(&s, "callback_requests", &[("result", "success")]).value, P::Counter(10.0));
    assert_eq!(find(&s, "callback_requests", &[("result", "500")]).value, P::Counter(2.0));

    let histogram = find(&s, "callback_requests_duration_ms", &[("type", "status")]);
    let expected = [(10.0, 2.0), (100.0, 3.0), (1000.0, 4.0), (f64::INFINITY, 5.0)]
        .map(|(less_than, count)| HistogramCount { less_than, count });
    assert_eq!(histogram.value, P::Histogram(expected.to_vec()));
    assert_eq!(find(&s, "callback_requests_duration_ms_sum", &[("type", "status")]).value, P::Untyped(2215.0));
    assert_eq!(find(&s, "callback_requests_duration_ms_count", &[("type", "status")]).value, P::Untyped(5.0));

    // The parser does not unescape: the raw text is the escaped form.
    assert_eq!(s.docs["tricky"], r#"Help with "quotes", a \\ backslash\nand a second line"#);
    assert_eq!(unescape(&s.docs["tricky"]), TRICKY_HELP);
    let tricky = s.samples.iter().find(|s| s.metric == "tricky").expect("tricky sample");
    assert_eq!(tricky.value, P::Gauge(0.25));
    assert_eq!(tricky.labels.get("path"), Some(r#"C:\\dir\\ \"x\" said\nbye"#));
    assert_eq!(unescape(tricky.labels.get("path").unwrap_or_default()), TRICKY_VALUE);
}

#[test]
fn prometheus_text_is_exactly_the_exposition_format() {
    let expected = r#"# HELP callback_queue_size Callbacks waiting to be sent
# TYPE callback_queue_size gauge
callback_queue_size 3
# HELP callback_requests Webhook POSTs by result
# TYPE callback_requests counter
callback_requests{result="success"} 10
callback_requests{result="500"} 2
# HELP callback_requests_duration_ms Webhook POST latency
# TYPE callback_requests_duration_ms histogram
callback_requests_duration_ms_bucket{type="status",le="10"} 2
callback_requests_duration_ms_bucket{type="status",le="100"} 3
callback_requests_duration_ms_bucket{type="status",le="1000"} 4
callback_requests_duration_ms_bucket{type="status",le="+Inf"} 5
callback_requests_duration_ms_sum{type="status"} 2215
callback_requests_duration_ms_count{type="status"} 5
# HELP tricky Help with "quotes", a \\ backslash\nand a second line
# TYPE tricky gauge
tricky{path="C:\\dir\\ \"x\" said\nbye"} 0.25
"#;
    assert_eq!(sample_families().to_prometheus(), expected);
}

#[test]
fn empty_help_has_no_help_line_and_histogram_le_label_is_reserved() {
    let mut families = Families::new();
    families.gauge("up", "", 1.0);
    let mut h = HistogramValue::new(&[1.0]);
    h.observe(0.5);
    families.add("lat", Kind::Histogram, "Latency", Sample::histogram(h).label("le", "mine"));
    assert_eq!(
        families.to_prometheus(),
        "# HELP lat Latency\n# TYPE lat histogram\nlat_bucket{le=\"1\"} 1\nlat_bucket{le=\"+Inf\"} 1\n\
             lat_sum 0.5\nlat_count 1\n# TYPE up gauge\nup 1\n"
    );
}

#[test]
fn invalid_names_are_sanitised_in_prometheus_text() {
    let family = Family {
        name: "1bad-name".to_string(),
        kind: Kind::Gauge,
        help: String::new(),
        samples: vec![Sample {
            labels: Labels::from([("a b".to_string(), "v".to_string())]),
            value: SampleValue::Number(1.0),
        }],
    };
    let mut families = Families::new();
    assert!(families.push(family).is_empty());
    assert_eq!(families.to_prometheus(), "# TYPE _1bad_name gauge\n_1bad_name{a_b=\"v\"} 1\n");
}

#[test]
fn json_has_the_old_clients_shape_and_our_histogram_form() {
    let mut families = Families::new();
    families.gauge("callback_queue_size", "Queued", 3.0).counter_with(
        "callback_requests",
        "By result",
        &[("result", "success")],
        10.0,
    );
    let mut h = HistogramValue::new(&[5.0, 10.0]);
    h.observe(7.5);
    families.histogram_with("lat_ms", "Latency", &[], h);
    assert_eq!(
        families.to_json(),
        json!({
            "callback_queue_size": {"type": "gauge", "help": "Queued", "data": [{"labels": {}, "value": 3}]},
            "callback_requests": {"type": "counter", "help": "By result",
                                  "data": [{"labels": {"result": "success"}, "value": 10}]},
            "lat_ms": {"type": "histogram", "help": "Latency", "data": [{"labels": {},
                "value": {"buckets": {"5": 0, "10": 1, "+Inf": 1}, "sum": 7.5, "count": 1}}]},
        })
    );
    // Integral values are integers in the JSON text, not 3.0.
    assert!(families.to_json().to_string().contains(r#""value":3}"#));
}

#[test]
fn json_round_trips_through_from_json_and_serde() {
    let mut families = sample_families();
    families
        .gauge("ratio", "A fraction", 0.125)
        .gauge("huge", "Beyond 2^53", 1e20)
        .gauge("tiny", "Small", 1e-9)
        .gauge_with("limits", "Non-finite", &[("side", "up")], f64::INFINITY)
        .gauge_with("limits", "Non-finite", &[("side", "down")], f64::NEG_INFINITY);
    let json = families.to_json();
    assert_eq!(json["limits"]["data"][0]["value"], json!("+Inf"));
    assert_eq!(Families::from_json(&json), Ok(families.clone()));

    let text = serde_json::to_string(&families).expect("serialises");
    let back: Families = serde_json::from_str(&text).expect("deserialises");
    assert_eq!(back, families);
    assert_eq!(back.to_prometheus(), families.to_prometheus());
}

#[test]
fn nan_survives_json() {
    let mut families = Families::new();
    families.gauge("unknown", "Not measured", f64::NAN);
    let json = families.to_json();
    assert_eq!(json["unknown"]["data"][0]["value"], json!("NaN"));
    let back = Families::from_json(&json).expect("parses");
    let value = back.get("unknown").and_then(|f| f.find(&[])).and_then(SampleValue::as_number);
    assert!(value.is_some_and(f64::is_nan), "{value:?}");
    assert!(families.to_prometheus().ends_with("unknown NaN\n"));
}

#[test]
fn from_json_accepts_missing_optional_parts() {
    let json = json!({
        "a": {"type": "counter"},
        "b": {"type": "gauge", "data": [{"value": 2}]},
        "c": {"type": "histogram", "data": [{"value": {"buckets": {"10": 1, "5": 1}, "sum": 3, "count": 2}}]},
    });
    let families = Families::from_json(&json).expect("parses");
    assert_eq!(families.get("a").map(|f| f.samples.len()), Some(0));
    assert_eq!(families.get("b").and_then(|f| f.find(&[])), Some(&SampleValue::Number(2.0)));
    let c = families.get("c").and_then(|f| f.find(&[])).and_then(SampleValue::as_histogram).cloned();
    assert_eq!(
        c,
        Some(HistogramValue {
            buckets: vec![Bucket { le: 5.0, count: 1 }, Bucket { le: 10.0, count: 1 }],
            sum: 3.0,
            count: 2
        })
    );
}

#[test]
fn from_json_rejects_what_it_cannot_render() {
    let histogram = |value: Value| json!({"h": {"type": "histogram", "data": [{"value": value}]}});
    let cases = [
        (json!([]), "$"),
        (json!({"bad name": {"type": "gauge"}}), "bad name"),
        (json!({"g": {"type": "summary"}}), "g.type"),
        (json!({"g": {"type": "gauge", "help": 3}}), "g.help"),
        (json!({"g": {"type": "gauge", "data": {}}}), "g.data"),
        (json!({"g": {"type": "gauge", "data": [{"labels": {"0x": "v"}, "value": 1}]}}), "g.data[0].labels.0x"),
        (json!({"g": {"type": "gauge", "data": [{"labels": {"k": 1}, "value": 1}]}}), "g.data[0].labels.k"),
        (json!({"g": {"type": "gauge", "data": [{"labels": {}}]}}), "g.data[0].value"),
        (json!({"g": {"type": "gauge", "data": [{"value": "12"}]}}), "g.data[0].value"),
        (json!({"g": {"type": "gauge", "data": [{"value": 1}, {"value": 2}]}}), "g"),
        (histogram(json!(3)), "h.data[0].value"),
        (histogram(json!({"buckets": {}, "sum": 1})), "h.data[0].value.count"),
        (histogram(json!({"buckets": {"5": 2, "10": 1}, "sum": 1, "count": 2})), "h.data[0].value.buckets"),
        (histogram(json!({"buckets": {"5": 3}, "sum": 1, "count": 2})), "h.data[0].value.buckets"),
        (histogram(json!({"buckets": {"5": 1, "5.0": 1}, "sum": 1, "count": 2})), "h.data[0].value.buckets"),
        (histogram(json!({"buckets": {"+Inf": 3}, "sum": 1, "count": 2})), "h.data[0].value.buckets.+Inf"),
        (histogram(json!({"buckets": {"NaN": 1}, "sum": 1, "count": 2})), "h.data[0].value.buckets.NaN"),
        (histogram(json!({"buckets": {"5": -1}, "sum": 1, "count": 2})), "h.data[0].value.buckets.5"),
    ];
    for (json, path) in cases {
        match Families::from_json(&json) {
            Err(e) => assert_eq!(e.path, path, "{json}: {e}"),
            Ok(f) => panic!("{json} parsed as {f:?}"),
        }
    }
}

#[test]
fn merge_combines_same_name_and_kind_and_keeps_the_first_on_clashes() {
    let mut a = Families::new();
    a.counter_with("x", "X", &[("result", "success")], 1.0).gauge("g", "G", 1.0);
    let mut b = Families::new();
    b.counter_with("x", "other help", &[("result", "500")], 2.0)
        .counter_with("x", "other help", &[("result", "success")], 5.0)
        .counter("g", "G as a counter", 7.0)
        .gauge("h", "H", 3.0);

    let conflicts = a.merge(b);
    assert_eq!(
        conflicts,
        vec![
            Conflict::Kind { name: "g".into(), kept: Kind::Gauge, dropped: Kind::Counter },
            Conflict::DuplicateSample {
                name: "x".into(),
                labels: Labels::from([("result".to_string(), "success".to_string())])
            },
        ]
    );
    assert_eq!(a.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["g", "h", "x"]);
    let x = a.get("x").expect("x");
    assert_eq!(x.help, "X");
    assert_eq!(x.find(&[("result", "success")]), Some(&SampleValue::Number(1.0)));
    assert_eq!(x.find(&[("result", "500")]), Some(&SampleValue::Number(2.0)));
    assert_eq!(x.samples.len(), 2);
    assert_eq!(a.get("g").map(|g| (g.kind, g.samples.clone())), Some((Kind::Gauge, vec![Sample::number(1.0)])));
    assert_eq!(a.get("h").and_then(|h| h.find(&[])), Some(&SampleValue::Number(3.0)));
}

#[test]
fn nodes_get_a_node_label_or_their_own_json_object() {
    let node = |sent: f64, ms: f64| {
        let mut families = Families::new();
        families.counter_with("messages_sent", "Sent", &[("type", "text")], sent);
        let mut h = HistogramValue::new(&[10.0]);
        h.observe(ms);
        families.histogram_with("lat_ms", "Latency", &[], h);
        families
    };
    let (n1, n2) = (node(4.0, 3.0), node(6.0, 30.0));

    let nested = Families::nodes_to_json([("n1", &n1), ("n2", &n2)]);
    assert_eq!(nested, json!({"n1": n1.to_json(), "n2": n2.to_json()}));

    let (merged, conflicts) = Families::merge_nodes([("n1", n1), ("n2", n2)]);
    assert!(conflicts.is_empty(), "{conflicts:?}");
    let sent = merged.get("messages_sent").expect("messages_sent");
    assert_eq!(sent.find(&[("node", "n1"), ("type", "text")]), Some(&SampleValue::Number(4.0)));
    assert_eq!(sent.find(&[("node", "n2"), ("type", "text")]), Some(&SampleValue::Number(6.0)));

    let text = merged.to_prometheus();
    assert!(text.contains("messages_sent{node=\"n1\",type=\"text\"} 4\n"), "{text}");
    assert!(text.contains("lat_ms_bucket{node=\"n2\",le=\"10\"} 0\n"), "{text}");
    assert!(text.contains("lat_ms_count{node=\"n2\"} 1\n"), "{text}");
    let s = scrape(&text);
    let n1_lat = find(&s, "lat_ms", &[("node", "n1")]);
    assert_eq!(
        n1_lat.value,
        prometheus_parse::Value::Histogram(vec![
            prometheus_parse::HistogramCount { less_than: 10.0, count: 1.0 },
            prometheus_parse::HistogramCount { less_than: f64::INFINITY, count: 1.0 },
        ])
    );
    assert_eq!(find(&s, "lat_ms_sum", &[("node", "n2")]).value, prometheus_parse::Value::Untyped(30.0));
}

#[test]
fn with_label_replaces_a_label_of_the_same_name() {
    let mut families = Families::new();
    families.gauge_with("g", "G", &[("node", "old"), ("k", "v")], 1.0);
    let families = families.with_label("node", "new");
    let g = families.get("g").expect("g");
    assert_eq!(g.find(&[("k", "v"), ("node", "new")]), Some(&SampleValue::Number(1.0)));
    assert_eq!(g.samples[0].labels.len(), 2);
}

#[test]
fn histogram_buckets_are_cumulative_and_inclusive() {
    let histogram = Histogram::with_bounds("lat_ms", "Latency", &[10.0, 100.0]);
    for ms in [0.0, 10.0, 10.5, 100.0, 1e6, f64::NAN, -1.0] {
        histogram.observe(ms);
    }
    let snapshot = histogram.snapshot();
    assert_eq!(snapshot.buckets, vec![Bucket { le: 10.0, count: 3 }, Bucket { le: 100.0, count: 5 }]);
    assert_eq!(snapshot.count, 6);
    assert_eq!(snapshot.sum, 1_000_119.5);

    let family = histogram.family();
    assert_eq!((family.name.as_str(), family.kind), ("lat_ms", Kind::Histogram));
    assert_eq!(family.samples, vec![Sample::histogram(snapshot)]);
}

#[test]
fn plain_and_labelled_histograms_agree() {
    let plain = Histogram::new("a", "A");
    let labelled = HistogramVec::new("b", "B", &["method", "result"]);
    for ms in [1.0, 5.0, 7.0, 99.0, 250.0, 20_000.0] {
        plain.observe(ms);
        labelled.observe(&["GET_v1_health", "200"], ms);
    }
    plain.observe_duration(Duration::from_millis(7));
    labelled.observe_duration(&["GET_v1_health", "200"], Duration::from_millis(7));
    labelled.observe(&["POST_v1_messages", "400"], 3.0);

    let snapshot = plain.snapshot();
    assert_eq!(snapshot.buckets.iter().map(|b| b.le).collect::<Vec<_>>(), DEFAULT_LATENCY_BOUNDS_MS);
    let counts: Vec<u64> = snapshot.buckets.iter().map(|b| b.count).collect();
    assert_eq!(counts, [2, 4, 4, 4, 5, 6, 6, 6, 6, 6, 6]);
    assert_eq!(snapshot.count, 7);
    assert_eq!(labelled.get(&["GET_v1_health", "200"]), Some(snapshot));
    assert_eq!(labelled.get(&["GET_v1_health", "500"]), None);

    let family = labelled.family();
    assert_eq!(family.samples.len(), 2);
    let other = family.find(&[("method", "POST_v1_messages"), ("result", "400")]).and_then(SampleValue::as_histogram);
    assert_eq!(other.map(|h| (h.count, h.sum, h.buckets[0].count)), Some((1, 3.0, 1)));
}

#[test]
fn counters_and_gauges_count_from_many_threads() {
    let requests = CounterVec::new("callback_requests", "By result", &["result"]);
    let sent = Counter::new("messages_sent", "Sent");
    let latency = Histogram::new("lat_ms", "Latency");
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for i in 0..1000 {
                    requests.inc(&[if i % 4 == 0 { "500" } else { "success" }]);
                    sent.inc();
                    latency.observe(1.0);
                }
            });
        }
    });
    assert_eq!(requests.get(&["success"]), 6000);
    assert_eq!(requests.get(&["500"]), 2000);
    assert_eq!(requests.get(&["404"]), 0);
    assert_eq!(sent.get(), 8000);
    assert_eq!((latency.snapshot().count, latency.snapshot().sum), (8000, 8000.0));

    requests.add(&["404"], 3);
    let family = requests.family();
    let results: Vec<(&str, f64)> =
        family.samples.iter().map(|s| (s.labels["result"].as_str(), s.value.as_number().unwrap_or(-1.0))).collect();
    assert_eq!(results, [("404", 3.0), ("500", 2000.0), ("success", 6000.0)]);
    assert_eq!(sent.family().samples, vec![Sample::number(8000.0)]);

    let queue = Gauge::new("send_queue_size", "Queued");
    queue.set(5);
    queue.inc();
    queue.add(-10);
    queue.dec();
    assert_eq!(queue.get(), -5);
    let mut families = Families::new();
    assert!(families.push(queue.family()).is_empty());
    assert!(families.push(family).is_empty());
    assert!(families.to_prometheus().contains("\nsend_queue_size -5\n"));
}

#[test]
fn counter_vec_keys_by_all_label_values_in_order() {
    let requests = CounterVec::new("api_requests", "By method and result", &["method", "result"]);
    requests.inc(&["GET_v1_health", "200"]);
    requests.inc(&["GET_v1_health", "200"]);
    requests.inc(&["200", "GET_v1_health"]);
    assert_eq!(requests.get(&["GET_v1_health", "200"]), 2);
    let family = requests.family();
    assert_eq!(family.find(&[("method", "GET_v1_health"), ("result", "200")]), Some(&SampleValue::Number(2.0)));
    assert_eq!(family.find(&[("method", "200"), ("result", "GET_v1_health")]), Some(&SampleValue::Number(1.0)));
}

#[test]
fn numbers_are_written_as_prometheus_reads_them() {
    let cases = [
        (3.0, "3"),
        (-0.0, "0"),
        (-2.0, "-2"),
        (0.25, "0.25"),
        (1e20, "1e20"),
        (1.5e-7, "1.5e-7"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (value, text) in cases {
        assert_eq!(fmt_number(value), text);
        let parsed = parse_special(text).unwrap_or_else(|| text.parse().unwrap_or(f64::NAN));
        assert!(parsed == value || parsed.is_nan() && value.is_nan(), "{text}");
    }
}

#[test]
fn names_follow_the_prometheus_grammar() {
    for name in ["a", "_a", "a:b", "callback_requests", "A9_"] {
        assert!(is_valid_metric_name(name), "{name}");
    }
    for name in ["", "9a", "a-b", "a b", "é"] {
        assert!(!is_valid_metric_name(name), "{name}");
    }
    assert!(is_valid_label_name("node"));
    assert!(!is_valid_label_name("a:b"));
    assert!(!is_valid_label_name("0"));
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "invalid metric name")]
fn an_invalid_metric_name_is_a_programming_error() {
    let _ = Family::new("bad name", Kind::Gauge, "");
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "metric builder conflict")]
fn a_builder_kind_clash_is_a_programming_error() {
    Families::new().gauge("g", "G", 1.0).counter("g", "G", 1.0);
}
