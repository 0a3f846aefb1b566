//! `--proxy socks5h://[user[:password]@]host[:port]`: parsing and percent-decoding.
//!
//! Mosquitto 2.0.11 decodes `%40` as `:`; we decode it as `@`, as its documentation says.

use super::ArgError;

/// A SOCKS5 proxy to reach the broker through (host names are resolved by the proxy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyUrl {
    /// Proxy host.
    pub host: String,
    /// Proxy port, 1..=65535 (default 1080).
    pub port: u16,
    /// User name for the SOCKS5 user/password method.
    pub username: Option<String>,
    /// Password for the SOCKS5 user/password method.
    pub password: Option<String>,
}

impl ProxyUrl {
    /// Parses a `--proxy` value.
    ///
    /// # Errors
    /// Mosquitto's messages for an unsupported scheme, an empty host or a bad port; a clear
    /// message for a bad `%xx` escape (Mosquitto prints none).
    pub fn parse(url: &str) -> Result<Self, ArgError> {
        let Some(rest) = url.strip_prefix("socks5h://") else {
            return Err(ArgError::usage(format!("Error: Unsupported proxy protocol: {url}\n")));
        };
        let (credentials, host_port) = match rest.split_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, rest),
        };
        let (username, password) = match credentials {
            Some(credentials) => {
                let (user, pass) = match credentials.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (credentials, None),
                };
                (Some(decode(user)?), pass.map(decode).transpose()?)
            }
            None => (None, None),
        };
        let (host, port) = match host_port.split_once(':') {
            Some((host, port)) => {
                let port = super::atoi(std::ffi::OsStr::new(port));
                let port = u16::try_from(port).ok().filter(|p| *p >= 1).ok_or_else(|| {
                    ArgError::usage(format!("Error: Invalid proxy port {port}\n"))
                })?;
                (host, port)
            }
            None => (host_port, 1080),
        };
        if host.is_empty() {
            return Err(ArgError::usage("Error: Invalid proxy.\n"));
        }
        Ok(Self { host: host.to_owned(), port, username, password })
    }
}

/// Undoes the `%25` (`%`), `%3A` (`:`) and `%40` (`@`) escapes; any other escape is an error.
fn decode(text: &str) -> Result<String, ArgError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find('%') {
        out.push_str(&rest[..index]);
        let escape = rest.get(index..index + 3).unwrap_or(&rest[index..]);
        let decoded = match escape.to_ascii_lowercase().as_str() {
            "%25" => '%',
            "%3a" => ':',
            "%40" => '@',
            _ => {
                return Err(ArgError::usage(format!(
                    "Error: Invalid escape '{escape}' in proxy URL: only %25, %3A and %40 are supported.\n"
                )));
            }
        };
        out.push(decoded);
        rest = &rest[index + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_percent_decoded_with_40_as_at() {
        let proxy = ProxyUrl::parse("socks5h://us%40er:p%3a%25ss@proxy:1081").unwrap();
        assert_eq!(proxy.username.as_deref(), Some("us@er"));
        assert_eq!(proxy.password.as_deref(), Some("p:%ss"));
        assert_eq!((proxy.host.as_str(), proxy.port), ("proxy", 1081));
    }

    #[test]
    fn errors_match_mosquitto() {
        assert_eq!(
            ProxyUrl::parse("http://x").unwrap_err().text,
            "Error: Unsupported proxy protocol: http://x\n"
        );
        assert_eq!(ProxyUrl::parse("socks5h://").unwrap_err().text, "Error: Invalid proxy.\n");
        assert_eq!(
            ProxyUrl::parse("socks5h://h:0").unwrap_err().text,
            "Error: Invalid proxy port 0\n"
        );
        assert_eq!(ProxyUrl::parse("socks5h://h").unwrap().port, 1080);
        assert!(ProxyUrl::parse("socks5h://u%41@h").is_err());
    }
}
