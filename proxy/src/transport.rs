//! What the proxy needs of a transport, so that one proxy runs on turmoil's simulated TCP and
//! on tokio's real TCP: write halves that can be closed with a reset, and a clock that fault
//! windows count on.

use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::time::Instant;

use faultline_model::trace::sim_now_us;

/// The write half of a proxied socket.
pub trait WriteHalf: AsyncWrite + Send + Unpin + Sized + 'static {
    /// Makes the socket's close (once its read half is dropped too) a reset, a TCP RST, where
    /// the transport can; gives the half back where it cannot. turmoil's cannot: there a
    /// closed socket reaches the peer as EOF (or as a reset when bytes were left unread).
    fn reset(self) -> Result<(), Self> {
        Err(self)
    }
}

impl WriteHalf for turmoil::net::tcp::OwnedWriteHalf {}

/// Any stream split with `tokio::io::split` (in-memory pipes in tests): no resets.
impl<T: AsyncWrite + Send + 'static> WriteHalf for tokio::io::WriteHalf<T> {}

impl WriteHalf for tokio::net::tcp::OwnedWriteHalf {
    fn reset(self) -> Result<(), Self> {
        // SO_LINGER 0 makes the close send RST; `forget` leaves the close to the read half
        // (dropping this half would send FIN first).
        if self.as_ref().set_zero_linger().is_err() {
            return Err(self);
        }
        self.forget();
        Ok(())
    }
}

/// The clock fault windows (`at_ms`, `for_ms`) count on.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The simulation's: microseconds since the run started.
    Simulated,
    /// tokio's, from an instant (a real proxy's start).
    Since(Instant),
}

impl Clock {
    /// Microseconds since the clock's zero.
    pub fn now_us(&self) -> u64 {
        match self {
            Clock::Simulated => sim_now_us(),
            Clock::Since(start) => duration_us(start.elapsed()),
        }
    }
}

/// A duration in whole microseconds, saturating.
pub fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
