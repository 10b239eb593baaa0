//! A connection's named timers, checked by the driver's `tick` about once a
//! second.
//!
//! None of them reads the clock on the request path. A timer starts the
//! first time a tick sees its condition (so each fires between its timeout
//! and one tick later), and progress is judged by byte counters the socket
//! code keeps anyway: a request body or the output counts as stalled while
//! its counter stands still from one tick to the next.

use std::time::{Duration, Instant};

/// Every timeout a connection can hit, as configured (`None`: disabled).
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// An idle connection waiting for its next request (no byte of it yet).
    pub keep_alive: Duration,
    /// A request head begun but not complete: answered `408`.
    pub request_header: Option<Duration>,
    /// The longest gap between two reads of a request body.
    pub request_body: Option<Duration>,
    /// The longest time unsent output may wait without the peer taking any.
    pub send: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            keep_alive: Duration::from_secs(5),
            request_header: Some(Duration::from_secs(30)),
            request_body: Some(Duration::from_secs(60)),
            send: Some(Duration::from_secs(60)),
        }
    }
}

/// When each of a connection's waits began, as first seen by a tick.
#[derive(Default)]
pub(super) struct Timers {
    /// Waiting for a request head: the keep-alive timeout while nothing of
    /// it has arrived, the request-header timeout once something has.
    /// Cleared by every request.
    pub(super) waiting_for_request: Option<Instant>,
    /// The request body's progress (bytes read).
    pub(super) body: Watchdog,
    /// The output's progress (bytes written).
    pub(super) send: Watchdog,
    /// A closing connection flushing its last output.
    pub(super) closing: Option<Instant>,
    /// Lingering after our last byte, draining the peer's input.
    pub(super) linger: Option<Instant>,
    /// Our WebSocket close frame waiting for the peer's.
    pub(super) close_handshake: Option<Instant>,
}

/// How long a wait has lasted, starting it now if it had not started.
pub(super) fn waited(since: &mut Option<Instant>, now: Instant) -> Duration {
    now.duration_since(*since.get_or_insert(now))
}

/// Watches a counter that should keep moving while some activity lasts.
#[derive(Default)]
pub(super) struct Watchdog {
    seen: u64,
    since: Option<Instant>,
}

impl Watchdog {
    /// True when `progress` has not moved for `limit` while `active`.
    /// Inactivity or any progress restarts the wait.
    pub(super) fn stalled(
        &mut self,
        active: bool,
        progress: u64,
        now: Instant,
        limit: Option<Duration>,
    ) -> bool {
        if !active || progress != self.seen {
            self.seen = progress;
            self.since = active.then_some(now);
            return false;
        }
        limit.is_some_and(|limit| waited(&mut self.since, now) >= limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn watchdog_fires_only_after_a_full_stall() {
        let start = Instant::now();
        let mut dog = Watchdog::default();
        assert!(!dog.stalled(true, 10, start, Some(2 * SECOND)));
        assert!(!dog.stalled(true, 10, start + SECOND, Some(2 * SECOND)));
        assert!(dog.stalled(true, 10, start + 2 * SECOND, Some(2 * SECOND)));
    }

    #[test]
    fn watchdog_restarts_on_progress_and_inactivity() {
        let start = Instant::now();
        let mut dog = Watchdog::default();
        dog.stalled(true, 1, start, Some(2 * SECOND));
        // Progress one tick before the deadline restarts the wait.
        assert!(!dog.stalled(true, 2, start + 2 * SECOND, Some(2 * SECOND)));
        assert!(!dog.stalled(true, 2, start + 3 * SECOND, Some(2 * SECOND)));
        assert!(dog.stalled(true, 2, start + 4 * SECOND, Some(2 * SECOND)));
        // Not active (say, the application holds the body): no timeout.
        assert!(!dog.stalled(false, 2, start + 9 * SECOND, Some(2 * SECOND)));
        assert!(!dog.stalled(true, 2, start + 10 * SECOND, Some(2 * SECOND)));
    }

    #[test]
    fn disabled_watchdog_never_fires() {
        let start = Instant::now();
        let mut dog = Watchdog::default();
        for s in 0..100 {
            assert!(!dog.stalled(true, 0, start + s * SECOND, None));
        }
    }
}
