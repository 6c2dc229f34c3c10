//! The suite: cases, transcripts, rules and known failures, and the runs over each transport.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use faultline_services::Mutant;
use faultline_sim::server::SimClock;
use faultline_wire::deadline::Deadline;
use hyper_util::rt::TokioIo;
use tonic::transport::Endpoint;

use crate::compare::{Aspect, compare};
use crate::known::{self, CaseSpec, DataError, Direction, KnownFailures, Transport};
use crate::play::{Played, play_server_side};
use crate::replay::{blank, received_events, replay_client_side};
use crate::report::{Report, judge};
use crate::rules::Rules;
use crate::target::{Target, TargetError};
use crate::transcript::{Call, Dir, StatusSource, TranscriptError, TranscriptSet};
use crate::{client, server};

/// A suite that cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error(transparent)]
    Transcript(#[from] TranscriptError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("case `{0}` has no transcript in {1} (record it with ci/conformance-record.sh)")]
    Missing(String, PathBuf),
    #[error("transcript `{0}` in {1} is not a case of cases.toml")]
    Extra(String, PathBuf),
    #[error("cannot start a runtime: {0}")]
    Runtime(io::Error),
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Everything a conformance run needs.
#[derive(Debug, Clone)]
pub struct Suite {
    pub cases: Vec<CaseSpec>,
    pub transcripts: TranscriptSet,
    pub rules: Rules,
    pub known: KnownFailures,
}

impl Suite {
    /// The crate's own folder: `cases.toml`, `rules.toml`, `known-failures.toml`, `transcripts/`.
    pub fn default_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// Loads the suite from `dir`, transcripts from `dir/transcripts`.
    pub fn load(dir: &Path) -> Result<Self, SuiteError> {
        Self::load_with_transcripts(dir, &dir.join("transcripts"))
    }

    /// Loads the suite from `dir` with the transcripts of `transcripts`.
    pub fn load_with_transcripts(dir: &Path, transcripts: &Path) -> Result<Self, SuiteError> {
        let cases = known::load_cases(&dir.join("cases.toml"))?;
        let rules = Rules::load(&dir.join("rules.toml"))?;
        let known = known::load_known(&dir.join("known-failures.toml"), &cases)?;
        let set = TranscriptSet::load(transcripts)?;
        check_cases(&cases, &set, transcripts)?;
        Ok(Suite { cases, transcripts: set, rules, known })
    }

    /// Every case's calls, in `cases.toml` order.
    pub fn calls(&self) -> impl Iterator<Item = (&CaseSpec, &[Call])> {
        self.cases.iter().map(|c| (c, self.transcripts.cases.get(&c.id).map_or(&[][..], Vec::as_slice)))
    }

    fn judge_all(
        &self,
        direction: Direction,
        transport: Transport,
        aspects: &[Aspect],
        observed: &[(String, Vec<Call>)],
        known: &KnownFailures,
    ) -> Report {
        let mut report = Report::default();
        for (case, calls) in observed {
            let expected = &self.transcripts.cases[case];
            let mut differences = Vec::new();
            for (e, a) in expected.iter().zip(calls) {
                differences.extend(compare(e, a, &self.rules, aspects));
            }
            report.results.push(judge(case, direction, transport, differences, known));
        }
        report
    }

    /// Runs one direction in process: an in-memory HTTP/2 connection per call, on a paused
    /// tokio clock (deadlines cost no wall time and always fire in the same order).
    pub fn run_in_process(&self, direction: Direction, mutant: Option<Mutant>) -> Result<Report, SuiteError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .map_err(SuiteError::Runtime)?;
        let mut observed = Vec::new();
        for (case, calls) in self.calls() {
            let mut seen = Vec::new();
            for call in calls {
                seen.push(runtime.block_on(in_process_call(direction, call, &self.rules, mutant)));
            }
            observed.push((case.id.clone(), seen));
        }
        Ok(self.judge_all(direction, Transport::InProcess, aspects(direction), &observed, &self.known))
    }

    /// Runs one direction inside the simulator (turmoil, the `smoke` network), seeded.
    pub fn run_simulated(&self, direction: Direction, seed: u64, mutant: Option<Mutant>) -> Report {
        let calls: Vec<Call> = self.calls().flat_map(|(_, calls)| calls.iter().cloned()).collect();
        let seen = crate::sim::run(direction, &calls, &self.rules, seed, mutant);
        let mut observed: Vec<(String, Vec<Call>)> = Vec::new();
        for call in seen {
            match observed.last_mut() {
                Some((case, calls)) if *case == call.case_id => calls.push(call),
                _ => observed.push((call.case_id.clone(), vec![call])),
            }
        }
        self.judge_all(direction, Transport::Simulated, aspects(direction), &observed, &self.known)
    }

    /// The Rust client against a live server at `addr` (grpcio's, in CI), every case.
    pub fn run_live_client(&self, addr: &str) -> Result<Report, SuiteError> {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(SuiteError::Runtime)?;
        let mut observed = Vec::new();
        for (case, calls) in self.calls() {
            let mut seen = Vec::new();
            for call in calls {
                seen.push(runtime.block_on(live_client_call(addr, call, &self.rules)));
            }
            observed.push((case.id.clone(), seen));
        }
        let direction = Direction::RustClient;
        Ok(self.judge_all(direction, Transport::Live, Aspect::RUST_CLIENT_LIVE, &observed, &self.known))
    }

    /// Every case's client side against the server at `target` over real TCP, judged with
    /// `known` (the target's own known failures: its `--known-failures` file, or none). Fails
    /// before the first case when nothing answers HTTP/2 there ([`Target::probe`]).
    pub fn run_target(&self, target: &Target, known: &KnownFailures) -> Result<Report, SuiteError> {
        // One thread: what the replay sends at once (a request's HEADERS and its END_STREAM)
        // is queued before the connection task writes, so it leaves in one write, as from a
        // client library, rather than split by another thread's flush.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SuiteError::Runtime)?;
        runtime.block_on(target.probe())?;
        let mut observed = Vec::new();
        for (case, calls) in self.calls() {
            let mut seen = Vec::new();
            for call in calls {
                seen.push(runtime.block_on(target.call(call, &self.rules)));
            }
            observed.push((case.id.clone(), seen));
        }
        let direction = Direction::Target;
        let mut report = self.judge_all(direction, Transport::Live, aspects(direction), &observed, known);
        report.target = Some(target.addr().to_owned());
        Ok(report)
    }

    /// Compares transcripts recorded live with the committed ones: grpcio's client against the
    /// Rust server (`RustServer`), or against grpcio again (`Drift`, where nothing may differ).
    pub fn compare_recording(&self, recorded: &TranscriptSet, direction: Direction) -> Report {
        let (aspects, known) = match direction {
            Direction::Drift => (Aspect::ALL, KnownFailures::default()),
            _ => (Aspect::RUST_SERVER, self.known.clone()),
        };
        let observed: Vec<(String, Vec<Call>)> = self
            .cases
            .iter()
            .map(|c| (c.id.clone(), recorded.cases.get(&c.id).cloned().unwrap_or_default()))
            .collect();
        let mut report = self.judge_all(direction, Transport::Live, aspects, &observed, &known);
        for (result, (case, calls)) in report.results.iter_mut().zip(&observed) {
            if calls.len() != self.transcripts.cases[case].len() {
                result.verdict = crate::report::Verdict::Fail;
                result.differences.push(crate::report::Finding::from(crate::compare::Difference {
                    call: calls.len(),
                    aspect: Aspect::Status,
                    expected: format!("{} calls", self.transcripts.cases[case].len()),
                    actual: format!("{} calls recorded", calls.len()),
                }));
            }
        }
        report
    }
}

