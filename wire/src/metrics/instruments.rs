//! Live instruments a process updates cheaply from many tasks and turns
//! into a [`Family`] on request.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::*;

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
