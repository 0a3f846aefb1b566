//! `mosquitto.conf` syntax: a pure parser into a typed [`Config`], plus loading from a path
//! (with `include_dir`). Defaults are Mosquitto 2.0.11's and are listed in
//! `docs/configuration.md`.
//!
//! The line rules are Mosquitto's, because users bring their existing files:
//! - a line whose first byte is `#`, or an empty / all-space line, is ignored;
//! - the option name runs up to the first space (a TAB is part of the name);
//! - integers are read like C's `atoi` from the next space-separated token;
//! - booleans are `true`, `false`, `1` or `0`;
//! - string values are the rest of the line, trimmed, and may not be empty or repeated.
//!
//! Any error names the file and line, and the binary exits with status 3.

mod admission;
#[cfg(test)]
mod admission_tests;
mod bridge;
mod bridge21;
#[cfg(test)]
mod bridge_tests;
mod http_api;
mod parse;
mod plugin;
#[cfg(test)]
mod plugin_tests;
mod proxy;
#[cfg(test)]
mod tests;

use std::num::NonZeroU16;
use std::path::Path;
use std::time::Duration;

use mqtt_core::ProtocolVersions;

pub use bridge::{
    BridgeConfig, BridgeProtocol, BridgeTls, BridgeTopic, Direction, ReloadType, RestartTimeout,
    StartType,
};
pub(crate) use parse::atoi;
pub use parse::parse;
pub use plugin::{BuiltinPlugin, PluginInstance};

/// Mosquitto's default `max_inflight_messages`.
pub const DEFAULT_MAX_INFLIGHT: u16 = 20;
/// Mosquitto's default `max_queued_messages`.
pub const DEFAULT_MAX_QUEUED: u32 = 1000;
/// Mosquitto's default `max_keepalive`.
pub const DEFAULT_MAX_KEEPALIVE: u16 = 65535;
/// Mosquitto's default `max_topic_alias`.
pub const DEFAULT_MAX_TOPIC_ALIAS: u16 = 10;
/// Mosquitto's default `sys_interval`, in seconds.
pub const DEFAULT_SYS_INTERVAL: u16 = 10;
/// Mosquitto's default `autosave_interval`, in seconds.
pub const DEFAULT_AUTOSAVE_INTERVAL: u32 = 1800;
/// Mosquitto's default `persistence_file`.
pub const DEFAULT_PERSISTENCE_FILE: &str = "mosquitto.db";
/// The account a broker started as root runs as when `user` is not given (Mosquitto's is
/// `mosquitto`).
pub const DEFAULT_USER: &str = "culex";
/// The port of the default listener and of local-only mode.
pub const DEFAULT_PORT: u16 = 1883;

/// The bound on a WebSocket listener's HTTP request head when `websockets_headers_size` is
/// 0 or unset: the one Debian's Mosquitto 2.0.11 gets from libwebsockets 4.
pub const DEFAULT_WEBSOCKETS_HEADERS_SIZE: usize = 4096;

