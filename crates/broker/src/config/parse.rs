//! The line parser behind [`super::parse`] and [`super::load`]: Mosquitto's tokenising rules
//! and the checks and messages of each supported option.

use std::collections::HashSet;
use std::net::IpAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use super::{
    Config, ConfigError, ListenerConfig, LogDest, LogFormat, LogTypes, Protocol, SocketDomain,
};

/// Reads the `*.conf` files of an `include_dir` directory: `(shown name, contents)` in order,
/// or the message of the error.
pub(super) type IncludeReader<'a> =
    &'a mut dyn FnMut(&str) -> Result<Vec<(String, Vec<u8>)>, String>;

/// Parses configuration text, or the bytes of a file (a line that is not UTF-8 is an error
/// there, as in [`super::load`]). `file_name` is used in error messages. `include_dir` lines
/// are refused here because reading a directory is I/O; [`super::load`] follows them.
///
/// # Errors
/// The first error, with `file_name` and its 1-based line number.
pub fn parse(text: impl AsRef<[u8]>, file_name: &str) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    parse_into(&mut config, text.as_ref(), file_name, None)
        .map_err(|err| ConfigError { notices: config.notices.clone(), ..err })?;
    check_listeners(&config, file_name)?;
    super::plugin::check(&config)?;
    Ok(config)
}

/// Checks that each listener's TLS options fit together, once the whole file is read (they
/// may come in any order). Mosquitto 2.0.11 silently runs a listener without TLS when
/// `keyfile` is missing, or ignores `cafile` without `certfile`; culex refuses both.
pub(super) fn check_listeners(config: &Config, file_name: &str) -> Result<(), ConfigError> {
    let fail = |message: String| ConfigError {
        file: file_name.to_owned(),
        line: 0,
        message,
        notices: config.notices.clone(),
    };
    for listener in std::iter::once(&config.default_listener).chain(&config.listeners) {
        super::proxy::check(listener).map_err(fail)?;
        super::http_api::check(listener).map_err(fail)?;
        let tls = &listener.tls;
        let port = listener.port;
        // Behind `enable_proxy_protocol 2` the proxy checks client certificates.
        let tls_by_proxy = super::proxy::tls_by_proxy(listener);
        if tls.certfile.is_some() != tls.keyfile.is_some() {
            return Err(fail(format!(
                "Both certfile and keyfile must be provided to enable a TLS listener (listener \
                 on port {port})."
            )));
        }
        let needs_tls = [
            ("cafile", tls.cafile.is_some()),
            ("capath", tls.capath.is_some()),
            ("require_certificate", tls.require_certificate && !tls_by_proxy),
            ("tls_version", tls.tls_version.is_some()),
            ("crlfile", tls.crlfile.is_some()),
            ("ciphers", tls.ciphers.is_some()),
            ("ciphers_tls1.3", tls.ciphers_tls13.is_some()),
            ("use_identity_as_username", tls.use_identity_as_username && !tls_by_proxy),
            ("use_subject_as_username", tls.use_subject_as_username),
        ];
        if let Some((name, _)) = needs_tls.iter().find(|(_, given)| *given) {
            if !tls.enabled() {
                return Err(fail(format!(
                    "{name} needs certfile and keyfile on the same listener (listener on port \
                     {port} does not use TLS)."
                )));
            }
        }
        if let Some(path) = &listener.unix_socket {
            let websockets = listener.protocol == Protocol::WebSockets;
            let extra = [
                ("protocol websockets", websockets),
                ("protocol http_api", listener.protocol == Protocol::HttpApi),
                ("certfile", tls.enabled()),
                ("bind_interface", listener.bind_interface.is_some()),
                ("socket_domain", listener.socket_domain.is_some()),
                ("enable_proxy_protocol", listener.proxy_protocol.is_some()),
            ];
            if let Some((name, _)) = extra.iter().find(|(_, given)| *given) {
                return Err(fail(format!(
                    "{name} does not apply to the Unix socket listener {path}: it serves plain \
                     MQTT only."
                )));
            }
        }
        if tls.crlfile.is_some() && tls.cafile.is_none() && tls.capath.is_none() {
            return Err(fail(format!(
                "crlfile needs cafile or capath to check client certificates (listener on port \
                 {port})."
            )));
        }
        if tls.require_certificate && !tls_by_proxy && tls.cafile.is_none() && tls.capath.is_none()
        {
            return Err(fail(format!(
                "require_certificate needs cafile or capath to check client certificates \
                 (listener on port {port})."
            )));
        }
    }
    super::bridge::check(config).map_err(fail)
}

