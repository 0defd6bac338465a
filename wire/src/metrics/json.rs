//! The old client's JSON rendering of [`Families`], and reading it back
//! from another process (where names and values are data, checked).

use serde_json::{Map, Value, json};

use super::*;

pub(super) fn family_json(family: &Family) -> Value {
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

pub(super) fn parse_family(name: &str, body: &Value) -> Result<Family, FromJsonError> {
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
