//! `-L mqtt(s)://[user[:password]@]host[:port]/topic`, split the way Mosquitto splits it.

use std::ffi::OsStr;

use super::{ArgError, atoi};

/// The parts of a `-L` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BrokerUrl {
    /// Host name or address.
    pub(crate) host: String,
    /// Port: from the URL, else 1883 (`mqtt`) or 8883 (`mqtts`). Not range-checked here.
    pub(crate) port: i32,
    /// `mqtts://`: use TLS with the OS certificates.
    pub(crate) tls: bool,
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
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let (rest, port, tls) = if lower.starts_with("mqtt://") {
        (&url[7..], 1883, false)
    } else if lower.starts_with("mqtts://") {
        (&url[8..], 8883, true)
    } else {
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
    Ok(BrokerUrl { host: host.to_owned(), port, tls, username, password, topic: topic.to_owned() })
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
    fn defaults_and_errors() {
        let url = parse(OsStr::new("mqtt://host/t")).unwrap();
        assert_eq!((url.port, url.tls, url.username), (1883, false, None));
        assert_eq!(
            parse(OsStr::new("mqtt://host")).unwrap_err().text,
            "Error: Invalid URL for -L argument specified - topic missing.\n"
        );
        assert_eq!(
            parse(OsStr::new("ws://host/t")).unwrap_err().text,
            "Error: unsupported URL scheme.\n\n"
        );
    }
}
