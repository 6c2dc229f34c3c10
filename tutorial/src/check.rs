//! The tutorial's oracle: every call's replies against the independent model.
//!
//! - **stream-order**, **summary**, **chat**: received messages are a prefix of the model's; a
//!   call that succeeded has exactly the model's result. A RecordRoute's `elapsed_time` is the
//!   whole seconds its handler ran (from the server's handler events, two ticks of slack).

use tonic::Code;

use super::model::Model;
use super::workload::{CallInput, Reply};
use faultline_sim::check::Property;
use faultline_sim::fault::NetParams;
use faultline_sim::system::{CallContext, CallRecord, CallSummary};

/// Received messages are a prefix of the model's, no duplicate, no gap; a completed stream
/// equals it.
pub const STREAM_ORDER: Property = Property::Oracle("stream-order");
/// An OK RecordRoute summary equals the model on the points sent, and its elapsed time the
/// handler's.
pub const SUMMARY: Property = Property::Oracle("summary");
/// RouteChat replies equal the model on that call's notes; no cross-call leaks.
pub const CHAT: Property = Property::Oracle("chat");

fn is_prefix<T: PartialEq>(prefix: &[T], of: &[T]) -> bool {
    prefix.len() <= of.len() && prefix == &of[..prefix.len()]
}

/// Checks one call's replies against `model`.
pub fn check_payload(
    model: &Model,
    record: &CallRecord<CallInput, Reply>,
    context: &CallContext<'_>,
    fail: &mut dyn FnMut(Property, String),
) {
    let (r, handler, net) = (&record.call, context.handler.as_ref(), context.net);
    let ok = r.code == Code::Ok;
    let replies = &record.replies;
    match &record.op {
        CallInput::SayHello { name } | CallInput::SayHelloAgain { name } => {
            let want = if matches!(record.op, CallInput::SayHello { .. }) {
                Model::hello(name)
            } else {
                Model::hello_again(name)
            };
            unary(ok, replies, Reply::Hello(want), fail);
        }
        CallInput::GetFeature { point } => {
            unary(ok, replies, Reply::Feature(model.get_feature(*point)), fail);
        }
        CallInput::ListFeatures { lo, hi } => {
            let want: Vec<Reply> = model.list_features(*lo, *hi).into_iter().map(Reply::Feature).collect();
            stream(ok, replies, &want, STREAM_ORDER, fail);
        }
        CallInput::RecordRoute { points } => {
            let (point_count, feature_count, distance) = model.record_route(points);
            match replies.as_slice() {
                [] if !ok => {}
                [Reply::Summary { point_count: pc, feature_count: fc, distance: d, elapsed_time }] if ok => {
                    if (*pc, *fc, *d) != (point_count, feature_count, distance) {
                        fail(
                            SUMMARY,
                            format!(
                                "summary (points, features, metres) = ({pc}, {fc}, {d}), model says ({point_count}, {feature_count}, {distance})"
                            ),
                        );
                    }
                    if let Some(why) = elapsed_wrong(*elapsed_time, r, handler, net) {
                        fail(SUMMARY, why);
                    }
                }
                other => fail(SUMMARY, format!("{:?} call got replies {other:?}", r.code)),
            }
        }
        CallInput::RouteChat { notes, .. } => {
            let notes: Vec<_> = notes.iter().map(|(m, p)| (m.clone(), Some(*p))).collect();
            let want: Vec<Reply> = Model::route_chat(&notes).into_iter().map(Reply::Note).collect();
            stream(ok, replies, &want, CHAT, fail);
        }
    }
}

/// Why a RecordRoute's `elapsed_time` is wrong, if it is: it is the whole seconds from the
/// handler's start to the end of the client stream, which the handler's events bound (it ends
/// the tick it answers, give or take two ticks); without them, the call's own span bounds it.
fn elapsed_wrong(
    elapsed: i32,
    r: &CallSummary,
    handler: Option<&(u64, Option<u64>)>,
    net: &NetParams,
) -> Option<String> {
    const SECOND: u64 = 1_000_000;
    let slack = 2 * net.tick.as_micros() as u64;
    let (lo, hi, over) = match handler {
        Some(&(start, Some(end))) => {
            let ran = end.saturating_sub(start);
            (ran.saturating_sub(slack) / SECOND, ran / SECOND, format!("its handler ran {ran}us"))
        }
        _ => {
            let lasted = r.end_us.saturating_sub(r.start_us);
            (0, lasted.div_ceil(SECOND), format!("the call lasted {lasted}us"))
        }
    };
    let fits = u64::try_from(elapsed).is_ok_and(|e| (lo..=hi).contains(&e));
    (!fits).then(|| format!("elapsed_time {elapsed}s, but {over}: whole seconds {lo}..={hi}"))
}

fn unary(ok: bool, got: &[Reply], want: Reply, fail: &mut dyn FnMut(Property, String)) {
    match got {
        [] if !ok => {}
        [one] if ok && *one == want => {}
        _ => fail(STREAM_ORDER, format!("expected {want:?} (ok: {ok}), got {got:?}")),
    }
}

fn stream(
    ok: bool,
    got: &[Reply],
    want: &[Reply],
    property: Property,
    fail: &mut dyn FnMut(Property, String),
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
