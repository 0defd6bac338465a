//! The metric model behind `/metrics` and `/v1/stats/*`.
//!
//! One snapshot model ([`Families`]) with the two renderings of the old
//! client: its JSON (the default) and the Prometheus text exposition format
//! 0.0.4 (`?format=prometheus`). Plus a few live instruments ([`Counter`],
//! [`CounterVec`], [`Gauge`], [`Histogram`], [`HistogramVec`]) that a process
//! updates cheaply from many tasks and turns into a [`Family`] on request.
//! There is no global registry: a process owns its instruments and builds a
//! [`Families`] snapshot when asked.
//!
//! Flow in a deployment: a coreapp snapshots its instruments and sends
//! [`Families::to_json`] over gRPC; the webapp parses it back with
//! [`Families::from_json`], and either nests the JSON per node
//! ([`Families::nodes_to_json`]) or labels every sample `node="<id>"` and
//! merges ([`Families::merge_nodes`]) to render Prometheus text.
//!
//! JSON shape (the old client's):
//! `{"<name>": {"type": "gauge"|"counter"|"histogram", "help": "...",
//! "data": [{"labels": {"k": "v"}, "value": N}]}}`. Two additions are ours,
//! as the old shape does not cover them:
//! - a histogram sample's `value` is
//!   `{"buckets": {"<le>": cumulative count, ..., "+Inf": count}, "sum": S, "count": C}`;
//! - a non-finite value is the string `"NaN"`, `"+Inf"` or `"-Inf"` (JSON
//!   has no such numbers). Integral values are written as integers (`5`, not
//!   `5.0`).
//!
//! Names: metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
//! `[a-zA-Z_][a-zA-Z0-9_]*`. Names come from code, so passing an invalid one
//! to a constructor or builder here is a programming error, caught by
//! `debug_assert!`. JSON from another process is data: [`Families::from_json`]
//! rejects invalid names with an error. As a last line of defence
//! [`Families::to_prometheus`] replaces invalid characters with `_`, so the
//! text is always parseable. The label `le` is reserved for histogram buckets
//! and is not rendered from a histogram sample's own labels.
//!
//! Values are `f64`, as in Prometheus; counters beyond 2^53 lose precision,
//! which no counter here reaches.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

/// `Content-Type` of a Prometheus text exposition (format 0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The label that tells the nodes of a multiconnect deployment apart.
pub const NODE_LABEL: &str = "node";

/// Default histogram bounds in milliseconds, suited to HTTP latencies.
pub const DEFAULT_LATENCY_BOUNDS_MS: [f64; 11] =
    [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// A sample's labels, sorted by name so output is deterministic.
pub type Labels = BTreeMap<String, String>;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    /// The name used in JSON `type` and in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }

    /// The kind for a `type` name; `None` for anything else (`summary`,
    /// `untyped`, ...), which this model does not have.
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "gauge" => Some(Kind::Gauge),
            "counter" => Some(Kind::Counter),
            "histogram" => Some(Kind::Histogram),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A histogram bucket: observations `<= le`, counted cumulatively.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub le: f64,
    pub count: u64,
}

/// The value of one histogram series.
///
/// Invariants (kept by [`HistogramValue::new`]/[`HistogramValue::observe`]
/// and checked by [`Families::from_json`]): `buckets` have finite, strictly
/// ascending bounds and non-decreasing cumulative counts, none above `count`.
/// The `+Inf` bucket is implicit: it is `count`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    pub buckets: Vec<Bucket>,
    pub sum: f64,
    pub count: u64,
}

impl HistogramValue {
    /// An empty histogram with these finite, ascending upper bounds (a
    /// programming error otherwise: `debug_assert!`, and in release builds
    /// non-finite bounds are dropped and the rest sorted and deduplicated).
    pub fn new(bounds: &[f64]) -> Self {
        let buckets = clean_bounds(bounds).into_iter().map(|le| Bucket { le, count: 0 }).collect();
        HistogramValue { buckets, sum: 0.0, count: 0 }
    }

    /// Records one observation. `NaN` is ignored: it fits no bucket and
    /// would poison the sum for good.
    pub fn observe(&mut self, value: f64) {
        if value.is_nan() {
            return;
        }
        for bucket in self.buckets.iter_mut().filter(|b| value <= b.le) {
            bucket.count += 1;
        }
        self.count += 1;
        self.sum += value;
    }

