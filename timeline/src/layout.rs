//! What the timeline draws, placed: lanes, call bars with their message ticks, server handler
//! lives, fault bands, markers, the time axis and its compressed idle stretches, as plain data
//! with every coordinate computed here. No markup: `render.rs` turns a [`Layout`] into the page.

use std::collections::{BTreeMap, BTreeSet};

use tonic::Code;

use faultline_model::fault::Injector;
use faultline_model::report::RunReport;
use faultline_model::scenario::Scenario;
use faultline_model::trace::{EventKind, HostState, Phase};
use faultline_model::world::World;

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
/// Height of a row of handler lines while a lane has few of them (px).
const HANDLER_ROW_H: f64 = 4.0;
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
/// Connection markers.
pub const COLOR_CONNECT: &str = "#1f77b4";
/// Host start and crash markers.
pub const COLOR_HOST: &str = "#4a148c";
/// Protocol error markers (the proxy gave up on a connection's bytes).
pub const COLOR_PROTOCOL: &str = "#e65100";
/// Panic markers.
pub const COLOR_PANIC: &str = "#000";
/// A handler's life, and the marker of one that ended after its call (within the grace).
pub const COLOR_HANDLER: &str = "#666";

/// Colors of fault bands and markers, by position in `Scenario::fault_names()`.
pub const FAULT_PALETTE: [&str; 12] = [
    "#c2185b", "#1565c0", "#7b1fa2", "#00838f", "#795548", "#827717", "#303f9f", "#00695c", "#0288d1",
    "#880e4f", "#5d4037", "#6a1b9a",
];

/// Everything the timeline's SVG shows, placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    /// The plot area, where time runs left to right.
    pub plot: Rect,
    /// Baselines of the time labels above and below the plot.
    pub axis_top_y: f64,
    pub axis_bottom_y: f64,
    pub lanes: Vec<Lane>,
    /// Where "no events recorded" goes, when nothing did.
    pub empty: Option<Point>,
    pub ticks: Vec<Tick>,
    pub gaps: Vec<Gap>,
    pub bands: Vec<Band>,
    pub bars: Vec<Bar>,
    pub handlers: Vec<HandlerLine>,
    pub markers: Vec<Marker>,
    /// Every fault the scenario names, sorted, with its color.
    pub fault_colors: Vec<(&'static str, &'static str)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
}

/// One host's horizontal strip: a marker strip on top, then call rows, then handler rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// The host.
    pub label: String,
    pub label_at: Point,
    /// How many calls or handlers it shows, under the host (the margin is narrow).
    pub note: Option<(Point, String)>,
    pub area: Rect,
    /// Every other lane is shaded darker.
    pub shaded: bool,
}

/// A grid line of the time axis, labelled unless a compressed stretch's label is too close.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub x: f64,
    /// Milliseconds.
    pub label: Option<String>,
}

/// An idle stretch of the run drawn narrower than to scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub area: Rect,
    /// Centre of its length label, above and below the plot.
    pub label_x: f64,
    pub label: String,
    pub tooltip: String,
}

/// A fault's window, across every lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub area: Rect,
    pub color: &'static str,
    pub label: String,
    pub label_at: Point,
    pub tooltip: String,
}

/// How a call ended, as its bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    DeadlineExceeded,
    Cancelled,
    /// Any other code.
    Error,
    /// No end in the trace nor a record of the call.
    NeverEnded,
}

impl Status {
    fn of(code: Option<Code>) -> Self {
        match code {
            Some(Code::Ok) => Status::Ok,
            Some(Code::DeadlineExceeded) => Status::DeadlineExceeded,
            Some(Code::Cancelled) => Status::Cancelled,
            Some(_) => Status::Error,
            None => Status::NeverEnded,
        }
    }

    pub fn color(self) -> &'static str {
        match self {
            Status::Ok => COLOR_OK,
            Status::DeadlineExceeded => COLOR_DEADLINE,
            Status::Cancelled => COLOR_CANCELLED,
            Status::Error | Status::NeverEnded => COLOR_ERROR,
        }
    }

    /// A stable name for the page's `data-status` and CSS.
    pub fn class(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::DeadlineExceeded => "deadline-exceeded",
            Status::Cancelled => "cancelled",
            Status::Error => "error",
            Status::NeverEnded => "never-ended",
        }
    }
}

