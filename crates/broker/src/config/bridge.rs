//! Bridge sections (`connection <name>` and the options that follow it): their parsing, with
//! Mosquitto 2.0.11's messages, and the checks made once the whole file is read. The
//! options rustls cannot honour are refused here with the reason, never parsed and ignored; the
//! options Mosquitto 2.1 added are read in `bridge21`.

use culex_client::tcp::TcpKeepalive;

use super::Config;
use super::bridge21;

/// Mosquitto's default bridge `keepalive_interval`, in seconds.
const DEFAULT_BRIDGE_KEEPALIVE: u16 = 60;
/// The default `restart_timeout`: a random back-off from this base (seconds)…
const DEFAULT_RESTART_BASE: u32 = 5;
/// …capped at this many seconds.
const DEFAULT_RESTART_CAP: u32 = 30;
/// Mosquitto 2.1's largest back-off cap, in seconds; a higher one is lowered to it.
const MAX_RESTART_CAP: u32 = 7200;

/// Mosquitto's default `threshold` of a lazy bridge, in messages.
const DEFAULT_THRESHOLD: u32 = 10;
/// Mosquitto's default `idle_timeout` of a lazy bridge, in seconds.
const DEFAULT_IDLE_TIMEOUT: u32 = 60;

/// The protocol a bridge speaks to its remote broker (`bridge_protocol_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BridgeProtocol {
    /// `mqttv31`.
    V31,
    /// `mqttv311` (the default).
    V311,
    /// `mqttv50`.
    V5,
}

/// Which way a bridge topic carries messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Remote to local.
    In,
    /// Local to remote (the default).
    Out,
    /// Both ways.
    Both,
}

impl Direction {
    /// Whether messages go from the remote broker to this one.
    pub fn inbound(self) -> bool {
        matches!(self, Self::In | Self::Both)
    }

    /// Whether messages go from this broker to the remote one.
    pub fn outbound(self) -> bool {
        matches!(self, Self::Out | Self::Both)
    }
}

/// One `topic` line of a bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeTopic {
    /// Direction (default out).
    pub direction: Direction,
    /// QoS of the subscriptions (default 0).
    pub qos: u8,
    /// The filter on this broker: local prefix + pattern.
    pub local_topic: String,
    /// The filter on the remote broker: remote prefix + pattern.
    pub remote_topic: String,
    /// Local prefix (empty for none).
    pub local_prefix: String,
    /// Remote prefix (empty for none).
    pub remote_prefix: String,
}

impl BridgeTopic {
    /// The remote topic for local topic `topic` (which matches [`Self::local_topic`]).
    pub fn to_remote(&self, topic: &str) -> String {
        let bare = topic.strip_prefix(self.local_prefix.as_str()).unwrap_or(topic);
        format!("{}{bare}", self.remote_prefix)
    }

    /// The local topic for remote topic `topic` (which matches [`Self::remote_topic`]).
    pub fn to_local(&self, topic: &str) -> String {
        let bare = topic.strip_prefix(self.remote_prefix.as_str()).unwrap_or(topic);
        format!("{}{bare}", self.local_prefix)
    }
}

/// `start_type`: when the bridge connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartType {
    /// At start, and again after every failure (the default).
    Automatic,
    /// When `threshold` messages wait for the remote; stopped after `idle_timeout` idle
    /// seconds.
    Lazy,
    /// At start, never again once the connection fails or ends.
    Once,
}

/// `restart_timeout`: how long to wait before reconnecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartTimeout {
    /// One value: always this many seconds.
    Constant(u32),
    /// Two or three values (and the default): Mosquitto's random back-off from `base`, capped.
    Backoff {
        /// First delay, seconds.
        base: u32,
        /// Largest delay, seconds (at most 7200).
        cap: u32,
        /// Mosquitto 2.1's stable-connection period, seconds: a connection that lasted this
        /// long restarts the back-off from `base`. 0 (the default): every successful
        /// connection does, as in Mosquitto 2.0.
        stable: u32,
    },
}

/// `bridge_reload_type` (Mosquitto 2.1): what SIGHUP does to a bridge whose settings changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReloadType {
    /// The new settings apply at the next reconnection (the default).
    #[default]
    Lazy,
    /// The bridge disconnects and reconnects with the new settings at once.
    Immediate,
}

