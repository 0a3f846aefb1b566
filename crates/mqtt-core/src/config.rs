//! `Config`: the settings the broker's decisions depend on, filled by the runtime from
//! `mosquitto.conf`. `Config::default()` is Mosquitto 2.0.11's default.

use std::time::Duration;

use mqtt_codec::{ProtocolVersion, QoS};

/// Broker settings, passed to `Broker::new` and `Broker::set_config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Outgoing QoS 1/2 messages in flight per client; 0 = unlimited. Also our v5 Receive Maximum.
    pub max_inflight_messages: u16,
    /// Payload bytes of outgoing QoS 1/2 messages in flight per client; 0 = unlimited. A
    /// message goes in flight while the total is below it.
    pub max_inflight_bytes: usize,
    /// QoS 1/2 messages queued per client beyond the in-flight window; 0 = unlimited.
    pub max_queued_messages: usize,
    /// Payload bytes queued per client; 0 = unlimited.
    pub max_queued_bytes: usize,
    /// Queue QoS 0 messages for offline persistent clients too.
    pub queue_qos0_messages: bool,
    /// Journal every change of durable state as [`Output::Journal`](crate::Output::Journal)
    /// (durable persistence); off, nothing is recorded per change.
    pub journal: bool,
    /// Largest accepted PUBLISH payload in bytes; 0 = unlimited. Larger ones are dropped.
    pub message_size_limit: u32,
    /// Largest accepted packet; 0 = no limit. Advertised to v5 clients (decoding enforces it).
    pub max_packet_size: u32,
    /// Largest keep alive granted to v5 clients (sent as Server Keep Alive when exceeded or 0).
    pub max_keepalive: u16,
    /// Topic aliases a v5 client may use towards us (Topic Alias Maximum); 0 = none.
    pub max_topic_alias: u16,
    /// Upper bound on how long a disconnected persistent session is kept; `None` = forever.
    pub persistent_client_expiration: Option<Duration>,
    /// Who may connect and how ids are assigned, for every listener without an entry in
    /// [`Config::listener_security`].
    pub security: ListenerSecurity,
    /// Mosquitto's `per_listener_settings true`: the security of each listener, indexed by
    /// [`PeerInfo::listener`](crate::PeerInfo::listener). Empty = [`Config::security`] for all.
    pub listener_security: Vec<ListenerSecurity>,
    /// Listener options (`max_qos`, `use_username_as_clientid`, `mount_point`,
    /// `max_topic_alias_broker`) of each listener, indexed by
    /// [`PeerInfo::listener`](crate::PeerInfo::listener); a listener past the end gets
    /// [`ListenerOptions::default`].
    pub listener_options: Vec<ListenerOptions>,
    /// Deprecated Mosquitto option: only client ids starting with this prefix may connect
    /// (others get CONNACK 5 / 0x87). `None` = any id.
    pub clientid_prefixes: Option<String>,
    /// Accept retained messages; when false a retained PUBLISH disconnects the client.
    pub retain_available: bool,
    /// Mosquitto's `check_retain_source`: a retained message goes to a new subscriber only
    /// while its publisher may still write its topic.
    pub check_retain_source: bool,
    /// Mosquitto's `memory_limit` in bytes (0 = none): above it, incoming PUBLISHes are
    /// refused (see [`Broker::memory_in_use`](crate::Broker::memory_in_use)).
    pub memory_limit: usize,
    /// Maximum simultaneous connections; `None` = unlimited.
    pub max_connections: Option<usize>,
    /// Mosquitto 2.1's `global_max_clients`: the most client sessions (connected, or
    /// disconnected and not yet expired) the broker keeps; a client that would add one more is
    /// refused (v5: CONNACK 0x89 Server busy; 3.x: closed without a CONNACK). `None` =
    /// unlimited.
    pub max_clients: Option<usize>,
    /// Deliver at the subscription's QoS even when the message was published lower.
    pub upgrade_outgoing_qos: bool,
    /// Mosquitto's deprecated `allow_duplicate_messages`: a client whose subscriptions
    /// overlap gets one copy per matching subscription instead of one merged copy.
    pub allow_duplicate_messages: bool,
    /// Emit the connect/disconnect log events.
    pub connection_messages: bool,
    /// How long a connection may stay open without sending CONNECT.
    pub connect_timeout: Duration,
    /// Seconds between `$SYS` updates (Mosquitto's `sys_interval`); 0 = no `$SYS` topics.
    pub sys_interval: u16,
    /// culex's `send_reason_strings`: a v5 client disconnected for breaking a rule gets a
    /// Reason String naming the rule. Off (Mosquitto 2.0.11 sends none).
    pub reason_strings: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_inflight_messages: 20,
            max_inflight_bytes: 0,
            max_queued_messages: 1000,
            max_queued_bytes: 0,
            queue_qos0_messages: false,
            journal: false,
            message_size_limit: 0,
            max_packet_size: 0,
            max_keepalive: 65535,
            max_topic_alias: 10,
            persistent_client_expiration: None,
            security: ListenerSecurity::default(),
            listener_security: Vec::new(),
            listener_options: Vec::new(),
            clientid_prefixes: None,
            retain_available: true,
            check_retain_source: false,
            memory_limit: 0,
            max_connections: None,
            max_clients: None,
            upgrade_outgoing_qos: false,
            allow_duplicate_messages: false,
            connection_messages: true,
            // Mosquitto treats a connection without CONNECT as having keep alive 60, dropped at 1.5×.
            connect_timeout: Duration::from_secs(90),
            sys_interval: 10,
            reason_strings: false,
        }
    }
}