/// One call's bar, from its start to its end (to the end of the axis if it never ended).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub call: u64,
    pub status: Status,
    pub area: Rect,
    /// x of every message sent (drawn in the upper half) and received (lower half); empty when
    /// the bar is too narrow to tell them apart.
    pub sent: Vec<f64>,
    pub received: Vec<f64>,
    /// Where the sent and the received ticks begin, and how long they are.
    pub ticks_y: [f64; 2],
    pub tick_h: f64,
    /// Named by a violation.
    pub flagged: bool,
    /// A liveness probe after the faults healed.
    pub probe: bool,
    pub tooltip: String,
}

/// A server handler's life, as a thin line on its host's lane.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerLine {
    pub x0: f64,
    pub x1: f64,
    pub y: f64,
    pub thickness: f64,
    pub color: &'static str,
    pub tooltip: String,
}

/// What a marker shows; markers of one kind (and color) at one pixel of a lane are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkerKind {
    ConnectOk,
    ConnectFailed,
    HostStart,
    HostCrash,
    /// A fault acted on traffic.
    FaultActed,
    ProtocolError,
    Panic,
    /// A handler that ended after its call did, within the grace.
    HandlerLate,
    /// A handler that outlived its call by more than the grace (the `handler-leak` property).
    HandlerLeak,
    /// In a cluster, a client or a node called a node for a call (a hop of its path).
    Hop,
}

/// An instantaneous event (or several merged) in a lane's marker strip.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub kind: MarkerKind,
    pub at: Point,
    pub color: &'static str,
    /// A word beside the marker (host markers only).
    pub label: Option<(Point, String)>,
    pub tooltip: String,
}