/// Everything a configuration file says, with Mosquitto's defaults for what it does not say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Settings of the default listener: `port` / `bind_address` and the listener options that
    /// appear before the first `listener` line. Also used for the local-only listeners.
    pub default_listener: ListenerConfig,
    /// Whether `port` or `bind_address` declared the default listener.
    pub default_listener_declared: bool,
    /// The `listener` sections, in file order.
    pub listeners: Vec<ListenerConfig>,
    /// `allow_anonymous`; `None` when not set (then false, or forced true in local-only mode).
    pub allow_anonymous: Option<bool>,
    /// `allow_zero_length_clientid` (default true).
    pub allow_zero_length_clientid: bool,
    /// `auto_id_prefix` (default `auto-`).
    pub auto_id_prefix: String,
    /// `password_file`: Mosquitto-format password file checked for clients with a username.
    pub password_file: Option<String>,
    /// `acl_file`: Mosquitto-format access rules for publishing and delivery.
    pub acl_file: Option<String>,
    /// `per_listener_settings` (default false): security options apply to the listener they
    /// follow (its [`ListenerConfig::security`]) instead of the whole broker; see
    /// [`Config::security_for`].
    pub per_listener_settings: bool,
    /// Whether a security option was given yet (`per_listener_settings true` must precede
    /// them all).
    pub security_options_given: bool,
    /// Mosquitto 2.1's plugin instances (`plugin`, `global_plugin`, `plugin_load`, …), in file
    /// order; the built-in ones name password and ACL files (see [`Config::security_for`]).
    pub plugins: Vec<PluginInstance>,
    /// `clientid_prefixes` (deprecated): only client ids starting with it may connect.
    pub clientid_prefixes: Option<String>,
    /// `max_inflight_messages` (0 = unlimited; default 20).
    pub max_inflight_messages: u16,
    /// `max_inflight_bytes` (0 = unlimited): payload bytes of outgoing QoS 1/2 messages in
    /// flight per client.
    pub max_inflight_bytes: u64,
    /// `max_queued_messages` (0 = unlimited; default 1000).
    pub max_queued_messages: u32,
    /// `max_queued_bytes` (0 = unlimited).
    pub max_queued_bytes: u64,
    /// `message_size_limit` in payload bytes (0 = the protocol maximum).
    pub message_size_limit: u32,
    /// `max_packet_size` in bytes (0 = the protocol maximum).
    pub max_packet_size: u32,
    /// `max_keepalive` in seconds (default 65535).
    pub max_keepalive: u16,
    /// `max_topic_alias` (default 10). A listener option in Mosquitto; one value for the whole
    /// broker in culex (the last one given wins).
    pub max_topic_alias: u16,
    /// `persistent_client_expiration`; `None` = persistent sessions never expire.
    pub persistent_client_expiration: Option<Duration>,
    /// `retain_available` (default true).
    pub retain_available: bool,
    /// `check_retain_source` (default false): a retained message is sent to a new subscriber
    /// only while its publisher may still write its topic.
    pub check_retain_source: bool,
    /// `memory_limit` in bytes (default 0 = none): above it, incoming PUBLISHes are refused.
    pub memory_limit: u64,
    /// `upgrade_outgoing_qos` (default false).
    pub upgrade_outgoing_qos: bool,
    /// `allow_duplicate_messages` (deprecated, default false): a client with overlapping
    /// subscriptions gets one copy per matching subscription.
    pub allow_duplicate_messages: bool,
    /// `queue_qos0_messages` (default false): queue QoS 0 messages for offline persistent
    /// clients too (they count against `max_queued_messages`).
    pub queue_qos0_messages: bool,
    /// `set_tcp_nodelay`: set TCP_NODELAY on client sockets, disabling Nagle's algorithm.
    /// Default true in culex (Mosquitto: false): culex writes a client's packets in batches,
    /// and with Nagle a batch to a client that never answers waits for its delayed ACK
    /// (docs/mosquitto-differences.md).
    pub set_tcp_nodelay: bool,
    /// `send_reason_strings` (culex, default false): a v5 client disconnected for breaking a
    /// rule gets a Reason String naming the rule; Mosquitto 2.0.11 sends none.
    pub send_reason_strings: bool,
    /// `routers` (culex, default 1): how many driver shards route messages, each owning the
    /// sessions of the client ids that hash to it; `None` (`routers auto`) = one per CPU the
    /// process may use. Read at start; one while the persistence journal is on.
    pub routers: Option<NonZeroU16>,
    /// `log_type` lines OR-ed together; `None` when the file has none.
    pub log_types: Option<LogTypes>,
    /// `log_dest` lines combined; `None` when the file has none (then stderr).
    pub log_dest: Option<LogDest>,
    /// `log_facility N` (0..=7): syslog lines go to facility `local<N>`; `None` = `daemon`.
    pub log_facility: Option<u8>,
    /// `websockets_headers_size` (0..=65535; 0, the default, means
    /// [`DEFAULT_WEBSOCKETS_HEADERS_SIZE`]): the most bytes a WebSocket listener's HTTP
    /// request head may take. Global, as in Mosquitto.
    pub websockets_headers_size: u16,
    /// `websockets_log_level` (default 0): libwebsockets' log bit mask. culex honours bit 1
    /// (errors) and bit 4 (notices) for what it has of them; see [`ListenSpec`].
    pub websockets_log_level: i32,
    /// `pid_file`: where to write the broker's process id (removed at exit).
    pub pid_file: Option<String>,
    /// `user`: the account a broker started as root switches to once its listeners are open;
    /// `None` = [`DEFAULT_USER`] (with `nobody` as the fallback when that account is missing).
    pub user: Option<String>,
    /// `log_timestamp` (default true).
    pub log_timestamp: bool,
    /// `log_timestamp_format`: C `strftime` format of the timestamp (local time); `None` =
    /// epoch seconds.
    pub log_timestamp_format: Option<String>,
    /// `log_format` (culex's): how lines are written to stdout, stderr and the log file.
    pub log_format: LogFormat,
    /// `connection_messages` (default true).
    pub connection_messages: bool,
    /// `sys_interval` in seconds (default 10; 0 = no `$SYS` topics).
    pub sys_interval: u16,
    /// `persistence` or `retained_persistence` (default false): save the broker's state to
    /// [`Config::persistence_path`] and load it at startup.
    pub persistence: bool,
    /// `persistence_file` (default [`DEFAULT_PERSISTENCE_FILE`]).
    pub persistence_file: Option<String>,
    /// `persistence_location`: the directory of the file (default: the working directory).
    pub persistence_location: Option<String>,
    /// `autosave_interval` (default 1800; negative is stored as 0 = save only at shutdown and
    /// on SIGUSR1): seconds between saves, or changes with `autosave_on_changes`.
    pub autosave_interval: u32,
    /// `autosave_on_changes` (default false).
    pub autosave_on_changes: bool,
    /// `persistence_journal` (culex, default true): with persistence on, journal every change
    /// of durable state so that nothing acknowledged is lost in a crash; false is Mosquitto's
    /// behaviour (the state is saved only at autosave, SIGUSR1 and shutdown).
    pub persistence_journal: bool,
    /// `persistence_sync_interval` (culex, default 0): 0 syncs the journal before every
    /// acknowledgement leaves; N > 0 syncs at most every N seconds, and an acknowledgement waits
    /// only until its records are written to the operating system (a crash of the process
    /// loses nothing, a power cut up to N seconds).
    pub persistence_sync_interval: u32,
    /// Notices Mosquitto prints while reading the file (deprecations), in order.
    pub notices: Vec<String>,
    /// The `connection` sections (bridges), in file order.
    pub bridges: Vec<BridgeConfig>,
    /// `global_max_clients` (Mosquitto 2.1): the most client sessions, connected or kept for
    /// a disconnected client; `None` (0 or less, the default -1) = unlimited.
    pub global_max_clients: Option<u32>,
    /// `global_max_connections` (Mosquitto 2.1): the most client connections open through all
    /// listeners together, on top of each listener's `max_connections`; `None` = unlimited.
    pub global_max_connections: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_listener: ListenerConfig::default(),
            default_listener_declared: false,
            listeners: Vec::new(),
            allow_anonymous: None,
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".to_owned(),
            password_file: None,
            acl_file: None,
            per_listener_settings: false,
            security_options_given: false,
            plugins: Vec::new(),
            clientid_prefixes: None,
            max_inflight_messages: DEFAULT_MAX_INFLIGHT,
            max_queued_messages: DEFAULT_MAX_QUEUED,
            max_queued_bytes: 0,
            max_inflight_bytes: 0,
            message_size_limit: 0,
            max_packet_size: 0,
            max_keepalive: DEFAULT_MAX_KEEPALIVE,
            max_topic_alias: DEFAULT_MAX_TOPIC_ALIAS,
            persistent_client_expiration: None,
            retain_available: true,
            check_retain_source: false,
            memory_limit: 0,
            upgrade_outgoing_qos: false,
            allow_duplicate_messages: false,
            queue_qos0_messages: false,
            set_tcp_nodelay: true,
            send_reason_strings: false,
            routers: NonZeroU16::new(1),
            log_types: None,
            log_dest: None,
            log_facility: None,
            websockets_headers_size: 0,
            websockets_log_level: 0,
            pid_file: None,
            user: None,
            log_timestamp: true,
            log_timestamp_format: None,
            log_format: LogFormat::Text,
            connection_messages: true,
            sys_interval: DEFAULT_SYS_INTERVAL,
            persistence: false,
            persistence_file: None,
            persistence_location: None,
            autosave_interval: DEFAULT_AUTOSAVE_INTERVAL,
            autosave_on_changes: false,
            persistence_journal: true,
            persistence_sync_interval: 0,
            notices: Vec::new(),
            bridges: Vec::new(),
            global_max_clients: None,
            global_max_connections: None,
        }
    }
}