/// What a direction compares.
pub fn aspects(direction: Direction) -> &'static [Aspect] {
    match direction {
        Direction::RustServer => Aspect::RUST_SERVER,
        Direction::RustClient => Aspect::RUST_CLIENT,
        Direction::Drift => Aspect::ALL,
        Direction::Target => Aspect::TARGET,
    }
}

fn check_cases(cases: &[CaseSpec], set: &TranscriptSet, dir: &Path) -> Result<(), SuiteError> {
    if let Some(c) = cases.iter().find(|c| !set.cases.contains_key(&c.id)) {
        return Err(SuiteError::Missing(c.id.clone(), dir.to_owned()));
    }
    if let Some(id) = set.cases.keys().find(|id| !cases.iter().any(|c| &c.id == *id)) {
        return Err(SuiteError::Extra(id.clone(), dir.to_owned()));
    }
    Ok(())
}

async fn in_process_call(direction: Direction, call: &Call, rules: &Rules, mutant: Option<Mutant>) -> Call {
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    match direction {
        Direction::RustServer | Direction::Drift | Direction::Target => {
            let server = server::under_test(Arc::new(SimClock::new()), mutant);
            let connection = server.admit(server_io).expect("one connection is under the cap");
            let served = tokio::spawn(server.serve_connection(connection));
            let observed = replay_client_side(client_io, call, rules).await;
            served.abort();
            observed
        }
        Direction::RustClient => {
            let (call_for_play, rules_for_play) = (call.clone(), rules.clone());
            let play =
                tokio::spawn(
                    async move { play_server_side(server_io, &call_for_play, &rules_for_play).await },
                );
            let slot = Arc::new(Mutex::new(Some(client_io)));
            let connector = tower::service_fn(move |_| {
                let io = slot.lock().expect("connector lock").take();
                async move { io.map(TokioIo::new).ok_or_else(|| io::Error::other("the one connection is used")) }
            });
            let channel =
                Endpoint::from_static("http://conformance.test").connect_with_connector_lazy(connector);
            let outcome = client::run(Deadline::new(channel), call, rules).await;
            let played = play.await.unwrap_or_default();
            client_observation(call, played, outcome)
        }
    }
}

/// The Rust client's call as a comparable [`Call`]: what the player received, what the client
/// handed over, and the client's status.
pub fn client_observation(call: &Call, played: Played, outcome: client::ClientOutcome) -> Call {
    let mut observed = blank(call);
    observed.request_headers = played.request_headers;
    observed.events = played.events.into_iter().filter(|e| e.dir == Dir::Client).collect();
    observed.events.extend(received_events(outcome.received));
    observed.status = outcome.status;
    observed.status.source =
        if !outcome.local && played.sent_trailers { StatusSource::Server } else { StatusSource::Client };
    if let Some(error) = played.error {
        observed.status.message = format!("{} (player: {error})", observed.status.message);
    }
    observed
}

async fn live_client_call(addr: &str, call: &Call, rules: &Rules) -> Call {
    let mut observed = blank(call);
    let channel = match Endpoint::from_shared(format!("http://{addr}")) {
        Ok(e) => e.connect_lazy(),
        Err(e) => {
            observed.status.message = format!("bad address {addr}: {e}");
            return observed;
        }
    };
    let outcome = client::run(Deadline::new(channel), call, rules).await;
    observed.events = received_events(outcome.received);
    observed.status = outcome.status;
    observed
}
