//! The probe client of `ci/proxy-live.sh` on tonic (the Rust stack `faultline client` runs):
//! one case of calls, one JSON line per call (`{"call", "code", "received", "result"}`), the
//! same lines `ci/checks/proxy_probe.py` (grpcio) and `ci/node/probe.js` (grpc-js) print.
//!
//! ```sh
//! cargo run --release --example proxy_probe -- --addr ADDR CASE
//! ```
//!
//! * `clean`: GetFeature, ListFeatures, RecordRoute, RouteChat as the tutorial makes them;
//! * `list`: ListFeatures over the tutorial's rectangle;
//! * `chat`: RouteChat in lock step (note k at one place, then wait for its k-1 replies: 20
//!   notes, 190 replies), then GetFeature on the same channel;
//! * `record-cut`: RecordRoute of 5 points left open, ListFeatures on the same connection, then
//!   RecordRoute half-closed.

use std::time::Duration;

use clap::{Parser, ValueEnum};
use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_proto::routeguide::{Point, RouteNote};
use faultline_services::FeatureDb;
use faultline_services::tutorial::{KNOWN_POINT, TUTORIAL_RECTANGLE, chat_notes};
use faultline_wire::code_name;
use faultline_wire::deadline::Deadline;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::transport::{Channel, Endpoint};

const TIMEOUT: Duration = Duration::from_secs(20);
const ROUNDS: usize = 20;

type Client = RouteGuideClient<Deadline<Channel>>;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Case {
    Clean,
    List,
    Chat,
    RecordCut,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    addr: String,
    case: Case,
}

fn report(call: &str, outcome: Result<Value, &Status>, received: usize) {
    let (code, result) = match outcome {
        Ok(result) => ("OK", result),
        Err(status) => (code_name(status.code()), Value::Null),
    };
    println!("{}", json!({ "call": call, "code": code, "received": received, "result": result }));
}

fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(TIMEOUT);
    request
}

async fn get_feature(client: &mut Client) {
    match client.get_feature(request(KNOWN_POINT)).await {
        Ok(feature) => report("GetFeature", Ok(json!(feature.into_inner().name)), 1),
        Err(status) => report("GetFeature", Err(&status), 0),
    }
}

async fn list_features(client: &mut Client) {
    let mut names = Vec::new();
    let outcome = async {
        let mut stream = client.list_features(request(TUTORIAL_RECTANGLE)).await?.into_inner();
        while let Some(feature) = stream.message().await? {
            names.push(feature.name);
        }
        Ok::<_, Status>(())
    }
    .await;
    match outcome {
        Ok(()) => report("ListFeatures", Ok(json!(names)), names.len()),
        Err(status) => report("ListFeatures", Err(&status), names.len()),
    }
}

/// RecordRoute of `points`; with `cut`, ListFeatures runs once tonic has taken every point
/// (the request stream is polled for one more) and before the half-close.
async fn record_route(client: &mut Client, points: Vec<Point>, cut: bool) {
    let (taken, was_taken) = oneshot::channel();
    let (finish, finished) = oneshot::channel::<()>();
    let requests = async_stream::stream! {
        for point in points {
            yield point;
        }
        let _ = taken.send(());
        if cut {
            let _ = finished.await;
        }
    };
    let mut recording = client.clone();
    let call = tokio::spawn(async move { recording.record_route(request(requests)).await });
    if cut {
        let _ = was_taken.await;
        list_features(client).await;
    }
    drop(finish);
    match call.await {
        Ok(Ok(summary)) => {
            let s = summary.into_inner();
            report("RecordRoute", Ok(json!([s.point_count, s.feature_count, s.distance])), 1);
        }
        Ok(Err(status)) => report("RecordRoute", Err(&status), 0),
        Err(e) => report("RecordRoute", Err(&Status::unknown(e.to_string())), 0),
    }
}

async fn route_chat(client: &mut Client, notes: Vec<RouteNote>, lock_step: bool) {
    let (send, queue) = mpsc::channel(notes.len().max(1));
    let mut got = Vec::new();
    let mut notes = notes.into_iter();
    let mut sent = 0usize;
    // Lock step: note k+1 goes once the replies to notes 1..k (k choose 2) are in.
    let mut send_due = |got: usize, send: &mut Option<mpsc::Sender<RouteNote>>| {
        while let Some(sender) = send.as_ref() {
            if lock_step && got < sent * sent.saturating_sub(1) / 2 {
                break;
            }
            match notes.next() {
                Some(note) => {
                    let _ = sender.try_send(note);
                    sent += 1;
                }
                None => *send = None,
            }
        }
    };
    let mut send = Some(send);
    send_due(0, &mut send);
    let outcome = async {
        let mut replies = client.route_chat(request(ReceiverStream::new(queue))).await?.into_inner();
        while let Some(note) = replies.message().await? {
            got.push(note.message);
            send_due(got.len(), &mut send);
        }
        Ok::<_, Status>(())
    }
    .await;
    match outcome {
        Ok(()) => report("RouteChat", Ok(if lock_step { Value::Null } else { json!(got) }), got.len()),
        Err(status) => report("RouteChat", Err(&status), got.len()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let endpoint = match Endpoint::from_shared(format!("http://{}", args.addr)) {
        Ok(endpoint) => endpoint.connect_timeout(Duration::from_secs(5)),
        Err(e) => {
            eprintln!("error: `{}` is not a host:port address: {e}", args.addr);
            std::process::exit(2);
        }
    };
    let mut client = RouteGuideClient::new(Deadline::new(endpoint.connect_lazy()));
    let db = FeatureDb::reference();
    let locations = |n: usize| db.features()[..n].iter().filter_map(|f| f.location).collect::<Vec<_>>();
    match args.case {
        Case::Clean => {
            get_feature(&mut client).await;
            list_features(&mut client).await;
            record_route(&mut client, locations(10), false).await;
            route_chat(&mut client, chat_notes(), false).await;
        }
        Case::List => list_features(&mut client).await,
        Case::Chat => {
            let note = |k: usize| RouteNote {
                location: Some(Point { latitude: 1, longitude: 1 }),
                message: format!("note {k}"),
            };
            route_chat(&mut client, (1..=ROUNDS).map(note).collect(), true).await;
            get_feature(&mut client).await;
        }
        Case::RecordCut => record_route(&mut client, locations(5), true).await,
    }
}
