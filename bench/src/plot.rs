//! The latency-versus-throughput plot of `bench all`, drawn to a PNG with
//! plotters. Text needs a TrueType font: DejaVu Sans from the system
//! (Debian's `fonts-dejavu-core`), or the file `WA_BENCH_FONT` names.

use std::path::Path;

use anyhow::{Context, bail};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// One line of the plot: (requests per second, latency in ms) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (a percentile other than the first of its target).
    pub dashed: bool,
}

const FONT_PLACES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

fn register_font() -> anyhow::Result<()> {
    let chosen = std::env::var("WA_BENCH_FONT").ok();
    let path = chosen
        .iter()
        .map(String::as_str)
        .chain(FONT_PLACES.iter().copied())
        .find(|p| Path::new(p).exists())
        .context("no TrueType font for the plot: install fonts-dejavu-core, or name a .ttf in WA_BENCH_FONT")?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    if register_font_bytes(bytes).is_err() {
        bail!("{path} is not a font plotters can read");
    }
    Ok(())
}

fn register_font_bytes(bytes: &'static [u8]) -> Result<(), ()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| ())
}

/// Latency (log scale) against throughput, a line per series, to `path`.
pub fn latency_vs_throughput(path: &Path, title: &str, series: &[Series]) -> anyhow::Result<()> {
    register_font()?;
    let points = || series.iter().flat_map(|s| s.points.iter().copied());
    let max_x = points().map(|p| p.0).fold(1.0, f64::max) * 1.08;
    let max_y = points().map(|p| p.1).fold(1.0, f64::max) * 1.5;
    let min_y = points().map(|p| p.1).fold(max_y, f64::min).max(0.05) / 1.5;

    let root = BitMapBackend::new(path, (1100, 680)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(18)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..max_x, (min_y..max_y).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("requests answered per second")
        .y_desc("latency, ms (log scale)")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    let mut colour = 0;
    for s in series {
        if !s.dashed {
            colour += 1;
        }
        let style = Palette99::pick(colour).to_rgba();
        let points: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x, y.max(min_y))).collect();
        let line = if s.dashed {
            chart.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style.stroke_width(2)))?
        } else {
            chart.draw_series(LineSeries::new(points.clone(), style.stroke_width(2)))?
        };
        line.label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style.stroke_width(2)));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, style.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}
