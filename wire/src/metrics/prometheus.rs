//! The Prometheus text exposition format 0.0.4 of [`Families`].

use std::borrow::Cow;

use super::*;

pub(super) fn render_family(out: &mut String, family: &Family) {
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
