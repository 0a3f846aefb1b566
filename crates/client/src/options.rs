//! Turns the options as typed ([`ConnectArgs`]) into validated settings for one connection:
//! where to connect, how (TLS, proxy), and what CONNECT carries. Runs Mosquitto's run-time
//! setup checks with its messages (`Error: Invalid id.`, `Error: Problem setting …`).

use std::path::PathBuf;

use bytes::Bytes;
use mqtt_codec::{MqttString, Properties, ProtocolVersion, QoS, TopicName, Will};

use crate::args::{ConnectArgs, PropertyCommand, PropertyId, PropertyValue, Protocol, ProxyUrl};

/// Where the broker is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP host name or address and port.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket (`--unix`, or `-p 0` with `-h path`).
    Unix(PathBuf),
}

/// The highest and lowest TLS version allowed by `--tls-version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.2 or 1.3 (the default; also `tlsv1.2` and `tlsv1.1`, which only set a minimum).
    Tls12AndUp,
    /// TLS 1.3 only (`tlsv1.3`).
    Tls13Only,
}

/// TLS settings for rustls, checked for existence of files but not loaded yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// `--cafile`.
    pub cafile: Option<PathBuf>,
    /// `--capath`.
    pub capath: Option<PathBuf>,
    /// Trust the OS certificates (`--tls-use-os-certs`, `mqtts://`, or port 8883 alone).
    pub use_os_certs: bool,
    /// `--cert` and `--key`.
    pub client_auth: Option<(PathBuf, PathBuf)>,
    /// `--insecure`: skip the host-name check (the chain is still verified).
    pub insecure: bool,
    /// `--tls-alpn`.
    pub alpn: Option<String>,
    /// `--tls-version`.
    pub versions: TlsVersions,
    /// `--ciphers`, as typed (OpenSSL names).
    pub ciphers: Option<String>,
    /// The exact suites to offer, of both TLS versions, already chosen by the caller (the
    /// broker's bridges map `bridge_ciphers` with the listener's table); when set, `ciphers`
    /// is not consulted.
    pub suites: Option<Vec<rustls::CipherSuite>>,
    /// `--tls-keylog`: append the TLS secrets to this file (NSS key-log format).
    pub keylog: Option<PathBuf>,
}

/// A run-time setup error: printed as is (unless `--quiet`), exit status 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct SetupError {
    /// The text with its trailing newline.
    pub text: String,
}

impl SetupError {
    fn new(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }
}

/// Everything needed to open one connection and send its CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Broker address.
    pub endpoint: Endpoint,
    /// `-A`: local address to bind.
    pub bind_address: Option<String>,
    /// `--nodelay`.
    pub nodelay: bool,
    /// TCP socket options (keepalive, user timeout); none from [`resolve`](Self::resolve).
    pub tcp: crate::tcp::TcpOptions,
    /// `--proxy`.
    pub proxy: Option<ProxyUrl>,
    /// `--ws`: MQTT over WebSockets (on top of TLS, when enabled).
    pub websockets: bool,
    /// TLS, when enabled.
    pub tls: Option<TlsSettings>,
    /// Protocol version.
    pub protocol: ProtocolVersion,
    /// Client id sent (`None` = empty).
    pub client_id: Option<String>,
    /// Clean session / clean start.
    pub clean_start: bool,
    /// Keep-alive seconds.
    pub keep_alive: u16,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
    /// Will message.
    pub will: Option<Will>,
    /// CONNECT properties (v5), including the `-x` session expiry interval.
    pub connect_properties: Properties,
    /// `-M`.
    pub max_inflight: u16,
    /// The `-D` properties of the other commands.
    pub raw_properties: crate::args::RawProperties,
    /// Answer a refused CONNACK with DISCONNECT, as mosquitto_sub does (mosquitto_pub does
    /// not). `false` from [`resolve`](Self::resolve).
    pub disconnect_on_refusal: bool,
    /// Set Mosquitto's bridge bit in the CONNECT's protocol level (`try_private`; 3.x only).
    /// `false` from [`resolve`](Self::resolve).
    pub bridge: bool,
}

/// A client id for MQTT 3.1 clients without `-i`: `mosq-` and 18 random alphanumerics.
fn random_v31_id() -> String {
    use rand::Rng;
    use rand::distributions::Alphanumeric;
    let suffix: String =
        rand::thread_rng().sample_iter(&Alphanumeric).take(18).map(char::from).collect();
    format!("mosq-{suffix}")
}