/// TLS toward the remote broker: the `bridge_*` TLS options, read as they are (files are
/// opened at each connection attempt, as Mosquitto does).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgeTls {
    /// `bridge_cafile`.
    pub cafile: Option<String>,
    /// `bridge_capath`.
    pub capath: Option<String>,
    /// `bridge_certfile`.
    pub certfile: Option<String>,
    /// `bridge_keyfile`.
    pub keyfile: Option<String>,
    /// `bridge_insecure`: the remote's host name is not checked against its certificate.
    pub insecure: bool,
    /// `bridge_alpn`.
    pub alpn: Option<String>,
    /// `bridge_tls_version`, as written (checked when connecting, as Mosquitto does).
    pub version: Option<String>,
    /// `bridge_tls_use_os_certs` (Mosquitto 2.1): trust the system's CA certificates.
    pub use_os_certs: bool,
    /// `bridge_ciphers` (Mosquitto 2.1): the TLS 1.2 suites offered, as OpenSSL names them.
    pub ciphers: Option<String>,
    /// `bridge_ciphers_tls1.3` (Mosquitto 2.1): the TLS 1.3 suites offered.
    pub ciphers_tls13: Option<String>,
}

impl BridgeTls {
    /// Whether the bridge uses TLS: Mosquitto turns it on with `bridge_cafile`,
    /// `bridge_capath` or `bridge_tls_use_os_certs true` (the other options alone change
    /// nothing).
    pub fn enabled(&self) -> bool {
        self.cafile.is_some() || self.capath.is_some() || self.use_os_certs
    }
}

/// One `connection` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The connection name.
    pub name: String,
    /// `address`/`addresses`: host and port of each remote broker, in order (the first is
    /// the main one unless `round_robin`).
    pub addresses: Vec<(String, u16)>,
    /// `round_robin` (default false): every address is equal; false: the bridge returns to
    /// the first address when it comes back.
    pub round_robin: bool,
    /// `start_type` (default automatic).
    pub start_type: StartType,
    /// `threshold`: how many messages start a lazy bridge (default 10, at least 1).
    pub threshold: u32,
    /// `idle_timeout`: seconds without messages that stop a lazy bridge (default 60).
    pub idle_timeout: u32,
    /// `local_username`: the bridge's user on this broker, for its ACL.
    pub local_username: Option<String>,
    /// `local_password`: checked against `password_file` with `local_username`.
    pub local_password: Option<String>,
    /// `notifications_local_only` (default false): the state is published only locally.
    pub notifications_local_only: bool,
    /// `bridge_bind_address`: the local address of the connection to the remote.
    pub bind_address: Option<String>,
    /// `bridge_max_packet_size` (`None`: no limit): larger messages are not sent to the
    /// remote broker.
    pub max_packet_size: Option<u32>,
    /// `topic` lines, in order.
    pub topics: Vec<BridgeTopic>,
    /// `remote_clientid` / `clientid`; `None` = `<hostname>.<name>`.
    pub remote_clientid: Option<String>,
    /// `local_clientid`; `None` = `local.<remote_clientid>`.
    pub local_clientid: Option<String>,
    /// `remote_username` / `username`.
    pub remote_username: Option<String>,
    /// `remote_password` / `password`.
    pub remote_password: Option<String>,
    /// `cleansession` (default false): the remote session.
    pub cleansession: bool,
    /// `local_cleansession`; `None` = the same as `cleansession`.
    pub local_cleansession: Option<bool>,
    /// `bridge_protocol_version` (default mqttv311).
    pub protocol: BridgeProtocol,
    /// `keepalive_interval` in seconds (default 60, at least 5).
    pub keepalive: u16,
    /// `notifications` (default true).
    pub notifications: bool,
    /// `notification_topic`; `None` = `$SYS/broker/connection/<remote_clientid>/state`.
    pub notification_topic: Option<String>,
    /// `try_private` (default true).
    pub try_private: bool,
    /// `restart_timeout`.
    pub restart_timeout: RestartTimeout,
    /// `bridge_attempt_unsubscribe` (default true).
    pub attempt_unsubscribe: bool,
    /// `bridge_outgoing_retain` (default true).
    pub outgoing_retain: bool,
    /// The TLS options.
    pub tls: BridgeTls,
    /// `bridge_receive_maximum` (v5 bridges; `None`: not sent).
    pub receive_maximum: Option<u16>,
    /// `bridge_session_expiry_interval`, seconds (v5 bridges; 0: not sent).
    pub session_expiry_interval: u32,
    /// `bridge_max_topic_alias` (v5 bridges; default 10, 0: no aliases from the remote).
    pub max_topic_alias: u16,
    /// `bridge_tcp_keepalive <idle> <interval> <count>`.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// `bridge_tcp_user_timeout`, milliseconds.
    pub tcp_user_timeout: Option<u32>,
    /// `bridge_reload_type` (default lazy).
    pub reload_type: ReloadType,
}

