//! What the driver task receives: [`Event`], sent by connection tasks, bridge tasks and the
//! driver itself (finished password checks) through its bounded channel, and
//! [`DriverControl`], sent by `run_controlled` (signals, tests). It sits on the bottom floor so
//! that the tasks which send events need not know the driver.

use mqtt_codec::{DecodeError, Packet, PacketType};
use mqtt_core::{CloseCause, ConnId, PeerInfo};
use tokio::sync::mpsc;

use crate::config::PersistenceSettings;
use crate::outbox::OutboxSender;
use crate::security::Security;

/// Events the driver consumes.
#[derive(Debug)]
pub(crate) enum Event {
    /// A connection was accepted; `outbox` carries packets to its task.
    Open { conn: ConnId, peer: PeerInfo, outbox: OutboxSender },
    /// Packets decoded from one read, in order, and how many bytes they took.
    Packets { conn: ConnId, packets: Vec<Packet>, bytes: usize },
    /// Decoding failed (`packet`: the type its first byte names); the task has stopped reading.
    DecodeError { conn: ConnId, packet: Option<PacketType>, error: Box<DecodeError> },
    /// The socket ended without the driver asking.
    Closed { conn: ConnId, cause: CloseCause },
    /// A password check asked for by the core finished.
    AuthResult { conn: ConnId, allowed: bool },
    /// A bridge's local (internal) connection: what the core sends to it goes to
    /// `to_bridge` instead of a socket.
    Bridge { conn: ConnId, peer: PeerInfo, to_bridge: mpsc::UnboundedSender<Packet> },
}

/// Instructions from `run_controlled` to the driver.
#[derive(Debug)]
pub(crate) enum DriverControl {
    /// Apply reloaded settings, security files and persistence options (SIGHUP).
    Reload(Box<mqtt_core::Config>, Security, Option<PersistenceSettings>),
    /// Save the persistence file now, if persistence is on (SIGUSR1).
    Save,
    /// Close every connection (wills are published), flush, and stop.
    Shutdown,
}