/// Parses `bytes` into `config`. `include` is `Some` only for the main file.
pub(super) fn parse_into(
    config: &mut Config,
    bytes: &[u8],
    file_name: &str,
    mut include: Option<IncludeReader<'_>>,
) -> Result<(), ConfigError> {
    let mut state = State { seen_strings: HashSet::new(), port_seen: false, plugin: None };
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let at = |message: String| ConfigError {
            file: file_name.to_owned(),
            line: line_no,
            message,
            notices: Vec::new(),
        };
        if matches!(raw.first(), None | Some(b'#' | b'\r')) {
            continue;
        }
        let line = std::str::from_utf8(raw)
            .map_err(|_| at("Malformed UTF-8 in configuration.".to_owned()))?
            .trim_end_matches(['\r', '\n']);
        let rest = line.trim_start_matches(' ');
        let (name, value) = match rest.split_once(' ') {
            Some((name, value)) => (name, value),
            None => (rest, ""),
        };
        if name.is_empty() {
            continue;
        }
        if name == "include_dir" {
            let dir = string_value(name, value).map_err(&at)?;
            let Some(reader) = include.as_mut() else {
                return Err(at(
                    "include_dir is only allowed in the main configuration file.".to_owned()
                ));
            };
            for (shown, contents) in reader(dir).map_err(&at)? {
                config.notices.push(format!("Loading config file {shown}"));
                parse_into(config, &contents, &shown, None)?;
            }
            continue;
        }
        let place = (file_name, line_no);
        if let Some(result) = super::plugin::apply(config, &mut state.plugin, name, value, place) {
            result.map_err(&at)?;
            continue;
        }
        state.apply(config, name, value).map_err(at)?;
    }
    Ok(())
}

/// What one group of options in [`State::apply`] made of a line: `Ok(true)` when it knew
/// the option and applied it, `Ok(false)` when the option is not one of its own.
type Known = Result<bool, String>;

/// One group of options in [`State::apply`].
type Group = fn(&mut State, &mut Config, &str, &str) -> Known;

/// Per-file parser state.
struct State {
    /// String options already set: Mosquitto refuses to set one twice.
    seen_strings: HashSet<String>,
    /// Whether `port` was already given (Mosquitto warns when it is repeated).
    port_seen: bool,
    /// The plugin instance `plugin_opt_*` lines go to.
    plugin: super::plugin::Cursor,
}

impl State {
    /// Applies one `name value` line: the bridge options first, then Mosquitto 2.1's admission
    /// options, then each group of options in turn; a name no group knows is refused.
    fn apply(&mut self, config: &mut Config, name: &str, value: &str) -> Result<(), String> {
        if let Some(result) = super::bridge::apply(config, name, value) {
            return result;
        }
        if let Some(result) = super::http_api::apply(config, name, value) {
            return result;
        }
        if let Some(result) = super::admission::apply(config, name, value) {
            return result;
        }
        if super::proxy::apply(config, name, value)? {
            return Ok(());
        }
        let groups: [Group; 7] = [
            Self::listener_option,
            Self::listener_setting,
            Self::tls_option,
            Self::client_option,
            Self::limit_option,
            Self::persistence_option,
            Self::log_option,
        ];
        for group in groups {
            if group(self, config, name, value)? {
                return Ok(());
            }
        }
        Err(refusal(name))
    }

