//! One world per run: the turmoil simulation a (scenario, seed) pair builds — its fixed epoch,
//! its step, its links — the network settings every host shares, and independent random
//! streams for every host. The runner, conformance's simulated transport and the tests all
//! build their simulations here.

use std::hash::Hasher;
use std::time::{Duration, UNIX_EPOCH};

use faultline_server::Limits;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::fault::{Fault, NetParams};
use crate::scenario::Scenario;

/// The fixed epoch of every run: wall time inside the simulation never varies.
pub const EPOCH_SECS: u64 = 1_700_000_000;

/// The simulator's step.
pub const TICK: Duration = Duration::from_millis(1);

/// How fast turmoil repairs a link its message-loss model broke (per message).
const REPAIR_RATE: f64 = 0.2;

/// A run's world, before it runs.
#[derive(Debug, Clone)]
pub struct World {
    /// The run's seed.
    pub seed: u64,
    /// Settings every host shares.
    pub net: NetParams,
    /// Every link's one-way latency range, before faults.
    pub latency: (Duration, Duration),
    /// When the simulation gives up.
    pub limit: Duration,
}

impl World {
    /// The world of `scenario` under `seed`.
    pub fn new<O>(scenario: &Scenario<O>, seed: u64) -> Self {
        let base = Duration::from_millis(scenario.max_latency_ms);
        let slowest = scenario
            .faults
            .iter()
            .filter_map(|f| match f.fault {
                Fault::Latency { latency_ms, jitter_ms } => {
                    Some(Duration::from_millis(latency_ms + jitter_ms))
                }
                _ => None,
            })
            .fold(base, Duration::max);
        Self {
            seed,
            net: NetParams {
                keepalive_interval: Duration::from_millis(500),
                keepalive_timeout: Duration::from_millis(500),
                connect_timeout: Duration::from_secs(1),
                max_latency: slowest,
                tick: TICK,
            },
            latency: (Duration::from_millis(scenario.min_latency_ms), base),
            limit: Duration::from_millis(scenario.limit_ms),
        }
    }

    /// The turmoil simulation: seeded, on the fixed epoch, messages delivered in random order
    /// within the latency range.
    pub fn sim<'a>(&self) -> turmoil::Sim<'a> {
        turmoil::Builder::new()
            .rng_seed(self.seed)
            .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
            .simulation_duration(self.limit)
            .tick_duration(TICK)
            .min_message_latency(self.latency.0)
            .max_message_latency(self.latency.1)
            .repair_rate(REPAIR_RATE)
            .enable_random_order()
            .build()
    }

    /// A random stream of its own for `host` (and, within it, for `stream`: a connection, a
    /// purpose): no two hosts, and no two streams of a host, draw the same numbers.
    pub fn rng(&self, host: &str, stream: u64) -> ChaCha8Rng {
        let mut hasher = fnv::FnvHasher::default();
        hasher.write(host.as_bytes());
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ hasher.finish());
        rng.set_stream(stream);
        rng
    }

    /// The limits of the simulated server: `faultline serve`'s, with the world's keepalive.
    pub fn server_limits(&self) -> Limits {
        Limits {
            keepalive_interval: self.net.keepalive_interval,
            keepalive_timeout: self.net.keepalive_timeout,
            ..Limits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    #[test]
    fn hosts_and_streams_draw_independent_numbers() {
        let world = World::new(&Scenario::<()>::new("t"), 7);
        let draw = |host: &str, stream: u64| -> Vec<u64> {
            let mut rng = world.rng(host, stream);
            (0..4).map(|_| rng.random()).collect()
        };
        assert_eq!(draw("proxy", 1), draw("proxy", 1));
        assert_ne!(draw("proxy", 1), draw("client-0", 1));
        assert_ne!(draw("proxy", 1), draw("proxy", 2));
        assert_ne!(draw("client-0", 0), draw("client-1", 0));
    }

    #[test]
    fn the_slowest_link_counts_latency_faults() {
        let scenario = Scenario::<()>::new("t").fault(
            Duration::ZERO,
            Duration::from_secs(1),
            Fault::Latency { latency_ms: 40, jitter_ms: 80 },
        );
        assert_eq!(World::new(&scenario, 0).net.max_latency, Duration::from_millis(120));
    }
}