/// The Receive Maximum a v5 CONNECT announces unless `-D connect receive-maximum` sets one:
/// libmosquitto's default window for incoming QoS 1 and 2 messages, which Mosquitto's tools
/// always send. It is written after the `-D` properties, as theirs is.
const RECEIVE_MAXIMUM: u16 = 20;

impl ConnectOptions {
    /// Resolves checked arguments (after [`ConnectArgs::check`]) into connection settings.
    ///
    /// # Errors
    /// Mosquitto's run-time setup errors, and a clear error for options rustls cannot honour.
    pub fn resolve(args: &ConnectArgs) -> Result<Self, SetupError> {
        let protocol = match args.protocol {
            Protocol::V31 => ProtocolVersion::V3_1,
            Protocol::V311 => ProtocolVersion::V3_1_1,
            Protocol::V5 => ProtocolVersion::V5,
        };
        let client_id = match (&args.id_prefix, &args.id) {
            (Some(prefix), _) => Some(format!("{prefix}{}", std::process::id())),
            (None, Some(id)) => Some(id.clone()),
            (None, None) if protocol == ProtocolVersion::V3_1 => Some(random_v31_id()),
            (None, None) => None,
        };
        if (!args.clean_session && client_id.is_none()) || client_id.as_deref() == Some("") {
            return Err(SetupError::new("Error: Invalid id.\n"));
        }
        let will = match &args.will.topic {
            Some(topic) => Some(Will {
                topic: TopicName::new(topic)
                    .map_err(|_| SetupError::new("Error: Problem setting will.\n"))?,
                payload: Bytes::from(args.will.payload.clone().unwrap_or_default()),
                qos: QoS::from_u8(args.will.qos).unwrap_or_default(),
                retain: args.will.retain,
                properties: properties_for(args, PropertyCommand::Will)
                    .map_err(|_| SetupError::new("Error: Problem setting will.\n"))?,
            }),
            None => None,
        };
        if protocol != ProtocolVersion::V5 && args.password.is_some() && args.username.is_none() {
            return Err(SetupError::new("Error: Problem setting username and/or password.\n"));
        }
        let port = args.effective_port();
        let tls = resolve_tls(args, port)?;
        let endpoint = if port == 0 {
            Endpoint::Unix(PathBuf::from(args.host.clone().unwrap_or_else(|| "localhost".into())))
        } else {
            Endpoint::Tcp {
                host: args.host.clone().unwrap_or_else(|| "localhost".into()),
                port: u16::try_from(port).map_err(|_| {
                    SetupError::new("Unable to connect (Invalid function arguments provided.).\n")
                })?,
            }
        };
        let mut connect_properties =
            properties_for(args, PropertyCommand::Connect).map_err(|message| {
                SetupError::new(format!("Error in CONNECT properties: {message}\n"))
            })?;
        if protocol == ProtocolVersion::V5 {
            if let Some(interval) = args.session_expiry.filter(|interval| *interval > 0) {
                connect_properties.session_expiry_interval = Some(interval);
            }
            connect_properties.receive_maximum.get_or_insert(RECEIVE_MAXIMUM);
        }
        Ok(Self {
            endpoint,
            bind_address: args.bind_address.clone(),
            nodelay: args.nodelay,
            tcp: crate::tcp::TcpOptions::default(),
            proxy: args.proxy.clone(),
            websockets: args.websockets,
            tls,
            protocol,
            client_id,
            clean_start: args.clean_session,
            keep_alive: args.keepalive,
            username: args.username.clone(),
            password: args.password.clone().map(Bytes::from),
            will,
            connect_properties,
            max_inflight: args.max_inflight,
            raw_properties: args.properties.clone(),
            disconnect_on_refusal: false,
            bridge: false,
        })
    }

    /// The `-D` properties given for `command` (PUBLISH, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT).
    /// Empty for v3 connections.
    ///
    /// # Errors
    /// A string property that is not valid MQTT UTF-8 (or a response topic with wildcards).
    pub fn properties(&self, command: PropertyCommand) -> Result<Properties, String> {
        if self.protocol != ProtocolVersion::V5 {
            return Ok(Properties::default());
        }
        convert(self.raw_properties.for_command(command))
    }
}

fn properties_for(args: &ConnectArgs, command: PropertyCommand) -> Result<Properties, String> {
    if args.protocol != Protocol::V5 {
        return Ok(Properties::default());
    }
    convert(args.properties.for_command(command))
}

