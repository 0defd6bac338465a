//! Metric families on the wire: `wire::metrics::Families` to
//! [`core::NodeMetrics`](crate::core::NodeMetrics) and back. Reading back
//! makes the checks `Families::from_parts` makes: a coreapp's families are
//! data to the webapp.

use wire::metrics::{Bucket, Families, Family, FromJsonError, HistogramValue, Kind, Sample, SampleValue};

use crate::core as p;
use crate::core::metric_sample::Value as PValue;

/// A node's families as the coreapp answers them.
pub fn to_proto(node_id: &str, families: &Families) -> p::NodeMetrics {
    p::NodeMetrics { node_id: node_id.to_string(), families: families.iter().map(family).collect() }
}

/// The node's id and families a coreapp answered.
pub fn from_proto(metrics: p::NodeMetrics) -> Result<(String, Families), FromJsonError> {
    let families = metrics.families.into_iter().map(from_family).collect::<Result<Vec<_>, _>>()?;
    Ok((metrics.node_id, Families::from_parts(families)?))
}

fn family(f: &Family) -> p::MetricFamily {
    let kind = match f.kind {
        Kind::Gauge => p::MetricKind::Gauge,
        Kind::Counter => p::MetricKind::Counter,
        Kind::Histogram => p::MetricKind::Histogram,
    };
    p::MetricFamily {
        name: f.name.clone(),
        kind: kind.into(),
        help: f.help.clone(),
        samples: f
            .samples
            .iter()
            .map(|s| p::MetricSample {
                labels: s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                value: Some(match &s.value {
                    SampleValue::Number(n) => PValue::Number(*n),
                    SampleValue::Histogram(h) => PValue::Histogram(p::MetricHistogram {
                        buckets: h.buckets.iter().map(|b| p::MetricBucket { le: b.le, count: b.count }).collect(),
                        sum: h.sum,
                        count: h.count,
                    }),
                }),
            })
            .collect(),
    }
}

fn from_family(f: p::MetricFamily) -> Result<Family, FromJsonError> {
    let error = |reason: &str| FromJsonError { path: f.name.clone(), reason: reason.to_string() };
    let kind = match p::MetricKind::try_from(f.kind) {
        Ok(p::MetricKind::Gauge) => Kind::Gauge,
        Ok(p::MetricKind::Counter) => Kind::Counter,
        Ok(p::MetricKind::Histogram) => Kind::Histogram,
        _ => return Err(error("no known metric kind")),
    };
    let samples = f
        .samples
        .into_iter()
        .map(|s| {
            let value = match s.value.ok_or_else(|| error("a sample without a value"))? {
                PValue::Number(n) => SampleValue::Number(n),
                PValue::Histogram(h) => SampleValue::Histogram(HistogramValue {
                    buckets: h.buckets.into_iter().map(|b| Bucket { le: b.le, count: b.count }).collect(),
                    sum: h.sum,
                    count: h.count,
                }),
            };
            Ok(Sample { labels: s.labels.into_iter().collect(), value })
        })
        .collect::<Result<Vec<_>, FromJsonError>>()?;
    Ok(Family { name: f.name, kind, help: f.help, samples })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_cross_whole_and_bad_ones_are_refused() {
        let mut families = Families::new();
        let mut latency = HistogramValue::new(&[5.0, 50.0]);
        latency.observe(3.0);
        latency.observe(70.0);
        families.add("callback_requests", Kind::Counter, "webhooks sent", Sample::number(4.0).label("status", "ok"));
        families.add("callback_queue_size", Kind::Gauge, "", Sample::number(f64::NAN));
        families.add("callback_requests_duration_ms", Kind::Histogram, "latency", Sample::histogram(latency));
        let (node, back) = from_proto(to_proto("node-1", &families)).unwrap();
        assert_eq!(node, "node-1");
        assert_eq!(back.to_json(), families.to_json());

        let mut bad = to_proto("n", &families);
        bad.families[0].name = "no spaces allowed".into();
        assert!(from_proto(bad).is_err());
        let mut bad = to_proto("n", &families);
        let histogram = bad.families.iter_mut().find(|f| f.name == "callback_requests_duration_ms").unwrap();
        if let Some(PValue::Histogram(h)) = &mut histogram.samples[0].value {
            h.buckets.reverse();
        }
        assert!(from_proto(bad).is_err(), "buckets out of order");
        let mut bad = to_proto("n", &families);
        bad.families.push(bad.families[0].clone());
        assert!(from_proto(bad).is_err(), "a family twice");
    }
}
