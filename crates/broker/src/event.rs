//! What the driver task receives: [`Event`], sent by connection tasks, bridge tasks, the HTTP
//! API ([`Query`], answered through a oneshot channel) and the driver itself (finished
//! password checks) through its bounded channel, and
//! [`DriverControl`], sent by `run_controlled` (signals, tests). It sits on the bottom floor so
//! that the tasks which send events need not know the driver.

use mqtt_codec::{DecodeError, Packet, PacketType};
use mqtt_core::{
    ClientInfo, CloseCause, ConnId, Page, PageRequest, PeerInfo, RetainedInfo, SessionInfo,
    SubscriptionInfo,
};
use tokio::sync::{mpsc, oneshot};

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
    /// A question of the HTTP API about the broker's state, or its disconnect of a client.
    Query(Query),
}

/// The HTTP API's questions; each carries the channel its answer goes back through (see the
/// `mqtt_core::Broker` method of the same name for what it answers).
#[derive(Debug)]
pub(crate) enum Query {
    /// `Broker::sys_values`.
    SysValues(oneshot::Sender<Vec<(&'static str, i64)>>),
    /// `Broker::clients`.
    Clients { search: Option<String>, page: PageRequest, reply: oneshot::Sender<Page<ClientInfo>> },
    /// `Broker::client`.
    Client { id: String, reply: oneshot::Sender<Option<(ClientInfo, Vec<SubscriptionInfo>)>> },
    /// `Broker::subscriptions`.
    Subscriptions {
        prefix: Option<String>,
        page: PageRequest,
        reply: oneshot::Sender<Page<SubscriptionInfo>>,
    },
    /// `Broker::retained_messages`.
    Retained {
        prefix: Option<String>,
        page: PageRequest,
        reply: oneshot::Sender<Page<RetainedInfo>>,
    },
    /// `Broker::offline_sessions`.
    Sessions { page: PageRequest, reply: oneshot::Sender<Page<SessionInfo>> },
    /// `Broker::disconnect_client`.
    Disconnect { id: String, reply: oneshot::Sender<bool> },
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
