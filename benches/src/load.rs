//! A closed-loop load driver: `in_flight` tasks spread over `connections`
//! HTTP/2 connections, each making one call after another.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};

use crate::calls::{CallKind, Caller, Mode};

/// What load to put on a server.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    /// The method and its workload.
    pub kind: CallKind,
    /// Calls in flight at any moment.
    pub in_flight: usize,
    /// HTTP/2 connections the calls are spread over (at most `in_flight`).
    pub connections: usize,
    /// Generated clients or raw bytes.
    pub mode: Mode,
}

/// What a load run did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Calls completed.
    pub calls: u64,
    /// Units moved (see [`CallKind::unit`]).
    pub units: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Wall time measured.
    pub elapsed: Duration,
}

impl Tally {
    /// Calls per second.
    pub fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    /// Units per second.
    pub fn units_per_sec(&self) -> f64 {
        self.units as f64 / self.elapsed.as_secs_f64()
    }
}

/// Opens `n` connections to `addr`.
pub async fn connect(addr: SocketAddr, n: usize) -> Result<Vec<Channel>, tonic::transport::Error> {
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .expect("a socket address makes a valid URI")
            .tcp_nodelay(true);
        channels.push(endpoint.connect().await?);
    }
    Ok(channels)
}

/// Makes exactly `calls` calls with `spec.in_flight` in flight over
/// `channels`; for criterion's `iter_custom`.
pub async fn run_calls(channels: &[Channel], spec: LoadSpec, calls: u64) -> Tally {
    let budget = Arc::new(AtomicU64::new(calls));
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let tasks: Vec<_> = (0..spec.in_flight)
        .map(|i| {
            let mut caller = Caller::new(channels[i % channels.len()].clone(), spec.mode);
            let (budget, counters) = (budget.clone(), counters.clone());
            tokio::spawn(async move {
                while take_one(&budget) {
                    counters.add(caller.call(spec.kind).await);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("load task panicked");
    }
    counters.tally(start.elapsed())
}

/// Loads the server for `warmup`, then measures for `duration`.
pub async fn run_for(channels: &[Channel], spec: LoadSpec, warmup: Duration, duration: Duration) -> Tally {
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let tasks: Vec<_> = (0..spec.in_flight)
        .map(|i| {
            let mut caller = Caller::new(channels[i % channels.len()].clone(), spec.mode);
            let (stop, counters) = (stop.clone(), counters.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    counters.add(caller.call(spec.kind).await);
                }
            })
        })
        .collect();
    tokio::time::sleep(warmup).await;
    let before = counters.tally(Duration::ZERO);
    let start = Instant::now();
    tokio::time::sleep(duration).await;
    let after = counters.tally(start.elapsed());
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task panicked");
    }
    Tally {
        calls: after.calls - before.calls,
        units: after.units - before.units,
        errors: after.errors - before.errors,
        elapsed: after.elapsed,
    }
}

fn take_one(budget: &AtomicU64) -> bool {
    budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    units: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    fn add(&self, outcome: Result<u64, tonic::Status>) {
        match outcome {
            Ok(units) => {
                self.calls.fetch_add(1, Ordering::Relaxed);
                self.units.fetch_add(units, Ordering::Relaxed);
            }
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn tally(&self, elapsed: Duration) -> Tally {
        Tally {
            calls: self.calls.load(Ordering::Relaxed),
            units: self.units.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            elapsed,
        }
    }
}
