//! Per-connection state: the phase of the CONNECT handshake, keep alive, and what the client
//! told us about itself (its receive maximum, packet size limit and topic aliases), and
//! `SessionKey`, the session a connection is attached to.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::num::{NonZeroU32, NonZeroU64};
use std::time::{Duration, Instant};

use mqtt_codec::{Connect, Packet, ProtocolVersion};

use crate::alias::Aliases;
use crate::event::{ConnId, PeerInfo};

/// Index of a session in the slab. Stable while the session exists; reused afterwards, so it
/// never outlives the session in any other structure (the topic tree entries are removed with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SessionKey(pub(crate) u32);

/// Packets a client may pipeline behind its CONNECT while the password check runs.
pub(crate) const MAX_PENDING_WHILE_AUTHENTICATING: usize = 10_000;

/// Where a connection is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Opened; no CONNECT yet.
    AwaitConnect,
    /// CONNECT received; waiting for `handle_auth_result`. Boxed: it is short-lived, and
    /// keeping it inline would make every connection pay for it.
    Authenticating(Box<Authenticating>),
    /// CONNACK 0 sent; attached to a session.
    Connected(SessionKey),
}

/// A CONNECT waiting for its password check.
#[derive(Debug)]
pub(crate) struct Authenticating {
    /// The CONNECT being decided.
    pub(crate) connect: Connect,
    /// Its client id (assigned if it was empty).
    pub(crate) client_id: String,
    /// Whether `client_id` was assigned by us.
    pub(crate) assigned: bool,
    /// Packets received meanwhile, replayed once accepted.
    pub(crate) pending: Vec<Packet>,
}

/// One network connection.
#[derive(Debug)]
pub(crate) struct Conn {
    /// The remote end.
    pub(crate) peer: PeerInfo,
    /// Handshake phase.
    pub(crate) phase: Phase,
    /// Protocol version of its CONNECT (v3.1.1 before one arrives).
    pub(crate) protocol: ProtocolVersion,
    /// When it was opened.
    pub(crate) opened_at: Instant,
    /// When the last packet arrived, in nanoseconds after `opened_at` (8 bytes where an
    /// `Instant` takes 16: see [`Self::last_in`]).
    last_in: u64,
    /// The effective keep alive in seconds (0 = none), as the HTTP API shows it.
    pub(crate) keep_alive: u16,
    /// The CONNECT's Clean Start (v5) or Clean Session (v3) flag.
    pub(crate) clean_start: bool,
    /// The `Timer::Conn` entry scheduled for it, as 1 + nanoseconds after `opened_at` (see
    /// [`Self::timer_at`]).
    timer: Option<NonZeroU64>,
    /// Client's v5 Maximum Packet Size (4 bytes: 0 is not a size a client may send).
    pub(crate) max_packet_out: Option<NonZeroU32>,
    /// Client's v5 Receive Maximum (65535 when not given).
    pub(crate) receive_max_out: u16,
    /// Topic aliases we may set up towards the client: the lower of its v5 Topic Alias
    /// Maximum and its listener's `max_topic_alias_broker` (0 = none).
    pub(crate) alias_max_out: u16,
    /// Topic aliases in both directions, once the first one is set up.
    pub(crate) aliases: Option<Box<Aliases>>,
    /// A Mosquitto bridge (bridge bit in a 3.x CONNECT): its subscriptions are "no local" and
    /// "retain as published", so that messages it brought in are not sent back to it.
    pub(crate) bridge: bool,
}

impl Conn {
    /// A connection that has just been opened.
    pub(crate) fn new(peer: PeerInfo, now: Instant) -> Self {
        Self {
            peer,
            phase: Phase::AwaitConnect,
            protocol: ProtocolVersion::V3_1_1,
            opened_at: now,
            last_in: 0,
            keep_alive: 0,
            clean_start: false,
            timer: None,
            max_packet_out: None,
            receive_max_out: u16::MAX,
            alias_max_out: 0,
            aliases: None,
            bridge: false,
        }
    }