impl BridgeConfig {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            addresses: Vec::new(),
            round_robin: false,
            start_type: StartType::Automatic,
            threshold: DEFAULT_THRESHOLD,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            local_username: None,
            local_password: None,
            notifications_local_only: false,
            bind_address: None,
            max_packet_size: None,
            topics: Vec::new(),
            remote_clientid: None,
            local_clientid: None,
            remote_username: None,
            remote_password: None,
            cleansession: false,
            local_cleansession: None,
            protocol: BridgeProtocol::V311,
            keepalive: DEFAULT_BRIDGE_KEEPALIVE,
            notifications: true,
            notification_topic: None,
            try_private: true,
            restart_timeout: RestartTimeout::Backoff {
                base: DEFAULT_RESTART_BASE,
                cap: DEFAULT_RESTART_CAP,
                stable: 0,
            },
            attempt_unsubscribe: true,
            outgoing_retain: true,
            tls: BridgeTls::default(),
            receive_maximum: None,
            session_expiry_interval: 0,
            max_topic_alias: bridge21::DEFAULT_MAX_TOPIC_ALIAS,
            tcp_keepalive: None,
            tcp_user_timeout: None,
            reload_type: ReloadType::Lazy,
        }
    }

    /// The remote client id: as configured, or `<hostname>.<name>`.
    pub fn remote_clientid(&self, hostname: &str) -> String {
        self.remote_clientid.clone().unwrap_or_else(|| format!("{hostname}.{}", self.name))
    }

    /// The local client id: as configured, or `local.<remote client id>`.
    pub fn local_clientid(&self, hostname: &str) -> String {
        self.local_clientid
            .clone()
            .unwrap_or_else(|| format!("local.{}", self.remote_clientid(hostname)))
    }

    /// Whether the local session starts clean (`local_cleansession`, default `cleansession`).
    pub fn local_cleansession(&self) -> bool {
        self.local_cleansession.unwrap_or(self.cleansession)
    }

    /// The notification topic: as configured, or `$SYS/broker/connection/<remote id>/state`.
    pub fn notification_topic(&self, hostname: &str) -> String {
        self.notification_topic.clone().unwrap_or_else(|| {
            format!("$SYS/broker/connection/{}/state", self.remote_clientid(hostname))
        })
    }
}

/// Applies `name value` if it is a bridge option: `None` when it is not one.
pub(super) fn apply(config: &mut Config, name: &str, value: &str) -> Option<Result<(), String>> {
    let result = match name {
        "connection" => connection(config, value),
        "address"
        | "addresses"
        | "topic"
        | "remote_clientid"
        | "clientid"
        | "local_clientid"
        | "remote_username"
        | "username"
        | "remote_password"
        | "password"
        | "cleansession"
        | "local_cleansession"
        | "bridge_protocol_version"
        | "keepalive_interval"
        | "notifications"
        | "notification_topic"
        | "try_private"
        | "start_type"
        | "restart_timeout"
        | "bridge_attempt_unsubscribe"
        | "bridge_outgoing_retain"
        | "bridge_cafile"
        | "bridge_capath"
        | "bridge_certfile"
        | "bridge_keyfile"
        | "bridge_insecure"
        | "bridge_alpn"
        | "bridge_tls_version"
        | "bridge_ciphers"
        | "bridge_ciphers_tls1.3"
        | "bridge_require_ocsp"
        | "round_robin"
        | "threshold"
        | "idle_timeout"
        | "notifications_local_only"
        | "bridge_bind_address"
        | "bridge_max_packet_size"
        | "local_username"
        | "local_password" => {
            let notices = &mut config.notices;
            match config.bridges.last_mut() {
                Some(bridge) => option(bridge, notices, name, value),
                None => Err("Invalid bridge configuration.".to_owned()),
            }
        }
        _ if bridge21::NAMES.contains(&name) => {
            bridge21::apply(config.bridges.last_mut(), name, value)
        }
        "bridge_identity" | "bridge_psk" => Err(format!(
            "The \"{name}\" bridge option is not supported by culex's TLS (rustls): rustls has \
             no pre-shared-key cipher suites."
        )),
        _ => return None,
    };
    Some(result)
}

