//! Property checkers: every call's record against the independent model and
//! against what the scenario's faults allow.

use std::fmt;

use serde::Serialize;
use tonic::Code;

use crate::model::Model;
use crate::proxy::ProxyFault;
use crate::scenario::{Fault, Scenario};
use crate::workload::{CallInput, CallRecord, Reply};

/// The properties, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Property {
    /// Received messages are a prefix of the model's, no duplicate, no gap; a completed stream equals it.
    StreamOrder,
    /// An OK RecordRoute summary equals the model on the points sent.
    Summary,
    /// RouteChat replies equal the model on that call's notes; no cross-call leaks.
    Chat,
    /// A failed call's code is one the faults allow; a deadline surfaces as DEADLINE_EXCEEDED.
    Status,
    /// No call outlives its deadline; after faults heal, calls succeed again within a bound.
    Liveness,
    /// Same seed, same trace.
    Determinism,
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Property::StreamOrder => "stream-order",
            Property::Summary => "summary",
            Property::Chat => "chat",
            Property::Status => "status",
            Property::Liveness => "liveness",
            Property::Determinism => "determinism",
        })
    }
}

/// One property that did not hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// The call it concerns, if one.
    pub call: Option<u64>,
    /// What was expected and what happened.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.call {
            Some(call) => write!(f, "[{}] call #{call}: {}", self.property, self.detail),
            None => write!(f, "[{}] {}", self.property, self.detail),
        }
    }
}

/// Codes a connection-breaking fault can surface: the transport fails
/// (UNAVAILABLE), h2 resets or aborts a stream (CANCELLED, INTERNAL, UNKNOWN),
/// or the call runs into its deadline.
const BROKEN_CONNECTION: &[Code] =
    &[Code::Unavailable, Code::Cancelled, Code::Internal, Code::Unknown, Code::DeadlineExceeded];

/// Codes a fault may legitimately cause (besides the client's own deadline and cancel).
pub fn allowed_codes(scenario: &Scenario) -> Vec<Code> {
    let mut codes: Vec<Code> = Vec::new();
    for f in &scenario.faults {
        match f.fault {
            // Slow or held links outlive keepalive, which then tears the
            // connection down like any other break (a call dispatched onto it
            // as it closes ends CANCELLED "operation was canceled" in tonic).
            Fault::Latency { .. }
            | Fault::Hold
            | Fault::Partition { .. }
            | Fault::CrashBounce
            | Fault::Loss { .. } => codes.extend_from_slice(BROKEN_CONNECTION),
            // The server's own deadline may fire first and cancel the call.
            Fault::SlowHandler { .. } => codes.extend([Code::DeadlineExceeded, Code::Cancelled]),
            Fault::TrailersOnly { code, .. } => codes.push(Code::from(code)),
        }
    }
    for p in &scenario.proxy {
        match p {
            ProxyFault::FrameReorder { .. } | ProxyFault::FrameDelay { .. } => {
                codes.push(Code::DeadlineExceeded)
            }
            _ => codes.extend_from_slice(BROKEN_CONNECTION),
        }
    }
    codes.sort_by_key(|c| *c as i32);
    codes.dedup();
    codes
}

/// Checks every record; returns the violations, in call order.
pub fn check(
    scenario: &Scenario,
    model: &Model,
    records: &[CallRecord],
    recovery_failures: &[String],
) -> Vec<Violation> {
    let allowed = allowed_codes(scenario);
    let mut out = Vec::new();
    for r in records {
        check_call(model, r, &allowed, &mut out);
    }
    for failure in recovery_failures {
        out.push(Violation { property: Property::Liveness, call: None, detail: failure.clone() });
    }
    out
}

fn is_prefix<T: PartialEq>(prefix: &[T], of: &[T]) -> bool {
    prefix.len() <= of.len() && prefix == &of[..prefix.len()]
}