/// Lays out one run.
pub fn layout<O>(scenario: &Scenario<O>, report: &RunReport) -> Layout {
    let calls = collect_calls(report);
    let handlers = collect_handlers(report);
    let hosts = lane_hosts(report, &calls);
    let lane_of: BTreeMap<&str, usize> = hosts.iter().enumerate().map(|(i, h)| (h.as_str(), i)).collect();
    let fault_colors: Vec<(&'static str, &'static str)> = scenario
        .fault_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name, FAULT_PALETTE[i % FAULT_PALETTE.len()]))
        .collect();
    let color_of = |fault: &str| {
        fault_colors.iter().find(|(name, _)| *name == fault).map_or(FAULT_PALETTE[0], |(_, c)| *c)
    };
    let flagged: BTreeSet<u64> = report.violations.iter().filter_map(|v| v.call).collect();
    let grace = World::new(scenario, report.seed).net.grace().as_micros() as u64;
    let run_end = report.sim_time_us;

    let windows = fault_windows(scenario, report);
    let t_end = report
        .events
        .iter()
        .map(|e| e.at_us)
        .chain(calls.values().filter_map(|c| c.end_us))
        .chain(windows.iter().map(|w| w.end_us))
        .chain([run_end, scenario.heal_ms().saturating_mul(1000), 1000])
        .max()
        .unwrap_or(1000);
    let mut points: Vec<u64> = report
        .events
        .iter()
        .map(|e| e.at_us)
        .chain(calls.values().flat_map(|c| [Some(c.start_us), c.end_us]).flatten())
        .chain(windows.iter().flat_map(|w| [w.start_us, w.end_us]))
        .collect();
    points.sort_unstable();
    points.dedup();
    let time = TimeMap::new(&points, t_end);
    let x = |us: u64| time.x(us);

    // Fault bands in start order, their labels packed into as few rows as fit without overlap.
    let mut order: Vec<&Window> = windows.iter().collect();
    order.sort_by_key(|w| (w.start_us, w.index));
    let mut band_rows = Rows::default();
    let placed_bands: Vec<(&Window, f64, f64, usize)> = order
        .into_iter()
        .map(|w| {
            let (x0, x1) = (x(w.start_us), x(w.end_us));
            // About 6.2 px a character of the 11 px font.
            let label_w = w.label.chars().count() as f64 * 6.2 + 6.0;
            (w, x0, x1, band_rows.place(x0, x1.max(x0 + label_w), 4.0))
        })
        .collect();

    // Calls, then handlers, into non-overlapping rows of their lane.
    let mut by_start: Vec<(u64, &CallView)> = calls.iter().map(|(id, c)| (*id, c)).collect();
    by_start.sort_by_key(|(id, c)| (c.start_us, *id));
    let mut call_rows: Vec<Rows> = vec![Rows::default(); hosts.len()];
    let placed_calls: Vec<(u64, usize, f64, f64, usize)> = by_start
        .into_iter()
        .map(|(id, c)| {
            let lane = lane_of[c.host.as_str()];
            let x0 = x(c.start_us);
            let x1 = x(c.end_us.unwrap_or(t_end)).max(x0 + MIN_BAR_W);
            (id, lane, x0, x1, call_rows[lane].place(x0, x1, 1.0))
        })
        .collect();
    let mut handler_rows: Vec<Rows> = vec![Rows::default(); hosts.len()];
    let mut by_start: Vec<(u64, &HandlerLife)> = handlers.iter().map(|(id, h)| (*id, h)).collect();
    by_start.sort_by_key(|(id, h)| (h.start_us, *id));
    let placed_handlers: Vec<(u64, usize, f64, f64, usize)> = by_start
        .into_iter()
        .map(|(id, h)| {
            let lane = lane_of[h.host.as_str()];
            let x0 = x(h.start_us);
            let x1 = x(h.end_us.unwrap_or(run_end)).max(x0 + 1.0);
            (id, lane, x0, x1, handler_rows[lane].place(x0, x1, 1.0))
        })
        .collect();

    // Lanes, stacked under the band labels and the top axis labels.
    let plot_top = band_rows.ends.len() as f64 * BAND_ROW_H + AXIS_H + 4.0;
    let width = LEFT + PLOT_W + RIGHT;
    let mut lanes = Vec::with_capacity(hosts.len());
    let mut geometry = Vec::with_capacity(hosts.len());
    let mut y = plot_top;
    for (i, host) in hosts.iter().enumerate() {
        let rows = call_rows[i].ends.len();
        let row_h = if rows <= 16 { 10.0 } else { (160.0 / rows as f64).max(3.0) };
        let hrows = handler_rows[i].ends.len();
        let hrow_h = if hrows <= 16 { HANDLER_ROW_H } else { (64.0 / hrows as f64).max(1.0) };
        let height = LANE_PAD * 2.0 + MARKER_H + rows as f64 * row_h + hrows as f64 * hrow_h;
        let calls_top = y + LANE_PAD + MARKER_H;
        geometry.push(LaneRows { calls_top, row_h, handlers_top: calls_top + rows as f64 * row_h, hrow_h });
        let n_calls = placed_calls.iter().filter(|c| c.1 == i).count();
        let n_handlers = placed_handlers.iter().filter(|h| h.1 == i).count();
        let note = match (n_calls, n_handlers) {
            (0, 0) => None,
            (0, 1) => Some("1 handler".to_owned()),
            (0, h) => Some(format!("{h} handlers")),
            (1, _) => Some("1 call".to_owned()),
            (c, _) => Some(format!("{c} calls")),
        };
        lanes.push(Lane {
            label: host.clone(),
            label_at: Point { x: 8.0, y: y + LANE_PAD + 10.0 },
            note: note.map(|n| (Point { x: 8.0, y: y + LANE_PAD + 21.0 }, n)),
            area: Rect { x: 0.0, y, w: width, h: height },
            shaded: i % 2 == 1,
        });
        y += height;
    }
    let plot_bottom = y.max(plot_top + 20.0);
    let plot = Rect { x: LEFT, y: plot_top, w: PLOT_W, h: plot_bottom - plot_top };
    let empty = hosts.is_empty().then_some(Point { x: LEFT + 8.0, y: plot_top + 14.0 });

    let gaps = time
        .segments
        .iter()
        .filter(|s| s.gap)
        .map(|s| {
            let label = duration(s.t1 - s.t0);
            Gap {
                area: Rect { x: s.x0, y: plot.y, w: s.x1 - s.x0, h: plot.h },
                label_x: (s.x0 + s.x1) / 2.0,
                tooltip: format!("{}–{} ms: nothing happened for {label} (compressed)", ms(s.t0), ms(s.t1)),
                label,
            }
        })
        .collect();

    let bands = placed_bands
        .into_iter()
        .map(|(w, x0, x1, row)| Band {
            area: Rect { x: x0, y: plot.y, w: (x1 - x0).max(1.0), h: plot.h },
            color: color_of(w.fault),
            label: w.label.clone(),
            label_at: Point { x: x0 + 2.0, y: row as f64 * BAND_ROW_H + 11.0 },
            tooltip: w.tooltip.clone(),
        })
        .collect();

    let bars = placed_calls
        .into_iter()
        .map(|(id, lane, x0, x1, row)| {
            let c = &calls[&id];
            let g = &geometry[lane];
            let (y, h) = (g.calls_top + row as f64 * g.row_h + 1.0, (g.row_h - 2.0).max(2.0));
            let ticked = |times: &[u64]| -> Vec<f64> {
                if x1 - x0 < MIN_TICKED_W { Vec::new() } else { times.iter().map(|&t| x(t)).collect() }
            };
            Bar {
                call: id,
                status: Status::of(c.code),
                area: Rect { x: x0, y, w: x1 - x0, h },
                sent: ticked(&c.sent_at),
                received: ticked(&c.received_at),
                ticks_y: [y, y + h / 2.0],
                tick_h: h / 2.0,
                flagged: flagged.contains(&id),
                probe: c.probe,
                tooltip: call_tooltip(id, c, handlers.get(&id)),
            }
        })
        .collect();

    let mut markers = MarkerSet::default();
    let handler_lines = placed_handlers
        .into_iter()
        .map(|(id, lane, x0, x1, row)| {
            let h = &handlers[&id];
            let g = &geometry[lane];
            let call_end = calls.get(&id).and_then(|c| c.end_us);
            // Past its call's end by how much, by the end of the run if the handler never ended.
            let late =
                call_end.and_then(|end| h.end_us.unwrap_or(run_end).checked_sub(end)).filter(|&d| d > 0);
            let leak = late.is_some_and(|d| d > grace);
            let mut tooltip = format!(
                "handler of call #{id} on {}\n{}–{} ms",
                clip(&h.host),
                ms(h.start_us),
                h.end_us.map_or_else(|| "… (still running at the end of the run)".to_owned(), ms)
            );
            if let (Some(late), Some(end)) = (late, call_end) {
                let what = match h.end_us {
                    Some(_) => format!("ended {} after its call did", duration(late)),
                    None => format!("ran {} past its call's end", duration(late)),
                };
                let verdict = if leak { "beyond the grace: a leak" } else { "within the grace" };
                tooltip.push_str(&format!("\n{what} ({} ms), {verdict} ({})", ms(end), duration(grace)));
                let at = h.end_us.unwrap_or(run_end);
                let kind = if leak { MarkerKind::HandlerLeak } else { MarkerKind::HandlerLate };
                let color = if leak { COLOR_ERROR } else { COLOR_HANDLER };
                markers.add(lane, kind, color, x(at), "", format!("{} ms {}: {tooltip}", ms(at), h.host));
            }
            HandlerLine {
                x0,
                x1,
                y: g.handlers_top + row as f64 * g.hrow_h + g.hrow_h / 2.0,
                thickness: (g.hrow_h * 0.6).clamp(0.6, 2.0),
                color: if leak { COLOR_ERROR } else { COLOR_HANDLER },
                tooltip,
            }
        })
        .collect();

    for e in &report.events {
        let (kind, color, tag, text) = match &e.kind {
            EventKind::Connect { to, ok: true, .. } => {
                (MarkerKind::ConnectOk, COLOR_CONNECT, "", format!("connect → {to}"))
            }
            EventKind::Connect { to, ok: false, .. } => {
                (MarkerKind::ConnectFailed, COLOR_ERROR, "", format!("connect → {to} failed"))
            }
            EventKind::Host { state: HostState::Start } => {
                (MarkerKind::HostStart, COLOR_HOST, "start", "host started".to_owned())
            }
            EventKind::Host { state: HostState::Crash } => {
                (MarkerKind::HostCrash, COLOR_HOST, "crash", "host crashed".to_owned())
            }
            // Starts and heals are the bands' edges.
            EventKind::Fault(f) if f.phase == Phase::Acted => (
                MarkerKind::FaultActed,
                color_of(f.fault),
                "",
                format!("fault {} acted on {}, touched {}: {}", f.fault, f.scope, f.touched, f.detail),
            ),
            EventKind::ProtocolError { detail } => {
                (MarkerKind::ProtocolError, COLOR_PROTOCOL, "", format!("protocol error: {detail}"))
            }
            EventKind::Panic { message, location } => {
                (MarkerKind::Panic, COLOR_PANIC, "", format!("panic at {location}: {message}"))
            }
            EventKind::Hop { call, to } => {
                (MarkerKind::Hop, COLOR_CONNECT, "", format!("call #{call} → node {to}"))
            }
            _ => continue,
        };
        let Some(&lane) = lane_of.get(e.host.as_str()) else { continue };
        markers.add(lane, kind, color, x(e.at_us), tag, format!("{} ms {}: {text}", ms(e.at_us), e.host));
    }
    let markers = markers.place(&lanes);

    Layout {
        width,
        height: plot_bottom + AXIS_H + 6.0,
        plot,
        axis_top_y: plot_top - 5.0,
        axis_bottom_y: plot_bottom + 13.0,
        lanes,
        empty,
        ticks: time.ticks(),
        gaps,
        bands,
        bars,
        handlers: handler_lines,
        markers,
        fault_colors,
    }
}

