//! `-L mqtt(s)://[user[:password]@]host[:port]/topic` (and Mosquitto 2.1's `ws://`, `wss://`),
//! split the way Mosquitto splits it.

use std::ffi::OsStr;

use super::{ArgError, atoi};

/// The parts of a `-L` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BrokerUrl {
    /// Host name or address.
    pub(crate) host: String,
    /// Port: from the URL, else 1883 (`mqtt`, `ws`) or 8883 (`mqtts`, `wss`). Not
    /// range-checked here.
    pub(crate) port: i32,
    /// `mqtts://`, `wss://`: use TLS with the OS certificates.
    pub(crate) tls: bool,
    /// `ws://`, `wss://`: MQTT over WebSockets.
    pub(crate) websockets: bool,
    /// User name before `@`.
    pub(crate) username: Option<String>,
    /// Password after `user:`.
    pub(crate) password: Option<String>,
    /// Everything after the first `/` following the authority.
    pub(crate) topic: String,
}

/// Parses a `-L` value.
pub(crate) fn parse(url: &OsStr) -> Result<BrokerUrl, ArgError> {
    let Some(url) = url.to_str() else {
        return Err(ArgError::usage("Error: Malformed UTF-8 in -L topic argument.\n\n"));
    };
    // Scheme, default port, TLS, WebSockets.
    const SCHEMES: [(&str, i32, bool, bool); 4] = [
        ("mqtt://", 1883, false, false),
        ("mqtts://", 8883, true, false),
        ("ws://", 1883, false, true),
        ("wss://", 8883, true, true),
    ];
    let Some((rest, port, tls, websockets)) =
        SCHEMES.into_iter().find_map(|(scheme, port, tls, websockets)| {
            let head = url.get(..scheme.len())?;
            head.eq_ignore_ascii_case(scheme).then(|| (&url[scheme.len()..], port, tls, websockets))
        })
    else {
        return Err(ArgError::usage("Error: unsupported URL scheme.\n\n"));
    };
    let Some((authority, topic)) = rest.split_once('/') else {
        return Err(ArgError::usage(
            "Error: Invalid URL for -L argument specified - topic missing.\n",
        ));
    };
    let (credentials, host_port) = match authority.split_once('@') {
        Some((credentials, host_port)) => (Some(credentials), host_port),
        None => (None, authority),
    };
    let (username, password) = match credentials {
        Some(credentials) => match credentials.split_once(':') {
            Some((user, pass)) => (Some(user.to_owned()), Some(pass.to_owned())),
            None => (Some(credentials.to_owned()), None),
        },
        None => (None, None),
    };
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, atoi(OsStr::new(port))),
        None => (host_port, port),
    };
    Ok(BrokerUrl {
        host: host.to_owned(),
        port,
        tls,
        websockets,
        username,
        password,
        topic: topic.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url_is_split_into_its_parts() {
        let url = parse(OsStr::new("MQTTS://u:p:q@h:12abc/a/b")).unwrap();
        assert_eq!(url.host, "h");
        assert_eq!(url.port, 12);
        assert!(url.tls);
        assert_eq!(url.username.as_deref(), Some("u"));
        assert_eq!(url.password.as_deref(), Some("p:q"));
        assert_eq!(url.topic, "a/b");
    }

    #[test]
    fn websocket_schemes_keep_the_mqtt_ports() {
        for (url, port, tls) in [("ws://h/t", 1883, false), ("WSS://h/t", 8883, true)] {
            let url = parse(OsStr::new(url)).unwrap();
            assert_eq!(
                (url.port, url.tls, url.websockets, url.topic.as_str()),
                (port, tls, true, "t")
            );
        }
        assert!(!parse(OsStr::new("mqtts://h/t")).unwrap().websockets);
    }

    #[test]
    fn defaults_and_errors() {
        let url = parse(OsStr::new("mqtt://host/t")).unwrap();
        assert_eq!((url.port, url.tls, url.username), (1883, false, None));
        assert_eq!(
            parse(OsStr::new("mqtt://host")).unwrap_err().text,
            "Error: Invalid URL for -L argument specified - topic missing.\n"
        );
        assert_eq!(
            parse(OsStr::new("http://host/t")).unwrap_err().text,
            "Error: unsupported URL scheme.\n\n"
        );
    }
}
