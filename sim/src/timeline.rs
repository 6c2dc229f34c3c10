//! A standalone HTML page with an SVG timeline of one simulated run, for a
//! person debugging a failing seed: one lane per host, one bar per call, the
//! fault schedule as bands, and instantaneous events as markers.
//!
//! The page has no external assets and no script. Rendering is a pure function
//! of its inputs: the same scenario and report give byte-identical output.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::runner::RunReport;
use crate::scenario::{Expect, Scenario};
use crate::trace::{EventKind, HostState, Phase};

/// Left margin of the plot, for lane labels (px).
const LEFT: f64 = 130.0;
/// Width of the plot area (px).
const PLOT_W: f64 = 1120.0;
/// Right margin (px).
const RIGHT: f64 = 30.0;
/// Width of a compressed idle stretch (px).
const GAP_W: f64 = 40.0;
/// At most this many idle stretches are compressed.
const MAX_GAPS: usize = 12;
/// Least distance between two time-axis labels (px).
const TICK_MIN_PX: f64 = 70.0;
/// Height of a row of fault-band labels (px).
const BAND_ROW_H: f64 = 14.0;
/// Height of the time axis labels strip (px).
const AXIS_H: f64 = 18.0;
/// Height of the marker strip at the top of every lane (px).
const MARKER_H: f64 = 14.0;
/// Vertical padding inside a lane (px).
const LANE_PAD: f64 = 4.0;
/// Narrowest drawn call bar (px).
const MIN_BAR_W: f64 = 4.0;
/// Narrowest call bar that gets message ticks; narrower ones show only their status color (px).
const MIN_TICKED_W: f64 = 12.0;
/// Longest text put in a tooltip line (chars).
const MAX_TEXT: usize = 240;
/// Events listed in one merged marker's tooltip.
const MAX_MERGED: usize = 8;

/// Bar color of an OK call.
pub const COLOR_OK: &str = "#2e9d4f";
/// Bar color of a call ended by DEADLINE_EXCEEDED.
pub const COLOR_DEADLINE: &str = "#f08c00";
/// Bar color of a cancelled call.
pub const COLOR_CANCELLED: &str = "#9e9e9e";
/// Bar color of a call ended by any other status, or that never ended.
pub const COLOR_ERROR: &str = "#d62728";

/// Colors of fault bands and markers, by position in `Scenario::fault_names()`.
const FAULT_PALETTE: [&str; 12] = [
    "#c2185b", "#1565c0", "#7b1fa2", "#00838f", "#795548", "#827717", "#303f9f", "#00695c", "#0288d1",
    "#880e4f", "#5d4037", "#6a1b9a",
];
const COLOR_CONNECT: &str = "#1f77b4";
const COLOR_HOST: &str = "#4a148c";

/// Renders one run as a standalone HTML page with an inline SVG timeline.
pub fn render(scenario: &Scenario, report: &RunReport) -> String {
    let calls = collect_calls(report);
    let lanes = lane_hosts(report, &calls);
    let fault_colors: BTreeMap<&str, &str> = scenario
        .fault_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name, FAULT_PALETTE[i % FAULT_PALETTE.len()]))
        .collect();
    let flagged: BTreeSet<u64> = report.violations.iter().filter_map(|v| v.call).collect();

    let mut out = String::with_capacity(16 * 1024 + calls.len() * 400);
    header(&mut out, scenario, report);
    out.push_str("<div class=\"scroll\">\n");
    svg(&mut out, scenario, report, &calls, &lanes, &fault_colors, &flagged);
    out.push_str("</div>\n");
    violations(&mut out, report);
    legend(&mut out, &fault_colors);
    out.push_str("</body>\n</html>\n");
    out
}

/// One call as drawn: merged from the trace and, where the trace lacks it, the call record.
#[derive(Debug, Default)]
struct CallView {
    host: String,
    method: String,
    start_us: u64,
    end_us: Option<u64>,
    code: Option<String>,
    message: String,
    sent_at: Vec<u64>,
    received_at: Vec<u64>,
    counts: Option<(u32, usize)>,
    probe: bool,
}

impl CallView {
    fn sent(&self) -> usize {
        self.counts.map_or(self.sent_at.len(), |(s, _)| s as usize)
    }

    fn received(&self) -> usize {
        self.counts.map_or(self.received_at.len(), |(_, r)| r)
    }
}

