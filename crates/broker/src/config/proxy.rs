//! The PROXY protocol options of a listener (Mosquitto 2.1): `enable_proxy_protocol` and
//! `proxy_protocol_v2_require_tls`, with 2.1's messages (option names quoted, integers read
//! strictly), and the checks of how they fit the listener's other options once the file is read.

use super::{Config, ListenerConfig, ProxyProtocol};

/// Applies a PROXY protocol option to the current listener: `Ok(true)` when `name` is one,
/// `Ok(false)` when it is not. Both options need a `listener` line before them, as in 2.1.
///
/// # Errors
/// 2.1's message for a missing listener or a bad value.
pub(super) fn apply(config: &mut Config, name: &str, value: &str) -> Result<bool, String> {
    if !matches!(name, "enable_proxy_protocol" | "proxy_protocol_v2_require_tls") {
        return Ok(false);
    }
    let Some(listener) = config.listeners.last_mut() else {
        return Err(format!("The '{name}' option requires a listener to be defined first."));
    };
    let token = value
        .split([' ', '\t'])
        .find(|t| !t.is_empty())
        .ok_or_else(|| format!("Empty '{name}' value in configuration."))?;
    if name == "enable_proxy_protocol" {
        let n = culex_compat::number::strtol_whole(token.as_bytes())
            .ok_or_else(|| format!("'{name}' value not a number."))?;
        if i32::try_from(n).is_err() {
            return Err(format!("'{name}' value out of range."));
        }
        listener.proxy_protocol = Some(match n {
            1 => ProxyProtocol::V1,
            2 => ProxyProtocol::V2,
            _ => return Err("enable_proxy_protocol must be 1 or 2.".to_owned()),
        });
    } else {
        listener.proxy_protocol_v2_require_tls = match token {
            "true" | "1" => true,
            "false" | "0" => false,
            other => return Err(format!("Invalid '{name}' value ({other}).")),
        };
    }
    Ok(true)
}

/// Whether `listener` takes its TLS facts from a PROXY v2 header rather than a handshake of
/// its own: then `require_certificate` and `use_identity_as_username` need no `certfile`.
pub(super) fn tls_by_proxy(listener: &ListenerConfig) -> bool {
    listener.proxy_protocol == Some(ProxyProtocol::V2)
}

/// Checks that a listener's PROXY options fit its other options: 2.1's two refusals for
/// `enable_proxy_protocol 2` (its TLS is the proxy's), and culex's for what would otherwise be
/// ignored (`proxy_protocol_v2_require_tls true` without v2).
///
/// # Errors
/// The message of the first misfit.
pub(super) fn check(listener: &ListenerConfig) -> Result<(), String> {
    let port = listener.port;
    if tls_by_proxy(listener) {
        if listener.tls.use_subject_as_username {
            return Err(
                "use_subject_as_username cannot be used with `enable_proxy_protocol 2`.".to_owned()
            );
        }
        if listener.tls.certfile.is_some() || listener.tls.keyfile.is_some() {
            return Err(
                "certfile and keyfile cannot be used with `enable_proxy_protocol 2`.".to_owned()
            );
        }
    } else if listener.proxy_protocol_v2_require_tls {
        return Err(format!(
            "proxy_protocol_v2_require_tls needs enable_proxy_protocol 2 on the same listener \
             (listener on port {port})."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigError, ListenerConfig, ProxyProtocol, parse};

    /// The listeners of `text`, or its error as (line, message).
    fn listeners(text: &str) -> Result<Vec<ListenerConfig>, (usize, String)> {
        parse(text, "proxy.conf")
            .map(|config| config.listeners)
            .map_err(|ConfigError { line, message, .. }| (line, message))
    }

    #[test]
    fn versions_1_and_2_on_the_listener_they_follow() {
        let found = listeners(
            "listener 1883\nenable_proxy_protocol 1\nlistener 1884\nenable_proxy_protocol 0x2\n\
             proxy_protocol_v2_require_tls true\nlistener 1885",
        )
        .unwrap();
        let settings: Vec<_> =
            found.iter().map(|l| (l.proxy_protocol, l.proxy_protocol_v2_require_tls)).collect();
        assert_eq!(
            settings,
            [(Some(ProxyProtocol::V1), false), (Some(ProxyProtocol::V2), true), (None, false)]
        );
    }

    #[test]
    fn values_are_checked_with_mosquitto_2_1_messages_and_the_line() {
        for name in ["enable_proxy_protocol", "proxy_protocol_v2_require_tls"] {
            let message = format!("The '{name}' option requires a listener to be defined first.");
            assert_eq!(listeners(&format!("port 1883\n{name} 1")), Err((2, message)));
        }
        // Each line follows `listener 1883`, so errors are on line 2.
        let table = [
            ("enable_proxy_protocol 0", "enable_proxy_protocol must be 1 or 2."),
            ("enable_proxy_protocol 3", "enable_proxy_protocol must be 1 or 2."),
            ("enable_proxy_protocol", "Empty 'enable_proxy_protocol' value in configuration."),
            ("enable_proxy_protocol 1x", "'enable_proxy_protocol' value not a number."),
            ("enable_proxy_protocol 4294967298", "'enable_proxy_protocol' value out of range."),
            (
                "proxy_protocol_v2_require_tls yes",
                "Invalid 'proxy_protocol_v2_require_tls' value (yes).",
            ),
        ];
        for (line, message) in table {
            let text = format!("listener 1883\n{line}");
            assert_eq!(listeners(&text), Err((2, message.to_owned())), "{text}");
        }
    }

    #[test]
    fn version_2_takes_its_tls_from_the_proxy() {
        // The proxy verified the certificate: no certfile, no CA.
        let found = listeners(
            "listener 1883\nenable_proxy_protocol 2\nrequire_certificate true\n\
             use_identity_as_username true",
        )
        .unwrap();
        assert!(found[0].tls.require_certificate && found[0].tls.use_identity_as_username);
        // Version 1 carries no TLS facts: the listener's own TLS applies, as without PROXY.
        listeners("listener 8883\nenable_proxy_protocol 1\ncertfile /s\nkeyfile /k").unwrap();
        let refused = [
            (
                "listener 1883\nenable_proxy_protocol 2\nuse_subject_as_username true",
                "use_subject_as_username cannot be used with `enable_proxy_protocol 2`.",
            ),
            (
                "listener 1883\nenable_proxy_protocol 2\ncertfile /s\nkeyfile /k",
                "certfile and keyfile cannot be used with `enable_proxy_protocol 2`.",
            ),
            (
                "listener 1883\nkeyfile /k\nenable_proxy_protocol 2",
                "certfile and keyfile cannot be used with `enable_proxy_protocol 2`.",
            ),
            (
                "listener 1883\nenable_proxy_protocol 1\nrequire_certificate true",
                "require_certificate needs certfile and keyfile on the same listener (listener on port 1883 does not use TLS).",
            ),
            (
                "listener 1883\nenable_proxy_protocol 1\nproxy_protocol_v2_require_tls true",
                "proxy_protocol_v2_require_tls needs enable_proxy_protocol 2 on the same listener (listener on port 1883).",
            ),
            (
                "listener 0 /run/b.sock\nenable_proxy_protocol 1",
                "enable_proxy_protocol does not apply to the Unix socket listener /run/b.sock: it serves plain MQTT only.",
            ),
        ];
        for (text, message) in refused {
            assert_eq!(listeners(text), Err((0, message.to_owned())), "{text}");
        }
        // false is the default: nothing to check.
        listeners("listener 1883\nproxy_protocol_v2_require_tls false").unwrap();
    }
}
