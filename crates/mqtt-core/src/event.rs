//! The vocabulary between the core and its runtime: connection ids, peer facts, inputs that
//! end a connection, and everything the core asks the runtime to do ([`Output`]).

use bytes::Bytes;
use mqtt_codec::{Packet, PacketType, ProtocolVersion, QoS, ReasonCode};

use crate::ShortStr;
pub use crate::conn_id::ConnId;

/// The [`PeerInfo::listener`] of the runtime's own clients (the local side of a bridge): no
/// password check, no `clientid_prefixes`, and no access rules (Mosquitto lets its bridges
/// read and write any topic, `$SYS` included), unless the CONNECT names a user (see
/// [`BRIDGE_USER_LISTENER`]).
pub const INTERNAL_LISTENER: usize = usize::MAX;

/// The listener whose password file and access rules apply to an internal connection that
/// names a user (a bridge's `local_username`): the first one.
pub const BRIDGE_USER_LISTENER: usize = 0;

/// What the runtime knows about the other end of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Remote address without the port (`127.0.0.1`, `::1`), or the Unix socket path (inline
    /// when short: every open connection keeps one).
    pub address: ShortStr,
    /// Remote port (0 for Unix sockets).
    pub port: u16,
    /// Which of the runtime's listeners accepted it: the index into
    /// [`Config::listener_security`](crate::Config::listener_security) and the per-listener
    /// access hooks. 0 when the broker has one set of security settings.
    pub listener: usize,
    /// Set when the listener takes the username from the client's TLS certificate
    /// (`use_identity_as_username`, `use_subject_as_username`); `None` otherwise. Boxed: most
    /// listeners never set it, and every connection keeps a copy of its `PeerInfo`.
    pub certificate_username: Option<Box<CertificateUsername>>,
}

/// The username a TLS listener takes from the client's certificate instead of the CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateUsername {
    /// The certificate's common name (`use_identity_as_username`) or subject
    /// (`use_subject_as_username`).
    Name(String),
    /// No client certificate, or one without the name: the CONNECT is refused with "bad
    /// username or password", as Mosquitto does.
    Missing,
}

/// Why a connection ended without the core asking for it (input of `Broker::handle_closed`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer closed the socket without sending DISCONNECT.
    PeerClosed,
    /// Reading or writing failed; the text is the OS error.
    Io(String),
    /// The runtime is shutting the connection down (wills are published).
    ServerShutdown,
}

/// One thing the runtime must do, drained with `Broker::poll_output`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Encode `packet` with the connection's protocol version and write it.
    Send {
        /// Destination connection.
        conn: ConnId,
        /// The packet, in the order it must be written.
        packet: Packet,
    },
    /// Flush what was sent so far, then close the connection. No more outputs follow for `conn`.
    Close {
        /// Connection to close.
        conn: ConnId,
        /// Why, for logging.
        reason: DisconnectReason,
    },
    /// Check `username`/`password` against the password file away from the driver task, then
    /// call `Broker::handle_auth_result`. No CONNACK is sent until the answer arrives.
    Authenticate {
        /// The connecting client.
        conn: ConnId,
        /// Client id from the CONNECT (or the one assigned to it).
        client_id: String,
        /// Username from the CONNECT.
        username: String,
        /// Password from the CONNECT, if any.
        password: Option<Bytes>,
        /// The listener it connected through ([`PeerInfo::listener`]): whose password file
        /// applies.
        listener: usize,
    },
    /// A fact for the log; the runtime formats Mosquitto's line.
    Log(LogEvent),
    /// A change of durable state (only with [`Config::journal`](crate::Config::journal)),
    /// in the order made. An [`Output::Send`] of a packet for which
    /// [`acknowledges_durable_state`](crate::acknowledges_durable_state) holds may only be
    /// written once every change before it is durable.
    Journal(crate::snapshot::journal::Change),
    /// Carry `item` to the driver of shard `shard` and hand it to its
    /// [`Broker::handle_forward`](crate::Broker::handle_forward), after every item this
    /// broker forwarded to that shard before (FIFO per pair of shards). Only a sharded broker
    /// ([`ShardId::count`](crate::ShardId) above 1) asks for it.
    Forward {
        /// The destination shard's index.
        shard: usize,
        /// What to hand it.
        item: crate::shard_item::ShardItem,
    },
}

