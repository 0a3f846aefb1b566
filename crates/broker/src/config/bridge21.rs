//! The bridge options Mosquitto 2.1 added (`bridge_receive_maximum`,
//! `bridge_session_expiry_interval`, `bridge_max_topic_alias`, `bridge_tls_use_os_certs`,
//! `bridge_tcp_keepalive`, `bridge_tcp_user_timeout`, `bridge_reload_type`), read with 2.1's
//! rules and messages:
//! integers as `strtol(…, 0)` (so `0x10` is 16) and option names quoted. Mosquitto 2.0.11 has
//! none of them, so 2.1 is the only behaviour to follow.

use culex_client::tcp::TcpKeepalive;

use super::{BridgeConfig, ReloadType};

/// Mosquitto 2.1's default `bridge_max_topic_alias`.
pub(super) const DEFAULT_MAX_TOPIC_ALIAS: u16 = 10;

/// The options this module reads.
pub(super) const NAMES: [&str; 7] = [
    "bridge_receive_maximum",
    "bridge_session_expiry_interval",
    "bridge_max_topic_alias",
    "bridge_tls_use_os_certs",
    "bridge_tcp_keepalive",
    "bridge_tcp_user_timeout",
    "bridge_reload_type",
];

/// Applies one of [`NAMES`] to `bridge` (the current `connection`, if any).
pub(super) fn apply(
    bridge: Option<&mut BridgeConfig>,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let Some(bridge) = bridge else {
        return Err(format!("The '{name}' option requires a bridge to be defined first."));
    };
    let mut tokens = value.split([' ', '\t']).filter(|t| !t.is_empty());
    match name {
        "bridge_receive_maximum" => {
            let n = int(name, tokens.next())?;
            if n <= 0 {
                return Err("bridge_receive_maximum must be greater than 0.".to_owned());
            }
            let n = u16::try_from(n)
                .map_err(|_| "bridge_receive_maximum must be lower than 65535.".to_owned())?;
            bridge.receive_maximum = Some(n);
        }
        "bridge_session_expiry_interval" => {
            let n = int(name, tokens.next())?;
            bridge.session_expiry_interval = u32::try_from(n)
                .map_err(|_| "bridge_session_expiry_interval must not be negative.".to_owned())?;
        }
        "bridge_max_topic_alias" => {
            let n = int(name, tokens.next())?;
            bridge.max_topic_alias = u16::try_from(n)
                .map_err(|_| "bridge_max_topic_alias must be > 0 and <= 65535.".to_owned())?;
        }
        "bridge_tls_use_os_certs" => {
            bridge.tls.use_os_certs = match tokens.next() {
                Some("true" | "1") => true,
                Some("false" | "0") => false,
                Some(other) => return Err(format!("Invalid '{name}' value ({other}).")),
                None => return Err(empty(name)),
            };
        }
        "bridge_tcp_keepalive" => {
            let mut field = |internal: &str, what: &str| {
                let n = int(internal, tokens.next())?;
                u32::try_from(n)
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("invalid TCP keepalive {what} value."))
            };
            let idle = field("bridge_tcp_keepalive_idle", "idle")?;
            let interval = field("bridge_tcp_keepalive_interval", "interval")?;
            let count = field("bridge_tcp_keepalive_counter", "counter")?;
            bridge.tcp_keepalive = Some(TcpKeepalive { idle, interval, count });
        }
        "bridge_reload_type" => {
            bridge.reload_type = match tokens.next() {
                Some("lazy") => ReloadType::Lazy,
                Some("immediate") => ReloadType::Immediate,
                Some(other) => {
                    return Err(format!("Invalid '{name}' value in configuration ({other})."));
                }
                None => return Err(empty(name)),
            };
        }
        _ => {
            let n = int(name, tokens.next())?;
            bridge.tcp_user_timeout =
                Some(u32::try_from(n).map_err(|_| "invalid TCP user timeout value.".to_owned())?);
        }
    }
    Ok(())
}

fn empty(name: &str) -> String {
    format!("Empty '{name}' value in configuration.")
}

/// Mosquitto 2.1's integer: C's `strtol(text, …, 0)` over the whole token (decimal, `0x` hex
/// or `0` octal, with a sign), within C's `int`.
fn int(name: &str, token: Option<&str>) -> Result<i64, String> {
    let text = token.ok_or_else(|| empty(name))?;
    let not_a_number = || format!("'{name}' value not a number.");
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) =
        if let Some(hex) = unsigned.strip_prefix("0x").or_else(|| unsigned.strip_prefix("0X")) {
            (16, hex)
        } else if unsigned.len() > 1 && unsigned.starts_with('0') {
            (8, &unsigned[1..])
        } else {
            (10, unsigned)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(not_a_number());
    }
    let out_of_range = || format!("'{name}' value out of range.");
    let magnitude = i64::from_str_radix(digits, radix).map_err(|_| out_of_range())?;
    let n = if negative { -magnitude } else { magnitude };
    if i32::try_from(n).is_err() {
        return Err(out_of_range());
    }
    Ok(n)
}
