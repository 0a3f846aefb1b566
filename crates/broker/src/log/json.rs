//! `log_format json`: a log line as one JSON object, `{"timestamp", "level", "client",
//! "event", "message"}`. The `message` is the line as Mosquitto words it; `event` (a stable
//! short name of the line's kind) and `client` (the id the line is about, when it names one)
//! are read back from that wording by the rules below, so every call site keeps logging plain
//! text and the two formats cannot drift apart.

use serde::Serialize;

use crate::config::LogTypes;

/// One line of `log_format json`.
#[derive(Debug, Serialize)]
struct JsonLine<'a> {
    /// RFC 3339 in UTC with milliseconds; absent under `log_timestamp false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    level: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    event: &'static str,
    message: &'a str,
}

/// The JSON line (ending in `\n`) for `text` logged at `kind`; `millis` is the time in
/// milliseconds since the Unix epoch, `None` without timestamps.
pub(super) fn line(kind: LogTypes, text: &str, millis: Option<u64>) -> String {
    let (event, client) = classify(kind, text);
    let line = JsonLine {
        timestamp: millis.map(rfc3339),
        level: kind.name(),
        client,
        event,
        message: text,
    };
    // A struct of strings always serialises.
    let mut json = serde_json::to_string(&line).unwrap_or_default();
    json.push('\n');
    json
}

/// How a rule finds the client id in the rest of a line after its prefix.
type ClientOf = fn(&str) -> Option<&str>;

/// Lines that start with a fixed prefix: the prefix, the event and where the client id is.
/// The first matching prefix wins.
const PREFIXES: &[(&str, &str, ClientOf)] = &[
    ("New client connected from ", "client_connected", after_as),
    ("New bridge connected from ", "bridge_connected", after_as),
    ("New connection from ", "connection_opened", none),
    ("Client connection from ", "connection_refused", none),
    ("Received CONNACK on connection ", "bridge", none),
    ("Received ", "packet_received", after_from),
    ("Sending ", "packet_sent", after_to),
    ("Denied PUBLISH from ", "publish_denied", before_paren),
    ("Dropped too large PUBLISH from ", "publish_dropped", before_paren),
    ("Outgoing messages are being dropped for client ", "queue_full", before_period),
    ("Expiring client ", "session_expired", before_due),
    ("Bad client ", "protocol_error", before_sending),
    ("Too high QoS in PUBLISH from ", "protocol_error", before_comma),
    ("Will message specified", "will", none),
    ("No will message specified.", "will", none),
    ("Opening ", "listener_opened", none),
    ("Saving in-memory database", "persistence_saved", none),
    ("Config loaded from ", "config_loaded", none),
    ("Reloading config.", "config_reloaded", none),
    ("Connecting bridge ", "bridge", none),
    ("Bridge ", "bridge", none),
    ("Error connecting bridge ", "bridge", none),
    ("Error", "error", none),
    ("Warning", "warning", none),
];

/// The endings of the `Client <id> …` lines: a disconnect, or a take-over.
const CLIENT_ENDINGS: &[(&str, &str)] = &[
    (" already connected, closing old connection.", "session_taken_over"),
    (" has exceeded timeout, disconnecting.", "client_disconnected"),
    (" closed its connection.", "client_disconnected"),
    (" disconnected", "client_disconnected"),
];

/// The line's event, and the client id it names if any.
fn classify(kind: LogTypes, text: &str) -> (&'static str, Option<&str>) {
    // `log_type subscribe` / `unsubscribe`: `<id> <qos> <filter>`, `<id> <filter>`.
    for (types, event) in
        [(LogTypes::SUBSCRIBE, "subscribe"), (LogTypes::UNSUBSCRIBE, "unsubscribe")]
    {
        if kind == types {
            return (event, text.split(' ').next());
        }
    }
    if let Some(rest) = text.strip_prefix("Client ") {
        if let Some((ending, event)) = CLIENT_ENDINGS
            .iter()
            .find_map(|&(ending, event)| rest.find(ending).map(|at| (at, event)))
        {
            return (event, Some(&rest[..ending]));
        }
    }
    for &(prefix, event, client_of) in PREFIXES {
        if let Some(rest) = text.strip_prefix(prefix) {
            return (event, client_of(rest).filter(|id| !id.is_empty()));
        }
    }
    for (ending, event) in
        [(" starting", "starting"), (" running", "running"), (" terminating", "terminating")]
    {
        if text.ends_with(ending) {
            return (event, None);
        }
    }
    ("other", None)
}

fn none(_: &str) -> Option<&str> {
    None
}

/// `<address> as <id> (p2, …)`.
fn after_as(rest: &str) -> Option<&str> {
    rest.split_once(" as ").map(|(_, id)| before_paren(id).unwrap_or(id))
}

/// `<PACKET> from <id>[ (…)]`.
fn after_from(rest: &str) -> Option<&str> {
    rest.split_once(" from ").map(|(_, id)| before_paren(id).unwrap_or(id))
}

