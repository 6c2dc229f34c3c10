//! The timeline page from its [`Layout`]: HTML with an inline SVG, written with maud, which
//! escapes every string spliced into text or an attribute. Only the constant style sheet goes in
//! unescaped (a `<style>` element's text is not entity-decoded).
//!
//! SVG leaves are written as `<rect ...></rect>`, never as maud's void form `<rect ...>`: inside
//! HTML, an SVG element without a closing tag swallows its siblings as children.

use std::fmt;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::layout::{
    self, Bar, COLOR_CONNECT, COLOR_ERROR, COLOR_HANDLER, COLOR_HOST, COLOR_OK, COLOR_PANIC, COLOR_PROTOCOL,
    FAULT_PALETTE, Layout, Marker, MarkerKind, Status,
};
use faultline_model::report::RunReport;
use faultline_model::scenario::{Expect, Scenario};

/// Renders one run as a standalone HTML page with an inline SVG timeline.
pub fn render<O>(scenario: &Scenario<O>, report: &RunReport) -> String {
    let layout = layout::layout(scenario, report);
    let page = html! {
        (DOCTYPE) "\n"
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Faultline timeline: " (report.scenario) " seed " (report.seed) }
                style { (PreEscaped(STYLE)) }
            }
            "\n"
            body {
                (header(scenario, report))
                div.scroll { (svg(&layout)) }
                (violations(report))
                (legend(&layout))
            }
        }
        "\n"
    };
    page.into_string()
}

/// A coordinate, rounded to a tenth of a pixel, without a trailing `.0`: the same number always
/// prints the same, and the page stays small.
struct Px(f64);

impl fmt::Display for Px {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 * 10.0).round() as i64;
        let sign = if tenths < 0 { "-" } else { "" };
        let (whole, frac) = (tenths.unsigned_abs() / 10, tenths.unsigned_abs() % 10);
        if frac == 0 { write!(f, "{sign}{whole}") } else { write!(f, "{sign}{whole}.{frac}") }
    }
}