fn collect_calls(report: &RunReport) -> BTreeMap<u64, CallView> {
    fn view<'a>(
        calls: &'a mut BTreeMap<u64, CallView>,
        call: u64,
        host: &str,
        at_us: u64,
    ) -> &'a mut CallView {
        let v = calls.entry(call).or_insert_with(|| CallView { start_us: at_us, ..CallView::default() });
        if v.host.is_empty() {
            v.host = host.to_owned();
        }
        v
    }
    let mut calls: BTreeMap<u64, CallView> = BTreeMap::new();
    for e in &report.events {
        match &e.kind {
            EventKind::CallStart { call, method, .. } => {
                let v = view(&mut calls, *call, &e.host, e.at_us);
                v.start_us = e.at_us;
                v.method = method.clone();
            }
            EventKind::Sent { call, .. } => view(&mut calls, *call, &e.host, e.at_us).sent_at.push(e.at_us),
            EventKind::Received { call, .. } => {
                view(&mut calls, *call, &e.host, e.at_us).received_at.push(e.at_us)
            }
            EventKind::CallEnd { call, code, message } => {
                let v = view(&mut calls, *call, &e.host, e.at_us);
                v.end_us = Some(e.at_us);
                v.code = Some(format!("{code:?}"));
                v.message = message.clone();
            }
            _ => {}
        }
    }
    for r in &report.records {
        let v = calls.entry(r.id).or_insert_with(|| CallView { start_us: r.start_us, ..CallView::default() });
        if v.host.is_empty() {
            v.host = r.client.clone();
        }
        if v.method.is_empty() {
            v.method = r.input.method().to_owned();
        }
        if v.end_us.is_none() {
            v.end_us = Some(r.end_us.max(v.start_us));
        }
        if v.code.is_none() {
            v.code = Some(format!("{:?}", r.code));
            v.message = r.message.clone();
        }
        v.counts = Some((r.sent, r.replies.len()));
        v.probe = r.probe;
    }
    calls
}

/// Lane order: clients by number, then proxy, server, sim, then any other host by name.
fn host_key(host: &str) -> (u8, u64, String) {
    if let Some(n) = host.strip_prefix("client-").and_then(|n| n.parse::<u64>().ok()) {
        return (0, n, host.to_owned());
    }
    let group = match host {
        h if h.starts_with("client") => 0,
        "proxy" => 1,
        "server" => 2,
        "sim" => 3,
        _ => 4,
    };
    (group, u64::MAX, host.to_owned())
}

fn lane_hosts(report: &RunReport, calls: &BTreeMap<u64, CallView>) -> Vec<String> {
    let hosts: BTreeSet<(u8, u64, String)> = report
        .events
        .iter()
        .map(|e| e.host.as_str())
        .chain(calls.values().map(|c| c.host.as_str()))
        .map(host_key)
        .collect();
    hosts.into_iter().map(|(_, _, h)| h).collect()
}

fn status_color(code: Option<&str>) -> &'static str {
    match code {
        Some("Ok") => COLOR_OK,
        Some("DeadlineExceeded") => COLOR_DEADLINE,
        Some("Cancelled") => COLOR_CANCELLED,
        _ => COLOR_ERROR,
    }
}

/// Escapes text for HTML and XML content and attribute values; drops control
/// characters other than newline and tab.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Shortens text to `MAX_TEXT` characters.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// A coordinate, rounded to a tenth of a pixel, without a trailing `.0`.
fn num(v: f64) -> String {
    let tenths = (v * 10.0).round() as i64;
    if tenths % 10 == 0 { (tenths / 10).to_string() } else { format!("{:.1}", tenths as f64 / 10.0) }
}

/// Microseconds as milliseconds, with only the decimals needed.
fn ms(us: u64) -> String {
    let (whole, frac) = (us / 1000, us % 1000);
    if frac == 0 { whole.to_string() } else { format!("{whole}.{frac:03}").trim_end_matches('0').to_owned() }
}

/// Simulated time as a short duration: `750us`, `130ms`, `1.5s`.
fn duration(us: u64) -> String {
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{}ms", (us + 500) / 1_000)
    } else {
        format!("{:.1}s", us as f64 / 1e6)
    }
}

