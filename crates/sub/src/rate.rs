//! `--message-rate` (Mosquitto 2.1): instead of the messages, one line a second on stdout,
//! `<n> msgs/s`, where `<n>` counts every PUBLISH that arrived during that second, before any
//! filtering. The line is written by a task of its own, as Mosquitto writes it from a thread
//! of its own, so it keeps coming while the subscriber waits or reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

/// How often the rate is printed.
const PERIOD: Duration = Duration::from_secs(1);

/// Counts the messages that arrive; a task started with it prints and resets the count every
/// second until the runtime stops.
#[derive(Debug)]
pub(crate) struct MessageRate {
    count: Arc<AtomicU64>,
}

impl MessageRate {
    /// Starts the printing task (its first line comes a second from now). Needs a tokio
    /// runtime.
    pub(crate) fn start() -> Self {
        let count = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&count);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(Instant::now() + PERIOD, PERIOD);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // A closed stdout is noticed by the subscriber itself; nothing to do here.
                culex_client::cli::print_stdout(&line(counted.swap(0, Ordering::Relaxed)));
            }
        });
        Self { count }
    }

    /// Counts one message.
    pub(crate) fn count(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// The line printed for `count` messages in a second.
fn line(count: u64) -> String {
    format!("{count} msgs/s\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_mosquittos() {
        for (count, expected) in [(0, "0 msgs/s\n"), (1532, "1532 msgs/s\n")] {
            assert_eq!(line(count), expected);
        }
    }
}