    /// Whether the invariants above hold.
    fn check(&self) -> Result<(), String> {
        let mut previous: Option<Bucket> = None;
        for bucket in &self.buckets {
            if !bucket.le.is_finite() {
                return Err(format!("bucket bound {} is not finite", bucket.le));
            }
            if let Some(p) = previous {
                if bucket.le <= p.le {
                    return Err(format!("bucket bound {} repeats", fmt_number(bucket.le)));
                }
                if bucket.count < p.count {
                    return Err(format!("bucket counts are not cumulative at le={}", fmt_number(bucket.le)));
                }
            }
            previous = Some(*bucket);
        }
        match previous {
            Some(last) if last.count > self.count => {
                Err(format!("bucket le={} counts more than count {}", fmt_number(last.le), self.count))
            }
            _ => Ok(()),
        }
    }
}

/// Bounds as a histogram needs them: finite, strictly ascending.
fn clean_bounds(bounds: &[f64]) -> Vec<f64> {
    debug_assert!(
        bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]),
        "histogram bounds must be finite and strictly ascending: {bounds:?}"
    );
    let mut clean: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
    clean.sort_by(f64::total_cmp);
    clean.dedup();
    clean
}

/// A sample's value: a number (gauge, counter) or a histogram.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    Number(f64),
    Histogram(HistogramValue),
}

impl SampleValue {
    pub fn as_number(&self) -> Option<f64> {
        match self {
            SampleValue::Number(v) => Some(*v),
            SampleValue::Histogram(_) => None,
        }
    }

    pub fn as_histogram(&self) -> Option<&HistogramValue> {
        match self {
            SampleValue::Number(_) => None,
            SampleValue::Histogram(h) => Some(h),
        }
    }
}

/// One series of a family: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: SampleValue,
}

impl Sample {
    /// A sample without labels.
    pub fn new(value: SampleValue) -> Self {
        Sample { labels: Labels::new(), value }
    }

    pub fn number(value: f64) -> Self {
        Self::new(SampleValue::Number(value))
    }

    pub fn histogram(value: HistogramValue) -> Self {
        Self::new(SampleValue::Histogram(value))
    }

    /// Sets a label (replacing one of the same name). An invalid label name
    /// is a programming error (`debug_assert!`).
    pub fn label(mut self, name: &str, value: &str) -> Self {
        debug_assert!(is_valid_label_name(name), "invalid label name {name:?}");
        self.labels.insert(name.to_string(), value.to_string());
        self
    }

    /// Sets several labels, as [`Sample::label`].
    pub fn labels(self, labels: &[(&str, &str)]) -> Self {
        labels.iter().fold(self, |sample, (name, value)| sample.label(name, value))
    }

    /// Whether the labels are exactly these.
    fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        self.labels.len() == labels.len()
            && labels.iter().all(|(name, value)| self.labels.get(*name).map(String::as_str) == Some(*value))
    }
}

/// A metric: name, kind, help text and its samples (series). Label sets are
/// meant to be unique within a family; [`Families`] enforces that when
/// families are added or merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    pub help: String,
    pub samples: Vec<Sample>,
}

impl Family {
    /// A family without samples. An invalid name is a programming error
    /// (`debug_assert!`).
    pub fn new(name: &str, kind: Kind, help: &str) -> Self {
        debug_assert!(is_valid_metric_name(name), "invalid metric name {name:?}");
        Family { name: name.to_string(), kind, help: help.to_string(), samples: Vec::new() }
    }

    pub fn with_sample(mut self, sample: Sample) -> Self {
        self.samples.push(sample);
        self
    }

    /// Sets a label on every sample (e.g. [`NODE_LABEL`]), replacing one of
    /// the same name.
    pub fn with_label(mut self, name: &str, value: &str) -> Self {
        debug_assert!(is_valid_label_name(name), "invalid label name {name:?}");
        for sample in &mut self.samples {
            sample.labels.insert(name.to_string(), value.to_string());
        }
        self
    }

    /// The value of the sample with exactly these labels.
    pub fn find(&self, labels: &[(&str, &str)]) -> Option<&SampleValue> {
        self.samples.iter().find(|s| s.has_labels(labels)).map(|s| &s.value)
    }
}