/// The smallest step of 1, 2 or 5 times a power of ten that is at least `target` microseconds.
fn nice_step(target: u64) -> u64 {
    let target = target.max(1);
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= target {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// A stretch of the time axis: drawn to scale, or an idle stretch compressed to `GAP_W`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    t0: u64,
    t1: u64,
    x0: f64,
    x1: f64,
    gap: bool,
}

/// Simulated time to x: linear where something happens, with long idle
/// stretches (no event, no call starting or ending) compressed, so that a burst
/// of calls in a few milliseconds of a multi-second run stays legible.
#[derive(Debug)]
struct TimeMap {
    segments: Vec<Segment>,
    /// Pixels per microsecond in the drawn-to-scale stretches.
    scale: f64,
}

impl TimeMap {
    /// `points`: every instant something happens, sorted; `t_end`: the end of the axis.
    fn new(points: &[u64], t_end: u64) -> Self {
        let pad = (t_end / 400).max(1);
        let mut min_gap = (t_end / 25).max(1);
        let mut all: Vec<u64> = points.iter().copied().chain([0, t_end]).collect();
        all.sort_unstable();
        all.dedup();
        loop {
            // Busy stretches: each instant padded on both sides, merged across idle stretches shorter than `min_gap`.
            let mut merged: Vec<(u64, u64)> = Vec::new();
            for &p in &all {
                let (a, b) = (p.saturating_sub(pad), p.saturating_add(pad).min(t_end));
                match merged.last_mut() {
                    Some((_, end)) if a <= end.saturating_add(min_gap) => *end = (*end).max(b),
                    _ => merged.push((a, b)),
                }
            }
            if merged.len() > MAX_GAPS + 1 {
                min_gap *= 2;
                continue;
            }
            // Compress only idle stretches that would be wider than two gap marks drawn to scale.
            let busy: u64 = merged.iter().map(|(a, b)| b - a).sum::<u64>().max(1);
            let idle: Vec<u64> = merged.windows(2).map(|w| w[1].0 - w[0].1).collect();
            let mut compressed = vec![true; idle.len()];
            let scale = loop {
                let linear =
                    busy + idle.iter().zip(&compressed).filter(|(_, c)| !**c).map(|(i, _)| i).sum::<u64>();
                let gaps = compressed.iter().filter(|c| **c).count();
                let scale = (PLOT_W - gaps as f64 * GAP_W) / linear as f64;
                let mut changed = false;
                for (len, c) in idle.iter().zip(&mut compressed) {
                    if *c && (*len as f64) * scale < 2.0 * GAP_W {
                        *c = false;
                        changed = true;
                    }
                }
                if !changed {
                    break scale;
                }
            };
            let mut segments: Vec<Segment> = Vec::with_capacity(2 * merged.len());
            let mut x = LEFT;
            for (i, &(a, b)) in merged.iter().enumerate() {
                if i > 0 {
                    let t0 = merged[i - 1].1;
                    let (gap, w) =
                        if compressed[i - 1] { (true, GAP_W) } else { (false, (a - t0) as f64 * scale) };
                    segments.push(Segment { t0, t1: a, x0: x, x1: x + w, gap });
                    x += w;
                }
                let x1 = x + (b - a) as f64 * scale;
                segments.push(Segment { t0: a, t1: b, x0: x, x1, gap: false });
                x = x1;
            }
            return Self { segments, scale };
        }
    }

    fn x(&self, us: u64) -> f64 {
        let i = self.segments.partition_point(|s| s.t1 < us).min(self.segments.len() - 1);
        let s = &self.segments[i];
        let us = us.clamp(s.t0, s.t1);
        if s.t1 == s.t0 {
            return s.x0;
        }
        s.x0 + (us - s.t0) as f64 / (s.t1 - s.t0) as f64 * (s.x1 - s.x0)
    }
}

fn header(out: &mut String, scenario: &Scenario, report: &RunReport) {
    let name = esc(&report.scenario);
    let verdict = match report.violations.len() {
        0 => "<span class=\"pass\">passed</span>".to_owned(),
        1 => "<span class=\"fail\">1 violation</span>".to_owned(),
        n => format!("<span class=\"fail\">{n} violations</span>"),
    };
    let expect = match scenario.expect {
        Expect::Pass => "pass",
        Expect::Caught => "caught",
    };
    let fired: Vec<String> = report.fired().map(|(f, t)| format!("{} ×{}", esc(f), t.acted)).collect();
    let fired = if fired.is_empty() { "none".to_owned() } else { fired.join(", ") };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Faultline timeline: {name} seed {seed}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <h1>{name} <span class=\"seed\">seed {seed}</span></h1>\n<p class=\"desc\">{desc}</p>\n\
         <table class=\"meta\">\n\
         <tr><th>verdict</th><td>{verdict} (expected: {expect})</td></tr>\n\
         <tr><th>trace hash</th><td><code>{hash:016x}</code> ({events} events)</td></tr>\n\
         <tr><th>calls</th><td>{calls} workload, {failed} failed, {probes} probes</td></tr>\n\
         <tr><th>simulated time</th><td>{time} ms</td></tr>\n\
         <tr><th>faults fired</th><td>{fired}</td></tr>\n</table>\n",
        seed = report.seed,
        desc = esc(&scenario.description),
        hash = report.trace_hash,
        events = report.events.len(),
        calls = report.calls,
        failed = report.failed_calls,
        probes = report.records.iter().filter(|r| r.probe).count(),
        time = ms(report.sim_time_us),
    );
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222}
h1{font-size:20px;margin:0 0 4px}h1 .seed{font-weight:normal;color:#555}
h2{font-size:16px;margin:18px 0 6px}
.desc{margin:0 0 8px;color:#444}
table.meta{border-collapse:collapse;margin-bottom:10px}
table.meta th{text-align:left;font-weight:600;padding:1px 12px 1px 0;color:#555}
table.meta td{padding:1px 0}
.pass{color:#1b7a3a;font-weight:600}.fail{color:#c62828;font-weight:600}
.scroll{overflow-x:auto;border:1px solid #ddd;display:inline-block;max-width:100%}
svg{display:block;font:11px system-ui,sans-serif}
svg .call:target{stroke:#000;stroke-width:3}
ol.violations li{margin:2px 0}
ul.legend{list-style:none;padding:0;columns:3}
ul.legend li{margin:2px 0}
.sw{display:inline-block;width:22px;height:10px;margin-right:6px;vertical-align:middle;border:1px solid #0003}
.glyph{display:inline-block;width:22px;margin-right:6px;text-align:center}
";

/// Vertical placement of one lane.
struct Lane {
    top: f64,
    height: f64,
    /// Top of the first call row.
    rows_top: f64,
    row_h: f64,
    calls: usize,
}

/// A marker kind; merged markers are grouped by lane, kind and pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Marker {
    ConnectOk,
    ConnectFailed,
    Host,
    Fault,
    Heal,
}

fn svg(
    out: &mut String,
    scenario: &Scenario,
    report: &RunReport,
    calls: &BTreeMap<u64, CallView>,
    hosts: &[String],
    fault_colors: &BTreeMap<&str, &str>,
    flagged: &BTreeSet<u64>,
) {
    let t_end = report
        .events
        .iter()
        .map(|e| e.at_us)
        .chain(calls.values().filter_map(|c| c.end_us))
        .chain([report.sim_time_us, scenario.heal_ms().saturating_mul(1000), 1000])
        .max()
        .unwrap_or(1000);
    let mut points: Vec<u64> = report
        .events
        .iter()
        .map(|e| e.at_us)
        .chain(calls.values().flat_map(|c| [Some(c.start_us), c.end_us]).flatten())
        .chain(
            scenario
                .faults
                .iter()
                .flat_map(|f| [f.at_ms.saturating_mul(1000), (f.at_ms + f.for_ms).saturating_mul(1000)]),
        )
        .collect();
    points.sort_unstable();
    points.dedup();
    let time = TimeMap::new(&points, t_end);
    let x = |us: u64| time.x(us);
    let lane_of: BTreeMap<&str, usize> = hosts.iter().enumerate().map(|(i, h)| (h.as_str(), i)).collect();

    // Fault band labels, packed into as few rows as fit without overlap.
    let mut bands: Vec<(usize, f64, f64, usize)> = Vec::new(); // (fault index, x0, x1, label row)
    let mut band_rows: Vec<f64> = Vec::new();
    let mut order: Vec<usize> = (0..scenario.faults.len()).collect();
    order.sort_by_key(|&i| (scenario.faults[i].at_ms, i));
    for i in order {
        let f = &scenario.faults[i];
        let (x0, x1) = (x(f.at_ms.saturating_mul(1000)), x((f.at_ms + f.for_ms).saturating_mul(1000)));
        let label_w = band_label(f).chars().count() as f64 * 6.2 + 6.0;
        let right = x1.max(x0 + label_w);
        let row = match band_rows.iter().position(|&end| end + 4.0 <= x0) {
            Some(r) => r,
            None => {
                band_rows.push(0.0);
                band_rows.len() - 1
            }
        };
        band_rows[row] = right;
        bands.push((i, x0, x1, row));
    }

    // Calls into non-overlapping rows of their lane.
    let mut lane_calls: Vec<Vec<(u64, f64, f64, usize)>> = vec![Vec::new(); hosts.len()]; // (id, x0, x1, row)
    let mut by_start: Vec<(&u64, &CallView)> = calls.iter().collect();
    by_start.sort_by_key(|(id, c)| (c.start_us, **id));
    let mut row_ends: Vec<Vec<f64>> = vec![Vec::new(); hosts.len()];
    for (id, c) in by_start {
        let lane = lane_of[c.host.as_str()];
        let x0 = x(c.start_us);
        let x1 = x(c.end_us.unwrap_or(t_end)).max(x0 + MIN_BAR_W);
        let ends = &mut row_ends[lane];
        let row = match ends.iter().position(|&end| end + 1.0 <= x0) {
            Some(r) => r,
            None => {
                ends.push(0.0);
                ends.len() - 1
            }
        };
        ends[row] = x1;
        lane_calls[lane].push((*id, x0, x1, row));
    }

    let plot_top = band_rows.len() as f64 * BAND_ROW_H + AXIS_H + 4.0;
    let mut lanes = Vec::with_capacity(hosts.len());
    let mut y = plot_top;
    for (i, _) in hosts.iter().enumerate() {
        let rows = row_ends[i].len();
        let row_h = if rows <= 16 { 10.0 } else { (160.0 / rows as f64).max(3.0) };
        let height = LANE_PAD * 2.0 + MARKER_H + rows as f64 * row_h;
        lanes.push(Lane {
            top: y,
            height,
            rows_top: y + LANE_PAD + MARKER_H,
            row_h,
            calls: lane_calls[i].len(),
        });
        y += height;
    }
    let plot_bottom = y.max(plot_top + 20.0);
    let width = LEFT + PLOT_W + RIGHT;
    let height = plot_bottom + AXIS_H + 6.0;

    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">",
        w = num(width),
        h = num(height)
    );
    out.push_str(
        "<defs><pattern id=\"idle\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\" fill-opacity=\"0.75\"/>\
         <rect width=\"2\" height=\"6\" fill=\"#bbb\"/></pattern></defs>\n",
    );

    // Lane backgrounds and labels.
    for (i, (host, lane)) in hosts.iter().zip(&lanes).enumerate() {
        let fill = if i % 2 == 0 { "#f7f7f7" } else { "#ececec" };
        let _ = writeln!(
            out,
            "<rect x=\"0\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{fill}\"/>",
            y = num(lane.top),
            w = num(width),
            h = num(lane.height)
        );
        let label = if lane.calls > 0 { format!("{} ({} calls)", esc(host), lane.calls) } else { esc(host) };
        let _ = writeln!(
            out,
            "<text x=\"8\" y=\"{y}\" font-weight=\"600\">{label}</text>",
            y = num(lane.top + LANE_PAD + 10.0)
        );
    }
    if hosts.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{x}\" y=\"{y}\" fill=\"#777\">no events recorded</text>",
            x = num(LEFT + 8.0),
            y = num(plot_top + 14.0)
        );
    }

    // Time grid and axis labels, top and bottom, in the drawn-to-scale stretches.
    let step = nice_step((TICK_MIN_PX / time.scale).ceil() as u64);
    let mut ticks: Vec<u64> = Vec::new();
    let mut last_x = f64::NEG_INFINITY;
    for seg in time.segments.iter().filter(|s| !s.gap) {
        let mut t = seg.t0.div_ceil(step) * step;
        while t <= seg.t1 {
            if x(t) - last_x >= TICK_MIN_PX * 0.6 {
                ticks.push(t);
                last_x = x(t);
            }
            t += step;
        }
    }
    out.push_str("<g stroke=\"#0002\">");
    for &t in &ticks {
        let _ = write!(
            out,
            "<line x1=\"{x}\" y1=\"{y0}\" x2=\"{x}\" y2=\"{y1}\"/>",
            x = num(x(t)),
            y0 = num(plot_top),
            y1 = num(plot_bottom)
        );
    }
    out.push_str("</g>\n<g fill=\"#444\" text-anchor=\"middle\">");
    let gaps: Vec<&Segment> = time.segments.iter().filter(|s| s.gap).collect();
    let clear_of_gaps = |x: f64| gaps.iter().all(|g| x < g.x0 - 22.0 || x > g.x1 + 22.0);
    for &t in ticks.iter().filter(|&&t| clear_of_gaps(x(t))) {
        for y in [plot_top - 5.0, plot_bottom + 13.0] {
            let _ = write!(
                out,
                "<text x=\"{x}\" y=\"{y}\">{label}</text>",
                x = num(x(t)),
                y = num(y),
                label = ms(t)
            );
        }
    }
    let _ = writeln!(
        out,
        "</g>\n<text x=\"{x}\" y=\"{y}\" fill=\"#444\">simulated time (ms)</text>",
        x = num(8.0),
        y = num(plot_bottom + 13.0)
    );

    // Fault bands, behind the calls.
    for &(i, x0, x1, row) in &bands {
        let f = &scenario.faults[i];
        let color = fault_colors.get(f.fault.name()).copied().unwrap_or(FAULT_PALETTE[0]);
        let label = esc(&band_label(f));
        let _ = writeln!(
            out,
            "<g class=\"fault-band\"><title>{label}</title>\
             <rect x=\"{x0}\" y=\"{y0}\" width=\"{w}\" height=\"{h}\" fill=\"{color}\" fill-opacity=\"0.12\" \
             stroke=\"{color}\" stroke-opacity=\"0.5\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{tx}\" y=\"{ty}\" fill=\"{color}\" font-weight=\"600\">{label}</text></g>",
            x0 = num(x0),
            y0 = num(plot_top),
            w = num((x1 - x0).max(1.0)),
            h = num(plot_bottom - plot_top),
            tx = num(x0 + 2.0),
            ty = num(row as f64 * BAND_ROW_H + 11.0),
        );
    }

    // Calls: one bar each, with ticks for messages sent (upper half) and received (lower half).
    for (lane, placed) in lanes.iter().zip(&lane_calls) {
        let bar_h = (lane.row_h - 2.0).max(2.0);
        for &(id, x0, x1, row) in placed {
            let c = &calls[&id];
            let color = status_color(c.code.as_deref());
            let y0 = lane.rows_top + row as f64 * lane.row_h + 1.0;
            let status = c.code.as_deref().unwrap_or("(never ended)");
            let end = c.end_us.map_or_else(|| "…".to_owned(), ms);
            let span =
                c.end_us.map_or_else(String::new, |e| format!(" ({} ms)", ms(e.saturating_sub(c.start_us))));
            let message =
                if c.message.is_empty() { String::new() } else { format!(": {}", clip(&c.message)) };
            let probe = if c.probe { "\nliveness probe" } else { "" };
            let outline = if flagged.contains(&id) {
                " stroke=\"#000\" stroke-width=\"1.5\""
            } else if c.probe {
                " stroke=\"#000\" stroke-opacity=\"0.6\" stroke-dasharray=\"2 1\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<g><title>call #{id} {method} on {host}\n{status}{message}\nsent {sent}, received {received}\n\
                 {start}–{end} ms{span}{probe}</title>\
                 <rect class=\"call\" id=\"call-{id}\" data-status=\"{status_attr}\" x=\"{x}\" y=\"{y}\" \
                 width=\"{w}\" height=\"{h}\" fill=\"{color}\"{outline}/>",
                method = esc(&c.method),
                host = esc(&c.host),
                status = esc(status),
                message = esc(&message),
                sent = c.sent(),
                received = c.received(),
                start = ms(c.start_us),
                status_attr = esc(status),
                x = num(x0),
                y = num(y0),
                w = num(x1 - x0),
                h = num(bar_h),
            );
            for (times, dy, stroke) in [(&c.sent_at, 0.0, "#000"), (&c.received_at, bar_h / 2.0, "#fff")] {
                if times.is_empty() || x1 - x0 < MIN_TICKED_W {
                    continue;
                }
                let _ = write!(out, "<path stroke=\"{stroke}\" d=\"");
                for &t in times {
                    let _ = write!(out, "M{} {}v{}", num(x(t)), num(y0 + dy), num(bar_h / 2.0));
                }
                out.push_str("\"/>");
            }
            out.push_str("</g>\n");
        }
    }

    // Compressed idle stretches, over the calls that span them.
    for seg in time.segments.iter().filter(|s| s.gap) {
        let label = duration(seg.t1 - seg.t0);
        let _ = writeln!(
            out,
            "<g class=\"gap\"><title>{from}–{to} ms: nothing happened for {label} (compressed)</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"url(#idle)\"/>\
             <text x=\"{cx}\" y=\"{ty}\" font-size=\"9\" fill=\"#666\" text-anchor=\"middle\">{label}</text>\
             <text x=\"{cx}\" y=\"{by}\" font-size=\"9\" fill=\"#666\" text-anchor=\"middle\">{label}</text></g>",
            from = ms(seg.t0),
            to = ms(seg.t1),
            x = num(seg.x0),
            y = num(plot_top),
            w = num(seg.x1 - seg.x0),
            h = num(plot_bottom - plot_top),
            cx = num((seg.x0 + seg.x1) / 2.0),
            ty = num(plot_top - 5.0),
            by = num(plot_bottom + 13.0),
        );
    }

    // Instantaneous events as markers in each lane's marker strip, merged per pixel.
    let mut markers: BTreeMap<(usize, Marker, i64), (String, Vec<String>)> = BTreeMap::new();
    for e in &report.events {
        // `tag`: the fault's name (for its color), or the host's new state (for a label).
        let (marker, tag, text) = match &e.kind {
            EventKind::Connect { to, ok: true } => (Marker::ConnectOk, "", format!("connect → {to}")),
            EventKind::Connect { to, ok: false } => {
                (Marker::ConnectFailed, "", format!("connect → {to} failed"))
            }
            EventKind::Host { state } => (
                Marker::Host,
                match state {
                    HostState::Start => "start",
                    HostState::Crash => "crash",
                },
                format!("host {state}"),
            ),
            EventKind::Fault(f) => {
                let kind = if f.phase == Phase::Heal { Marker::Heal } else { Marker::Fault };
                (kind, f.fault, format!("fault {} {} ({}): {}", f.fault, f.phase, f.scope, f.detail))
            }
            _ => continue,
        };
        let Some(&lane) = lane_of.get(e.host.as_str()) else { continue };
        let px = x(e.at_us).round() as i64;
        let entry = markers.entry((lane, marker, px)).or_insert_with(|| (tag.to_owned(), Vec::new()));
        entry.1.push(format!("{} ms {}: {}", ms(e.at_us), e.host, text));
    }
    for ((lane, marker, px), (tag, texts)) in &markers {
        let (cx, cy) = (*px as f64, lanes[*lane].top + LANE_PAD + MARKER_H / 2.0);
        let mut title = if texts.len() > 1 { format!("{} events\n", texts.len()) } else { String::new() };
        for t in texts.iter().take(MAX_MERGED) {
            title.push_str(&clip(t));
            title.push('\n');
        }
        if texts.len() > MAX_MERGED {
            let _ = writeln!(title, "… and {} more", texts.len() - MAX_MERGED);
        }
        let title = esc(title.trim_end());
        let color = fault_colors.get(tag.as_str()).copied().unwrap_or(FAULT_PALETTE[0]);
        let shape = match marker {
            Marker::ConnectOk => format!(
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"#fff\" stroke=\"{COLOR_CONNECT}\" stroke-width=\"1.5\"/>",
                x = num(cx),
                y = num(cy)
            ),
            Marker::ConnectFailed => format!(
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"3.5\" fill=\"{COLOR_ERROR}\"/>",
                x = num(cx),
                y = num(cy)
            ),
            Marker::Host => {
                let more = if texts.len() > 1 { format!(" +{}", texts.len() - 1) } else { String::new() };
                format!(
                    "<path d=\"M{x} {y0}l5 5l-5 5l-5-5z\" fill=\"{COLOR_HOST}\"/>\
                     <text x=\"{tx}\" y=\"{ty}\" fill=\"{COLOR_HOST}\">{label}</text>",
                    x = num(cx),
                    y0 = num(cy - 5.0),
                    tx = num(cx + 7.0),
                    ty = num(cy + 4.0),
                    label = esc(&format!("{tag}{more}"))
                )
            }
            Marker::Fault => format!(
                "<path d=\"M{x0} {y0}h10l-5 9z\" fill=\"{color}\"/>",
                x0 = num(cx - 5.0),
                y0 = num(cy - 4.5)
            ),
            Marker::Heal => format!(
                "<path d=\"M{x0} {y0}h10l-5-9z\" fill=\"#fff\" stroke=\"{color}\" stroke-width=\"1.5\"/>",
                x0 = num(cx - 5.0),
                y0 = num(cy + 4.5)
            ),
        };
        let class = match marker {
            Marker::ConnectOk | Marker::ConnectFailed => "connect",
            Marker::Host => "host",
            Marker::Fault | Marker::Heal => "fault",
        };
        let _ = writeln!(out, "<g class=\"{class}\"><title>{title}</title>{shape}</g>");
    }

    // Plot frame.
    let _ = writeln!(
        out,
        "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#999\"/>\n</svg>",
        x = num(LEFT),
        y = num(plot_top),
        w = num(PLOT_W),
        h = num(plot_bottom - plot_top)
    );
}

fn band_label(f: &crate::fault::TimedFault) -> String {
    format!("{} {}–{} ms", f.fault.name(), f.at_ms, f.at_ms + f.for_ms)
}

fn violations(out: &mut String, report: &RunReport) {
    let _ = writeln!(out, "<h2>Violations ({})</h2>", report.violations.len());
    if report.violations.is_empty() {
        out.push_str("<p>none: every property held</p>\n");
        return;
    }
    out.push_str("<ol class=\"violations\">\n");
    for v in &report.violations {
        let subject = match v.call {
            Some(call) => format!(" <a href=\"#call-{call}\">call #{call}</a>:"),
            None => String::new(),
        };
        let _ = writeln!(out, "<li>[{}]{subject} {}</li>", esc(&v.property.to_string()), esc(&v.detail));
    }
    out.push_str("</ol>\n");
}

fn legend(out: &mut String, fault_colors: &BTreeMap<&str, &str>) {
    out.push_str("<h2>Legend</h2>\n<ul class=\"legend\">\n");
    for (color, text) in [
        (COLOR_OK, "call ended OK"),
        (COLOR_DEADLINE, "call ended DEADLINE_EXCEEDED"),
        (COLOR_CANCELLED, "call ended CANCELLED"),
        (COLOR_ERROR, "call ended with another status, or never ended"),
    ] {
        let _ = writeln!(out, "<li><span class=\"sw\" style=\"background:{color}\"></span>{text}</li>");
    }
    let _ = writeln!(
        out,
        "<li><span class=\"sw\" style=\"background:{COLOR_OK};border:1.5px solid #000\"></span>\
         call named by a violation (click a violation to find it)</li>\n\
         <li><span class=\"sw\" style=\"background:{COLOR_OK};border:1px dashed #000\"></span>\
         liveness probe after faults healed</li>\n\
         <li><span class=\"sw\" style=\"background:linear-gradient(90deg,#000 2px,{COLOR_OK} 2px) 0 0/6px 50% \
         repeat-x,linear-gradient(90deg,#fff 2px,{COLOR_OK} 2px) 0 100%/6px 50% repeat-x\"></span>\
         ticks: message sent (upper half), received (lower half)</li>\n\
         <li><span class=\"sw\" style=\"background:repeating-linear-gradient(45deg,#bbb 0 2px,#fff 2px 6px)\">\
         </span>idle stretch, compressed (labelled with its length)</li>\n\
         <li><span class=\"glyph\" style=\"color:{COLOR_CONNECT}\">○</span>connection opened</li>\n\
         <li><span class=\"glyph\" style=\"color:{COLOR_ERROR}\">●</span>connection failed</li>\n\
         <li><span class=\"glyph\" style=\"color:{COLOR_HOST}\">◆</span>host started, crashed or restarted</li>\n\
         <li><span class=\"glyph\" style=\"color:{p}\">▼</span>fault fired</li>\n\
         <li><span class=\"glyph\" style=\"color:{p}\">△</span>fault healed</li>",
        p = FAULT_PALETTE[0],
    );
    for (name, color) in fault_colors {
        let _ = writeln!(
            out,
            "<li><span class=\"sw\" style=\"background:{color}33;border-color:{color}\"></span>fault {}</li>",
            esc(name)
        );
    }
    out.push_str(
        "</ul>\n<p>Hover over a bar or marker for details; markers at the same pixel are merged.</p>\n",
    );
}