fn connection(config: &mut Config, value: &str) -> Result<(), String> {
    let name = string(value, "connection")?;
    if config.bridges.iter().any(|bridge| bridge.name == name) {
        return Err(format!("Duplicate bridge name \"{name}\"."));
    }
    config.bridges.push(BridgeConfig::new(name));
    Ok(())
}

fn option(
    bridge: &mut BridgeConfig,
    notices: &mut Vec<String>,
    name: &str,
    value: &str,
) -> Result<(), String> {
    match name {
        "address" | "addresses" => {
            if !bridge.addresses.is_empty() {
                return Err("Invalid bridge configuration.".to_owned());
            }
            string(value, name)?;
            for token in value.split(' ').filter(|t| !t.is_empty()) {
                if token.starts_with('#') {
                    break;
                }
                let (host, port) = match token.rsplit_once(':') {
                    Some((host, port)) => {
                        let port = super::atoi(port);
                        let port = u16::try_from(port)
                            .ok()
                            .filter(|&p| p != 0)
                            .ok_or_else(|| format!("Invalid port value ({port})."))?;
                        (host, port)
                    }
                    None => (token, super::DEFAULT_PORT),
                };
                bridge.addresses.push((host.to_owned(), port));
            }
        }
        "topic" => topic(bridge, value)?,
        "remote_clientid" | "clientid" => {
            once(&mut bridge.remote_clientid, value, name, "bridge remote clientid")?;
        }
        "local_clientid" => once(&mut bridge.local_clientid, value, name, "bridge local clientd")?,
        "remote_username" | "username" => {
            once(&mut bridge.remote_username, value, name, "bridge remote_username")?;
        }
        "remote_password" | "password" => {
            once(&mut bridge.remote_password, value, name, "bridge remote_password")?;
        }
        "notification_topic" => {
            once(&mut bridge.notification_topic, value, name, "notification_topic")?;
        }
        "cleansession" => bridge.cleansession = boolean(value, name)?,
        "local_cleansession" => bridge.local_cleansession = Some(boolean(value, name)?),
        "notifications" => bridge.notifications = boolean(value, name)?,
        "try_private" => bridge.try_private = boolean(value, name)?,
        "bridge_attempt_unsubscribe" => bridge.attempt_unsubscribe = boolean(value, name)?,
        "bridge_outgoing_retain" => bridge.outgoing_retain = boolean(value, name)?,
        // Mosquitto names these "bridge local_…" when empty too.
        "local_username" => {
            let what = "bridge local_username";
            once(&mut bridge.local_username, value, what, what)?;
        }
        "local_password" => {
            let what = "bridge local_password";
            once(&mut bridge.local_password, value, what, what)?;
        }
        "round_robin" => bridge.round_robin = boolean(value, name)?,
        "notifications_local_only" => bridge.notifications_local_only = boolean(value, name)?,
        "bridge_bind_address" => once(&mut bridge.bind_address, value, name, name)?,
        "bridge_max_packet_size" => {
            let size = super::atoi(token(value, name)?);
            bridge.max_packet_size = u32::try_from(size).ok().filter(|&size| size > 0);
        }
        "threshold" => {
            bridge.threshold = at_least_1(token(value, name)?, || {
                notices.push("threshold too low, using 1 message.".to_owned());
            });
        }
        "idle_timeout" => {
            bridge.idle_timeout = at_least_1(token(value, name)?, || {
                notices.push("idle_timeout interval too low, using 1 second.".to_owned());
            });
        }
        "bridge_cafile" => once(&mut bridge.tls.cafile, value, name, name)?,
        "bridge_capath" => once(&mut bridge.tls.capath, value, name, name)?,
        "bridge_certfile" => once(&mut bridge.tls.certfile, value, name, name)?,
        "bridge_keyfile" => once(&mut bridge.tls.keyfile, value, name, name)?,
        "bridge_alpn" => once(&mut bridge.tls.alpn, value, name, name)?,
        "bridge_tls_version" => once(&mut bridge.tls.version, value, name, name)?,
        "bridge_ciphers" | "bridge_ciphers_tls1.3" => {
            let tls13 = name == "bridge_ciphers_tls1.3";
            let field = if tls13 { &mut bridge.tls.ciphers_tls13 } else { &mut bridge.tls.ciphers };
            once(field, value, name, name)?;
            // Checked here, with the listener's table and lines, so the error names the line.
            let list = field.as_deref();
            let (ciphers, ciphers_tls13) = if tls13 { (None, list) } else { (list, None) };
            crate::ciphers::suites_of(ciphers, ciphers_tls13).map_err(|err| {
                let lines: Vec<&str> = err
                    .lines
                    .iter()
                    .map(|line| line.strip_prefix("Error: ").unwrap_or(line))
                    .collect();
                lines.join(" ")
            })?;
        }
        "bridge_insecure" => {
            bridge.tls.insecure = boolean(value, name)?;
            if bridge.tls.insecure {
                notices.push(format!("Warning: Bridge {} using insecure mode.", bridge.name));
            }
        }
        "bridge_require_ocsp" => {
            if boolean(value, name)? {
                return Err("The \"bridge_require_ocsp\" bridge option is not supported by \
                            culex's TLS (rustls): rustls does not check OCSP responses."
                    .to_owned());
            }
        }
        "bridge_protocol_version" => {
            bridge.protocol = match token(value, name)? {
                "mqttv31" => BridgeProtocol::V31,
                "mqttv311" => BridgeProtocol::V311,
                "mqttv50" => BridgeProtocol::V5,
                other => return Err(format!("Invalid bridge_protocol_version value ({other}).")),
            };
        }
        "keepalive_interval" => {
            let n = super::atoi(token(value, name)?);
            if n > 65535 {
                return Err("Bridge keepalive value too high.".to_owned());
            }
            bridge.keepalive = if n < 5 {
                notices.push("keepalive interval too low, using 5 seconds.".to_owned());
                5
            } else {
                u16::try_from(n).unwrap_or(DEFAULT_BRIDGE_KEEPALIVE)
            };
        }
        "start_type" => {
            bridge.start_type = match token(value, name)? {
                "automatic" => StartType::Automatic,
                "lazy" => StartType::Lazy,
                "once" => StartType::Once,
                "manual" => return Err("Manual start_type not supported.".to_owned()),
                other => {
                    return Err(format!("Invalid start_type value in configuration ({other})."));
                }
            };
        }
        _ => bridge.restart_timeout = restart_timeout(value, notices)?,
    }
    Ok(())
}