impl Config {
    /// True when no listener is configured: Mosquitto 2.0's "local only mode", where the
    /// broker listens on 127.0.0.1 and ::1 only and anonymous clients are allowed.
    pub fn local_only(&self) -> bool {
        self.listeners.is_empty() && !self.default_listener_declared
    }

    /// The addresses to listen on. `cli_ports` (from `-p`) are only used in local-only mode,
    /// as in Mosquitto.
    pub fn listen_specs(&self, cli_ports: &[u16]) -> Vec<ListenSpec> {
        let mut specs = Vec::new();
        if self.local_only() {
            let ports = if cli_ports.is_empty() { &[DEFAULT_PORT][..] } else { cli_ports };
            for &port in ports {
                for host in ["127.0.0.1", "::1"] {
                    specs.push(ListenSpec {
                        host: Some(host.to_owned()),
                        port,
                        listener: 0,
                        settings: self.default_listener.clone(),
                        websockets_headers_size: self.head_limit(),
                        websockets_log_level: self.websockets_log_level,
                    });
                }
            }
            return specs;
        }
        for (index, listener) in self.listeners_in_force().into_iter().enumerate() {
            specs.push(ListenSpec {
                host: listener.bind_address.clone(),
                port: listener.port,
                listener: index,
                settings: listener.clone(),
                websockets_headers_size: self.head_limit(),
                websockets_log_level: self.websockets_log_level,
            });
        }
        specs
    }

