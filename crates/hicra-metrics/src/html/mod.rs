//! `hicra report DIR` as one self-contained web page, `DIR/report.html`.
//!
//! The page needs no network and no server: its styles, its script and the run's data are
//! inline, so it can be mailed, attached to a ticket or opened from a cluster's scratch disk.
//! It has four parts, each driven by the same selected step:
//!
//! - **Curves**: one interactive chart per metric (hover for values, click to pick a step,
//!   filter by name), with shadow assigners and evaluation mirrors drawn on the chart of the
//!   metric they mirror ([`overlay`]).
//! - **Step table**: every metric at the picked step, with its first value and the change
//!   since the previous logged step; and the headline metrics at every step.
//! - **Rollouts**: the batches `sink.rollouts` wrote, token by token, coloured by advantage,
//!   a mask (planning, placebo...) or entropy, planning phrases underlined, a slider over the
//!   written steps, hover details per token; `report.html#set=eval&step=40&color=entropy`
//!   opens a view.
//! - **Mined grams**: each mining of `tagger.mined_grams`, its clusters and the grams kept.
//!
//! The Rust side only gathers and trims the data ([`data`]); drawing is the script's
//! (`assets/report/report.js`), so the page stays one file whatever the run holds.

pub mod data;
pub mod overlay;

use std::path::{Path, PathBuf};

use crate::report::{ReportError, Series, read_run_metrics};

static TEMPLATE: &str = include_str!("../../assets/report/report.html");
static STYLE: &str = include_str!("../../assets/report/report.css");
static SCRIPT: &str = include_str!("../../assets/report/report.js");

/// What [`write_html_report`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct HtmlReport {
    pub path: PathBuf,
    /// Charts drawn, and metrics overlaid on another's chart.
    pub charts: usize,
    pub overlaid: usize,
    /// Rollout batches shown, and the rollouts in them.
    pub rollout_batches: usize,
    pub rollouts: usize,
    /// Rollouts (and whole batches) left out to keep the page small.
    pub left_out: data::LeftOut,
    /// Strategic-gram minings listed.
    pub minings: usize,
}

/// Writes `DIR/report.html` from the run in `DIR` (at least its `metrics.jsonl`).
pub fn write_html_report(dir: &Path) -> Result<HtmlReport, ReportError> {
    write_html_page(dir, read_run_metrics(dir)?)
}

/// Writes `DIR/report.html` from `series` (the run's metrics, already read) and the rest of
/// the run in `DIR`.
pub fn write_html_page(dir: &Path, series: Series) -> Result<HtmlReport, ReportError> {
    let page = data::gather(dir, series)?;
    let report = HtmlReport {
        path: dir.join("report.html"),
        charts: page.charts.len(),
        overlaid: page.charts.iter().map(|c| c.overlays.len()).sum(),
        rollout_batches: page.rollouts.len(),
        rollouts: page.rollouts.iter().map(|s| s.records.len()).sum(),
        left_out: page.left_out,
        minings: page.mined.len(),
    };
    let json = serde_json::to_string(&page).map_err(|e| ReportError::Draw(e.to_string()))?;
    let html = render(&page.run, &json);
    std::fs::write(&report.path, html).map_err(|source| ReportError::Write {
        path: report.path.clone(),
        source,
    })?;
    Ok(report)
}

/// The page: the template with the title, styles, script and data put in, each marker
/// replaced once, in order (so nothing put in is searched for markers again).
fn render(run: &str, json: &str) -> String {
    // Inside <script type="application/json"> only `</script` could end the block early;
    // `<` never occurs in JSON outside strings, where `\u003c` reads back the same.
    let data = json.replace('<', "\\u003c");
    let parts = [
        ("{{title}}", escape_html(run)),
        ("/*{{style}}*/", STYLE.to_string()),
        ("{{data}}", data),
        ("/*{{script}}*/", SCRIPT.to_string()),
    ];
    let mut page = String::with_capacity(TEMPLATE.len() + STYLE.len() + SCRIPT.len() + json.len());
    let mut rest = TEMPLATE;
    for (marker, value) in parts {
        let (head, tail) = rest
            .split_once(marker)
            .expect("the report template holds each marker once, in order");
        page.push_str(head);
        page.push_str(&value);
        rest = tail;
    }
    page.push_str(rest);
    page
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