/// Builds codec properties from `-D` values, to be written in the order given (as
/// Mosquitto's tools write them).
fn convert<'a>(
    list: impl Iterator<Item = (PropertyId, &'a PropertyValue)>,
) -> Result<Properties, String> {
    let mut props = Properties::default();
    let mut order = Vec::new();
    for (id, value) in list {
        order.push(id);
        let string = |bytes: &[u8]| -> Result<MqttString, String> {
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| MqttString::new(text).ok())
                .ok_or_else(|| "Malformed UTF-8".to_owned())
        };
        match (id, value) {
            (PropertyId::UserProperty, PropertyValue::Pair(key, value)) => {
                props.user_properties.push((string(key)?, string(value)?));
            }
            (_, PropertyValue::Number(number)) => set_number(&mut props, id, *number),
            (_, PropertyValue::Bytes(bytes)) => match id {
                PropertyId::CorrelationData => {
                    props.correlation_data = Some(Bytes::from(bytes.clone()))
                }
                PropertyId::AuthenticationData => {
                    props.authentication_data = Some(Bytes::from(bytes.clone()));
                }
                PropertyId::ContentType => props.content_type = Some(string(bytes)?),
                PropertyId::ResponseTopic => {
                    let topic = string(bytes)?;
                    props.response_topic = Some(
                        TopicName::new(topic.as_str())
                            .map_err(|_| "Invalid response topic".to_owned())?,
                    );
                }
                PropertyId::AuthenticationMethod => {
                    props.authentication_method = Some(string(bytes)?);
                }
                PropertyId::ReasonString => props.reason_string = Some(string(bytes)?),
                PropertyId::ServerReference => props.server_reference = Some(string(bytes)?),
                _ => {}
            },
            _ => {}
        }
    }
    props.order = order.into_iter().collect();
    Ok(props)
}

/// Stores a numeric property; the parser has already range-checked it for its type.
fn set_number(props: &mut Properties, id: PropertyId, number: u32) {
    let byte = u8::try_from(number).unwrap_or(u8::MAX);
    let short = u16::try_from(number).unwrap_or(u16::MAX);
    match id {
        PropertyId::PayloadFormatIndicator => props.payload_format_indicator = Some(byte),
        PropertyId::MessageExpiryInterval => props.message_expiry_interval = Some(number),
        PropertyId::SubscriptionIdentifier => props.subscription_identifiers.push(number),
        PropertyId::SessionExpiryInterval => props.session_expiry_interval = Some(number),
        PropertyId::RequestProblemInformation => props.request_problem_information = Some(byte),
        PropertyId::WillDelayInterval => props.will_delay_interval = Some(number),
        PropertyId::RequestResponseInformation => props.request_response_information = Some(byte),
        PropertyId::ReceiveMaximum => props.receive_maximum = Some(short),
        PropertyId::TopicAliasMaximum => props.topic_alias_maximum = Some(short),
        PropertyId::TopicAlias => props.topic_alias = Some(short),
        PropertyId::MaximumPacketSize => props.maximum_packet_size = Some(number),
        _ => {}
    }
}

