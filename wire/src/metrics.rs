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
//!
//! The model and its names and numbers live here; `json` and `prometheus`
//! hold the two renderings, `instruments` the live instruments.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

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

    /// Families built from parts another process sent (the gRPC form),
    /// with the checks [`Families::from_json`] makes: names, label names,
    /// values of the family's kind, histogram invariants, no duplicates.
    pub fn from_parts(parts: impl IntoIterator<Item = Family>) -> Result<Families, FromJsonError> {
        let mut families = Families::new();
        for family in parts {
            let name = family.name.clone();
            if !is_valid_metric_name(&name) {
                return Err(json_error(name, "invalid metric name"));
            }
            for sample in &family.samples {
                if let Some(label) = sample.labels.keys().find(|l| !is_valid_label_name(l)) {
                    return Err(json_error(format!("{name}.labels.{label}"), "invalid label name"));
                }
                match (&sample.value, family.kind) {
                    (SampleValue::Histogram(h), Kind::Histogram) => {
                        if h.buckets.iter().any(|b| !b.le.is_finite()) {
                            return Err(json_error(format!("{name}.buckets"), "expected finite bounds"));
                        }
                        h.check().map_err(|reason| json_error(format!("{name}.buckets"), reason))?;
                    }
                    (SampleValue::Number(_), Kind::Gauge | Kind::Counter) => {}
                    _ => return Err(json_error(format!("{name}.value"), "a value of another kind")),
                }
            }
            if let Some(conflict) = families.push(family).into_iter().next() {
                return Err(json_error(name, conflict.to_string()));
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

mod instruments;
mod json;
mod prometheus;
#[cfg(test)]
mod tests;

pub use instruments::{Counter, CounterVec, Gauge, Histogram, HistogramVec};
use json::{family_json, parse_family};
use prometheus::render_family;