    /// `websockets_headers_size` in force, in bytes.
    fn head_limit(&self) -> usize {
        match self.websockets_headers_size {
            0 => DEFAULT_WEBSOCKETS_HEADERS_SIZE,
            n => usize::from(n),
        }
    }

    /// The persistence file when `persistence` is on: `persistence_location + "/" +
    /// persistence_file` as Mosquitto joins them (a trailing `/` gives `//`), or the file
    /// name alone (relative to the working directory) without a location.
    pub fn persistence_path(&self) -> Option<String> {
        if !self.persistence {
            return None;
        }
        let file = self.persistence_file.as_deref().unwrap_or(DEFAULT_PERSISTENCE_FILE);
        Some(match self.persistence_location.as_deref() {
            Some(location) => format!("{location}/{file}"),
            None => file.to_owned(),
        })
    }

    /// Log types in force: `forced` when the command line sets them (`-v` all, `-q` none);
    /// otherwise the file's, or Mosquitto's default (error, warning, notice, information).
    pub fn effective_log_types(&self, forced: Option<LogTypes>) -> LogTypes {
        forced.unwrap_or_else(|| self.log_types.unwrap_or(LogTypes::DEFAULT))
    }

    /// The listeners whose settings are in force: the default listener in local-only mode,
    /// otherwise the declared default listener and the `listener` sections. A listener's
    /// position here is its [`ListenSpec::listener`] index.
    pub fn listeners_in_force(&self) -> Vec<&ListenerConfig> {
        if self.local_only() {
            return vec![&self.default_listener];
        }
        let declared = self.default_listener_declared.then_some(&self.default_listener);
        declared.into_iter().chain(&self.listeners).collect()
    }

    /// The security options in force for connections through `listener` (a listener of
    /// this configuration, or of the one the broker started with after a reload, matched by
    /// port and bind address), Mosquitto's defaults applied: the global options, or under
    /// `per_listener_settings true` the listener's own (the default listener's in local-only
    /// mode; a listener the configuration no longer has gets the defaults). Local-only mode
    /// forces anonymous access on, as in Mosquitto 2.0.
    ///
    /// A listener's own `listener_allow_anonymous` and `listener_auto_id_prefix` (Mosquitto
    /// 2.1) win over those, whatever `per_listener_settings` says; they are `listener`'s, the
    /// values the listener opened with (listeners are not reloaded).
    pub fn security_for(&self, listener: &ListenerConfig) -> EffectiveSecurity {
        let mut security = self.configured_security_for(listener);
        if let Some(allow) = listener.listener_allow_anonymous {
            security.allow_anonymous = allow;
        }
        if let Some(prefix) = &listener.listener_auto_id_prefix {
            security.auto_id_prefix.clone_from(prefix);
        }
        security.allow_anonymous |= self.local_only();
        security
    }

    /// [`Config::security_for`] as the file says it, without local-only mode's override.
    fn configured_security_for(&self, listener: &ListenerConfig) -> EffectiveSecurity {
        let own = self.own_listener(listener);
        let mut security = if self.per_listener_settings {
            own.map(|own| own.security.effective())
                .unwrap_or_else(|| SecurityOptions::default().effective())
        } else {
            EffectiveSecurity {
                allow_anonymous: self.allow_anonymous.unwrap_or(false),
                allow_zero_length_clientid: self.allow_zero_length_clientid,
                auto_id_prefix: self.auto_id_prefix.clone(),
                password_file: self.password_file.clone(),
                acl_file: self.acl_file.clone(),
            }
        };
        plugin::add_files(self, own, &mut security);
        security
    }