/// Whether `packet` tells its receiver that something is stored (an acknowledgement, or a
/// step of a QoS 2 flow whose repetition after a crash would deliver twice): with
/// [`Config::journal`](crate::Config::journal) on, the runtime holds such a packet, and every
/// later one to the same connection, until the changes journaled before it are durable.
#[must_use]
pub fn acknowledges_durable_state(packet: &Packet) -> bool {
    match packet {
        Packet::ConnAck(_)
        | Packet::PubAck(_)
        | Packet::PubRec(_)
        | Packet::PubRel(_)
        | Packet::PubComp(_)
        | Packet::SubAck(_)
        | Packet::UnsubAck(_) => true,
        Packet::Publish(publish) => publish.qos == QoS::ExactlyOnce,
        _ => false,
    }
}

/// A will as described in the `Will message specified` log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WillInfo {
    /// Will topic.
    pub topic: String,
    /// Payload size in bytes.
    pub payload_len: usize,
    /// Will QoS.
    pub qos: QoS,
    /// Will retain flag.
    pub retain: bool,
}

/// Why an incoming PUBLISH was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Payload larger than `message_size_limit`.
    TooLarge,
    /// The access control hook (or the `$SYS` rule) refused the write.
    NotAuthorized,
    /// Holding it would take the broker above `memory_limit` (v5: Quota exceeded).
    MemoryLimit,
}

impl From<DropReason> for crate::stats::DropCause {
    fn from(reason: DropReason) -> Self {
        match reason {
            DropReason::TooLarge => Self::TooLarge,
            DropReason::NotAuthorized => Self::NotAuthorized,
            DropReason::MemoryLimit => Self::MemoryLimit,
        }
    }
}

/// Facts worth a log line. Field docs name the Mosquitto line each one becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogEvent {
    /// `New client connected from {addr}:{port} as {id} (p{1|2|5}, c{0|1}, k{keep_alive}[, u'{user}']).`
    ClientConnected {
        /// The connection.
        conn: ConnId,
        /// Its peer.
        peer: PeerInfo,
        /// Client id (assigned ids included).
        client_id: String,
        /// Protocol version of the CONNECT.
        protocol: ProtocolVersion,
        /// Clean start / clean session flag as sent.
        clean_start: bool,
        /// Keep alive as sent.
        keep_alive: u16,
        /// Username, if any.
        username: Option<String>,
        /// The CONNECT carried Mosquitto's bridge bit: `New bridge connected …`.
        bridge: bool,
    },
    /// `Will message specified ({len} bytes) (r{retain}, q{qos}).` + `\t{topic}`, or
    /// `No will message specified.` when `will` is `None`.
    WillSpecified {
        /// The connection.
        conn: ConnId,
        /// The will, if any.
        will: Option<WillInfo>,
    },
    /// `Client {id} already connected, closing old connection.`
    SessionTakenOver {
        /// The client id taken over.
        client_id: String,
        /// The connection being closed.
        old_conn: ConnId,
        /// The connection taking over.
        new_conn: ConnId,
    },
    /// One of the disconnect lines, chosen by `reason` (`<unknown>` when `client_id` is `None`).
    ClientDisconnected {
        /// The connection.
        conn: ConnId,
        /// Client id if the CONNECT was accepted.
        client_id: Option<String>,
        /// Why it ended.
        reason: DisconnectReason,
    },
    /// `Bad client {id} sending multiple CONNECT messages.`
    MultipleConnect {
        /// The connection.
        conn: ConnId,
        /// Its client id.
        client_id: String,
    },
    /// `Expiring client {id} due to timeout.`
    SessionExpired {
        /// Client id of the expired session.
        client_id: String,
    },
    /// `Outgoing messages are being dropped for client {id}.` (once per overflow episode)
    QueueFull {
        /// The client whose queue is full.
        client_id: String,
    },
    /// `Too high QoS in PUBLISH from {id}, disconnecting.` (above the listener's `max_qos`)
    QosTooHigh {
        /// The publishing client.
        client_id: String,
    },
    /// `Dropped too large PUBLISH from …` or `Denied PUBLISH from …`
    /// `({id} (d{dup}, q{qos}, r{retain}, m{packet_id}, '{topic}', ... ({len} bytes))`.
    PublishDropped {
        /// The publishing connection.
        conn: ConnId,
        /// Its client id.
        client_id: String,
        /// Which line.
        why: DropReason,
        /// DUP flag.
        dup: bool,
        /// QoS.
        qos: QoS,
        /// Retain flag.
        retain: bool,
        /// Packet id, 0 for QoS 0.
        packet_id: u16,
        /// Topic after alias resolution.
        topic: String,
        /// Payload size.
        payload_len: usize,
    },
    /// `Dropping too large outgoing PUBLISH for {id} ({size} bytes)`
    OutgoingTooLarge {
        /// The receiving client.
        client_id: String,
        /// Encoded size of the PUBLISH.
        size: usize,
    },
    /// `Warning: Received {packet} from {id} for an unknown packet identifier {packet_id}.`
    UnknownPacketId {
        /// The client.
        client_id: String,
        /// PUBACK, PUBREC, PUBREL or PUBCOMP.
        packet: PacketType,
        /// The unknown id.
        packet_id: u16,
    },
}