fn check_call(model: &Model, r: &CallRecord, allowed: &[Code], out: &mut Vec<Violation>) {
    let mut fail = |property, detail: String| out.push(Violation { property, call: Some(r.id), detail });
    let ok = r.code == Code::Ok;

    // Liveness: the call ended by its deadline (one tick of slack for timer granularity).
    let lasted = r.end_us.saturating_sub(r.start_us);
    if lasted > r.deadline_us + 1_000 {
        fail(Property::Liveness, format!("lasted {lasted}us, past its {}us deadline", r.deadline_us));
    }

    // Status.
    if !ok {
        let client_made = (r.code == Code::Cancelled && r.cancelled_by_client)
            || (r.code == Code::DeadlineExceeded && lasted + 1_000 >= r.deadline_us);
        if !client_made && !allowed.contains(&r.code) {
            fail(
                Property::Status,
                format!(
                    "{} failed with {:?} ({:?}), which no active fault allows",
                    r.input.method(),
                    r.code,
                    r.message
                ),
            );
        }
    }
    if lasted >= r.deadline_us && !r.cancelled_by_client && r.code != Code::DeadlineExceeded {
        fail(Property::Status, format!("ran to its deadline but ended {:?}, not DeadlineExceeded", r.code));
    }

    // Payloads against the model.
    match &r.input {
        CallInput::SayHello { name } | CallInput::SayHelloAgain { name } => {
            let want = if matches!(r.input, CallInput::SayHello { .. }) {
                Model::hello(name)
            } else {
                Model::hello_again(name)
            };
            unary(ok, &r.replies, Reply::Hello(want), &mut fail);
        }
        CallInput::GetFeature { point } => {
            unary(ok, &r.replies, Reply::Feature(model.get_feature(*point)), &mut fail);
        }
        CallInput::ListFeatures { lo, hi } => {
            let want: Vec<Reply> = model.list_features(*lo, *hi).into_iter().map(Reply::Feature).collect();
            stream(ok, &r.replies, &want, Property::StreamOrder, &mut fail);
        }
        CallInput::RecordRoute { points } => {
            let (point_count, feature_count, distance) = model.record_route(points);
            match r.replies.as_slice() {
                [] if !ok => {}
                [Reply::Summary { point_count: pc, feature_count: fc, distance: d, elapsed_time }] if ok => {
                    if (*pc, *fc, *d) != (point_count, feature_count, distance) {
                        fail(
                            Property::Summary,
                            format!(
                                "summary (points, features, metres) = ({pc}, {fc}, {d}), model says ({point_count}, {feature_count}, {distance})"
                            ),
                        );
                    }
                    let bound = lasted.div_ceil(1_000_000) as i32;
                    if !(0..=bound).contains(elapsed_time) {
                        fail(
                            Property::Summary,
                            format!("elapsed_time {elapsed_time}s exceeds the call's {lasted}us"),
                        );
                    }
                }
                other => fail(Property::Summary, format!("{:?} call got replies {other:?}", r.code)),
            }
        }
        CallInput::RouteChat { notes } => {
            let notes: Vec<_> = notes.iter().map(|(m, p)| (m.clone(), Some(*p))).collect();
            let want: Vec<Reply> = Model::route_chat(&notes).into_iter().map(Reply::Note).collect();
            stream(ok, &r.replies, &want, Property::Chat, &mut fail);
        }
    }
}

fn unary(ok: bool, got: &[Reply], want: Reply, fail: &mut impl FnMut(Property, String)) {
    match got {
        [] if !ok => {}
        [one] if ok && *one == want => {}
        _ => fail(Property::StreamOrder, format!("expected {want:?} (ok: {ok}), got {got:?}")),
    }
}

fn stream(
    ok: bool,
    got: &[Reply],
    want: &[Reply],
    property: Property,
    fail: &mut impl FnMut(Property, String),
) {
    if !is_prefix(got, want) {
        let at = got.iter().zip(want).position(|(g, w)| g != w).unwrap_or(want.len());
        fail(
            property,
            format!(
                "message {at} is {:?}, model says {:?} ({} received, {} expected)",
                got.get(at),
                want.get(at),
                got.len(),
                want.len()
            ),
        );
    } else if ok && got.len() != want.len() {
        fail(property, format!("completed OK after {} of {} messages", got.len(), want.len()));
    }
}