    /// This configuration's own settings of `listener`: the default listener in local-only
    /// mode, else the listener in force that equals it or, failing that, has its port and
    /// address (or socket path); `None` for a listener the configuration no longer has.
    fn own_listener(&self, listener: &ListenerConfig) -> Option<&ListenerConfig> {
        if self.local_only() {
            return Some(&self.default_listener);
        }
        // A listener with the same settings first: several `listener 0` lines share port 0
        // and an address. Else the one with its port and address (or socket path).
        let in_force = self.listeners_in_force();
        in_force.iter().copied().find(|candidate| *candidate == listener).or_else(|| {
            in_force.into_iter().find(|candidate| {
                candidate.port == listener.port
                    && candidate.bind_address == listener.bind_address
                    && candidate.unix_socket == listener.unix_socket
            })
        })
    }
}

/// One socket (or address family set) to listen on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenSpec {
    /// Host or address to bind; `None` = every address family.
    pub host: Option<String>,
    /// TCP port.
    pub port: u16,
    /// Which listener it belongs to: its position in [`Config::listeners_in_force`] (the
    /// index that selects its security settings).
    pub listener: usize,
    /// The listener's settings.
    pub settings: ListenerConfig,
    /// `websockets_headers_size` in force (a global option), in bytes.
    pub websockets_headers_size: usize,
    /// `websockets_log_level` (a global option): libwebsockets' bit mask. Bit 1 (errors)
    /// logs a request head longer than `websockets_headers_size`, bit 4 (notices) a refused
    /// subprotocol, both as `log_type websockets`; the other bits name libwebsockets'
    /// internals, which culex does not have.
    pub websockets_log_level: i32,
}

/// The persistence options in force (`persistence true`): what the driver saves, where and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PersistenceSettings {
    /// The file, as Mosquitto joins location and name.
    pub(crate) path: String,
    /// `autosave_interval`: seconds, or changes with `on_changes`; 0 = no autosave.
    pub(crate) autosave_interval: u32,
    /// `autosave_on_changes`.
    pub(crate) on_changes: bool,
    /// `persistence_journal`.
    pub(crate) journal: bool,
    /// `persistence_sync_interval` in seconds (0 = before every acknowledgement).
    pub(crate) sync_interval: u32,
}

impl PersistenceSettings {
    /// The settings of `config`, or `None` when persistence is off.
    pub(crate) fn of(config: &Config) -> Option<Self> {
        Some(Self {
            path: config.persistence_path()?,
            autosave_interval: config.autosave_interval,
            on_changes: config.autosave_on_changes,
            journal: config.persistence_journal,
            sync_interval: config.persistence_sync_interval,
        })
    }
}

