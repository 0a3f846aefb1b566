//! Mosquitto 2.1's options about who gets in: per listener `accept_protocol_versions`,
//! `listener_allow_anonymous`, `listener_auto_id_prefix` and `websockets_origin`, and the
//! global `global_max_clients` and `global_max_connections`. Their messages are 2.1's, which
//! quote the option's name (`Empty 'x' value in configuration.`), and their integers are read
//! as 2.1 reads them (`strtol` of the whole token, so `0x10` works and `10x` does not).

use mqtt_codec::ProtocolVersion;
use mqtt_core::ProtocolVersions;

use super::parse::{bool_value, first_token, string_value};
use super::{Config, ListenerConfig};

/// The most characters of a `listener_auto_id_prefix` (2.1's limit).
const MAX_PREFIX_LEN: usize = 50;

/// Applies `name value` when `name` is one of this module's options; `None` otherwise.
pub(super) fn apply(config: &mut Config, name: &str, value: &str) -> Option<Result<(), String>> {
    let result = match name {
        "accept_protocol_versions" => listener(config, name).and_then(|listener| {
            listener.accept_protocol_versions = versions(&quoted(name), value)?;
            Ok(())
        }),
        "listener_allow_anonymous" => listener(config, name).and_then(|listener| {
            listener.listener_allow_anonymous = Some(bool_value(&quoted(name), value)?);
            Ok(())
        }),
        "listener_auto_id_prefix" => listener(config, name).and_then(|listener| {
            let prefix = string_value(&quoted(name), value)?;
            if listener.listener_auto_id_prefix.is_some() {
                return Err(format!("Duplicate '{name}' value in configuration."));
            }
            if prefix.chars().count() > MAX_PREFIX_LEN {
                return Err(format!("'{name}' length must be <= {MAX_PREFIX_LEN}."));
            }
            listener.listener_auto_id_prefix = Some(prefix.to_owned());
            Ok(())
        }),
        "websockets_origin" => listener(config, name).and_then(|listener| {
            listener.websockets_origins.push(string_value(&quoted(name), value)?.to_owned());
            Ok(())
        }),
        "global_max_clients" => limit(name, value).map(|n| {
            config.global_max_clients = n;
        }),
        "global_max_connections" => limit(name, value).map(|n| {
            config.global_max_connections = n;
        }),
        _ => return None,
    };
    Some(result)
}

/// The latest `listener` section: these options need one (the implicit default listener does
/// not count).
pub(super) fn listener<'c>(
    config: &'c mut Config,
    name: &str,
) -> Result<&'c mut ListenerConfig, String> {
    config
        .listeners
        .last_mut()
        .ok_or_else(|| format!("The '{name}' option requires a listener to be defined first."))
}

/// An option's name as 2.1 writes it in messages: in single quotes. Given to the value
/// readers of `parse.rs`, it turns their 2.0 messages (`Empty x value in configuration.`,
/// `Invalid x value (v).`) into 2.1's.
fn quoted(name: &str) -> String {
    format!("'{name}'")
}

/// A global limit: an `int`; zero or negative means none.
fn limit(name: &str, value: &str) -> Result<Option<u32>, String> {
    let text = first_token(&quoted(name), value)?;
    let n = culex_compat::number::strtol_whole(text.as_bytes())
        .ok_or_else(|| format!("'{name}' value not a number."))?;
    let n = i32::try_from(n).map_err(|_| format!("'{name}' value out of range."))?;
    Ok(u32::try_from(n).ok().filter(|&n| n > 0))
}

/// `accept_protocol_versions`: `3`, `4` and `5` separated by commas, spaces or tabs; other
/// tokens are ignored, and a version not listed is refused.
fn versions(name: &str, value: &str) -> Result<ProtocolVersions, String> {
    let listed =
        string_value(name, value)?.split([',', ' ', '\t']).filter_map(|token| match token {
            "3" => Some(ProtocolVersion::V3_1),
            "4" => Some(ProtocolVersion::V3_1_1),
            "5" => Some(ProtocolVersion::V5),
            _ => None,
        });
    Ok(listed.fold(ProtocolVersions::NONE, ProtocolVersions::with))
}