/// `restart_timeout <base> [<cap> [<stable>]]`, read with `atoi` as Mosquitto 2.0.11 reads the
/// first two (a word starting with `#` begins a comment). A base below 1 is raised to 1 and a
/// cap above 7200 lowered to it, each with a notice; a cap below the base is refused as 2.0.11
/// refuses it, and a negative stable period as 2.1 does.
fn restart_timeout(value: &str, notices: &mut Vec<String>) -> Result<RestartTimeout, String> {
    let mut values = value.split(' ').filter(|t| !t.is_empty()).take_while(|t| !t.starts_with('#'));
    let first = values.next().ok_or("Empty restart_timeout value in configuration.")?;
    let base = u32::try_from(super::atoi(first)).ok().filter(|&n| n >= 1).unwrap_or_else(|| {
        notices.push("restart_timeout interval too low, using 1 second.".to_owned());
        1
    });
    let Some(cap) = values.next() else { return Ok(RestartTimeout::Constant(base)) };
    let cap = u32::try_from(super::atoi(cap))
        .ok()
        .filter(|&cap| cap >= base)
        .ok_or("backoff cap is lower than the base in restart_timeout.")?;
    let cap = if cap > MAX_RESTART_CAP {
        notices.push(format!("Error: backoff cap too high, using {MAX_RESTART_CAP} seconds."));
        MAX_RESTART_CAP
    } else {
        cap
    };
    let stable = match values.next() {
        Some(stable) => u32::try_from(super::atoi(stable))
            .map_err(|_| "stable connection period cannot be negative.")?,
        None => 0,
    };
    Ok(RestartTimeout::Backoff { base, cap, stable })
}