    /// How long it may stay silent: 1.5 × the effective keep alive; `None` = no keep alive.
    /// (Worked out rather than stored: every connection's state is kept small.)
    pub(crate) fn keep_alive_limit(&self) -> Option<Duration> {
        (self.keep_alive > 0).then(|| Duration::from_millis(u64::from(self.keep_alive) * 1500))
    }

    /// When the last packet arrived (when it was opened before the first).
    pub(crate) fn last_in(&self) -> Instant {
        self.opened_at + Duration::from_nanos(self.last_in)
    }

    /// A packet arrived at `now`.
    pub(crate) fn set_last_in(&mut self, now: Instant) {
        self.last_in = self.since_open(now);
    }

    /// When its `Timer::Conn` entry is due, if it has one.
    pub(crate) fn timer_at(&self) -> Option<Instant> {
        self.timer.map(|at| self.opened_at + Duration::from_nanos(at.get() - 1))
    }

    /// Its `Timer::Conn` entry is now due `at` (`None`: it has none).
    pub(crate) fn set_timer_at(&mut self, at: Option<Instant>) {
        self.timer = at.and_then(|at| NonZeroU64::new(self.since_open(at).saturating_add(1)));
    }

    /// Forgets its `Timer::Conn` entry, and returns when it was due.
    pub(crate) fn take_timer_at(&mut self) -> Option<Instant> {
        let at = self.timer_at();
        self.timer = None;
        at
    }

    /// `at` as nanoseconds after `opened_at`, exact for 584 years. Every instant a connection
    /// is given comes at or after the one it was opened at (the caller's clock is monotonic);
    /// an earlier one would read as `opened_at`.
    fn since_open(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.opened_at).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1)
    }

    /// The session it is attached to, once connected.
    pub(crate) fn session(&self) -> Option<SessionKey> {
        match self.phase {
            Phase::Connected(key) => Some(key),
            _ => None,
        }
    }
}

/// A map keyed by connection id. The ids come from the runtime, never from a peer, so a fast
/// multiplicative hash is safe here and saves SipHash's cost on every packet.
pub type ConnMap<V> = HashMap<ConnId, V, BuildHasherDefault<ConnIdHasher>>;

/// FxHash-style hasher for [`ConnId`] keys (see [`ConnMap`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnIdHasher(u64);

impl Hasher for ConnIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517C_C1B7_2722_0A95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Session;

    #[test]
    fn what_every_connection_keeps_stays_small() {
        // Every open connection holds a `Conn` (boxed: 120 bytes are a 128-byte heap chunk)
        // with its `PeerInfo`, and a `Session` (in the slab, its client id inline when short).
        let (conn, session) = (size_of::<Conn>(), size_of::<Option<Session>>());
        let peer = size_of::<PeerInfo>();
        assert!(conn <= 120, "Conn is {conn} bytes");
        assert!(session <= 136, "a session slot is {session} bytes");
        assert!(peer <= 48, "PeerInfo is {peer} bytes");
    }

    #[test]
    fn instants_kept_after_the_opening_read_back_exactly() {
        let opened = crate::tests::harness::epoch();
        let peer = PeerInfo {
            address: "127.0.0.1".into(),
            port: 1883,
            listener: 0,
            certificate_username: None,
        };
        let mut conn = Conn::new(peer, opened);
        assert_eq!((conn.last_in(), conn.timer_at()), (opened, None));
        for later in [Duration::ZERO, Duration::from_nanos(1), Duration::from_secs(98_302) / 3] {
            conn.set_last_in(opened + later);
            assert_eq!(conn.last_in(), opened + later);
            conn.set_timer_at(Some(opened + later));
            assert_eq!(conn.timer_at(), Some(opened + later));
        }
        assert_eq!(conn.take_timer_at(), Some(opened + Duration::from_secs(98_302) / 3));
        assert_eq!(conn.timer_at(), None);
    }
}
