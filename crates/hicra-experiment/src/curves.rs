//! `curves.png`: per arm, the metric's mean over seeds at each step where at least one run has
//! it, with a band of the 95% t interval where two or more runs do.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::spec::Interval;
use crate::stats::summarize;

const SIZE: (u32, u32) = (900, 540);
const COLORS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

/// One arm's curve: `(step, mean, band)`.
pub type MeanCurve = Vec<(f64, f64, Option<[f64; 2]>)>;

/// Mean and band per step over the runs' curves.
pub fn mean_curve(curves: &[Vec<(f64, f64)>]) -> MeanCurve {
    let mut by_step: BTreeMap<i64, (f64, Vec<f64>)> = BTreeMap::new();
    for curve in curves {
        for &(step, v) in curve {
            by_step
                .entry(step.round() as i64)
                .or_insert((step, Vec::new()))
                .1
                .push(v);
        }
    }
    by_step
        .into_values()
        .map(|(step, vs)| {
            let s = summarize(&vs, Interval::T);
            (step, s.mean, s.ci95)
        })
        .collect()
}

/// Draws the arms' mean curves into `path`.
pub fn draw(path: &Path, metric: &str, arms: &[(String, MeanCurve)]) -> Result<(), String> {
    hicra_metrics::register_font();
    let points = arms.iter().flat_map(|(_, c)| c.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for (x, m, band) in points {
        let [lo, hi] = band.unwrap_or([*m, *m]);
        (x0, x1) = (x0.min(*x), x1.max(*x));
        (y0, y1) = (y0.min(lo.min(*m)), y1.max(hi.max(*m)));
    }
    if !x0.is_finite() {
        return Err(format!("no run has values of {metric}"));
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    hicra_metrics::draw_png(path, SIZE, |root| {
        draw_arms(root, metric, arms, (x0..x1, y0..y1))
    })
}

/// The arms' bands and mean lines on `root` over the plotted ranges.
fn draw_arms(
    root: &hicra_metrics::Canvas<'_>,
    metric: &str,
    arms: &[(String, MeanCurve)],
    (xs, ys): (std::ops::Range<f64>, std::ops::Range<f64>),
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{metric}: mean over seeds, 95% band"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(60)
        .build_cartesian_2d(xs, ys)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for (k, (name, curve)) in arms.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let band: Vec<(f64, f64, f64)> = curve
            .iter()
            .filter_map(|(x, _, b)| b.map(|[lo, hi]| (*x, lo, hi)))
            .collect();
        if band.len() >= 2 {
            let outline: Vec<(f64, f64)> = band
                .iter()
                .map(|(x, _, hi)| (*x, *hi))
                .chain(band.iter().rev().map(|(x, lo, _)| (*x, *lo)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    color.mix(0.15).filled(),
                )))
                .map_err(err)?;
        }
        chart
            .draw_series(LineSeries::new(
                curve.iter().map(|(x, m, _)| (*x, *m)),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_per_step_with_bands_where_two_runs_have_a_value() {
        let c = mean_curve(&[vec![(1.0, 0.2), (2.0, 0.4)], vec![(1.0, 0.4)]]);
        assert_eq!(c.len(), 2);
        assert!((c[0].1 - 0.3).abs() < 1e-12 && c[0].2.is_some());
        assert_eq!((c[1].1, c[1].2), (0.4, None));
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("c.png");
        draw(&png, "accuracy/eval", &[("a".into(), c)]).unwrap();
        assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    }
}