fn header<O>(scenario: &Scenario<O>, report: &RunReport) -> Markup {
    let expect = match report.expect {
        Expect::Pass => "pass",
        Expect::Caught => "caught",
    };
    let fired: Vec<String> =
        report.fired().map(|(f, t)| format!("{f} ×{} (touched {})", t.acted, t.touched)).collect();
    html! {
        h1 { (report.scenario) " " span.seed { "seed " (report.seed) } }
        "\n"
        p.desc { (scenario.description) }
        "\n"
        table.meta {
            tr {
                th { "verdict" }
                td {
                    @match report.violations.len() {
                        0 => span.pass { "passed" },
                        1 => span.fail { "1 violation" },
                        n => span.fail { (n) " violations" },
                    }
                    " (expected: " (expect) ")"
                }
            }
            tr {
                th { "trace hash" }
                td { code { (format!("{:016x}", report.trace_hash)) } " (" (report.events.len()) " events)" }
            }
            tr {
                th { "calls" }
                td {
                    (report.calls) " workload, " (report.failed_calls) " failed, "
                    (report.records.iter().filter(|r| r.probe).count()) " probes"
                }
            }
            tr { th { "simulated time" } td { (layout::ms(report.sim_time_us)) " ms" } }
            tr {
                th { "faults fired" }
                td { @if fired.is_empty() { "none" } @else { (fired.join(", ")) } }
            }
        }
        "\n"
    }
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222}
h1{font-size:20px;margin:0 0 4px}h1 .seed{font-weight:normal;color:#555}
h2{font-size:16px;margin:18px 0 6px}
.desc{margin:0 0 8px;color:#444}
table.meta{border-collapse:collapse;margin-bottom:10px}
table.meta th{text-align:left;font-weight:600;padding:1px 12px 1px 0;color:#555}
table.meta td{padding:1px 0}
.pass{color:#1b7a3a;font-weight:600}.fail{color:#c62828;font-weight:600}
.scroll{overflow-x:auto;border:1px solid #ddd;display:inline-block;max-width:100%}
svg{display:block;font:11px system-ui,sans-serif}
svg.glyph{display:inline-block;vertical-align:middle;margin:0 10px 0 4px}
.call.flagged{stroke:#000;stroke-width:1.5}
.call.probe{stroke:#000;stroke-opacity:.6;stroke-dasharray:2 1}
.call.never-ended{stroke:#000;stroke-dasharray:5 2}
.call:target{stroke:#000;stroke-width:3;stroke-dasharray:none}
ol.violations li{margin:2px 0}
ul.legend{list-style:none;padding:0;columns:3}
ul.legend li{margin:2px 0}
.sw{display:inline-block;width:22px;height:10px;margin-right:6px;vertical-align:middle;border:1px solid #0003}
";

fn svg(l: &Layout) -> Markup {
    let (w, h) = (Px(l.width), Px(l.height));
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) } {
            "\n"
            (defs())
            "\n"
            @for lane in &l.lanes {
                rect x=(Px(lane.area.x)) y=(Px(lane.area.y)) width=(Px(lane.area.w)) height=(Px(lane.area.h))
                    fill=(if lane.shaded { "#ececec" } else { "#f7f7f7" }) {}
                text x=(Px(lane.label_at.x)) y=(Px(lane.label_at.y)) font-weight="600" { (lane.label) }
                @if let Some((at, note)) = &lane.note {
                    text x=(Px(at.x)) y=(Px(at.y)) font-size="10" fill="#555" { (note) }
                }
                "\n"
            }
            @if let Some(at) = l.empty {
                text x=(Px(at.x)) y=(Px(at.y)) fill="#777" { "no events recorded" }
            }
            (axis(l))
            @for b in &l.bands {
                g.fault-band {
                    title { (b.tooltip) }
                    rect x=(Px(b.area.x)) y=(Px(b.area.y)) width=(Px(b.area.w)) height=(Px(b.area.h))
                        fill=(b.color) fill-opacity="0.12" stroke=(b.color) stroke-opacity="0.5"
                        stroke-dasharray="4 3" {}
                    text x=(Px(b.label_at.x)) y=(Px(b.label_at.y)) fill=(b.color) font-weight="600" {
                        (b.label)
                    }
                }
                "\n"
            }
            @for bar in &l.bars { (call_bar(bar)) "\n" }
            @for hl in &l.handlers {
                line.handler x1=(Px(hl.x0)) y1=(Px(hl.y)) x2=(Px(hl.x1)) y2=(Px(hl.y)) stroke=(hl.color)
                    stroke-width=(Px(hl.thickness)) { title { (hl.tooltip) } }
                "\n"
            }
            // Over the calls that span them.
            @for gap in &l.gaps {
                g.gap {
                    title { (gap.tooltip) }
                    rect x=(Px(gap.area.x)) y=(Px(gap.area.y)) width=(Px(gap.area.w))
                        height=(Px(gap.area.h)) fill="url(#idle)" {}
                    @for y in [l.axis_top_y, l.axis_bottom_y] {
                        text x=(Px(gap.label_x)) y=(Px(y)) font-size="9" fill="#666" text-anchor="middle" {
                            (gap.label)
                        }
                    }
                }
                "\n"
            }
            @for m in &l.markers { (marker(m)) "\n" }
            rect x=(Px(l.plot.x)) y=(Px(l.plot.y)) width=(Px(l.plot.w)) height=(Px(l.plot.h)) fill="none"
                stroke="#999" {}
            "\n"
        }
    }
}

/// The idle-stretch hatching, and one glyph per marker shape, centred on the origin: each marker
/// is a `<use>` of one, which keeps the page small.
fn defs() -> Markup {
    html! {
        defs {
            pattern id="idle" width="6" height="6" patternUnits="userSpaceOnUse"
                patternTransform="rotate(45)" {
                rect width="6" height="6" fill="#fff" fill-opacity="0.75" {}
                rect width="2" height="6" fill="#bbb" {}
            }
            circle id="m-dot" r="3.2" {}
            path id="m-diamond" d="M0 -5l5 5l-5 5l-5-5z" {}
            path id="m-down" d="M-5 -4.5h10l-5 9z" {}
            path id="m-square" d="M-3.5 -3.5h7v7h-7z" {}
            path id="m-cross" d="M-4 -4l8 8m0-8l-8 8" {}
            path id="m-hourglass" d="M-4 -5h8l-8 10h8z" {}
        }
    }
}

fn axis(l: &Layout) -> Markup {
    html! {
        g stroke="#0002" {
            @for t in &l.ticks {
                line x1=(Px(t.x)) y1=(Px(l.plot.y)) x2=(Px(t.x)) y2=(Px(l.plot.bottom())) {}
            }
        }
        "\n"
        g fill="#444" text-anchor="middle" {
            @for t in &l.ticks {
                @if let Some(label) = &t.label {
                    @for y in [l.axis_top_y, l.axis_bottom_y] {
                        text x=(Px(t.x)) y=(Px(y)) { (label) }
                    }
                }
            }
        }
        "\n"
        text x="8" y=(Px(l.axis_bottom_y)) fill="#444" { "simulated time (ms)" }
        "\n"
    }
}

/// One call: its bar, with ticks for messages sent (upper half, black) and received (lower
/// half, white).
fn call_bar(bar: &Bar) -> Markup {
    let mut class = format!("call {}", bar.status.class());
    if bar.flagged {
        class.push_str(" flagged");
    }
    if bar.probe {
        class.push_str(" probe");
    }
    let ticks = |xs: &[f64], y: f64| {
        xs.iter().map(|&x| format!("M{} {}v{}", Px(x), Px(y), Px(bar.tick_h))).collect::<String>()
    };
    html! {
        g {
            title { (bar.tooltip) }
            rect class=(class) id={ "call-" (bar.call) } data-status=(bar.status.class()) x=(Px(bar.area.x))
                y=(Px(bar.area.y)) width=(Px(bar.area.w)) height=(Px(bar.area.h)) fill=(bar.status.color()) {}
            @if !bar.sent.is_empty() {
                path stroke="#000" d=(ticks(&bar.sent, bar.ticks_y[0])) {}
            }
            @if !bar.received.is_empty() {
                path stroke="#fff" d=(ticks(&bar.received, bar.ticks_y[1])) {}
            }
        }
    }
}

/// How a marker kind is drawn: its CSS class, its glyph, and how its color applies.
struct Look {
    class: &'static str,
    glyph: &'static str,
    /// Filled with the marker's color, or white with a stroke of it.
    filled: bool,
    stroke_width: &'static str,
}

fn look(kind: MarkerKind) -> Look {
    let (class, glyph, filled, stroke_width) = match kind {
        MarkerKind::ConnectOk => ("connect", "#m-dot", false, "1.5"),
        MarkerKind::ConnectFailed => ("connect-failed", "#m-dot", true, "0"),
        MarkerKind::HostStart => ("host-start", "#m-diamond", false, "1.5"),
        MarkerKind::HostCrash => ("host-crash", "#m-diamond", true, "0"),
        MarkerKind::FaultActed => ("fault", "#m-down", true, "0"),
        MarkerKind::ProtocolError => ("protocol-error", "#m-square", true, "0"),
        MarkerKind::Panic => ("panic", "#m-cross", false, "2.5"),
        MarkerKind::HandlerLate => ("handler-late", "#m-hourglass", false, "1.2"),
        MarkerKind::HandlerLeak => ("handler-leak", "#m-hourglass", true, "0"),
        MarkerKind::Hop => ("hop", "#m-down", false, "1.2"),
    };
    Look { class, glyph, filled, stroke_width }
}

/// A marker's glyph at (x, y) in `color`.
fn glyph(kind: MarkerKind, color: &str, x: &Px, y: &Px) -> Markup {
    let look = look(kind);
    // The panic cross is all stroke; every other hollow glyph is white inside.
    let fill = if look.filled {
        color
    } else if kind == MarkerKind::Panic {
        "none"
    } else {
        "#fff"
    };
    html! {
        @if look.filled {
            use href=(look.glyph) x=(x) y=(y) fill=(fill) {}
        } @else {
            use href=(look.glyph) x=(x) y=(y) fill=(fill) stroke=(color) stroke-width=(look.stroke_width) {}
        }
    }
}

fn marker(m: &Marker) -> Markup {
    html! {
        g class=(look(m.kind).class) {
            title { (m.tooltip) }
            (glyph(m.kind, m.color, &Px(m.at.x), &Px(m.at.y)))
            @if let Some((at, text)) = &m.label {
                text x=(Px(at.x)) y=(Px(at.y)) fill=(m.color) { (text) }
            }
        }
    }
}

fn violations(report: &RunReport) -> Markup {
    html! {
        h2 { "Violations (" (report.violations.len()) ")" }
        "\n"
        @if report.violations.is_empty() {
            p { "none: every property held" }
        } @else {
            ol.violations {
                @for v in &report.violations {
                    li {
                        "[" (v.property) "] "
                        @if let Some(call) = v.call {
                            a href={ "#call-" (call) } { "call #" (call) } ": "
                        }
                        (v.detail)
                    }
                    "\n"
                }
            }
        }
        "\n"
    }
}

fn legend(l: &Layout) -> Markup {
    let swatch = |style: &str| html! { span.sw style=(style) {} };
    let sample = |kind: MarkerKind, color: &str| {
        html! {
            svg.glyph width="14" height="14" viewBox="-7 -7 14 14" {
                (glyph(kind, color, &Px(0.0), &Px(0.0)))
            }
        }
    };
    let markers = [
        (MarkerKind::ConnectOk, COLOR_CONNECT, "connection opened"),
        (MarkerKind::ConnectFailed, COLOR_ERROR, "connection failed"),
        (MarkerKind::HostStart, COLOR_HOST, "host started"),
        (MarkerKind::HostCrash, COLOR_HOST, "host crashed"),
        (MarkerKind::FaultActed, FAULT_PALETTE[0], "fault acted on traffic (in the fault's color)"),
        (MarkerKind::ProtocolError, COLOR_PROTOCOL, "proxy protocol error"),
        (MarkerKind::Panic, COLOR_PANIC, "panic"),
        (MarkerKind::HandlerLate, COLOR_HANDLER, "server handler ended after its call, within the grace"),
        (MarkerKind::HandlerLeak, COLOR_ERROR, "server handler outlived its call beyond the grace (leak)"),
    ];
    html! {
        h2 { "Legend" }
        "\n"
        ul.legend {
            @for (status, text) in [
                (Status::Ok, "call ended OK"),
                (Status::DeadlineExceeded, "call ended DEADLINE_EXCEEDED"),
                (Status::Cancelled, "call ended CANCELLED"),
                (Status::Error, "call ended with another status"),
            ] {
                li { (swatch(&format!("background:{}", status.color()))) (text) }
                "\n"
            }
            li {
                (swatch(&format!("background:{COLOR_ERROR};border:1px dashed #000")))
                "call that never ended (drawn to the end of the run)"
            }
            "\n"
            li {
                (swatch(&format!("background:{COLOR_OK};border:1.5px solid #000")))
                "call named by a violation (click a violation to find it)"
            }
            "\n"
            li {
                (swatch(&format!("background:{COLOR_OK};border:1px dashed #000")))
                "liveness probe after faults healed"
            }
            "\n"
            li {
                (swatch(&format!(
                    "background:linear-gradient(90deg,#000 2px,{COLOR_OK} 2px) 0 0/6px 50% repeat-x,\
                     linear-gradient(90deg,#fff 2px,{COLOR_OK} 2px) 0 100%/6px 50% repeat-x"
                )))
                "ticks: message sent (upper half), received (lower half)"
            }
            "\n"
            li {
                (swatch(&format!("height:2px;background:{COLOR_HANDLER}")))
                "server handler's life (red if it outlived its call beyond the grace)"
            }
            "\n"
            li {
                (swatch("background:repeating-linear-gradient(45deg,#bbb 0 2px,#fff 2px 6px)"))
                "idle stretch, compressed (labelled with its length)"
            }
            "\n"
            @for (kind, color, text) in markers {
                li { (sample(kind, color)) (text) }
                "\n"
            }
            @for (name, color) in &l.fault_colors {
                li { (swatch(&format!("background:{color}33;border-color:{color}"))) "fault " (name) }
                "\n"
            }
        }
        "\n"
        p { "Hover over a bar, line or marker for details; markers of a kind at the same pixel are merged." }
        "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::Px;

    #[test]
    fn coordinates_print_to_a_tenth_without_trailing_zeros() {
        let printed: Vec<String> =
            [0.0, 12.0, 12.04, 12.06, 12.96, -3.25, 1120.0].iter().map(|&v| Px(v).to_string()).collect();
        assert_eq!(printed, ["0", "12", "12", "12.1", "13", "-3.3", "1120"]);
    }
}
