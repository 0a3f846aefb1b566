//! culex's options of a `protocol http_api` listener: `http_api_token_file` (the bearer
//! tokens it accepts) and `http_api_admin` (who may disconnect clients through it), and the
//! checks that tie them and `http_dir` to such a listener.

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

/// The latest `listener` section: these options need one.
fn listener<'c>(config: &'c mut Config, name: &str) -> Result<&'c mut ListenerConfig, String> {
    config
        .listeners
        .last_mut()
        .ok_or_else(|| format!("The '{name}' option requires a listener to be defined first."))
}

/// Once the file is read: the HTTP API options sit on a `protocol http_api` listener, and
/// such a listener is a TCP one.
pub(super) fn check(listener: &ListenerConfig) -> Result<(), String> {
    let port = listener.port;
    if listener.protocol != Protocol::HttpApi {
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
