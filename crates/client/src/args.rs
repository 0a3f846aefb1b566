//! The connection options both tools share (Mosquitto's `client_shared`): the raw values as
//! typed, the option-by-option parser with Mosquitto's exact error texts, and the cross-checks
//! that run once every source (rc file, then argv) has been read.
//!
//! Parsing is deliberately hand-written rather than clap: Mosquitto takes the next argv entry
//! as a value whatever it looks like (`-t -m` sets the topic to `-m`), has no `--opt=value`, no
//! bundling, and prints its own error lines; clap cannot be made to reproduce those bytes.

mod properties;
mod proxy;
mod url;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use culex_compat::number;

pub use properties::{PropertyCommand, PropertyId, PropertyValue, RawProperties};
pub use proxy::ProxyUrl;

/// MQTT protocol version selected with `-V` (or implied by `-D`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// MQTT 3.1 (`-V 31`, `-V mqttv31`).
    V31,
    /// MQTT 3.1.1 (`-V 311`, `-V mqttv311`), the default.
    V311,
    /// MQTT 5.0 (`-V 5`, `-V mqttv5`, any `-D`, or `-x`).
    V5,
}

/// Which tool is parsing: decides the rc-file name and the name in the usage hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    /// Our binary's name, e.g. `culex_pub`.
    pub name: &'static str,
    /// The Mosquitto tool whose rc file is read when ours is absent, e.g. `mosquitto_pub`.
    pub mosquitto_name: &'static str,
}

/// A command-line (or rc-file) error, printed to stderr before exiting with status 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct ArgError {
    /// The exact text, with its trailing newline(s); may be empty (Mosquitto prints nothing for
    /// a few errors, only the hint).
    pub text: String,
    /// Whether the `\nUse '<tool> --help' to see usage.\n` hint follows.
    pub hint: bool,
}

impl ArgError {
    /// An error followed by the usage hint.
    pub fn usage(text: impl Into<String>) -> Self {
        Self { text: text.into(), hint: true }
    }

    /// An error printed on its own.
    pub fn plain(text: impl Into<String>) -> Self {
        Self { text: text.into(), hint: false }
    }

    /// The usual shape for a missing value: `Error: <opt> argument given but no <what>
    /// specified.` and a blank line.
    fn missing(option: &str, what: &str) -> Self {
        Self::usage(format!("Error: {option} argument given but no {what} specified.\n\n"))
    }

    /// Writes the error (and hint) exactly as Mosquitto would for `tool`.
    pub fn render(&self, tool: &Tool) -> String {
        if self.hint {
            format!("{}\nUse '{} --help' to see usage.\n", self.text, tool.name)
        } else {
            self.text.clone()
        }
    }
}

/// Walks over argv (or one rc-file line) handing out option values.
#[derive(Debug)]
pub struct ArgCursor<'a> {
    args: &'a [OsString],
    next: usize,
}

impl<'a> ArgCursor<'a> {
    /// A cursor over `args` (without the program name).
    pub fn new(args: &'a [OsString]) -> Self {
        Self { args, next: 0 }
    }

    /// The next option token, if any.
    pub fn next_option(&mut self) -> Option<&'a OsStr> {
        let arg = self.args.get(self.next)?;
        self.next += 1;
        Some(arg)
    }

    /// The value after the current option, or the "argument given but no … specified" error.
    ///
    /// # Errors
    /// When argv ends before the value.
    pub fn value(&mut self, option: &str, what: &str) -> Result<&'a OsStr, ArgError> {
        self.value_or(|| ArgError::missing(option, what))
    }

    /// The value after the current option, or `error()` when argv ends.
    ///
    /// # Errors
    /// `error()` when argv ends before the value.
    pub fn value_or(&mut self, error: impl FnOnce() -> ArgError) -> Result<&'a OsStr, ArgError> {
        let value = self.args.get(self.next).ok_or_else(error)?;
        self.next += 1;
        Ok(value)
    }

    /// How many tokens are left after the current one.
    pub fn remaining(&self) -> usize {
        self.args.len() - self.next
    }
}