/// Settings of one listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// TCP port (1..=65535).
    pub port: u16,
    /// Address or host name to bind; `None` = all interfaces, IPv4 and IPv6.
    pub bind_address: Option<String>,
    /// `max_connections`; `None` = unlimited.
    pub max_connections: Option<u32>,
    /// Security options given in this listener's section under `per_listener_settings true`
    /// (always empty otherwise).
    pub security: SecurityOptions,
    /// The [`Config::plugins`] attached to this listener (`plugin_use`, or `plugin` under
    /// `per_listener_settings true`), by index, in order.
    pub plugins: Vec<usize>,
    /// `protocol`: plain MQTT (default) or MQTT over WebSockets.
    pub protocol: Protocol,
    /// The TLS options; `certfile` and `keyfile` together turn TLS on.
    pub tls: TlsOptions,
    /// `max_qos` / `maximum_qos` (0..=2, default 2).
    pub max_qos: u8,
    /// `use_username_as_clientid` (default false).
    pub use_username_as_clientid: bool,
    /// `mount_point`: topic prefix of this listener's clients (no wildcards).
    pub mount_point: Option<String>,
    /// `max_topic_alias_broker` (Mosquitto 2.1): topic aliases the broker may set up towards
    /// each v5 client; 0 (culex's default, Mosquitto 2.0's behaviour; 2.1's is 10) = none.
    pub max_topic_alias_broker: u16,
    /// `bind_interface`: listen on this network interface's address (of each family), as
    /// Mosquitto does (it looks the address up rather than using SO_BINDTODEVICE).
    pub bind_interface: Option<String>,
    /// `socket_domain`: the one address family to open without a bind address (and to keep
    /// of a bind address's); `None` = both.
    pub socket_domain: Option<SocketDomain>,
    /// `listener 0 PATH`: listen on a Unix socket at `PATH` instead of TCP (`port` is then 0).
    pub unix_socket: Option<String>,
    /// `http_dir`: on a WebSockets or HTTP API listener, the directory whose files answer
    /// plain HTTP requests (no effect on an MQTT listener, as in Mosquitto).
    pub http_dir: Option<String>,
    /// `http_api_token_file` (culex, `protocol http_api` only): the bearer tokens the listener
    /// accepts, as `name:sha256-hex` lines.
    pub http_api_token_file: Option<String>,
    /// `http_api_admin` lines (culex, `protocol http_api` only): the users and token names
    /// that may disconnect clients through the listener.
    pub http_api_admins: Vec<String>,
    /// `accept_protocol_versions` (Mosquitto 2.1): the MQTT versions this listener accepts
    /// (default all).
    pub accept_protocol_versions: ProtocolVersions,
    /// `listener_allow_anonymous` (Mosquitto 2.1): anonymous access through this listener,
    /// over `allow_anonymous`; `None` = not given.
    pub listener_allow_anonymous: Option<bool>,
    /// `listener_auto_id_prefix` (Mosquitto 2.1): the prefix of the client ids this listener
    /// assigns, over `auto_id_prefix`; `None` = not given.
    pub listener_auto_id_prefix: Option<String>,
    /// `websockets_origin` lines (Mosquitto 2.1): on a WebSockets listener, an upgrade request
    /// whose `Origin` header is none of these is dropped; empty = any origin (no effect on an
    /// MQTT listener, as in Mosquitto).
    pub websockets_origins: Vec<String>,
    /// `enable_proxy_protocol` (Mosquitto 2.1): every connection starts with a PROXY header of
    /// this version, which names the client; `None` (the default) = no header.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// `proxy_protocol_v2_require_tls` (Mosquitto 2.1, default false): a PROXY v2 header must
    /// say that the client connected to the proxy over TLS.
    pub proxy_protocol_v2_require_tls: bool,
}

/// A listener's `enable_proxy_protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// `1`: the text header (`PROXY TCP4 <src> <dst> <sport> <dport>\r\n`).
    V1,
    /// `2`: the binary header, which may carry the proxy's TLS facts.
    V2,
}

/// A listener's `socket_domain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketDomain {
    /// `ipv4`.
    Ipv4,
    /// `ipv6`.
    Ipv6,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            bind_address: None,
            max_connections: None,
            security: SecurityOptions::default(),
            plugins: Vec::new(),
            protocol: Protocol::Mqtt,
            tls: TlsOptions::default(),
            max_qos: 2,
            use_username_as_clientid: false,
            mount_point: None,
            max_topic_alias_broker: 0,
            bind_interface: None,
            socket_domain: None,
            unix_socket: None,
            http_dir: None,
            http_api_token_file: None,
            http_api_admins: Vec::new(),
            accept_protocol_versions: ProtocolVersions::ALL,
            listener_allow_anonymous: None,
            listener_auto_id_prefix: None,
            websockets_origins: Vec::new(),
            proxy_protocol: None,
            proxy_protocol_v2_require_tls: false,
        }
    }
}

/// A listener's `protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// `mqtt`: the MQTT byte stream straight on TCP (or TLS).
    #[default]
    Mqtt,
    /// `websockets`: MQTT in binary WebSocket frames after an HTTP upgrade (MQTT §6).
    WebSockets,
    /// `http_api` (Mosquitto 2.1): the HTTP API and `http_dir` files; no MQTT.
    HttpApi,
}

/// A listener's TLS options (Mosquitto's names). TLS is on when `certfile` is set, which the
/// configuration check ties to `keyfile`; the other options need TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `cafile`: PEM file of the CAs that client certificates must chain to.
    pub cafile: Option<String>,
    /// `capath`: directory of PEM files with more such CAs.
    pub capath: Option<String>,
    /// `certfile`: the server's PEM certificate chain.
    pub certfile: Option<String>,
    /// `keyfile`: the server's PEM private key.
    pub keyfile: Option<String>,
    /// `require_certificate` (default false): clients must present a certificate that
    /// chains to `cafile`/`capath`.
    pub require_certificate: bool,
    /// `tls_version`: the lowest TLS version accepted (`tlsv1.2`, the default, or
    /// `tlsv1.3`); checked when the listener opens, as Mosquitto does.
    pub tls_version: Option<String>,
    /// `use_identity_as_username` (default false): the client certificate's common name is
    /// the client's username; the CONNECT's username and password are not used.
    pub use_identity_as_username: bool,
    /// `use_subject_as_username` (default false): the same with the whole subject, written
    /// as RFC 2253 (`CN=client,O=Example`).
    pub use_subject_as_username: bool,
    /// `crlfile`: PEM certificate revocation lists; a client certificate they revoke is
    /// refused.
    pub crlfile: Option<String>,
    /// `ciphers`: the TLS 1.2 suites offered, as OpenSSL names them (`ECDHE-RSA-AES128-GCM-SHA256:…`);
    /// checked when the listener opens.
    pub ciphers: Option<String>,
    /// `ciphers_tls1.3`: the TLS 1.3 suites offered (`TLS_AES_128_GCM_SHA256:…`).
    pub ciphers_tls13: Option<String>,
}