impl Config {
    /// The security settings of connections through `listener`.
    #[must_use]
    pub fn security_of(&self, listener: usize) -> &ListenerSecurity {
        self.listener_security.get(listener).unwrap_or(&self.security)
    }

    /// The listener options of connections through `listener`.
    #[must_use]
    pub fn options_of(&self, listener: usize) -> &ListenerOptions {
        self.listener_options.get(listener).unwrap_or(&ListenerOptions::DEFAULT)
    }
}

/// Mosquitto's security options that decide who may connect through a listener (the access
/// rules are installed separately, with `Broker::set_access_control`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSecurity {
    /// Accept clients without a username (and, without a password file, any client).
    pub allow_anonymous: bool,
    /// A password file is loaded: clients with a username are checked through
    /// `Output::Authenticate`.
    pub password_file: bool,
    /// Accept an empty client id (and assign one) from v3.1.1 and v5 clients.
    pub allow_zero_length_clientid: bool,
    /// Prefix of assigned client ids.
    pub auto_id_prefix: String,
}

impl Default for ListenerSecurity {
    fn default() -> Self {
        Self {
            allow_anonymous: true,
            password_file: false,
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".to_owned(),
        }
    }
}

/// Mosquitto's listener options that change how the broker treats a listener's clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerOptions {
    /// `max_qos`: subscriptions are granted at most this QoS, a PUBLISH or will above it
    /// disconnects the client, and v5 clients are told in CONNACK when it is below 2.
    pub max_qos: QoS,
    /// `use_username_as_clientid`: the client id is the CONNECT's username; a client without
    /// one is refused (CONNACK 5 / 0x87).
    pub use_username_as_clientid: bool,
    /// `mount_point`: prefix of every topic the listener's clients publish, subscribe to or
    /// leave as a will, removed from the topics of messages sent to them.
    pub mount_point: Option<String>,
    /// Mosquitto 2.1's `accept_protocol_versions`: a CONNECT of another version is refused
    /// (3.x: CONNACK 1; v5: CONNACK 0x84) before any other check.
    pub protocol_versions: ProtocolVersions,
    /// Mosquitto 2.1's `max_topic_alias_broker`: how many topic aliases the broker may set up
    /// towards each v5 client, within the client's own Topic Alias Maximum; 0 = none.
    pub max_topic_alias_broker: u16,
}

impl ListenerOptions {
    /// Mosquitto 2.0's defaults: QoS 2, the client's own id, no mount point, every version, no
    /// topic aliases towards clients (2.1 allows 10).
    pub const DEFAULT: Self = Self {
        max_qos: QoS::ExactlyOnce,
        use_username_as_clientid: false,
        mount_point: None,
        protocol_versions: ProtocolVersions::ALL,
        max_topic_alias_broker: 0,
    };
}

impl Default for ListenerOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A set of MQTT protocol versions (a listener's `accept_protocol_versions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolVersions(u8);

impl ProtocolVersions {
    /// No version.
    pub const NONE: Self = Self(0);
    /// 3.1, 3.1.1 and 5.0.
    pub const ALL: Self = Self(0b111);

    /// The bit of `version`.
    const fn bit(version: ProtocolVersion) -> u8 {
        1 << (version.level() - 3)
    }

    /// This set with `version` added.
    #[must_use]
    pub const fn with(self, version: ProtocolVersion) -> Self {
        Self(self.0 | Self::bit(version))
    }

    /// Whether `version` is in the set.
    #[must_use]
    pub const fn contains(self, version: ProtocolVersion) -> bool {
        self.0 & Self::bit(version) != 0
    }
}

impl Default for ProtocolVersions {
    fn default() -> Self {
        Self::ALL
    }
}