/// Will settings from `--will-*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WillArgs {
    /// `--will-topic`, validated as a publish topic.
    pub topic: Option<String>,
    /// `--will-payload`, raw bytes.
    pub payload: Option<Vec<u8>>,
    /// `--will-qos`, 0..=2.
    pub qos: u8,
    /// `--will-retain`.
    pub retain: bool,
}

/// TLS settings, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsArgs {
    /// `--cafile`.
    pub cafile: Option<String>,
    /// `--capath`.
    pub capath: Option<String>,
    /// `--cert`.
    pub cert: Option<String>,
    /// `--key`.
    pub key: Option<String>,
    /// `--ciphers`.
    pub ciphers: Option<String>,
    /// `--insecure`: do not check the server's host name.
    pub insecure: bool,
    /// `--tls-alpn`.
    pub alpn: Option<String>,
    /// `--tls-engine` (OpenSSL only: refused at connect time).
    pub engine: Option<String>,
    /// `--tls-engine-kpass-sha1` (OpenSSL only).
    pub engine_kpass_sha1: Option<String>,
    /// `--keyform`.
    pub keyform: Option<String>,
    /// `--tls-use-os-certs`.
    pub use_os_certs: bool,
    /// `--tls-version`.
    pub version: Option<String>,
    /// `--psk` (rustls has no TLS-PSK: refused at connect time).
    pub psk: Option<String>,
    /// `--psk-identity`.
    pub psk_identity: Option<String>,
    /// `--no-tls` (Mosquitto 2.1): connect without TLS whatever the other TLS options say.
    pub disabled: bool,
    /// `--tls-keylog` (Mosquitto 2.1): the file TLS secrets are appended to.
    pub keylog: Option<String>,
}

/// Every shared option, with Mosquitto's defaults, exactly as typed (numbers already `atoi`-ed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectArgs {
    /// `-h` (or the `--unix` path); `None` means `localhost`.
    pub host: Option<String>,
    /// `-p` (or from `-L`); `None` means 1883, or 8883 with TLS; 0 means `host` is a Unix
    /// socket path (`--unix`).
    pub port: Option<i32>,
    /// `-A`.
    pub bind_address: Option<String>,
    /// `-i`.
    pub id: Option<String>,
    /// `-I`.
    pub id_prefix: Option<String>,
    /// `-k`, 5..=65535.
    pub keepalive: u16,
    /// Cleared by `-c`.
    pub clean_session: bool,
    /// `-x`; `None` until given (Mosquitto's -1 "unset").
    pub session_expiry: Option<u32>,
    /// `-V`, or MQTT 5 implied by `-D` or `-x`.
    pub protocol: Protocol,
    /// `-u`.
    pub username: Option<String>,
    /// `-P`, raw bytes.
    pub password: Option<Vec<u8>>,
    /// `-d`.
    pub debug: bool,
    /// `--quiet`.
    pub quiet: bool,
    /// `--nodelay`.
    pub nodelay: bool,
    /// `-M`.
    pub max_inflight: u16,
    /// `--will-*`.
    pub will: WillArgs,
    /// TLS options.
    pub tls: TlsArgs,
    /// `--proxy`.
    pub proxy: Option<ProxyUrl>,
    /// `--ws`, `-L ws://…` (Mosquitto 2.1): MQTT over WebSockets.
    pub websockets: bool,
    /// `-D` properties, per command.
    pub properties: RawProperties,
}

impl Default for ConnectArgs {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            bind_address: None,
            id: None,
            id_prefix: None,
            keepalive: 60,
            clean_session: true,
            session_expiry: None,
            protocol: Protocol::V311,
            username: None,
            password: None,
            debug: false,
            quiet: false,
            nodelay: false,
            max_inflight: 20,
            will: WillArgs::default(),
            tls: TlsArgs::default(),
            proxy: None,
            websockets: false,
            properties: RawProperties::default(),
        }
    }
}

/// What the shared parser did with one option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not a shared option: the tool should report it as unknown (or handle it itself).
    NotShared,
    /// Consumed and stored.
    Done,
    /// `-L` was parsed; here is its topic (pub replaces its topic, sub adds a subscription).
    UrlTopic(String),
    /// `--help` was given: print the usage and exit 1.
    Help,
    /// `--version` was given: print the version line and exit 1.
    Version,
}