/// `<PACKET> to <id>[ (…)]`.
fn after_to(rest: &str) -> Option<&str> {
    rest.split_once(" to ").map(|(_, id)| before_paren(id).unwrap_or(id))
}

fn before_paren(rest: &str) -> Option<&str> {
    rest.split_once(" (").map(|(id, _)| id)
}

fn before_period(rest: &str) -> Option<&str> {
    rest.strip_suffix('.')
}

fn before_due(rest: &str) -> Option<&str> {
    rest.strip_suffix(" due to timeout.")
}

fn before_sending(rest: &str) -> Option<&str> {
    rest.split_once(" sending ").map(|(id, _)| id)
}

fn before_comma(rest: &str) -> Option<&str> {
    rest.strip_suffix(", disconnecting.")
}

/// `millis` since the Unix epoch as RFC 3339 in UTC: `2026-12-06T02:30:00.123Z`.
fn rfc3339(millis: u64) -> String {
    let (secs, millis) = (millis / 1000, millis % 1000);
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = culex_compat::time::civil_from_days(i64::try_from(days).unwrap_or(0));
    let (hour, minute, second) = (day_secs / 3600, day_secs / 60 % 60, day_secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        for (millis, expected) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_123, "2000-02-29T00:00:00.123Z"),
            (1_796_524_200_000, "2026-12-06T02:30:00.000Z"),
            (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),
        ] {
            assert_eq!(rfc3339(millis), expected);
        }
    }

    #[test]
    fn events_and_clients_come_from_mosquittos_wording() {
        use LogTypes as T;
        for (kind, text, event, client) in [
            (
                T::NOTICE,
                "New client connected from 127.0.0.1:5000 as sensor 1 (p2, c1, k60, u'bob').",
                "client_connected",
                Some("sensor 1"),
            ),
            (
                T::NOTICE,
                "New connection from 127.0.0.1:5000 on port 1883.",
                "connection_opened",
                None,
            ),
            (T::NOTICE, "Client sensor-1 disconnected.", "client_disconnected", Some("sensor-1")),
            (T::NOTICE, "Client s closed its connection.", "client_disconnected", Some("s")),
            (
                T::NOTICE,
                "Client s has exceeded timeout, disconnecting.",
                "client_disconnected",
                Some("s"),
            ),
            (
                T::NOTICE,
                "Client s disconnected: Connection reset.",
                "client_disconnected",
                Some("s"),
            ),
            (
                T::NOTICE,
                "Client <unknown> disconnected, not authorised.",
                "client_disconnected",
                Some("<unknown>"),
            ),
            (
                T::NOTICE,
                "Client s already connected, closing old connection.",
                "session_taken_over",
                Some("s"),
            ),
            (
                T::DEBUG,
                "Received PUBLISH from s (d0, q1, r0, m1, 'a/b', ... (5 bytes))",
                "packet_received",
                Some("s"),
            ),
            (T::DEBUG, "Received PINGREQ from s", "packet_received", Some("s")),
            (T::DEBUG, "Sending CONNACK to s (0, 0)", "packet_sent", Some("s")),
            (
                T::DEBUG,
                "Denied PUBLISH from s (d0, q0, r0, m0, 'a', ... (1 bytes))",
                "publish_denied",
                Some("s"),
            ),
            (
                T::NOTICE,
                "Outgoing messages are being dropped for client s.",
                "queue_full",
                Some("s"),
            ),
            (T::NOTICE, "Expiring client s due to timeout.", "session_expired", Some("s")),
            (T::SUBSCRIBE, "s 1 a/#", "subscribe", Some("s")),
            (T::UNSUBSCRIBE, "s a/#", "unsubscribe", Some("s")),
            (T::DEBUG, "Will message specified (5 bytes) (r0, q1).", "will", None),
            (T::INFORMATION, "culex version 1.0.0 starting", "starting", None),
            (T::INFORMATION, "culex version 1.0.0 running", "running", None),
            (T::INFORMATION, "Opening ipv4 listen socket on port 1883.", "listener_opened", None),
            (T::ERROR, "Error: Unable to write pid file.", "error", None),
            (T::WARNING, "Warning: Persistence file is empty.", "warning", None),
            (T::NOTICE, "Something new.", "other", None),
        ] {
            assert_eq!(classify(kind, text), (event, client), "{text}");
        }
    }

    #[test]
    fn a_line_is_one_json_object() {
        let json = line(LogTypes::NOTICE, "Client \"x\" disconnected.", Some(1_796_524_200_000));
        assert_eq!(
            json,
            "{\"timestamp\":\"2026-12-06T02:30:00.000Z\",\"level\":\"notice\",\"client\":\"\\\"x\\\"\",\
             \"event\":\"client_disconnected\",\"message\":\"Client \\\"x\\\" disconnected.\"}\n"
        );
        let json = line(LogTypes::INFORMATION, "culex version 1 running", None);
        assert_eq!(
            json,
            "{\"level\":\"information\",\"event\":\"running\",\"message\":\"culex version 1 running\"}\n"
        );
    }
}