/// `topic <pattern> [in|out|both [qos [local-prefix [remote-prefix]]]]`; `""` is empty.
/// The pattern is always a value, `#` included (`topic # both 0`); a word after it that
/// starts with `#` begins a comment (no direction, QoS or prefix can start with `#`).
fn topic(bridge: &mut BridgeConfig, value: &str) -> Result<(), String> {
    let mut words = value.split(' ').filter(|t| !t.is_empty());
    let pattern = words.next().ok_or_else(|| "Empty topic value in configuration.".to_owned())?;
    let mut tokens = words.take_while(|t| !t.starts_with('#'));
    let unquote = |t: &str| if t == "\"\"" { String::new() } else { t.to_owned() };
    let direction = match tokens.next() {
        None | Some("out") => Direction::Out,
        Some("in") => Direction::In,
        Some("both") => Direction::Both,
        Some(other) => return Err(format!("Invalid bridge topic direction '{other}'.")),
    };
    let qos = match tokens.next() {
        None => 0,
        Some(text) => u8::try_from(super::atoi(text))
            .ok()
            .filter(|&q| q <= 2)
            .ok_or_else(|| format!("Invalid bridge QoS level '{text}'."))?,
    };
    let local_prefix = tokens.next().map(unquote).unwrap_or_default();
    if local_prefix.contains(['+', '#']) {
        return Err(format!("Invalid bridge topic local prefix '{local_prefix}'."));
    }
    let remote_prefix = tokens.next().map(unquote).unwrap_or_default();
    if remote_prefix.contains(['+', '#']) {
        return Err(format!("Invalid bridge topic remote prefix '{remote_prefix}'."));
    }
    let pattern = unquote(pattern);
    if pattern.is_empty() && local_prefix.is_empty() && remote_prefix.is_empty() {
        return Err("Invalid bridge remapping.".to_owned());
    }
    bridge.topics.push(BridgeTopic {
        direction,
        qos,
        local_topic: format!("{local_prefix}{pattern}"),
        remote_topic: format!("{remote_prefix}{pattern}"),
        local_prefix,
        remote_prefix,
    });
    Ok(())
}

/// Checks made once the whole file is read (Mosquitto names no line for these).
pub(super) fn check(config: &Config) -> Result<(), String> {
    for bridge in &config.bridges {
        if bridge.addresses.is_empty() {
            return Err("Invalid bridge configuration: no remote addresses defined.".to_owned());
        }
        if bridge.topics.is_empty() {
            return Err("Invalid bridge configuration: no topics defined.".to_owned());
        }
    }
    // The host name is unknown here; default ids differ by connection name anyway.
    for (index, bridge) in config.bridges.iter().enumerate() {
        let id = bridge.local_clientid("<hostname>");
        if config.bridges[..index].iter().any(|other| other.local_clientid("<hostname>") == id) {
            return Err(format!(
                "Bridge local_clientid '{id}' is not unique. Try changing or setting the \
                 local_clientid value for one of the bridges."
            ));
        }
    }
    Ok(())
}

fn string<'v>(value: &'v str, name: &str) -> Result<&'v str, String> {
    let trimmed = value.trim_matches([' ', '\t']);
    if trimmed.is_empty() {
        return Err(format!("Empty {name} value in configuration."));
    }
    Ok(trimmed)
}

fn once(slot: &mut Option<String>, value: &str, name: &str, what: &str) -> Result<(), String> {
    let text = string(value, name)?;
    if slot.is_some() {
        return Err(format!("Duplicate {what} value in configuration."));
    }
    *slot = Some(text.to_owned());
    Ok(())
}

/// A count of at least 1: `atoi` of `text`, raised to 1 (calling `low`) when below.
fn at_least_1(text: &str, low: impl FnOnce()) -> u32 {
    match u32::try_from(super::atoi(text)) {
        Ok(n) if n >= 1 => n,
        _ => {
            low();
            1
        }
    }
}

fn token<'v>(value: &'v str, name: &str) -> Result<&'v str, String> {
    value
        .split(' ')
        .find(|t| !t.is_empty())
        .ok_or_else(|| format!("Empty {name} value in configuration."))
}

fn boolean(value: &str, name: &str) -> Result<bool, String> {
    match token(value, name)? {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("Invalid {name} value ({other}).")),
    }
}