impl TlsOptions {
    /// Whether the listener speaks TLS.
    pub fn enabled(&self) -> bool {
        self.certfile.is_some()
    }
}

/// The security options of one listener under `per_listener_settings true`; `None` = not
/// given (Mosquitto's default applies).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityOptions {
    /// `allow_anonymous`.
    pub allow_anonymous: Option<bool>,
    /// `allow_zero_length_clientid`.
    pub allow_zero_length_clientid: Option<bool>,
    /// `auto_id_prefix`.
    pub auto_id_prefix: Option<String>,
    /// `password_file`.
    pub password_file: Option<String>,
    /// `acl_file`.
    pub acl_file: Option<String>,
}

impl SecurityOptions {
    /// The values in force: unset options replaced by Mosquitto's defaults.
    fn effective(&self) -> EffectiveSecurity {
        EffectiveSecurity {
            allow_anonymous: self.allow_anonymous.unwrap_or(false),
            allow_zero_length_clientid: self.allow_zero_length_clientid.unwrap_or(true),
            auto_id_prefix: self.auto_id_prefix.clone().unwrap_or_else(|| "auto-".to_owned()),
            password_file: self.password_file.clone(),
            acl_file: self.acl_file.clone(),
        }
    }
}

/// The security options in force on one listener ([`Config::security_for`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveSecurity {
    /// `allow_anonymous` (default false).
    pub allow_anonymous: bool,
    /// `allow_zero_length_clientid` (default true).
    pub allow_zero_length_clientid: bool,
    /// `auto_id_prefix` (default `auto-`).
    pub auto_id_prefix: String,
    /// `password_file`.
    pub password_file: Option<String>,
    /// `acl_file`.
    pub acl_file: Option<String>,
}

/// Where log lines go (`log_dest`: `stdout`, `stderr`, `file <path>`, `syslog`, `topic`,
/// `dlt`, `none`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogDest {
    /// `log_dest stdout`.
    pub stdout: bool,
    /// `log_dest stderr`.
    pub stderr: bool,
    /// `log_dest file <path>` (appended to).
    pub file: Option<String>,
    /// `log_dest syslog`: the system logger, through `/dev/log`.
    pub syslog: bool,
    /// `log_dest topic`: published on `$SYS/broker/log/<level>`.
    pub topic: bool,
    /// `log_dest dlt`: to the DLT daemon reading `$DLT_PIPE_DIR/dlt` (`/tmp/dlt`), if any.
    pub dlt: bool,
}

/// `log_format`: the shape of the lines written to stdout, stderr and the log file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Mosquitto's lines, `<timestamp>: <text>` (the default).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `client`, `event`, `message`.
    Json,
}

/// A set of Mosquitto log types (`log_type`), as bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogTypes(u16);

impl LogTypes {
    /// No logging.
    pub const NONE: Self = Self(0);
    /// `error`.
    pub const ERROR: Self = Self(1);
    /// `warning`.
    pub const WARNING: Self = Self(1 << 1);
    /// `notice`: connect and disconnect lines.
    pub const NOTICE: Self = Self(1 << 2);
    /// `information`: start, stop, listeners.
    pub const INFORMATION: Self = Self(1 << 3);
    /// `debug`: packet traces.
    pub const DEBUG: Self = Self(1 << 4);
    /// `subscribe`: `<id> <qos> <filter>` lines.
    pub const SUBSCRIBE: Self = Self(1 << 5);
    /// `unsubscribe`: `<id> <filter>` lines.
    pub const UNSUBSCRIBE: Self = Self(1 << 6);
    /// `websockets`: the lines `websockets_log_level` turns on.
    pub const WEBSOCKETS: Self = Self(1 << 7);
    /// `internal`.
    pub const INTERNAL: Self = Self(1 << 8);
    /// Every type.
    pub const ALL: Self = Self(0x1ff);
    /// Mosquitto's default: error, warning, notice, information.
    pub const DEFAULT: Self = Self(0b1111);

