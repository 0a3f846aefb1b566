//! Per-connection state: the phase of the CONNECT handshake, keep alive, and what the client
//! told us about itself (its receive maximum, packet size limit and topic aliases), and
//! `SessionKey`, the session a connection is attached to.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroU32;
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
    /// When the last packet arrived.
    pub(crate) last_in: Instant,
    /// The effective keep alive in seconds (0 = none), as the HTTP API shows it.
    pub(crate) keep_alive: u16,
    /// The CONNECT's Clean Start (v5) or Clean Session (v3) flag.
    pub(crate) clean_start: bool,
    /// The `Timer::Conn` entry scheduled for it.
    pub(crate) timer_at: Option<Instant>,
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
            last_in: now,
            keep_alive: 0,
            clean_start: false,
            timer_at: None,
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
        // Every open connection holds a `Conn` (boxed: 136 bytes are a 144-byte heap chunk)
        // with its `PeerInfo`, and a `Session` (in the slab, its client id inline when short).
        let (conn, session) = (size_of::<Conn>(), size_of::<Option<Session>>());
        let peer = size_of::<PeerInfo>();
        assert!(conn <= 136, "Conn is {conn} bytes");
        assert!(session <= 152, "a session slot is {session} bytes");
        assert!(peer <= 48, "PeerInfo is {peer} bytes");
    }
}