/// Vertical placement of a lane's rows.
struct LaneRows {
    calls_top: f64,
    row_h: f64,
    handlers_top: f64,
    hrow_h: f64,
}

/// Rows of a lane, each as far right as its last interval reaches.
#[derive(Debug, Clone, Default)]
struct Rows {
    ends: Vec<f64>,
}

impl Rows {
    /// The first row free at `x0` (`space` clear of its last interval), or a new one.
    fn place(&mut self, x0: f64, x1: f64, space: f64) -> usize {
        let row = self.ends.iter().position(|&end| end + space <= x0).unwrap_or_else(|| {
            self.ends.push(0.0);
            self.ends.len() - 1
        });
        self.ends[row] = x1;
        row
    }
}

/// Markers grouped by lane, kind, color and pixel, with the texts of the events merged.
#[derive(Default)]
struct MarkerSet {
    groups: BTreeMap<MarkerKey, (&'static str, Vec<String>)>,
}

/// A marker's lane, kind, color and pixel column.
type MarkerKey = (usize, MarkerKind, &'static str, i64);

impl MarkerSet {
    fn add(
        &mut self,
        lane: usize,
        kind: MarkerKind,
        color: &'static str,
        x: f64,
        tag: &'static str,
        text: String,
    ) {
        let group = self.groups.entry((lane, kind, color, x.round() as i64)).or_insert((tag, Vec::new()));
        group.1.push(text);
    }

    fn place(self, lanes: &[Lane]) -> Vec<Marker> {
        let columns: Vec<(usize, i64)> = self.groups.keys().map(|&(lane, _, _, px)| (lane, px)).collect();
        self.groups
            .into_iter()
            .map(|((lane, kind, color, px), (tag, texts))| {
                let at = Point { x: px as f64, y: lanes[lane].area.y + LANE_PAD + MARKER_H / 2.0 };
                let mut tooltip =
                    if texts.len() > 1 { format!("{} events\n", texts.len()) } else { String::new() };
                for t in texts.iter().take(MAX_MERGED) {
                    tooltip.push_str(&clip(t));
                    tooltip.push('\n');
                }
                if texts.len() > MAX_MERGED {
                    tooltip.push_str(&format!("… and {} more", texts.len() - MAX_MERGED));
                }
                let more = if texts.len() > 1 { format!(" +{}", texts.len() - 1) } else { String::new() };
                let label = format!("{tag}{more}");
                let right = at.x + 7.0 + label.chars().count() as f64 * 6.2;
                // A label that would run into the next marker of its lane is left to the tooltip.
                let clear = !columns.iter().any(|&(l, p)| l == lane && p > px && p as f64 - 5.0 <= right);
                let label =
                    (!tag.is_empty() && clear).then_some((Point { x: at.x + 7.0, y: at.y + 4.0 }, label));
                Marker { kind, at, color, label, tooltip: tooltip.trim_end().to_owned() }
            })
            .collect()
    }
}

/// One call as drawn: merged from the trace and, where the trace lacks it, the call record.
#[derive(Debug, Default)]
struct CallView {
    host: String,
    method: String,
    start_us: u64,
    end_us: Option<u64>,
    code: Option<Code>,
    message: String,
    sent_at: Vec<u64>,
    received_at: Vec<u64>,
    /// Messages sent and received, from the record.
    counts: Option<(u32, usize)>,
    probe: bool,
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
        let (host, at) = (e.host.as_str(), e.at_us);
        match &e.kind {
            EventKind::CallStart { call, method, .. } => {
                let v = view(&mut calls, *call, host, at);
                v.start_us = at;
                v.method = method.clone();
            }
            EventKind::Sent { call, .. } => view(&mut calls, *call, host, at).sent_at.push(at),
            EventKind::Received { call, .. } => view(&mut calls, *call, host, at).received_at.push(at),
            EventKind::CallEnd { call, code, message } => {
                let v = view(&mut calls, *call, host, at);
                v.end_us = Some(at);
                v.code = Some(*code);
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
            v.method = r.method.clone();
        }
        if v.end_us.is_none() {
            v.end_us = Some(r.end_us.max(v.start_us));
        }
        if v.code.is_none() {
            v.code = Some(r.code);
            v.message = r.message.clone();
        }
        v.counts = Some((r.sent, r.received));
        v.probe = r.probe;
    }
    calls
}

fn call_tooltip(id: u64, c: &CallView, handler: Option<&HandlerLife>) -> String {
    let status = c.code.map_or_else(|| "(never ended)".to_owned(), |code| format!("{code:?}"));
    let message = if c.message.is_empty() { String::new() } else { format!(": {}", clip(&c.message)) };
    let (sent, received) = c.counts.map_or((c.sent_at.len(), c.received_at.len()), |(s, r)| (s as usize, r));
    let end = c.end_us.map_or_else(|| "…".to_owned(), ms);
    let span = c.end_us.map_or_else(String::new, |e| format!(" ({} ms)", ms(e.saturating_sub(c.start_us))));
    let mut text = format!(
        "call #{id} {} on {}\n{status}{message}\nsent {sent}, received {received}\n{}–{end} ms{span}",
        clip(&c.method),
        clip(&c.host),
        ms(c.start_us)
    );
    if let Some(h) = handler {
        let end = h.end_us.map_or_else(|| "…".to_owned(), ms);
        text.push_str(&format!("\nserver handler {}–{end} ms", ms(h.start_us)));
    }
    if c.probe {
        text.push_str("\nliveness probe");
    }
    text
}

/// A server handler's life, from its `Handler` events.
#[derive(Debug)]
struct HandlerLife {
    host: String,
    start_us: u64,
    /// `None`: still running at the end of the run.
    end_us: Option<u64>,
}

fn collect_handlers(report: &RunReport) -> BTreeMap<u64, HandlerLife> {
    let mut lives: BTreeMap<u64, HandlerLife> = BTreeMap::new();
    for e in &report.events {
        if let EventKind::Handler { call, running } = e.kind {
            if running {
                lives.insert(call, HandlerLife { host: e.host.clone(), start_us: e.at_us, end_us: None });
            } else if let Some(life) = lives.get_mut(&call) {
                life.end_us.get_or_insert(e.at_us);
            }
        }
    }
    lives
}

/// A fault's window as drawn: a network fault's from its `Start` to its `Heal` event (to the
/// end of the run if it never healed), any other's as the scenario schedules it (they act call
/// by call, connection by connection, inside it).
#[derive(Debug)]
struct Window {
    index: usize,
    fault: &'static str,
    start_us: u64,
    end_us: u64,
    label: String,
    tooltip: String,
}

fn fault_windows<O>(scenario: &Scenario<O>, report: &RunReport) -> Vec<Window> {
    #[derive(Default)]
    struct Seen {
        start: Option<(u64, String)>,
        heal: Option<u64>,
        acted: u32,
        touched: u64,
    }
    let mut seen: BTreeMap<usize, Seen> = BTreeMap::new();
    for e in &report.events {
        let EventKind::Fault(f) = &e.kind else { continue };
        let s = seen.entry(f.index).or_default();
        match f.phase {
            Phase::Start => s.start = Some((e.at_us, f.detail.clone())),
            Phase::Heal => s.heal = Some(e.at_us),
            Phase::Acted => {
                s.acted += 1;
                s.touched += f.touched;
            }
        }
    }
    let none = Seen::default();
    scenario
        .faults
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let s = seen.get(&index).unwrap_or(&none);
            let name = f.fault.name();
            let network = f.fault.injector() == Injector::Network;
            let (start_us, end_us, note) = match (network, &s.start, s.heal) {
                (true, Some((start, detail)), Some(heal)) => (*start, heal.max(*start), clip(detail)),
                (true, Some((start, detail)), None) => (
                    *start,
                    report.sim_time_us.max(*start),
                    format!("{}; not healed by the end of the run", clip(detail)),
                ),
                (true, None, _) => (f.start_us(), f.heal_us(), "scheduled; never started".to_owned()),
                (false, ..) => (f.start_us(), f.heal_us(), "scheduled window; acts call by call".to_owned()),
            };
            let label = format!("{name} {}–{} ms", ms(start_us), ms(end_us));
            let acted = match s.acted {
                0 => "never acted".to_owned(),
                n => format!("acted {n}×, touched {}", s.touched),
            };
            let tooltip = format!("{label}\n{note}\n{acted}");
            Window { index, fault: name, start_us, end_us, label, tooltip }
        })
        .collect()
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

/// Shortens text to `MAX_TEXT` characters and replaces control characters other than newline
/// and tab, which have no place in a page.
pub fn clip(text: &str) -> String {
    let clean = |c: char| if c.is_control() && c != '\n' && c != '\t' { '\u{FFFD}' } else { c };
    let mut out: String = text.chars().take(MAX_TEXT).map(clean).collect();
    if text.chars().nth(MAX_TEXT).is_some() {
        out.push('…');
    }
    out
}

/// Microseconds as milliseconds, with only the decimals needed.
pub fn ms(us: u64) -> String {
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
            // Busy stretches: each instant padded on both sides, merged across idle stretches
            // shorter than `min_gap`.
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

    /// The time grid: a round step at least `TICK_MIN_PX` apart in the drawn-to-scale stretches,
    /// labelled where clear of the compressed stretches' labels.
    fn ticks(&self) -> Vec<Tick> {
        let step = nice_step((TICK_MIN_PX / self.scale).ceil() as u64);
        let mut ticks: Vec<Tick> = Vec::new();
        let mut last_x = f64::NEG_INFINITY;
        for seg in self.segments.iter().filter(|s| !s.gap) {
            let mut t = seg.t0.div_ceil(step) * step;
            while t <= seg.t1 {
                let x = self.x(t);
                if x - last_x >= TICK_MIN_PX * 0.6 {
                    let clear =
                        self.segments.iter().filter(|g| g.gap).all(|g| x < g.x0 - 22.0 || x > g.x1 + 22.0);
                    ticks.push(Tick { x, label: clear.then(|| ms(t)) });
                    last_x = x;
                }
                t += step;
            }
        }
        ticks
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

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_model::trace::Event;

    fn report(events: Vec<Event>, sim_time_us: u64) -> RunReport {
        RunReport {
            scenario: "t".to_owned(),
            seed: 1,
            expect: faultline_model::Expect::Pass,
            caught_by: None,
            calls: 0,
            failed_calls: 0,
            faults: BTreeMap::new(),
            codes: BTreeMap::new(),
            sim_time_us,
            excusable_us: 0,
            violations: Vec::new(),
            trace_hash: 0,
            events,
            records: Vec::new(),
        }
    }

    /// A call's start and end on `client-0`.
    fn call(id: u64, start_us: u64, end_us: u64) -> [Event; 2] {
        let host = "client-0".to_owned();
        let start = EventKind::CallStart { call: id, method: "SayHello".to_owned(), deadline_us: 1 };
        let end = EventKind::CallEnd { call: id, code: Code::Ok, message: String::new() };
        [Event { at_us: start_us, host: host.clone(), kind: start }, Event { at_us: end_us, host, kind: end }]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn a_busy_axis_is_drawn_to_scale() {
        // Something every 100 ms of a 4 s run: nothing to compress.
        let mut events: Vec<Event> = (0..=40)
            .map(|i| Event {
                at_us: i * 100_000,
                host: "client-0".to_owned(),
                kind: EventKind::Connect { to: "server".to_owned(), ok: true, since_us: 0 },
            })
            .collect();
        events.extend(call(1, 1_000_000, 2_000_000));
        let l = layout(&Scenario::<()>::new("t"), &report(events, 4_000_000));

        assert_eq!(l.plot, Rect { x: LEFT, y: AXIS_H + 4.0, w: PLOT_W, h: LANE_PAD * 2.0 + MARKER_H + 10.0 });
        assert!(l.gaps.is_empty());
        // 1 s..2 s of 0..4 s: the second quarter of the plot, in the lane's first call row.
        let bar = &l.bars[0];
        let quarter = PLOT_W / 4.0;
        assert!(close(bar.area.x, LEFT + quarter) && close(bar.area.w, quarter), "{:?}", bar.area);
        assert_eq!((bar.area.y, bar.area.h), (l.plot.y + LANE_PAD + MARKER_H + 1.0, 8.0));
        // A grid line every 500 ms (the first 1-2-5 step at least 70 px wide), all labelled.
        let xs: Vec<f64> = l.ticks.iter().map(|t| t.x).collect();
        assert_eq!(xs.len(), 9);
        assert!(xs.iter().enumerate().all(|(i, &x)| close(x, LEFT + i as f64 * PLOT_W / 8.0)), "{xs:?}");
        assert_eq!(l.ticks[2].label.as_deref(), Some("1000"));
        // One connect marker per event: 28 px apart, none merged.
        assert_eq!(l.markers.len(), 41);
        assert!(close(l.markers[40].at.x, LEFT + PLOT_W));
    }

    #[test]
    fn an_idle_stretch_is_compressed_to_a_fixed_width() {
        // 100 ms of work, ten idle seconds, 100 ms of work.
        let events: Vec<Event> =
            call(1, 0, 100_000).into_iter().chain(call(2, 10_000_000, 10_100_000)).collect();
        let l = layout(&Scenario::<()>::new("t"), &report(events, 10_100_000));

        assert_eq!(l.gaps.len(), 1);
        let gap = &l.gaps[0];
        assert!(close(gap.area.w, GAP_W));
        assert_eq!(gap.label, "9.8s");
        // Both calls to one scale, filling the plot but for the gap: each busy stretch is a call
        // padded by 1/400 of the axis on its inner side.
        let (first, second) = (&l.bars[0].area, &l.bars[1].area);
        let scale = (PLOT_W - GAP_W) / (2.0 * (100_000.0 + 25_250.0));
        assert!(close(first.x, LEFT) && close(first.w, 100_000.0 * scale), "{first:?}");
        assert!(close(second.w, first.w) && close(second.x + second.w, LEFT + PLOT_W), "{second:?}");
        assert!(close(gap.area.x, LEFT + 125_250.0 * scale));
        assert!(close(second.x, gap.area.x + GAP_W + 25_250.0 * scale));
    }
}
