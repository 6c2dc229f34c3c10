//! The scenario x seeds table `faultline run` prints.

use std::fmt::Write;
use std::time::Duration;

/// One scenario's line.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub seeds: u64,
    pub verdict: String,
    pub calls: u64,
    pub failed_calls: u64,
    /// Runs in which no fault acted.
    pub vacuous: u64,
    /// Non-OK status codes clients saw, as `CODE×n`.
    pub codes: String,
    pub faults: String,
    pub sim_time: Duration,
    /// Of the simulated time, how much could excuse a failed call.
    pub excusable: Duration,
    pub wall_time: Duration,
}

/// Renders rows as an aligned plain-text table.
pub fn render(rows: &[Row]) -> String {
    // Faults last: it is the one wide column, and a wrapped last column keeps the rest aligned.
    let header = [
        "scenario",
        "seeds",
        "result",
        "calls",
        "failed",
        "vacuous",
        "codes seen",
        "sim time",
        "excusable",
        "wall time",
        "faults fired",
    ];
    let dash = |s: &str| if s.is_empty() { "-".to_owned() } else { s.to_owned() };
    let share = |part: Duration, whole: Duration| {
        if whole.is_zero() {
            "-".to_owned()
        } else {
            format!("{:.0}%", 100.0 * part.as_secs_f64() / whole.as_secs_f64())
        }
    };
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            [
                r.scenario.clone(),
                r.seeds.to_string(),
                r.verdict.clone(),
                r.calls.to_string(),
                r.failed_calls.to_string(),
                if r.vacuous == 0 { "-".to_owned() } else { format!("{}/{}", r.vacuous, r.seeds) },
                dash(&r.codes),
                format!("{:.1}s", r.sim_time.as_secs_f64()),
                share(r.excusable, r.sim_time),
                format!("{:.2}s", r.wall_time.as_secs_f64()),
                dash(&r.faults),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        let mut text = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            let pad = w - c.chars().count();
            // Numbers right-aligned, words left-aligned.
            if matches!(i, 1 | 3 | 4 | 5 | 7 | 8 | 9) {
                let _ = write!(text, "{}{c}  ", " ".repeat(pad));
            } else {
                let _ = write!(text, "{c}{}  ", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&mut out, &header.map(str::to_owned));
    line(&mut out, &widths.map(|w| "-".repeat(w)));
    for row in &cells {
        line(&mut out, row);
    }
    out
}