    /// The raw bits.
    pub fn bits(self) -> u16 {
        self.0
    }

    /// A set from raw bits (unknown bits are dropped).
    pub fn from_bits(bits: u16) -> Self {
        Self(bits & Self::ALL.0)
    }

    /// Whether every type in `other` is in `self`.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The union of both sets.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Each single type and its `log_type` name.
    const NAMES: [(Self, &'static str); 9] = [
        (Self::ERROR, "error"),
        (Self::WARNING, "warning"),
        (Self::NOTICE, "notice"),
        (Self::INFORMATION, "information"),
        (Self::DEBUG, "debug"),
        (Self::SUBSCRIBE, "subscribe"),
        (Self::UNSUBSCRIBE, "unsubscribe"),
        (Self::WEBSOCKETS, "websockets"),
        (Self::INTERNAL, "internal"),
    ];

    /// Parses one `log_type` value.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::NONE),
            "all" => Some(Self::ALL),
            _ => Self::NAMES.iter().find(|&&(_, known)| known == name).map(|&(types, _)| types),
        }
    }

    /// The `log_type` name of the first single type in the set (`none` for the empty set).
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|&&(types, _)| self.contains(types)).map_or("none", |&(_, n)| n)
    }
}

/// A configuration error, with the place it was found. Mosquitto prints the message as
/// `Error: <message>` and then `Error found at <file>:<line>.`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// The file name as given (the path of `-c`, or the included file).
    pub file: String,
    /// 1-based line number; 0 when the error is about the file itself.
    pub line: usize,
    /// Mosquitto's message without the `Error: ` prefix.
    pub message: String,
    /// Notices printed while reading the lines before the error (Mosquitto prints them as it
    /// goes, so they appear before the error).
    pub notices: Vec<String>,
}

impl ConfigError {
    /// The lines Mosquitto prints for this error, without timestamps.
    pub fn log_lines(&self) -> Vec<String> {
        let mut lines = self.notices.clone();
        lines.push(format!("Error: {}", self.message));
        if self.line > 0 {
            lines.push(format!("Error found at {}:{}.", self.file, self.line));
        }
        lines
    }
}

/// Reads and parses the configuration file at `path`, following `include_dir` lines.
///
/// # Errors
/// `Unable to open config file <f>.` / `Config file <f> is a directory.` (line 0), or the
/// first parse error.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let name = path.display().to_string();
    let file_error =
        |message: String| ConfigError { file: name.clone(), line: 0, message, notices: Vec::new() };
    if path.is_dir() {
        return Err(file_error(format!("Config file {name} is a directory.")));
    }
    let bytes = std::fs::read(path)
        .map_err(|_| file_error(format!("Unable to open config file {name}.")))?;
    let mut config = Config::default();
    parse::parse_into(&mut config, &bytes, &name, Some(&mut read_include_dir))
        .map_err(|err| ConfigError { notices: config.notices.clone(), ..err })?;
    parse::check_listeners(&config, &name)?;
    plugin::check(&config)?;
    Ok(config)
}

/// Loads the `*.conf` files of an `include_dir` in Mosquitto's order.
fn read_include_dir(dir: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|_| format!("Unable to open include_dir '{dir}'."))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| !kind.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.len() > 5 && name.ends_with(".conf"))
        .collect();
    names.sort_by(|a, b| include_order(a, b));
    names
        .into_iter()
        .map(|name| {
            let path = Path::new(dir).join(&name);
            let shown = path.display().to_string();
            std::fs::read(&path)
                .map(|bytes| (shown.clone(), bytes))
                .map_err(|_| format!("Unable to open config file {shown}."))
        })
        .collect()
}

/// Mosquitto sorts included files character by character, case-insensitively, with the upper
/// case letter first when two names differ only in case at that position.
fn include_order(a: &str, b: &str) -> std::cmp::Ordering {
    for (x, y) in a.bytes().zip(b.bytes()) {
        let (lx, ly) = (x.to_ascii_lowercase(), y.to_ascii_lowercase());
        if lx != ly {
            return lx.cmp(&ly);
        }
        if x != y {
            return x.cmp(&y);
        }
    }
    a.len().cmp(&b.len())
}
