//! culex's options of a `protocol http_api` listener: `http_api_token_file` (the bearer
//! tokens it accepts) and `http_api_admin` (who may disconnect clients through it), and the
//! checks that tie them and `http_dir` to such a listener.

use super::admission::listener;
use super::parse::string_value;
use super::{Config, ListenerConfig, Protocol};

/// Applies `name value` when `name` is one of this module's options; `None` otherwise.
pub(super) fn apply(config: &mut Config, name: &str, value: &str) -> Option<Result<(), String>> {
    let result = match name {
        "http_api_token_file" => listener(config, name).and_then(|listener| {
            let path = string_value(name, value)?;
            if listener.http_api_token_file.is_some() {
                return Err(format!("Duplicate {name} value in configuration."));
            }
            listener.http_api_token_file = Some(path.to_owned());
            Ok(())
        }),
        "http_api_admin" => listener(config, name).and_then(|listener| {
            listener.http_api_admins.push(string_value(name, value)?.to_owned());
            Ok(())
        }),
        _ => return None,
    };
    Some(result)
}

/// Once the file is read: the HTTP API options sit on a `protocol http_api` listener, and such
/// a listener has no `bind_interface` or `enable_proxy_protocol` (culex would not honour them
/// there). `socket_domain` applies to it; the MQTT options (`max_qos`, `mount_point`, …) do
/// nothing on it, as in Mosquitto 2.1.
pub(super) fn check(listener: &ListenerConfig) -> Result<(), String> {
    let port = listener.port;
    if listener.protocol == Protocol::HttpApi {
        let unsupported = [
            ("bind_interface", listener.bind_interface.is_some()),
            ("enable_proxy_protocol", listener.proxy_protocol.is_some()),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{name} does not apply to an http_api listener (listener on port {port})."
            ));
        }
    } else {
        let misplaced = [
            ("http_api_token_file", listener.http_api_token_file.is_some()),
            ("http_api_admin", !listener.http_api_admins.is_empty()),
        ];
        if let Some((name, _)) = misplaced.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{name} needs protocol http_api on the same listener (listener on port {port})."
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Protocol, parse};

    #[test]
    fn http_api_options_belong_to_an_http_api_listener() {
        let config = parse(
            "listener 8080\nprotocol http_api\nhttp_api_token_file /t\nhttp_api_admin a\n\
             http_api_admin b\n",
            "c",
        )
        .unwrap();
        let listener = &config.listeners[0];
        assert_eq!(listener.protocol, Protocol::HttpApi);
        assert_eq!(listener.http_api_token_file.as_deref(), Some("/t"));
        assert_eq!(listener.http_api_admins, ["a", "b"]);
        let refused = [
            (
                "http_api_admin a\n",
                "The 'http_api_admin' option requires a listener to be defined first.",
            ),
            (
                "listener 1883\nhttp_api_admin a\n",
                "http_api_admin needs protocol http_api on the same listener (listener on port 1883).",
            ),
            (
                "listener 8080\nprotocol http_api\nhttp_api_token_file /a\nhttp_api_token_file /b\n",
                "Duplicate http_api_token_file value in configuration.",
            ),
            (
                "listener 8080\nprotocol http_api\nbind_interface lo\n",
                "bind_interface does not apply to an http_api listener (listener on port 8080).",
            ),
            (
                "listener 0 /tmp/s\nprotocol http_api\n",
                "protocol http_api does not apply to the Unix socket listener /tmp/s: it serves plain MQTT only.",
            ),
        ];
        for (text, message) in refused {
            assert_eq!(parse(text, "c").unwrap_err().message, message, "{text:?}");
        }
    }
}