/// C's `atol` of an argument ([`culex_compat::number::atol`]).
pub fn atol(text: &OsStr) -> i64 {
    number::atol(text.as_bytes())
}

/// C's `atoi` of an argument ([`culex_compat::number::atoi`]): values past `i32` saturate.
pub fn atoi(text: &OsStr) -> i32 {
    number::atoi(text.as_bytes())
}

/// C's `atof` of an argument ([`culex_compat::number::atof`]).
pub fn atof(text: &OsStr) -> f64 {
    number::atof(text.as_bytes())
}

/// The value of `-q` (both tools' own option, read the same way): `atoi`, then 0, 1 or 2.
///
/// # Errors
/// The value is missing, or Mosquitto's `Invalid QoS given` for any other number.
pub fn qos_value(cursor: &mut ArgCursor<'_>) -> Result<u8, ArgError> {
    let qos = atoi(cursor.value("-q", "QoS")?);
    u8::try_from(qos)
        .ok()
        .filter(|qos| *qos <= 2)
        .ok_or_else(|| ArgError::usage(format!("Error: Invalid QoS given: {qos}\n")))
}

/// Walks `list` as the tools walk argv, handing each option and the cursor to `parse`, which
/// stores it in a `T` that starts as `T::default()`: the test helper of every option parser.
#[cfg(test)]
pub(crate) fn parse_each<T: Default>(
    list: &[&str],
    mut parse: impl FnMut(&mut T, &OsStr, &mut ArgCursor<'_>) -> Result<(), ArgError>,
) -> Result<T, ArgError> {
    let argv: Vec<OsString> = list.iter().map(OsString::from).collect();
    let mut cursor = ArgCursor::new(&argv);
    let mut parsed = T::default();
    while let Some(option) = cursor.next_option() {
        parse(&mut parsed, option, &mut cursor)?;
    }
    Ok(parsed)
}

/// Converts an argument to text, replacing invalid UTF-8 (used where Mosquitto does not care).
pub fn lossy(text: &OsStr) -> String {
    text.to_string_lossy().into_owned()
}

/// Whether `bytes` is a string Mosquitto accepts (`mosquitto_validate_utf8`): well-formed
/// UTF-8 of at most 65535 bytes with no control characters (U+0000–U+001F, U+007F–U+009F)
/// and no Unicode noncharacters (U+FDD0–U+FDEF, U+xxFFFE, U+xxFFFF).
pub fn is_valid_mqtt_utf8(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    bytes.len() <= 65535
        && text.chars().all(|c| {
            let c = u32::from(c);
            !(c <= 0x1F
                || (0x7F..=0x9F).contains(&c)
                || (0xFDD0..=0xFDEF).contains(&c)
                || c & 0xFFFE == 0xFFFE)
        })
}

/// Whether `topic` is a valid topic to publish to (no wildcards, non-empty).
pub fn is_valid_publish_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#'])
}

/// Whether `filter` is a valid subscription filter: `+` only as a whole level, `#` only as the
/// whole last level, non-empty.
pub fn is_valid_subscription_filter(filter: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    levels.iter().enumerate().all(|(index, level)| match *level {
        "#" => index == last,
        "+" => true,
        other => !other.contains(['+', '#']),
    })
}

/// Parses `-x`: C's `strtol(value, &end, 0)` that must consume everything, `-1`/`∞` meaning
/// "never expires".
fn parse_session_expiry(value: &OsStr) -> Result<u32, ArgError> {
    if value.as_bytes() == "∞".as_bytes() {
        return Ok(u32::MAX);
    }
    let seconds = number::strtol_whole(value.as_bytes())
        .ok_or_else(|| ArgError::usage("Error: session-expiry-interval not a number.\n\n"))?;
    if seconds == -1 {
        Ok(u32::MAX)
    } else {
        u32::try_from(seconds)
            .map_err(|_| ArgError::usage("Error: session-expiry-interval out of range.\n\n"))
    }
}

/// What one group of options in [`ConnectArgs::parse_option`] made of an option:
/// `Ok(None)` when the option is not one of the group's.
type Claimed = Result<Option<Parsed>, ArgError>;