/// Why [`Families::merge`] (or [`Families::push`]) dropped something. The
/// first family or sample always wins; the caller may log these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A family of this name exists with another kind; the incoming family
    /// was dropped whole.
    Kind { name: String, kept: Kind, dropped: Kind },
    /// A sample with these labels exists in the family; the incoming one was
    /// dropped.
    DuplicateSample { name: String, labels: Labels },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Kind { name, kept, dropped } => {
                write!(f, "metric {name}: a {dropped} clashes with the existing {kept}; dropped")
            }
            Conflict::DuplicateSample { name, labels } => {
                write!(f, "metric {name}: a second sample with labels {labels:?}; dropped")
            }
        }
    }
}

/// Why [`Families::from_json`] rejected its input: where (`name.data[2].value`)
/// and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metrics JSON at {path}: {reason}")]
pub struct FromJsonError {
    pub path: String,
    pub reason: String,
}

fn json_error(path: impl Into<String>, reason: impl Into<String>) -> FromJsonError {
    FromJsonError { path: path.into(), reason: reason.into() }
}

/// A snapshot: metric families sorted by name, names unique, so both
/// renderings are deterministic and a JSON round trip gives back an equal
/// value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Families {
    families: Vec<Family>,
}

impl Families {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.families.len()
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Family> {
        self.position(name).ok().map(|i| &self.families[i])
    }

    /// The families, by name.
    pub fn iter(&self) -> std::slice::Iter<'_, Family> {
        self.families.iter()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.families.binary_search_by(|f| f.name.as_str().cmp(name))
    }

    /// Adds a family, combining it with an existing one of the same name and
    /// kind. What could not be added is returned (see [`Conflict`]); the
    /// help text of the existing family stays unless it is empty.
    pub fn push(&mut self, family: Family) -> Vec<Conflict> {
        let index = match self.position(&family.name) {
            Ok(i) => i,
            Err(i) => {
                let empty =
                    Family { name: family.name.clone(), kind: family.kind, help: String::new(), samples: Vec::new() };
                self.families.insert(i, empty);
                i
            }
        };
        let existing = &mut self.families[index];
        if existing.kind != family.kind {
            return vec![Conflict::Kind { name: family.name, kept: existing.kind, dropped: family.kind }];
        }
        if existing.help.is_empty() {
            existing.help = family.help;
        }
        let mut conflicts = Vec::new();
        for sample in family.samples {
            if existing.samples.iter().any(|s| s.labels == sample.labels) {
                conflicts.push(Conflict::DuplicateSample { name: existing.name.clone(), labels: sample.labels });
            } else {
                existing.samples.push(sample);
            }
        }
        conflicts
    }

    /// Adds all of `other`'s families, as [`Families::push`]: the same name
    /// and kind combine their samples; on a kind clash or a repeated label
    /// set the first wins and the clash is returned.
    pub fn merge(&mut self, other: Families) -> Vec<Conflict> {
        other.families.into_iter().flat_map(|family| self.push(family)).collect()
    }

    /// Sets a label on every sample of every family (e.g. [`NODE_LABEL`]),
    /// replacing one of the same name.
    pub fn with_label(mut self, name: &str, value: &str) -> Self {
        self.families = self.families.into_iter().map(|f| f.with_label(name, value)).collect();
        self
    }

    /// One set for a multiconnect Prometheus scrape: each node's families
    /// labelled `node="<id>"`, merged. Conflicts as [`Families::merge`].
    pub fn merge_nodes<N: AsRef<str>>(nodes: impl IntoIterator<Item = (N, Families)>) -> (Families, Vec<Conflict>) {
        let mut all = Families::new();
        let mut conflicts = Vec::new();
        for (node, families) in nodes {
            conflicts.extend(all.merge(families.with_label(NODE_LABEL, node.as_ref())));
        }
        (all, conflicts)
    }

    /// `{"<node>": <families JSON>, ...}`: the per-node nesting of
    /// multiconnect `/v1/stats` (`stats.app.<node>`).
    pub fn nodes_to_json<'a>(nodes: impl IntoIterator<Item = (&'a str, &'a Families)>) -> Value {
        Value::Object(nodes.into_iter().map(|(node, families)| (node.to_string(), families.to_json())).collect())
    }

    /// Adds one sample to the family `name`, creating it. Builders are for
    /// code: a kind clash or a repeated label set is a programming error
    /// (`debug_assert!`; in release builds the first wins).
    pub fn add(&mut self, name: &str, kind: Kind, help: &str, sample: Sample) -> &mut Self {
        let conflicts = self.push(Family::new(name, kind, help).with_sample(sample));
        debug_assert!(conflicts.is_empty(), "metric builder conflict: {conflicts:?}");
        self
    }

    /// An unlabelled gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) -> &mut Self {
        self.gauge_with(name, help, &[], value)
    }

    pub fn gauge_with(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.add(name, Kind::Gauge, help, Sample::number(value).labels(labels))
    }

    /// An unlabelled counter sample.
    pub fn counter(&mut self, name: &str, help: &str, value: f64) -> &mut Self {
        self.counter_with(name, help, &[], value)
    }

    pub fn counter_with(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.add(name, Kind::Counter, help, Sample::number(value).labels(labels))
    }

    pub fn histogram_with(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: HistogramValue,
    ) -> &mut Self {
        self.add(name, Kind::Histogram, help, Sample::histogram(value).labels(labels))
    }

    /// The JSON rendering (see the module docs for the shape).
    pub fn to_json(&self) -> Value {
        Value::Object(self.families.iter().map(|f| (f.name.clone(), family_json(f))).collect())
    }

    /// Parses the JSON rendering back, validating names, kinds, values and
    /// histogram invariants.
    pub fn from_json(json: &Value) -> Result<Families, FromJsonError> {
        let map = json.as_object().ok_or_else(|| json_error("$", "expected an object of metric families"))?;
        let mut families = Families::new();
        for (name, body) in map {
            let family = parse_family(name, body)?;
            if let Some(conflict) = families.push(family).into_iter().next() {
                return Err(json_error(name.as_str(), conflict.to_string()));
            }
        }
        Ok(families)
    }

    /// The Prometheus text exposition (format 0.0.4), families by name.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        for family in &self.families {
            render_family(&mut out, family);
        }
        out
    }
}