/// Decides whether TLS is on and checks what can be checked before connecting.
fn resolve_tls(args: &ConnectArgs, port: i32) -> Result<Option<TlsSettings>, SetupError> {
    let tls = &args.tls;
    if tls.disabled {
        return Ok(None);
    }
    let versions = match tls.version.as_deref() {
        None | Some("tlsv1.2" | "tlsv1.1") => TlsVersions::Tls12AndUp,
        Some("tlsv1.3") => TlsVersions::Tls13Only,
        Some(_) => {
            return Err(SetupError::new(
                "Error: Problem setting TLS options, check the options are valid.\n",
            ));
        }
    };
    if tls.engine.is_some() {
        return Err(SetupError::new(
            "Error: --tls-engine is not supported: culex uses rustls, which has no OpenSSL engines.\n",
        ));
    }
    if let Some(keyform) = &tls.keyform {
        if keyform != "pem" {
            return Err(SetupError::new(format!(
                "Error: --keyform {keyform} is not supported: culex reads PEM keys only (OpenSSL engines are unavailable).\n"
            )));
        }
    }
    if tls.psk.is_some() {
        return Err(SetupError::new(
            "Error: --psk is not supported: culex uses rustls, which has no TLS-PSK.\n",
        ));
    }
    let explicit_ca = tls.cafile.is_some() || tls.capath.is_some();
    let enabled = explicit_ca || tls.use_os_certs || (port == 8883);
    if !enabled {
        return Ok(None);
    }
    for path in [&tls.cafile, &tls.capath, &tls.cert, &tls.key].into_iter().flatten() {
        if std::fs::metadata(path).is_err() {
            return Err(SetupError::new("Error: Problem setting TLS options: File not found.\n"));
        }
    }
    Ok(Some(TlsSettings {
        cafile: tls.cafile.as_ref().map(PathBuf::from),
        capath: tls.capath.as_ref().map(PathBuf::from),
        use_os_certs: tls.use_os_certs || !explicit_ca,
        client_auth: tls.cert.as_ref().zip(tls.key.as_ref()).map(|(c, k)| (c.into(), k.into())),
        insecure: tls.insecure,
        alpn: tls.alpn.clone(),
        versions,
        ciphers: tls.ciphers.clone(),
        suites: None,
        keylog: tls.keylog.as_ref().map(PathBuf::from),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Parsed, parse_each};

    fn resolve(list: &[&str]) -> Result<ConnectOptions, SetupError> {
        let mut args = parse_each(list, |args: &mut ConnectArgs, option, cursor| {
            assert_eq!(args.parse_option(option, cursor).unwrap(), Parsed::Done);
            Ok(())
        })
        .unwrap();
        args.check().unwrap();
        ConnectOptions::resolve(&args)
    }

    #[test]
    fn client_ids_follow_mosquitto() {
        assert_eq!(resolve(&[]).unwrap().client_id, None);
        assert_eq!(resolve(&["-V", "5"]).unwrap().client_id, None);
        let id = resolve(&["-V", "31"]).unwrap().client_id.unwrap();
        assert!(id.starts_with("mosq-") && id.len() == 23, "{id}");
        let id = resolve(&["-I", "pre-"]).unwrap().client_id.unwrap();
        assert_eq!(id, format!("pre-{}", std::process::id()));
        assert_eq!(
            resolve(&["-c", "-V", "5", "-x", "10"]).unwrap_err().text,
            "Error: Invalid id.\n"
        );
    }

    #[test]
    fn unix_socket_is_port_zero() {
        let options = resolve(&["--unix", "/tmp/s.sock"]).unwrap();
        assert_eq!(options.endpoint, Endpoint::Unix("/tmp/s.sock".into()));
        let options = resolve(&["--unix", "/tmp/s.sock", "-p", "1884"]).unwrap();
        assert_eq!(options.endpoint, Endpoint::Tcp { host: "/tmp/s.sock".into(), port: 1884 });
    }

    #[test]
    fn v3_password_needs_a_username() {
        let err = resolve(&["-P", "x"]).unwrap_err();
        assert_eq!(err.text, "Error: Problem setting username and/or password.\n");
        assert!(resolve(&["-P", "x", "-V", "5"]).is_ok());
    }

    #[test]
    fn tls_is_switched_on_by_ca_options_or_port_8883() {
        assert!(resolve(&[]).unwrap().tls.is_none());
        assert!(resolve(&["-p", "8883"]).unwrap().tls.unwrap().use_os_certs);
        assert_eq!(
            resolve(&["--cafile", "/nonexistent"]).unwrap_err().text,
            "Error: Problem setting TLS options: File not found.\n"
        );
        assert!(
            resolve(&["--tls-version", "tlsv1.0"]).unwrap_err().text.contains("check the options")
        );
        assert!(
            resolve(&["--psk", "00", "--psk-identity", "x"]).unwrap_err().text.contains("TLS-PSK")
        );
    }

    #[test]
    fn no_tls_cancels_every_tls_option() {
        for list in [
            &["--no-tls", "--cafile", "/missing", "--cert", "/c", "--key", "/k"][..],
            &["--psk", "00", "--psk-identity", "i", "--no-tls"],
            &["--capath", "/missing", "--no-tls", "--tls-version", "bad"],
            &["-p", "8883", "--tls-use-os-certs", "--no-tls", "--tls-engine", "e"],
        ] {
            assert_eq!(resolve(list).unwrap().tls, None, "{list:?}");
        }
    }

    #[test]
    fn session_expiry_goes_into_connect_properties_for_v5_only() {
        let options = resolve(&["-V", "5", "-x", "30"]).unwrap();
        assert_eq!(options.connect_properties.session_expiry_interval, Some(30));
        let v311 = resolve(&["-x", "30", "-V", "311"]).unwrap();
        assert_eq!(v311.connect_properties, Properties::default());
    }
}