/// One group of options in [`ConnectArgs::parse_option`].
type OptionGroup = fn(&mut ConnectArgs, &str, &mut ArgCursor<'_>) -> Claimed;

impl ConnectArgs {
    /// Parses one shared option `option` (already taken from `cursor`), consuming its values.
    ///
    /// # Errors
    /// Mosquitto's message for a missing or invalid value.
    pub fn parse_option(
        &mut self,
        option: &OsStr,
        cursor: &mut ArgCursor<'_>,
    ) -> Result<Parsed, ArgError> {
        let Some(option) = option.to_str() else { return Ok(Parsed::NotShared) };
        let groups: [OptionGroup; 5] = [
            Self::connection_option,
            Self::session_option,
            Self::tls_option,
            Self::will_option,
            Self::tool_option,
        ];
        for group in groups {
            if let Some(parsed) = group(self, option, cursor)? {
                return Ok(parsed);
            }
        }
        Ok(Parsed::NotShared)
    }

    /// Where to connect: bind address, host and port, Unix socket, `-L` URL, WebSockets, proxy.
    fn connection_option(&mut self, option: &str, cursor: &mut ArgCursor<'_>) -> Claimed {
        match option {
            "-A" => self.bind_address = Some(lossy(cursor.value("-A", "address")?)),
            "-h" | "--host" => self.host = Some(lossy(cursor.value("-h", "host")?)),
            "-p" | "--port" => {
                let port = atoi(cursor.value("-p", "port")?);
                if !(0..=65535).contains(&port) {
                    return Err(ArgError::usage(format!("Error: Invalid port given: {port}\n")));
                }
                self.port = Some(port);
            }
            "--unix" => {
                // Like Mosquitto, a Unix socket is "host = path, port = 0"; a later -h or -p
                // changes that again.
                self.host = Some(lossy(cursor.value("--unix", "socket path")?));
                self.port = Some(0);
            }
            "-L" | "--url" => {
                let parsed = url::parse(cursor.value("-L", "URL")?)?;
                self.host = Some(parsed.host);
                self.port = Some(parsed.port);
                if parsed.tls {
                    self.tls.use_os_certs = true;
                }
                if parsed.websockets {
                    self.websockets = true;
                }
                if let Some(username) = parsed.username {
                    self.username = Some(username);
                }
                if let Some(password) = parsed.password {
                    self.password = Some(password.into_bytes());
                }
                return Ok(Some(Parsed::UrlTopic(parsed.topic)));
            }
            "--ws" => self.websockets = true,
            "--proxy" => {
                self.proxy = Some(ProxyUrl::parse(&lossy(cursor.value("--proxy", "proxy url")?))?);
            }
            _ => return Ok(None),
        }
        Ok(Some(Parsed::Done))
    }

    /// The session: protocol version, client id, keep-alive, clean session and expiry,
    /// credentials, in-flight window, Nagle.
    fn session_option(&mut self, option: &str, cursor: &mut ArgCursor<'_>) -> Claimed {
        match option {
            "-V" | "--protocol-version" => {
                let value = cursor.value("--protocol-version", "version")?;
                self.protocol = match value.as_bytes() {
                    b"mqttv31" | b"31" => Protocol::V31,
                    b"mqttv311" | b"311" => Protocol::V311,
                    b"mqttv5" | b"5" => Protocol::V5,
                    _ => {
                        return Err(ArgError::usage(
                            "Error: Invalid protocol version argument given.\n\n",
                        ));
                    }
                };
            }
            "-i" | "--id" => {
                if self.id_prefix.is_some() {
                    return Err(ArgError::usage(
                        "Error: -i and -I argument cannot be used together.\n\n",
                    ));
                }
                self.id = Some(lossy(cursor.value("-i", "id")?));
            }
            "-I" | "--id-prefix" => {
                if self.id.is_some() {
                    return Err(ArgError::usage(
                        "Error: -i and -I argument cannot be used together.\n\n",
                    ));
                }
                self.id_prefix = Some(lossy(cursor.value("-I", "id prefix")?));
            }
            "-k" | "--keepalive" => {
                let value = atoi(cursor.value("-k", "keepalive")?);
                self.keepalive = u16::try_from(value).ok().filter(|k| *k >= 5).ok_or_else(|| {
                    ArgError::usage(
                        "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n",
                    )
                })?;
            }
            "-c" | "--disable-clean-session" => self.clean_session = false,
            "-x" => {
                let value = cursor.value("-x", "session expiry interval")?;
                self.session_expiry = Some(parse_session_expiry(value)?);
                // Mosquitto 2.1: -x switches to MQTT 5 here; a later -V still wins.
                self.protocol = Protocol::V5;
            }
            "-u" | "--username" => self.username = Some(lossy(cursor.value("-u", "username")?)),
            "-P" | "--pw" => {
                self.password = Some(cursor.value("-P", "password")?.as_bytes().to_vec());
            }
            "-M" => {
                let value = atoi(cursor.value_or(|| {
                    ArgError::usage("Error: -M argument given but max_inflight not specified.\n\n")
                })?);
                self.max_inflight = if value < 1 {
                    return Err(ArgError::usage(
                        "Error: Maximum inflight messages must be greater than 0.\n\n",
                    ));
                } else {
                    u16::try_from(value).unwrap_or(u16::MAX)
                };
            }
            "--nodelay" => self.nodelay = true,
            _ => return Ok(None),
        }
        Ok(Some(Parsed::Done))
    }

    /// A TLS option (`--cafile`, `--cert`, `--psk`, `--tls-*` …).
    fn tls_option(&mut self, option: &str, cursor: &mut ArgCursor<'_>) -> Claimed {
        match option {
            "--cafile" => self.tls.cafile = Some(lossy(cursor.value("--cafile", "file")?)),
            "--capath" => self.tls.capath = Some(lossy(cursor.value("--capath", "directory")?)),
            "--cert" => self.tls.cert = Some(lossy(cursor.value("--cert", "file")?)),
            "--ciphers" => self.tls.ciphers = Some(lossy(cursor.value("--ciphers", "ciphers")?)),
            "--insecure" => self.tls.insecure = true,
            "--no-tls" => self.tls.disabled = true,
            "--key" => self.tls.key = Some(lossy(cursor.value("--key", "file")?)),
            "--keyform" => self.tls.keyform = Some(lossy(cursor.value("--keyform", "keyform")?)),
            "--psk" => self.tls.psk = Some(lossy(cursor.value("--psk", "key")?)),
            "--psk-identity" => {
                self.tls.psk_identity = Some(lossy(cursor.value("--psk-identity", "identity")?));
            }
            "--tls-alpn" => self.tls.alpn = Some(lossy(cursor.value("--tls-alpn", "protocol")?)),
            "--tls-engine" => {
                self.tls.engine = Some(lossy(cursor.value("--tls-engine", "engine_id")?));
            }
            "--tls-engine-kpass-sha1" => {
                self.tls.engine_kpass_sha1 =
                    Some(lossy(cursor.value("--tls-engine-kpass-sha1", "kpass sha1")?));
            }
            "--tls-keylog" => self.tls.keylog = Some(lossy(cursor.value("--tls-keylog", "file")?)),
            "--tls-use-os-certs" => self.tls.use_os_certs = true,
            "--tls-version" => {
                self.tls.version = Some(lossy(cursor.value("--tls-version", "version")?));
            }
            _ => return Ok(None),
        }
        Ok(Some(Parsed::Done))
    }

    /// A `--will-*` option.
    fn will_option(&mut self, option: &str, cursor: &mut ArgCursor<'_>) -> Claimed {
        match option {
            "--will-payload" => {
                let value = cursor.value("--will-payload", "will payload")?;
                self.will.payload = Some(value.as_bytes().to_vec());
            }
            "--will-qos" => {
                let qos = atoi(cursor.value("--will-qos", "will QoS")?);
                self.will.qos = u8::try_from(qos).ok().filter(|q| *q <= 2).ok_or_else(|| {
                    ArgError::usage(format!("Error: Invalid will QoS {qos}.\n\n"))
                })?;
            }
            "--will-retain" => self.will.retain = true,
            "--will-topic" => {
                let value = cursor.value("--will-topic", "will topic")?;
                let Some(topic) =
                    value.to_str().filter(|topic| is_valid_mqtt_utf8(topic.as_bytes()))
                else {
                    return Err(ArgError::usage(
                        "Error: Malformed UTF-8 in --will-topic argument.\n\n",
                    ));
                };
                if !is_valid_publish_topic(topic) {
                    return Err(ArgError::usage(format!(
                        "Error: Invalid will topic '{topic}', does it contain '+' or '#'?\n"
                    )));
                }
                self.will.topic = Some(topic.to_owned());
            }
            _ => return Ok(None),
        }
        Ok(Some(Parsed::Done))
    }

    /// The rest: `-d`, `--quiet`, `-D` properties, `--help`, `--version`.
    fn tool_option(&mut self, option: &str, cursor: &mut ArgCursor<'_>) -> Claimed {
        match option {
            "-d" | "--debug" => self.debug = true,
            "--quiet" => self.quiet = true,
            "-D" | "--property" => {
                self.properties.parse(cursor)?;
                self.protocol = Protocol::V5;
            }
            "--help" => return Ok(Some(Parsed::Help)),
            "--version" => return Ok(Some(Parsed::Version)),
            _ => return Ok(None),
        }
        Ok(Some(Parsed::Done))
    }

    /// The checks Mosquitto runs after every source has been parsed, in its order. On success
    /// the session-expiry interval implied by `-c` (v5) has been filled in.
    ///
    /// # Errors
    /// The first failing check's message.
    pub fn check(&mut self) -> Result<(), ArgError> {
        if self.will.payload.is_some() && self.will.topic.is_none() {
            return Err(ArgError::usage("Error: Will payload given, but no will topic given.\n"));
        }
        if self.will.retain && self.will.topic.is_none() {
            return Err(ArgError::usage("Error: Will retain given, but no will topic given.\n"));
        }
        let tls = &self.tls;
        if tls.cert.is_some() != tls.key.is_some() {
            return Err(ArgError::usage(
                "Error: Both certfile and keyfile must be provided if one of them is set.\n",
            ));
        }
        if tls.keyform.is_some() && tls.key.is_none() {
            return Err(ArgError::usage(
                "Error: If keyform is set, keyfile must be also specified.\n",
            ));
        }
        if tls.engine_kpass_sha1.is_some() && (tls.engine.is_none() || tls.keyform.is_none()) {
            return Err(ArgError::usage(
                "Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided.\n",
            ));
        }
        if tls.psk.is_some() && (tls.cafile.is_some() || tls.capath.is_some()) {
            return Err(ArgError::usage(
                "Error: Only one of --psk or --cafile/--capath may be used at once.\n",
            ));
        }
        if tls.psk.is_some() && tls.psk_identity.is_none() {
            return Err(ArgError::usage("Error: --psk-identity required if --psk used.\n"));
        }
        let has_fixed_id = self.id.is_some() && self.id_prefix.is_none();
        if self.protocol == Protocol::V5 {
            if !self.clean_session && self.session_expiry.is_none() {
                self.session_expiry = Some(u32::MAX);
            }
            if self.session_expiry == Some(u32::MAX) && !has_fixed_id {
                return Err(ArgError::usage(
                    "Error: You must provide a client id if you are using an infinite session expiry interval.\n",
                ));
            }
        } else if !self.clean_session && !has_fixed_id {
            return Err(ArgError::usage(
                "Error: You must provide a client id if you are using the -c option.\n",
            ));
        }
        Ok(())
    }

    /// Mosquitto's property sanity checks (`Error in CONNECT properties: …`), run after
    /// [`check`](Self::check) and the tool's own checks.
    ///
    /// # Errors
    /// The first command whose properties are inconsistent.
    pub fn check_properties(&self) -> Result<(), ArgError> {
        let session_expiry = match self.session_expiry {
            Some(interval) if interval > 0 && self.protocol == Protocol::V5 => Some(interval),
            _ => None,
        };
        self.properties.check_all(session_expiry)
    }

    /// The TCP/TLS port to use: `-p`/`-L`, else 8883 with `--cafile`/`--capath`/`--psk` (unless
    /// `--no-tls`), else 1883.
    pub fn effective_port(&self) -> i32 {
        let tls = &self.tls;
        self.port.unwrap_or(
            if !tls.disabled && (tls.cafile.is_some() || tls.capath.is_some() || tls.psk.is_some())
            {
                8883
            } else {
                1883
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn parse(list: &[&str]) -> Result<ConnectArgs, ArgError> {
        let mut parsed = parse_each(list, |parsed: &mut ConnectArgs, option, cursor| match parsed
            .parse_option(option, cursor)?
        {
            Parsed::NotShared => Err(ArgError::usage("unknown")),
            _ => Ok(()),
        })?;
        parsed.check()?;
        Ok(parsed)
    }

    #[test]
    fn mqtt_utf8_rejects_what_mosquitto_rejects() {
        assert!(is_valid_mqtt_utf8("a/b/ü/€".as_bytes()));
        for bad in [
            &b"a\x01"[..],
            b"\xff",
            b"a\xc2\x85",
            b"\xef\xb7\x90",
            b"\xef\xbf\xbf",
            b"\xf0\x9f\xbf\xbf",
            b"\x7f",
        ] {
            assert!(!is_valid_mqtt_utf8(bad), "{bad:?}");
        }
    }

    #[test]
    fn each_option_group_knows_only_its_own_options() {
        let argv = args(&["host", "1"]);
        let mut cursor = ArgCursor::new(&argv);
        let mut parsed = ConnectArgs::default();
        assert_eq!(parsed.tls_option("-h", &mut cursor), Ok(None));
        assert_eq!(parsed.session_option("-h", &mut cursor), Ok(None));
        assert_eq!(parsed.connection_option("-h", &mut cursor), Ok(Some(Parsed::Done)));
        assert_eq!(parsed.host.as_deref(), Some("host"));
        assert_eq!(parsed.will_option("--will-qos", &mut cursor), Ok(Some(Parsed::Done)));
        assert_eq!(parsed.will.qos, 1);
        assert_eq!(parsed.tool_option("--help", &mut cursor), Ok(Some(Parsed::Help)));
        assert_eq!(parsed.tool_option("--will-qos", &mut cursor), Ok(None));
    }

    #[test]
    fn atoi_behaves_like_c() {
        assert_eq!(atol(OsStr::new("12abc")), 12);
        assert_eq!(atol(OsStr::new("  -7")), -7);
        assert_eq!(atol(OsStr::new("abc")), 0);
        assert_eq!(atol(OsStr::new("+3")), 3);
        assert_eq!(atoi(OsStr::new("99999999999")), i32::MAX);
    }

    #[test]
    fn atof_behaves_like_c() {
        assert_eq!(atof(OsStr::new(" 12.5abc")), 12.5);
        assert_eq!(atof(OsStr::new("0.5s")), 0.5);
        assert_eq!(atof(OsStr::new("1e")), 1.0);
        assert_eq!(atof(OsStr::new("-1")), -1.0);
        assert_eq!(atof(OsStr::new("x")), 0.0);
    }

    #[test]
    fn qos_is_0_1_or_2_read_with_atoi() {
        let qos = |list: &[&str]| qos_value(&mut ArgCursor::new(&args(list)));
        assert_eq!(qos(&["1x"]), Ok(1));
        assert_eq!(qos(&["3"]).unwrap_err().text, "Error: Invalid QoS given: 3\n");
        assert_eq!(qos(&["-1"]).unwrap_err().text, "Error: Invalid QoS given: -1\n");
        assert_eq!(
            qos(&[]).unwrap_err().text,
            "Error: -q argument given but no QoS specified.\n\n"
        );
    }

    #[test]
    fn session_expiry_accepts_strtol_forms() {
        assert_eq!(parse_session_expiry(OsStr::new("0x10")), Ok(16));
        assert_eq!(parse_session_expiry(OsStr::new("010")), Ok(8));
        assert_eq!(parse_session_expiry(OsStr::new("-1")), Ok(u32::MAX));
        assert_eq!(parse_session_expiry(OsStr::new("∞")), Ok(u32::MAX));
        assert_eq!(parse_session_expiry(OsStr::new(" 12")), Ok(12));
        assert!(parse_session_expiry(OsStr::new("12a")).unwrap_err().text.contains("not a number"));
        assert!(parse_session_expiry(OsStr::new("-2")).unwrap_err().text.contains("out of range"));
        assert!(parse_session_expiry(OsStr::new("")).unwrap_err().text.contains("not a number"));
    }

    #[test]
    fn tls_keylog_needs_a_file() {
        assert_eq!(parse(&["--tls-keylog", "k"]).unwrap().tls.keylog.as_deref(), Some("k"));
        assert_eq!(
            parse(&["--tls-keylog"]).unwrap_err().text,
            "Error: --tls-keylog argument given but no file specified.\n\n"
        );
    }

    #[test]
    fn values_are_taken_even_when_they_look_like_options() {
        let parsed = parse(&["-h", "-p"]).unwrap();
        assert_eq!(parsed.host.as_deref(), Some("-p"));
    }

    #[test]
    fn missing_value_message_has_a_blank_line() {
        let err = parse(&["-k"]).unwrap_err();
        assert_eq!(err.text, "Error: -k argument given but no keepalive specified.\n\n");
        let tool = Tool { name: "culex_pub", mosquitto_name: "mosquitto_pub" };
        assert_eq!(
            err.render(&tool),
            "Error: -k argument given but no keepalive specified.\n\n\nUse 'culex_pub --help' to see usage.\n"
        );
    }

    #[test]
    fn i_and_capital_i_exclude_each_other() {
        assert!(
            parse(&["-i", "a", "-I", "b"]).unwrap_err().text.contains("cannot be used together")
        );
        assert!(
            parse(&["-I", "a", "-i", "b"]).unwrap_err().text.contains("cannot be used together")
        );
    }

    #[test]
    fn property_switches_to_v5_until_a_later_v() {
        assert_eq!(
            parse(&["-D", "connect", "receive-maximum", "5"]).unwrap().protocol,
            Protocol::V5
        );
        let parsed = parse(&["-D", "connect", "receive-maximum", "5", "-V", "311"]).unwrap();
        assert_eq!(parsed.protocol, Protocol::V311);
    }

    #[test]
    fn session_expiry_switches_to_v5_until_a_later_v() {
        assert_eq!(parse(&["-x", "30"]).unwrap().protocol, Protocol::V5);
        assert_eq!(parse(&["-V", "311", "-x", "30"]).unwrap().protocol, Protocol::V5);
        assert_eq!(parse(&["-x", "30", "-V", "311"]).unwrap().protocol, Protocol::V311);
    }

    #[test]
    fn clean_session_off_needs_an_id() {
        assert!(parse(&["-c"]).unwrap_err().text.contains("the -c option"));
        assert!(parse(&["-c", "-I", "x"]).unwrap_err().text.contains("the -c option"));
        assert!(parse(&["-c", "-i", "x"]).is_ok());
        let err = parse(&["-c", "-V", "5"]).unwrap_err();
        assert!(err.text.contains("infinite session expiry"));
        let parsed = parse(&["-c", "-V", "5", "-i", "x"]).unwrap();
        assert_eq!(parsed.session_expiry, Some(u32::MAX));
        assert!(parse(&["-c", "-V", "5", "-x", "10"]).is_ok());
    }

    #[test]
    fn port_defaults_follow_tls() {
        assert_eq!(parse(&[]).unwrap().effective_port(), 1883);
        assert_eq!(parse(&["--cafile", "x"]).unwrap().effective_port(), 8883);
        assert_eq!(parse(&["--cafile", "x", "-p", "1"]).unwrap().effective_port(), 1);
        assert_eq!(parse(&["-p", "70000"]).unwrap_err().text, "Error: Invalid port given: 70000\n");
        assert_eq!(parse(&["--cafile", "x", "--no-tls"]).unwrap().effective_port(), 1883);
    }

    #[test]
    fn subscription_filters_follow_the_wildcard_rules() {
        assert!(is_valid_subscription_filter("a/+/#"));
        assert!(is_valid_subscription_filter("#"));
        assert!(!is_valid_subscription_filter("a/#/b"));
        assert!(!is_valid_subscription_filter("a+"));
        assert!(!is_valid_subscription_filter(""));
    }
}