/// Why a connection ends; the `reason` of [`Output::Close`] and of
/// [`LogEvent::ClientDisconnected`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// DISCONNECT received: `Client %s disconnected.`
    ClientDisconnected,
    /// Another connection took over the client id: `Client %s disconnected.`
    TakenOver,
    /// Socket closed by the peer: `Client %s closed its connection.`
    PeerClosed,
    /// Socket error: `Client %s disconnected: %s.`
    Io(String),
    /// Keep alive (or CONNECT) timeout: `Client %s has exceeded timeout, disconnecting.`
    KeepAliveTimeout,
    /// Authentication refused: `Client <unknown> disconnected, not authorised.`
    NotAuthorized,
    /// CONNECT refused with this CONNACK code: `Client %s disconnected.`
    ConnectRefused(ReasonCode),
    /// Malformed packet: `Client %s disconnected due to malformed packet.`
    MalformedPacket,
    /// Protocol error: `Client %s disconnected due to protocol error.`
    ProtocolError,
    /// Packet above the maximum size: `Client %s disconnected due to oversize packet.`
    PacketTooLarge,
    /// `Client %s disconnected due to QoS too high or retain not supported.`
    QosOrRetainNotSupported,
    /// PUBLISH or will QoS above the listener's `max_qos`:
    /// `Bad socket read/write on client %s: Requested QoS not supported on server.`
    QosNotSupported,
    /// Refused at accept: `Client connection from %s denied: max_connections exceeded.`
    MaxConnections,
    /// The broker is shutting down: `Client %s disconnected.`
    ServerShutdown,
    /// A v3 PUBLISH above `memory_limit`: `Client %s disconnected due to out of memory.`
    OutOfMemory,
    /// Disconnected through the HTTP API ([`Broker::disconnect_client`](crate::Broker::disconnect_client)):
    /// `Client %s been disconnected by administrative action.`; v5 clients get DISCONNECT 0x98.
    Administrative,
}

impl DisconnectReason {
    /// The reason a v5 DISCONNECT carries for this, if the broker sends one at all.
    pub(crate) fn v5_disconnect_code(&self) -> Option<ReasonCode> {
        match self {
            Self::TakenOver => Some(ReasonCode::SessionTakenOver),
            Self::KeepAliveTimeout => Some(ReasonCode::KeepAliveTimeout),
            Self::MalformedPacket => Some(ReasonCode::MalformedPacket),
            Self::ProtocolError => Some(ReasonCode::ProtocolError),
            Self::PacketTooLarge => Some(ReasonCode::PacketTooLarge),
            Self::ServerShutdown => Some(ReasonCode::ServerShuttingDown),
            Self::Administrative => Some(ReasonCode::AdministrativeAction),
            _ => None,
        }
    }
}
