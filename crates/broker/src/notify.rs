//! systemd's service notifications (the protocol of sd_notify(3), without libsystemd): one
//! datagram of `KEY=value` lines to the Unix socket named by `NOTIFY_SOCKET` (a path, or an
//! abstract name written with a leading `@`). `culex.service` is `Type=notify`: the binary
//! sends `READY=1` once every listener is open, `STATUS=` with the error line when a start
//! fails, `STOPPING=1` on the way out, and the drivers send `WATCHDOG=1` at half the
//! `WATCHDOG_USEC` period systemd asks for, once every driver shard has checked in since the
//! last ping (so one stuck shard stops the pings and systemd restarts the broker). Without `NOTIFY_SOCKET` nothing is sent.
//! Notifications are best effort: a lost one never stops the broker.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` names; `None` when it is unset, empty or unusable.
    pub fn from_env() -> Option<Self> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        let name = name.to_str()?;
        let address = match name.strip_prefix('@') {
            Some(abstract_name) => abstract_address(abstract_name)?,
            None if name.starts_with('/') => SocketAddr::from_pathname(name).ok()?,
            None => return None,
        };
        Some(Self { socket: UnixDatagram::unbound().ok()?, address })
    }

    /// Sends `state` (newline-separated `KEY=value` assignments); errors are ignored.
    pub fn notify(&self, state: &str) {
        let _ = self.socket.send_to_addr(state.as_bytes(), &self.address);
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &str) -> Option<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt as _;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt as _;
    SocketAddr::from_abstract_name(name.as_bytes()).ok()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &str) -> Option<SocketAddr> {
    None
}

/// `WATCHDOG=1` pings at half the period `WATCHDOG_USEC` gives (when `WATCHDOG_PID`, if set,
/// is this process), as sd_watchdog_enabled(3) advises. Each driver shard holds one; they
/// share the notifier and a check-in flag per shard, and the ping goes out only when every
/// shard checked in since the last one.
#[derive(Debug)]
pub(crate) struct Watchdog {
    shared: Arc<CheckIns>,
    shard: usize,
    period: Duration,
    next: Instant,
}

/// What the shards' watchdogs share.
#[derive(Debug)]
struct CheckIns {
    notifier: Notifier,
    /// Which shards checked in since the last ping.
    checked_in: Mutex<Vec<bool>>,
}

impl Watchdog {
    /// One watchdog per shard, out of `shards`, for the watchdog systemd asked for, first due
    /// at `now` + half the period; `None` when it asked for none.
    pub(crate) fn from_env(now: Instant, shards: usize) -> Option<Vec<Self>> {
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        if let Ok(pid) = std::env::var("WATCHDOG_PID") {
            if pid.parse::<u32>().ok()? != std::process::id() {
                return None;
            }
        }
        let period = Duration::from_micros(usec / 2).max(Duration::from_millis(1));
        Some(Self::shared(Notifier::from_env()?, period, now, shards))
    }

    /// One watchdog per shard pinging through `notifier` every `period`.
    fn shared(notifier: Notifier, period: Duration, now: Instant, shards: usize) -> Vec<Self> {
        let shared = Arc::new(CheckIns { notifier, checked_in: Mutex::new(vec![false; shards]) });
        (0..shards)
            .map(|shard| Self { shared: Arc::clone(&shared), shard, period, next: now + period })
            .collect()
    }

    /// When this shard next checks in.
    pub(crate) fn deadline(&self) -> Instant {
        self.next
    }

    /// Checks this shard in if due at `now`; pings when it was the last shard to check in.
    pub(crate) fn ping_if_due(&mut self, now: Instant) {
        if now < self.next {
            return;
        }
        self.next = now + self.period;
        // Nothing under the lock panics: a poisoned lock holds sound flags.
        let mut checked_in = self.shared.checked_in.lock().unwrap_or_else(PoisonError::into_inner);
        checked_in[self.shard] = true;
        if checked_in.iter().all(|&done| done) {
            checked_in.fill(false);
            self.shared.notifier.notify("WATCHDOG=1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket bound in a fresh folder named after `name`, and a notifier sending to it.
    fn socket_and_notifier(name: &str) -> (std::path::PathBuf, UnixDatagram, Notifier) {
        let dir = std::env::temp_dir().join(format!("culex-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            address: SocketAddr::from_pathname(&path).unwrap(),
        };
        (dir, listener, notifier)
    }

    #[test]
    fn sends_one_datagram_to_a_path_socket() {
        let (dir, listener, notifier) = socket_and_notifier("notify");
        listener.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        notifier.notify("READY=1\nSTATUS=up");
        let mut buffer = [0; 64];
        let received = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..received], b"READY=1\nSTATUS=up");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_watchdog_pings_once_every_shard_checked_in() {
        let (dir, listener, notifier) = socket_and_notifier("watchdog");
        listener.set_nonblocking(true).unwrap();
        let start = Instant::now();
        let period = Duration::from_secs(10);
        let mut shards = Watchdog::shared(notifier, period, start, 2);
        let mut buffer = [0; 16];
        let mut pings = || std::iter::from_fn(|| listener.recv(&mut buffer).ok()).count();
        shards[0].ping_if_due(start + period);
        shards[0].ping_if_due(start + period * 3);
        assert_eq!(pings(), 0, "shard 1 has not checked in: it may be stuck");
        shards[1].ping_if_due(start + period * 3);
        assert_eq!(pings(), 1);
        shards[1].ping_if_due(start + period * 3);
        shards[1].ping_if_due(start + period * 5);
        assert_eq!(pings(), 0, "not due, then only shard 1 again");
        assert_eq!(shards[0].deadline(), start + period * 4);
        shards[0].ping_if_due(start + period * 5);
        assert_eq!(pings(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