    /// Where a listener listens: `listener` opens a new one; `port` and `bind_address` set
    /// the default listener; `protocol`, `bind_interface` and `socket_domain` the current one.
    fn listener_option(&mut self, config: &mut Config, name: &str, value: &str) -> Known {
        match name {
            "listener" => {
                let mut tokens = value.split(' ').filter(|t| !t.is_empty());
                let Some(port) = tokens.next() else {
                    return Err("Empty listener value in configuration.".to_owned());
                };
                let port = atoi(port);
                let address = tokens.next().filter(|t| !t.starts_with('#')).map(str::to_owned);
                // `listener 0 <IP address>` is culex's ephemeral port (the OS picks it); with a
                // path, Mosquitto's Unix socket.
                let listener = match address {
                    Some(address) if port == 0 && address.parse::<IpAddr>().is_err() => {
                        ListenerConfig {
                            port: 0,
                            unix_socket: Some(address),
                            ..ListenerConfig::default()
                        }
                    }
                    Some(address) if port == 0 => ListenerConfig {
                        port: 0,
                        bind_address: Some(address),
                        ..ListenerConfig::default()
                    },
                    None if port == 0 => {
                        return Err(
                            "A listener with port 0 must provide a Unix socket path.".to_owned()
                        );
                    }
                    bind_address => ListenerConfig {
                        port: valid_port(port)?,
                        bind_address,
                        ..ListenerConfig::default()
                    },
                };
                config.listeners.push(listener);
                // Strings such as `mount_point` are per listener: a new scope starts here.
                self.seen_strings.clear();
            }
            "port" => {
                config.notices.push(
                    "The 'port' option is now deprecated and will be removed in a future version. \
                     Please use 'listener' instead."
                        .to_owned(),
                );
                let port = valid_port(int_value(name, value)?)?;
                if std::mem::replace(&mut self.port_seen, true) {
                    config.notices.push(
                        "Warning: Default listener port specified multiple times. Only the latest will be used."
                            .to_owned(),
                    );
                }
                config.default_listener.port = port;
                config.default_listener_declared = true;
            }
            "bind_address" => {
                config.notices.push(
                    "The 'bind_address' option is now deprecated and will be removed in a future \
                     version. The behaviour will default to true."
                        .to_owned(),
                );
                let address = self.unique_string(name, before_comment(value))?;
                config.default_listener.bind_address = Some(address);
                config.default_listener_declared = true;
            }
            "protocol" => {
                current_listener(config).protocol = match first_token(name, value)? {
                    "mqtt" => Protocol::Mqtt,
                    "websockets" => Protocol::WebSockets,
                    "http_api" => Protocol::HttpApi,
                    other => return Err(format!("Invalid protocol value ({other}).")),
                };
            }
            "bind_interface" => {
                let interface = self.unique_string(name, before_comment(value))?;
                current_listener(config).bind_interface = Some(interface);
            }
            "socket_domain" => {
                current_listener(config).socket_domain = Some(match first_token(name, value)? {
                    "ipv4" => SocketDomain::Ipv4,
                    "ipv6" => SocketDomain::Ipv6,
                    other => {
                        return Err(format!(
                            "Invalid socket_domain value \"{other}\" in configuration."
                        ));
                    }
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A setting of the current listener (or the default listener before the first
    /// `listener`): connection limit, maximum QoS, mount point, topic aliases towards
    /// clients, usernames as client ids.
    fn listener_setting(&mut self, config: &mut Config, name: &str, value: &str) -> Known {
        match name {
            "mount_point" => {
                if config.listeners.is_empty() {
                    return Err("You must use create a listener before using the mount_point \
                                option in the configuration file."
                        .to_owned());
                }
                let mount = self.unique_string(name, value)?;
                if mount.contains(['+', '#']) {
                    return Err(format!(
                        "Invalid mount_point '{mount}'. Does it contain a wildcard character?"
                    ));
                }
                current_listener(config).mount_point = Some(mount);
            }
            "max_topic_alias_broker" => {
                if config.listeners.is_empty() {
                    return Err(format!(
                        "The '{name}' option requires a listener to be defined first."
                    ));
                }
                current_listener(config).max_topic_alias_broker =
                    u16::try_from(int_value(name, value)?).map_err(|_| {
                        "Invalid 'max_topic_alias_broker' value in configuration.".to_owned()
                    })?;
            }
            "max_connections" => {
                let limit = int_value(name, value)?;
                // 0 or less is no limit, as in Mosquitto.
                current_listener(config).max_connections =
                    u32::try_from(limit).ok().filter(|&limit| limit > 0);
            }
            "max_qos" | "maximum_qos" => {
                // Mosquitto names both spellings `max_qos` in its messages.
                let qos = int_value("max_qos", value)?;
                current_listener(config).max_qos =
                    u8::try_from(qos)
                        .ok()
                        .filter(|&qos| qos <= 2)
                        .ok_or_else(|| "max_qos must be between 0 and 2 inclusive.".to_owned())?;
            }
            "use_username_as_clientid" => {
                current_listener(config).use_username_as_clientid = bool_value(name, value)?;
            }
            "http_dir" => {
                let listener = current_listener(config);
                listener.http_dir = Some(once_in_scope(&listener.http_dir, name, value)?);
            }
            "websockets_headers_size" => {
                config.websockets_headers_size =
                    u16::try_from(int_value(name, value)?).map_err(|_| {
                        "Websockets headers size must be between 0 and 65535 inclusive.".to_owned()
                    })?;
            }
            "websockets_log_level" => {
                config.websockets_log_level =
                    culex_compat::number::atoi(first_token(name, value)?.as_bytes());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A TLS option of the current listener.
    fn tls_option(&mut self, config: &mut Config, name: &str, value: &str) -> Known {
        match name {
            "cafile" | "capath" | "certfile" | "keyfile" | "tls_version" | "crlfile"
            | "ciphers" | "ciphers_tls1.3" => {
                let tls = &mut current_listener(config).tls;
                let slot = match name {
                    "ciphers" => &mut tls.ciphers,
                    "ciphers_tls1.3" => &mut tls.ciphers_tls13,
                    "cafile" => &mut tls.cafile,
                    "crlfile" => &mut tls.crlfile,
                    "capath" => &mut tls.capath,
                    "certfile" => &mut tls.certfile,
                    "keyfile" => &mut tls.keyfile,
                    _ => &mut tls.tls_version,
                };
                *slot = Some(once_in_scope(slot, name, value)?);
            }
            "require_certificate" => {
                current_listener(config).tls.require_certificate = bool_value(name, value)?;
            }
            "use_identity_as_username" => {
                current_listener(config).tls.use_identity_as_username = bool_value(name, value)?;
            }
            "use_subject_as_username" => {
                current_listener(config).tls.use_subject_as_username = bool_value(name, value)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// How clients are admitted and treated: security options, client ids, duplicates,
    /// QoS 0 queueing, Nagle, reason strings.
    fn client_option(&mut self, config: &mut Config, name: &str, value: &str) -> Known {
        match name {
            "allow_duplicate_messages" => {
                config.notices.push(
                    "The 'allow_duplicate_messages' option is now deprecated and will be removed \
                     in a future version. The behaviour will default to true."
                        .to_owned(),
                );
                config.allow_duplicate_messages = bool_value(name, value)?;
            }
            "queue_qos0_messages" => config.queue_qos0_messages = bool_value(name, value)?,
            "set_tcp_nodelay" => config.set_tcp_nodelay = bool_value(name, value)?,
            "send_reason_strings" => config.send_reason_strings = bool_value(name, value)?,
            "routers" => {
                let text = string_value(name, value)?;
                let invalid = || format!("Invalid routers value ({text}): 1 to 64, or auto.");
                config.routers = match text {
                    "auto" => None,
                    _ => Some(
                        text.parse::<NonZeroU16>()
                            .ok()
                            .filter(|count| usize::from(count.get()) <= mqtt_core::ShardId::MAX)
                            .ok_or_else(invalid)?,
                    ),
                };
            }
            "per_listener_settings" => {
                let on = bool_value(name, value)?;
                if on && config.security_options_given {
                    return Err(
                        "per_listener_settings must be set before any other security settings."
                            .to_owned(),
                    );
                }
                config.per_listener_settings = on;
            }
            "allow_anonymous"
            | "allow_zero_length_clientid"
            | "auto_id_prefix"
            | "password_file"
            | "acl_file" => self.security_option(config, name, value)?,
            "clientid_prefixes" => {
                config.notices.push(
                    "The 'clientid_prefixes' option is now deprecated and will be removed in a \
                     future version."
                        .to_owned(),
                );
                config.clientid_prefixes =
                    Some(once_in_scope(&config.clientid_prefixes, name, value)?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A limit: in-flight and queued messages and bytes, packet and message sizes,
    /// keep-alive, topic aliases, the `$SYS` interval.
    fn limit_option(&mut self, config: &mut Config, name: &str, value: &str) -> Known {
        match name {
            "max_topic_alias" => {
                let alias = u16::try_from(int_value(name, value)?)
                    .map_err(|_| "Invalid max_topic_alias value in configuration.".to_owned())?;
                config.max_topic_alias = alias;
            }
            "max_inflight_messages" => {
                let n = int_value(name, value)?;
                if n > 65535 {
                    return Err("max_inflight_messages must be <= 65535.".to_owned());
                }
                // Negative and 65535 both mean "no limit", stored as 0.
                config.max_inflight_messages =
                    u16::try_from(n).ok().filter(|&n| n != 65535).unwrap_or(0);
            }
            "max_queued_messages" => {
                config.max_queued_messages = u32::try_from(int_value(name, value)?).unwrap_or(0);
            }
            "max_inflight_bytes" => {
                // Negative means no limit, as for max_queued_bytes.
                config.max_inflight_bytes = u64::try_from(int_value(name, value)?).unwrap_or(0);
            }
            "max_queued_bytes" => {
                config.max_queued_bytes = u64::try_from(int_value(name, value)?).unwrap_or(0);
            }
            "message_size_limit" => {
                config.notices.push(
                    "Note: It is recommended to replace `message_size_limit` with `max_packet_size`."
                        .to_owned(),
                );
                // Mosquitto stores the int in an unsigned field, so -1 is reported as 4294967295.
                #[expect(
                    clippy::cast_sign_loss,
                    reason = "reproduces Mosquitto's message for negative values"
                )]
                let limit = int_value(name, value)? as u32;
                if limit > 268_435_455 {
                    return Err(format!("Invalid message_size_limit value ({limit})."));
                }
                config.message_size_limit = limit;
            }
            "max_packet_size" => {
                let n = int_value(name, value)?;
                let size = u32::try_from(n)
                    .ok()
                    .filter(|n| (20..=268_435_460).contains(n))
                    .ok_or_else(|| format!("Invalid max_packet_size value ({n})."))?;
                config.max_packet_size = size;
            }
            "max_keepalive" => {
                let n = int_value(name, value)?;
                config.max_keepalive = u16::try_from(n)
                    .ok()
                    .filter(|&n| n >= 10)
                    .ok_or_else(|| format!("Invalid max_keepalive value ({n})."))?;
            }
            "sys_interval" => {
                let n = int_value(name, value)?;
                config.sys_interval =
                    u16::try_from(n).map_err(|_| format!("Invalid sys_interval value ({n})."))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Persistence and what is kept: the file, autosave, expiry of persistent clients,
    /// retained messages, QoS upgrades.
    fn persistence_option(&mut self, config: &mut Config, name: &str, value: &str) -> Known {
        match name {
            "persistent_client_expiration" => {
                let text = string_value(name, value)?;
                config.persistent_client_expiration = Some(expiration(text).ok_or_else(|| {
                    "Invalid persistent_client_expiration duration in configuration.".to_owned()
                })?);
            }
            "persistence" | "retained_persistence" => config.persistence = bool_value(name, value)?,
            "persistence_file" => {
                config.persistence_file =
                    Some(once_in_scope(&config.persistence_file, name, value)?);
            }
            "persistence_location" => {
                config.persistence_location =
                    Some(once_in_scope(&config.persistence_location, name, value)?);
            }
            "autosave_interval" => {
                // Negative means 0: save only at shutdown and on SIGUSR1.
                config.autosave_interval = u32::try_from(int_value(name, value)?).unwrap_or(0);
            }
            "autosave_on_changes" => config.autosave_on_changes = bool_value(name, value)?,
            "persistence_journal" => config.persistence_journal = bool_value(name, value)?,
            "persistence_sync_interval" => {
                // Negative means 0: sync before every acknowledgement.
                config.persistence_sync_interval =
                    u32::try_from(int_value(name, value)?).unwrap_or(0);
            }
            "retain_available" => config.retain_available = bool_value(name, value)?,
            "check_retain_source" => config.check_retain_source = bool_value(name, value)?,
            "memory_limit" => {
                // A C `long`, as Mosquitto reads it.
                let n = culex_compat::number::atol(first_token(name, value)?.as_bytes());
                config.memory_limit =
                    u64::try_from(n).map_err(|_| format!("Invalid memory_limit value ({n})."))?;
            }
            "upgrade_outgoing_qos" => config.upgrade_outgoing_qos = bool_value(name, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Logging and the pid file.
    fn log_option(&mut self, config: &mut Config, name: &str, value: &str) -> Known {
        match name {
            "log_timestamp" => config.log_timestamp = bool_value(name, value)?,
            "log_timestamp_format" => {
                config.log_timestamp_format =
                    Some(once_in_scope(&config.log_timestamp_format, name, value)?);
            }
            "log_dest" => log_dest(config, name, value)?,
            "log_format" => {
                config.log_format = match first_token(name, value)? {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    other => return Err(format!("Invalid log_format value ({other}).")),
                };
            }
            "log_facility" => {
                let n = int_value(name, value)?;
                config.log_facility = Some(
                    u8::try_from(n)
                        .ok()
                        .filter(|&n| n <= 7)
                        .ok_or_else(|| format!("Invalid log_facility value ({n})."))?,
                );
            }
            "pid_file" => config.pid_file = Some(once_in_scope(&config.pid_file, name, value)?),
            "user" => config.user = Some(once_in_scope(&config.user, name, value)?),
            "connection_messages" => config.connection_messages = bool_value(name, value)?,
            "log_type" => {
                let token = first_token(name, value)?;
                let types = LogTypes::from_name(token)
                    .ok_or_else(|| format!("Invalid log_type value ({token})."))?;
                config.log_types = Some(if types == LogTypes::NONE {
                    LogTypes::NONE
                } else {
                    config.log_types.unwrap_or(LogTypes::NONE).union(types)
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A security option: global, or with `per_listener_settings true` the current
    /// listener's (the default listener's before the first `listener`). A security file may
    /// be given once per scope.
    fn security_option(
        &mut self,
        config: &mut Config,
        name: &str,
        value: &str,
    ) -> Result<(), String> {
        config.security_options_given = true;
        if config.per_listener_settings {
            match name {
                "allow_anonymous" => {
                    current_listener(config).security.allow_anonymous =
                        Some(bool_value(name, value)?);
                }
                "allow_zero_length_clientid" => {
                    current_listener(config).security.allow_zero_length_clientid =
                        Some(bool_value(name, value)?);
                }
                "auto_id_prefix" => {
                    let prefix = self.unique_string(name, value)?;
                    current_listener(config).security.auto_id_prefix = Some(prefix);
                }
                "password_file" => {
                    let security = &mut current_listener(config).security;
                    security.password_file =
                        Some(once_in_scope(&security.password_file, name, value)?);
                }
                _ => {
                    let security = &mut current_listener(config).security;
                    security.acl_file = Some(once_in_scope(&security.acl_file, name, value)?);
                }
            }
            return Ok(());
        }
        match name {
            "allow_anonymous" => config.allow_anonymous = Some(bool_value(name, value)?),
            "allow_zero_length_clientid" => {
                config.allow_zero_length_clientid = bool_value(name, value)?;
            }
            "auto_id_prefix" => config.auto_id_prefix = self.unique_string(name, value)?,
            // Global security files: a second one anywhere in the file is a duplicate.
            "password_file" => {
                config.password_file = Some(once_in_scope(&config.password_file, name, value)?);
            }
            _ => config.acl_file = Some(once_in_scope(&config.acl_file, name, value)?),
        }
        Ok(())
    }

    /// A string option: the trimmed rest of the line, non-empty, at most once per scope.
    fn unique_string(&mut self, name: &str, value: &str) -> Result<String, String> {
        let text = string_value(name, value)?;
        if !self.seen_strings.insert(name.to_owned()) {
            return Err(format!("Duplicate {name} value in configuration."));
        }
        Ok(text.to_owned())
    }
}

/// Why an option no group applies is refused: a Mosquitto option culex cannot honour (TLS
/// options rustls lacks) or an unknown name.
fn refusal(name: &str) -> String {
    if let Some((_, why)) = RUSTLS_CANNOT.iter().find(|(option, _)| *option == name) {
        return format!("The \"{name}\" option is not supported by culex's TLS (rustls): {why}");
    }
    format!("Unknown configuration variable \"{name}\".")
}

/// TLS options that rustls cannot honour, and why: refused rather than ignored.
const RUSTLS_CANNOT: &[(&str, &str)] = &[
    ("dhparamfile", "rustls offers no finite-field Diffie-Hellman key exchange."),
    ("psk_file", "rustls has no pre-shared-key cipher suites."),
    ("psk_hint", "rustls has no pre-shared-key cipher suites."),
    ("tls_engine", "OpenSSL engines do not exist in rustls."),
    ("tls_engine_kpass_sha1", "OpenSSL engines do not exist in rustls."),
    ("tls_keyform", "keys are read from PEM files only."),
];

/// One `log_dest` line: destinations add up, `none` clears them, one `file` at most.
fn log_dest(config: &mut Config, name: &str, value: &str) -> Result<(), String> {
    let kind = first_token(name, value)?;
    let dest = config.log_dest.get_or_insert_with(LogDest::default);
    match kind {
        "stdout" => dest.stdout = true,
        "stderr" => dest.stderr = true,
        "none" => *dest = LogDest::default(),
        "syslog" => dest.syslog = true,
        "topic" => dest.topic = true,
        "file" => {
            let path = value
                .trim_matches([' ', '\t'])
                .strip_prefix("file")
                .unwrap_or("")
                .trim_matches([' ', '\t']);
            if path.is_empty() {
                return Err("Empty \"log_dest file\" value in configuration.".to_owned());
            }
            if dest.file.is_some() {
                return Err("Duplicate \"log_dest file\" value.".to_owned());
            }
            dest.file = Some(path.to_owned());
        }
        "dlt" => dest.dlt = true,
        other => return Err(format!("Invalid log_dest value ({other}).")),
    }
    Ok(())
}

/// A string option that may appear once in its scope (`current`: what the scope has so far).
fn once_in_scope(current: &Option<String>, name: &str, value: &str) -> Result<String, String> {
    let text = string_value(name, value)?;
    if current.is_some() {
        return Err(format!("Duplicate {name} value in configuration."));
    }
    Ok(text.to_owned())
}

/// The listener that listener options apply to: the last `listener`, or the default one.
fn current_listener(config: &mut Config) -> &mut ListenerConfig {
    match config.listeners.last_mut() {
        Some(listener) => listener,
        None => &mut config.default_listener,
    }
}

/// The rest of the line, trimmed; empty is an error.
pub(super) fn string_value<'v>(name: &str, value: &'v str) -> Result<&'v str, String> {
    let trimmed = value.trim_matches([' ', '\t']);
    if trimmed.is_empty() {
        return Err(format!("Empty {name} value in configuration."));
    }
    Ok(trimmed)
}

/// A host or interface name without a trailing comment: the text before the first `#` that
/// follows a blank (`bind_address 0.0.0.0 # all interfaces`). A name holds no blanks, so such a
/// `#` cannot be part of it; Mosquitto 2.0.11 reads the whole rest of the line and fails to
/// resolve it.
fn before_comment(value: &str) -> &str {
    let cut = value
        .char_indices()
        .find(|&(i, c)| c == '#' && i > 0 && value[..i].ends_with([' ', '\t']))
        .map_or(value.len(), |(i, _)| i);
    &value[..cut]
}

/// The next space-separated token; missing is an error.
pub(super) fn first_token<'v>(name: &str, value: &'v str) -> Result<&'v str, String> {
    value
        .split(' ')
        .find(|t| !t.is_empty())
        .ok_or_else(|| format!("Empty {name} value in configuration."))
}

/// A boolean: `true`/`1`/`false`/`0`.
pub(super) fn bool_value(name: &str, value: &str) -> Result<bool, String> {
    match first_token(name, value)? {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("Invalid {name} value ({other}).")),
    }
}

/// An integer read like C's `atoi` from the next token.
fn int_value(name: &str, value: &str) -> Result<i64, String> {
    first_token(name, value).map(atoi)
}

/// C's `atoi` of a configuration token ([`culex_compat::number::atoi`]), widened to `i64` for
/// the range checks.
pub(crate) fn atoi(text: &str) -> i64 {
    i64::from(culex_compat::number::atoi(text.as_bytes()))
}

/// A port number 1..=65535.
fn valid_port(n: i64) -> Result<u16, String> {
    u16::try_from(n).ok().filter(|&p| p != 0).ok_or_else(|| format!("Invalid port value ({n})."))
}

/// `persistent_client_expiration`: a positive number followed by s (Mosquitto 2.1), h, d, w,
/// m (30 days) or y.
fn expiration(text: &str) -> Option<Duration> {
    const HOUR: u64 = 3600;
    let unit = text.chars().last()?;
    let count = atoi(&text[..text.len() - unit.len_utf8()]);
    let seconds = match unit {
        's' => 1,
        'h' => HOUR,
        'd' => 24 * HOUR,
        'w' => 24 * 7 * HOUR,
        'm' => 24 * 30 * HOUR,
        'y' => 24 * 365 * HOUR,
        _ => return None,
    };
    let count = u64::try_from(count).ok().filter(|&c| c > 0)?;
    Some(Duration::from_secs(count.saturating_mul(seconds)))
}

#[cfg(test)]
mod steps {
    //! Each step of [`State::apply`] on its own.

    use super::*;

    fn state() -> State {
        State { seen_strings: HashSet::new(), port_seen: false, plugin: None }
    }

    #[test]
    fn each_group_knows_only_its_own_options() {
        let mut config = Config::default();
        let mut state = state();
        assert_eq!(state.listener_option(&mut config, "listener", "1884"), Ok(true));
        assert_eq!(config.listeners.len(), 1);
        assert_eq!(state.listener_option(&mut config, "max_keepalive", "60"), Ok(false));
        assert_eq!(state.limit_option(&mut config, "max_keepalive", "60"), Ok(true));
        assert_eq!(config.max_keepalive, 60);
        assert_eq!(state.tls_option(&mut config, "cafile", "a"), Ok(true));
        assert_eq!(
            state.tls_option(&mut config, "cafile", "b"),
            Err("Duplicate cafile value in configuration.".to_owned())
        );
        assert_eq!(state.log_option(&mut config, "log_type", "all"), Ok(true));
        assert_eq!(state.persistence_option(&mut config, "persistence", "true"), Ok(true));
        assert_eq!(state.client_option(&mut config, "allow_anonymous", "true"), Ok(true));
        assert_eq!(config.allow_anonymous, Some(true));
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(refusal("nonsense"), "Unknown configuration variable \"nonsense\".");
        assert_eq!(
            refusal("psk_hint"),
            "The \"psk_hint\" option is not supported by culex's TLS (rustls): rustls has no \
             pre-shared-key cipher suites."
        );
    }
}