impl<'a> IntoIterator for &'a Families {
    type Item = &'a Family;
    type IntoIter = std::slice::Iter<'a, Family>;

    fn into_iter(self) -> Self::IntoIter {
        self.families.iter()
    }
}

/// Serialises as [`Families::to_json`].
impl Serialize for Families {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// Deserialises as [`Families::from_json`].
impl<'de> Deserialize<'de> for Families {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Value::deserialize(deserializer)?;
        Families::from_json(&json).map_err(serde::de::Error::custom)
    }
}

// ---- names ----

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_valid_metric_name(name: &str) -> bool {
    is_valid_name(name, true)
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_valid_label_name(name: &str) -> bool {
    is_valid_name(name, false)
}

fn is_valid_name(name: &str, colon: bool) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| is_name_char(c, colon) && !c.is_ascii_digit()) && chars.all(|c| is_name_char(c, colon))
}

fn is_name_char(c: char, colon: bool) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':')
}

/// The name itself if valid, else with invalid characters replaced by `_`
/// (and `_` in front of a leading digit).
fn sanitize(name: &str, colon: bool) -> Cow<'_, str> {
    if is_valid_name(name, colon) {
        return Cow::Borrowed(name);
    }
    let mut out: String = name.chars().map(|c| if is_name_char(c, colon) { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    Cow::Owned(out)
}

// ---- numbers ----

/// 2^53: integers below this are exact in an f64.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

fn is_exact_integer(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() < MAX_EXACT_INTEGER
}

/// A value as Prometheus (Go `ParseFloat`) reads it: `5`, `0.25`, `1e-7`,
/// `NaN`, `+Inf`, `-Inf`.
fn fmt_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if is_exact_integer(v) {
        format!("{}", v as i64)
    } else if (1e-5..1e16).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// The non-finite values, as written in both renderings.
fn parse_special(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

// ---- JSON ----

fn family_json(family: &Family) -> Value {
    let data: Vec<Value> = family.samples.iter().map(sample_json).collect();
    json!({"type": family.kind.as_str(), "help": family.help, "data": data})
}

fn sample_json(sample: &Sample) -> Value {
    let value = match &sample.value {
        SampleValue::Number(v) => number_json(*v),
        SampleValue::Histogram(h) => histogram_json(h),
    };
    json!({"labels": sample.labels, "value": value})
}

fn number_json(v: f64) -> Value {
    if !v.is_finite() {
        Value::String(fmt_number(v))
    } else if is_exact_integer(v) {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn histogram_json(h: &HistogramValue) -> Value {
    let mut buckets: Map<String, Value> = h.buckets.iter().map(|b| (fmt_number(b.le), json!(b.count))).collect();
    buckets.insert("+Inf".to_string(), json!(h.count));
    json!({"buckets": buckets, "sum": number_json(h.sum), "count": h.count})
}

fn parse_family(name: &str, body: &Value) -> Result<Family, FromJsonError> {
    if !is_valid_metric_name(name) {
        return Err(json_error(name, "invalid metric name"));
    }
    let body = body.as_object().ok_or_else(|| json_error(name, "expected an object"))?;
    let kind = body
        .get("type")
        .and_then(Value::as_str)
        .and_then(Kind::parse)
        .ok_or_else(|| json_error(format!("{name}.type"), "expected \"gauge\", \"counter\" or \"histogram\""))?;
    let help = match body.get("help") {
        None | Some(Value::Null) => "",
        Some(Value::String(help)) => help.as_str(),
        Some(_) => return Err(json_error(format!("{name}.help"), "expected a string")),
    };
    let data = match body.get("data") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(data)) => data.as_slice(),
        Some(_) => return Err(json_error(format!("{name}.data"), "expected an array")),
    };
    let samples = data
        .iter()
        .enumerate()
        .map(|(i, sample)| parse_sample(kind, sample, &format!("{name}.data[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(Family { name: name.to_string(), kind, help: help.to_string(), samples })
}

fn parse_sample(kind: Kind, sample: &Value, path: &str) -> Result<Sample, FromJsonError> {
    let sample = sample.as_object().ok_or_else(|| json_error(path, "expected an object"))?;
    let labels = match sample.get("labels") {
        None | Some(Value::Null) => Labels::new(),
        Some(Value::Object(labels)) => parse_labels(labels, &format!("{path}.labels"))?,
        Some(_) => return Err(json_error(format!("{path}.labels"), "expected an object")),
    };
    let value_path = format!("{path}.value");
    let value = sample.get("value").ok_or_else(|| json_error(value_path.as_str(), "missing"))?;
    let value = match kind {
        Kind::Histogram => SampleValue::Histogram(parse_histogram(value, &value_path)?),
        Kind::Gauge | Kind::Counter => SampleValue::Number(
            parse_number(value).ok_or_else(|| json_error(value_path.as_str(), "expected a number"))?,
        ),
    };
    Ok(Sample { labels, value })
}

fn parse_labels(labels: &Map<String, Value>, path: &str) -> Result<Labels, FromJsonError> {
    labels
        .iter()
        .map(|(name, value)| {
            if !is_valid_label_name(name) {
                return Err(json_error(format!("{path}.{name}"), "invalid label name"));
            }
            let value = value.as_str().ok_or_else(|| json_error(format!("{path}.{name}"), "expected a string"))?;
            Ok((name.clone(), value.to_string()))
        })
        .collect()
}

/// A JSON number, or one of the strings `NaN`, `+Inf`, `-Inf`.
fn parse_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_special(s),
        _ => None,
    }
}

fn parse_histogram(value: &Value, path: &str) -> Result<HistogramValue, FromJsonError> {
    let value = value.as_object().ok_or_else(|| json_error(path, "expected a histogram object"))?;
    let count = value
        .get("count")
        .and_then(Value::as_u64)
        .ok_or_else(|| json_error(format!("{path}.count"), "expected a non-negative integer"))?;
    let sum = value
        .get("sum")
        .and_then(parse_number)
        .ok_or_else(|| json_error(format!("{path}.sum"), "expected a number"))?;
    let buckets_path = format!("{path}.buckets");
    let raw = value
        .get("buckets")
        .and_then(Value::as_object)
        .ok_or_else(|| json_error(buckets_path.as_str(), "expected an object"))?;
    let mut buckets = Vec::with_capacity(raw.len());
    for (le, n) in raw {
        let bucket_path = format!("{buckets_path}.{le}");
        let n = n.as_u64().ok_or_else(|| json_error(bucket_path.as_str(), "expected a non-negative integer"))?;
        match parse_special(le).or_else(|| le.parse::<f64>().ok()) {
            Some(f64::INFINITY) if n == count => {}
            Some(f64::INFINITY) => return Err(json_error(bucket_path, format!("differs from count {count}"))),
            Some(bound) if bound.is_finite() => buckets.push(Bucket { le: bound, count: n }),
            _ => return Err(json_error(bucket_path, "expected a finite bound or +Inf")),
        }
    }
    buckets.sort_by(|a, b| a.le.total_cmp(&b.le));
    let histogram = HistogramValue { buckets, sum, count };
    histogram.check().map_err(|reason| json_error(buckets_path, reason))?;
    Ok(histogram)
}

// ---- Prometheus text ----

fn render_family(out: &mut String, family: &Family) {
    let name = sanitize(&family.name, true);
    if !family.help.is_empty() {
        out.push_str(&format!("# HELP {name} {}\n", escape(&family.help, false)));
    }
    out.push_str(&format!("# TYPE {name} {}\n", family.kind));
    for sample in &family.samples {
        match &sample.value {
            SampleValue::Number(v) => render_line(out, &name, "", &sample.labels, None, *v),
            SampleValue::Histogram(h) => render_histogram(out, &name, &sample.labels, h),
        }
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &Labels, h: &HistogramValue) {
    // A histogram sample's own `le` label would clash with the buckets'.
    let labels: Labels =
        labels.iter().filter(|(k, _)| k.as_str() != "le").map(|(k, v)| (k.clone(), v.clone())).collect();
    for bucket in &h.buckets {
        render_line(out, name, "_bucket", &labels, Some(&fmt_number(bucket.le)), bucket.count as f64);
    }
    render_line(out, name, "_bucket", &labels, Some("+Inf"), h.count as f64);
    render_line(out, name, "_sum", &labels, None, h.sum);
    render_line(out, name, "_count", &labels, None, h.count as f64);
}

/// `name<suffix>{k="v",...,le="<le>"} value`.
fn render_line(out: &mut String, name: &str, suffix: &str, labels: &Labels, le: Option<&str>, value: f64) {
    let mut pairs: Vec<String> =
        labels.iter().map(|(k, v)| format!("{}=\"{}\"", sanitize(k, false), escape(v, true))).collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    out.push_str(name);
    out.push_str(suffix);
    if !pairs.is_empty() {
        out.push('{');
        out.push_str(&pairs.join(","));
        out.push('}');
    }
    out.push(' ');
    out.push_str(&fmt_number(value));
    out.push('\n');
}

/// Escapes backslash and newline (HELP text), and double quote too in label
/// values.
fn escape(text: &str, quote: bool) -> Cow<'_, str> {
    if !text.contains(['\\', '\n', '"']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

// ---- live instruments ----

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps hold plain counts; a panic elsewhere cannot leave
    // them half-updated in a way that matters, so poisoning is ignored.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Cells keyed by label values, kept sorted so a lookup is a binary search
/// that allocates only when a label set is new.
#[derive(Debug)]
struct LabelledCells<T> {
    label_names: Vec<String>,
    cells: Mutex<Vec<(Vec<String>, T)>>,
}

impl<T: Clone> LabelledCells<T> {
    fn new(label_names: &[&str]) -> Self {
        debug_assert!(label_names.iter().all(|n| is_valid_label_name(n)), "invalid label names {label_names:?}");
        LabelledCells {
            label_names: label_names.iter().map(|n| n.to_string()).collect(),
            cells: Mutex::new(Vec::new()),
        }
    }

    /// The index of the cell for these label values, or where it belongs.
    /// One value per label name is a programming error otherwise
    /// (`debug_assert!`); in release builds missing values are empty and
    /// extra ones ignored.
    fn search(&self, cells: &[(Vec<String>, T)], values: &[&str]) -> Result<usize, usize> {
        debug_assert_eq!(values.len(), self.label_names.len(), "label values {values:?} for {:?}", self.label_names);
        let width = self.label_names.len();
        cells.binary_search_by(|(stored, _)| stored.iter().map(String::as_str).cmp(fitted(values, width)))
    }

    /// Runs `update` on the cell for these label values, creating it with
    /// `init` first.
    fn update<R>(&self, values: &[&str], init: impl FnOnce() -> T, update: impl FnOnce(&mut T) -> R) -> R {
        let mut cells = lock(&self.cells);
        let index = match self.search(&cells, values) {
            Ok(i) => i,
            Err(i) => {
                let key = fitted(values, self.label_names.len()).map(str::to_string).collect();
                cells.insert(i, (key, init()));
                i
            }
        };
        update(&mut cells[index].1)
    }

    fn get(&self, values: &[&str]) -> Option<T> {
        let cells = lock(&self.cells);
        let index = self.search(&cells, values).ok()?;
        Some(cells[index].1.clone())
    }

    /// `(labels, value)` for every label set seen, sorted by label values.
    fn snapshot(&self) -> Vec<(Labels, T)> {
        let cells = lock(&self.cells).clone();
        cells.into_iter().map(|(values, cell)| (self.label_names.iter().cloned().zip(values).collect(), cell)).collect()
    }
}

/// `values` padded with empty strings or cut to `width`.
fn fitted<'v>(values: &'v [&'v str], width: usize) -> impl Iterator<Item = &'v str> {
    values.iter().copied().chain(std::iter::repeat("")).take(width)
}

/// A counter without labels: one atomic.
#[derive(Debug)]
pub struct Counter {
    name: String,
    help: String,
    value: AtomicU64,
}

impl Counter {
    /// An invalid name is a programming error (`debug_assert!`).
    pub fn new(name: &str, help: &str) -> Self {
        debug_assert!(is_valid_metric_name(name), "invalid metric name {name:?}");
        Counter { name: name.to_string(), help: help.to_string(), value: AtomicU64::new(0) }
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn family(&self) -> Family {
        Family::new(&self.name, Kind::Counter, &self.help).with_sample(Sample::number(self.get() as f64))
    }
}

/// A counter per label values (`callback_requests` by `result`, Cloud
/// errors by `code`): a short mutex-held update of a sorted list.
#[derive(Debug)]
pub struct CounterVec {
    name: String,
    help: String,
    cells: LabelledCells<u64>,
}

impl CounterVec {
    /// Invalid names are a programming error (`debug_assert!`).
    pub fn new(name: &str, help: &str, label_names: &[&str]) -> Self {
        debug_assert!(is_valid_metric_name(name), "invalid metric name {name:?}");
        CounterVec { name: name.to_string(), help: help.to_string(), cells: LabelledCells::new(label_names) }
    }

    /// Adds one for these label values, one per label name in order.
    pub fn inc(&self, label_values: &[&str]) {
        self.add(label_values, 1);
    }

    pub fn add(&self, label_values: &[&str], n: u64) {
        self.cells.update(label_values, || 0, |count| *count += n);
    }

    /// The count for these label values (0 if never counted).
    pub fn get(&self, label_values: &[&str]) -> u64 {
        self.cells.get(label_values).unwrap_or(0)
    }

    /// One sample per label set counted so far.
    pub fn family(&self) -> Family {
        let samples = self
            .cells
            .snapshot()
            .into_iter()
            .map(|(labels, n)| Sample { labels, value: SampleValue::Number(n as f64) })
            .collect();
        Family { samples, ..Family::new(&self.name, Kind::Counter, &self.help) }
    }
}

/// A gauge without labels: one atomic, set or moved up and down.
#[derive(Debug)]
pub struct Gauge {
    name: String,
    help: String,
    value: AtomicI64,
}

impl Gauge {
    /// An invalid name is a programming error (`debug_assert!`).
    pub fn new(name: &str, help: &str) -> Self {
        debug_assert!(is_valid_metric_name(name), "invalid metric name {name:?}");
        Gauge { name: name.to_string(), help: help.to_string(), value: AtomicI64::new(0) }
    }

    pub fn set(&self, value: i64) {
        self.value.store(value, Ordering::Relaxed);
    }

    pub fn add(&self, delta: i64) {
        self.value.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn dec(&self) {
        self.add(-1);
    }

    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn family(&self) -> Family {
        Family::new(&self.name, Kind::Gauge, &self.help).with_sample(Sample::number(self.get() as f64))
    }
}

/// A histogram without labels over fixed bounds in milliseconds: one atomic
/// per bucket and one for the sum, no lock.
///
/// A snapshot's `count` is the total of its buckets, so `+Inf` and `_count`
/// always agree; `sum` may lag by an observation in flight.
#[derive(Debug)]
pub struct Histogram {
    name: String,
    help: String,
    bounds: Vec<f64>,
    /// Per bucket, not cumulative; the last one is above every bound.
    counts: Vec<AtomicU64>,
    sum_bits: AtomicU64,
}

impl Histogram {
    /// With [`DEFAULT_LATENCY_BOUNDS_MS`].
    pub fn new(name: &str, help: &str) -> Self {
        Self::with_bounds(name, help, &DEFAULT_LATENCY_BOUNDS_MS)
    }

    /// With these bounds in ms (finite, ascending; see
    /// [`HistogramValue::new`]). An invalid name is a programming error
    /// (`debug_assert!`).
    pub fn with_bounds(name: &str, help: &str, bounds_ms: &[f64]) -> Self {
        debug_assert!(is_valid_metric_name(name), "invalid metric name {name:?}");
        let bounds = clean_bounds(bounds_ms);
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram {
            name: name.to_string(),
            help: help.to_string(),
            bounds,
            counts,
            sum_bits: AtomicU64::new(0.0f64.to_bits()),
        }
    }

    /// Records one observation in ms (bounds are inclusive: `le`). `NaN` is
    /// ignored.
    pub fn observe(&self, ms: f64) {
        if ms.is_nan() {
            return;
        }
        let bucket = self.bounds.partition_point(|&bound| bound < ms);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        // The closure always returns Some, so this cannot fail.
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + ms).to_bits()));
    }

    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(elapsed.as_secs_f64() * 1000.0);
    }

    pub fn snapshot(&self) -> HistogramValue {
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(&le, count)| {
                cumulative += count.load(Ordering::Relaxed);
                Bucket { le, count: cumulative }
            })
            .collect();
        let above = self.counts.last().map_or(0, |c| c.load(Ordering::Relaxed));
        HistogramValue {
            buckets,
            sum: f64::from_bits(self.sum_bits.load(Ordering::Relaxed)),
            count: cumulative + above,
        }
    }

    pub fn family(&self) -> Family {
        Family::new(&self.name, Kind::Histogram, &self.help).with_sample(Sample::histogram(self.snapshot()))
    }
}

/// A histogram per label values (request latency by method and result),
/// over fixed bounds in milliseconds: a short mutex-held update.
#[derive(Debug)]
pub struct HistogramVec {
    name: String,
    help: String,
    bounds: Vec<f64>,
    cells: LabelledCells<HistogramValue>,
}

impl HistogramVec {
    /// With [`DEFAULT_LATENCY_BOUNDS_MS`].
    pub fn new(name: &str, help: &str, label_names: &[&str]) -> Self {
        Self::with_bounds(name, help, label_names, &DEFAULT_LATENCY_BOUNDS_MS)
    }

    /// With these bounds in ms (see [`HistogramValue::new`]). Invalid names
    /// are a programming error (`debug_assert!`).
    pub fn with_bounds(name: &str, help: &str, label_names: &[&str], bounds_ms: &[f64]) -> Self {
        debug_assert!(is_valid_metric_name(name), "invalid metric name {name:?}");
        HistogramVec {
            name: name.to_string(),
            help: help.to_string(),
            bounds: clean_bounds(bounds_ms),
            cells: LabelledCells::new(label_names),
        }
    }

    /// Records one observation in ms for these label values. `NaN` is
    /// ignored.
    pub fn observe(&self, label_values: &[&str], ms: f64) {
        if ms.is_nan() {
            return;
        }
        self.cells.update(label_values, || HistogramValue::new(&self.bounds), |h| h.observe(ms));
    }

    pub fn observe_duration(&self, label_values: &[&str], elapsed: Duration) {
        self.observe(label_values, elapsed.as_secs_f64() * 1000.0);
    }

    /// The histogram for these label values, if anything was observed.
    pub fn get(&self, label_values: &[&str]) -> Option<HistogramValue> {
        self.cells.get(label_values)
    }

    /// One sample per label set observed so far.
    pub fn family(&self) -> Family {
        let samples = self
            .cells
            .snapshot()
            .into_iter()
            .map(|(labels, h)| Sample { labels, value: SampleValue::Histogram(h) })
            .collect();
        Family { samples, ..Family::new(&self.name, Kind::Histogram, &self.help) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRICKY_HELP: &str = "Help with \"quotes\", a \\ backslash\nand a second line";
    const TRICKY_VALUE: &str = "C:\\dir\\ \"x\" said\nbye";

    /// A gauge, a labelled counter, a labelled histogram and a gauge with a
    /// label value and help text that need escaping.
    fn sample_families() -> Families {
        let mut families = Families::new();
        families.gauge("callback_queue_size", "Callbacks waiting to be sent", 3.0);
        families
            .counter_with("callback_requests", "Webhook POSTs by result", &[("result", "success")], 10.0)
            .counter_with("callback_requests", "Webhook POSTs by result", &[("result", "500")], 2.0);
        let mut latency = HistogramValue::new(&[10.0, 100.0, 1000.0]);
        for ms in [5.0, 10.0, 50.0, 150.0, 2000.0] {
            latency.observe(ms);
        }
        families.histogram_with(
            "callback_requests_duration_ms",
            "Webhook POST latency",
            &[("type", "status")],
            latency,
        );
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
        let other =
            family.find(&[("method", "POST_v1_messages"), ("result", "400")]).and_then(SampleValue::as_histogram);
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
}
