//! tonic's client against a buggy server: what it reports per case, as `faultline client` builds
//! its channel (an `Endpoint` with a connect timeout and a call timeout).

use std::time::Duration;

use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_proto::routeguide::{Point, Rectangle};
use serde::{Deserialize, Serialize};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::case::{Case, Method, code_name};
use crate::server::CASE_HEADER;

/// Every call gives up after this long (the Python probe uses the same deadline).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How a client ended one case's call, then a clean call on the same channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub case: String,
    pub method: String,
    /// The status code's name (`OK`, `INTERNAL`, ...).
    pub code: String,
    /// The status message, as the client reports it.
    pub details: String,
    /// Messages the application received before the call ended.
    pub received: u32,
    /// The code of a clean GetFeature on the same channel afterwards: does the channel recover?
    pub next: String,
}

/// The tutorial's first GetFeature point (a named feature).
pub fn tutorial_point() -> Point {
    Point { latitude: 409_146_138, longitude: -746_188_906 }
}

/// The tutorial's ListFeatures rectangle (100 features: the whole database).
pub fn tutorial_rectangle() -> Rectangle {
    Rectangle {
        lo: Some(Point { latitude: 400_000_000, longitude: -750_000_000 }),
        hi: Some(Point { latitude: 420_000_000, longitude: -730_000_000 }),
    }
}

/// A channel to `addr` (host:port), connected lazily so that a refused connection is a call's
/// status, as it is for grpcio.
pub fn channel(addr: &str) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|_| format!("`{addr}` is not a host:port address"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(CALL_TIMEOUT);
    Ok(endpoint.connect_lazy())
}

/// Plays `case` on `method` with tonic's client on a fresh channel to `addr`.
pub async fn probe(addr: &str, case: Case, method: Method) -> Result<Outcome, String> {
    let mut client = RouteGuideClient::new(channel(addr)?);
    let (status, received) = call(&mut client, case, method).await;
    let (next, _) = call(&mut client, Case::Clean, Method::GetFeature).await;
    Ok(Outcome {
        case: case.name().to_owned(),
        method: method.name().to_owned(),
        code: code_name(status.code()).to_owned(),
        details: if status.code() == Code::Ok { String::new() } else { status.message().to_owned() },
        received,
        next: code_name(next.code()).to_owned(),
    })
}

/// One call: its final status and how many messages came before it.
async fn call(client: &mut RouteGuideClient<Channel>, case: Case, method: Method) -> (Status, u32) {
    let mut received = 0;
    let run = async {
        match method {
            Method::GetFeature => {
                client.get_feature(request(tutorial_point(), case)).await?;
                received += 1;
            }
            Method::ListFeatures => {
                let mut stream =
                    client.list_features(request(tutorial_rectangle(), case)).await?.into_inner();
                while stream.message().await?.is_some() {
                    received += 1;
                }
            }
        }
        Ok::<(), Status>(())
    };
    // tonic's `timeout` covers a call until its response headers only.
    let status = match tokio::time::timeout(CALL_TIMEOUT, run).await {
        Ok(Ok(())) => Status::new(Code::Ok, ""),
        Ok(Err(status)) => status,
        Err(_) => Status::deadline_exceeded("the probe's deadline passed"),
    };
    (status, received)
}

fn request<T>(message: T, case: Case) -> Request<T> {
    let mut request = Request::new(message);
    let value = case.name().parse().expect("case names are ASCII");
    request.metadata_mut().insert(CASE_HEADER, value);
    request
}
