//! `$SYS` topics with `sys_interval 1`: Debian's `mosquitto_sub` subscribed to `$SYS/#` gets
//! the same topics, in the same formats, from culex as from Mosquitto 2.0.11 (values differ,
//! so topic sets are compared, not values), and `#` does not match them.

use std::collections::BTreeSet;
use std::process::Command;

use mqtt_core::SYS_LOAD_COUNTERS;

use crate::broker_tools::{against_both, mosquitto_sub};
use crate::support::{Background, BrokerProcess, COMMAND_DEADLINE, reference_tool, run};

against_both!(
    config = "sys_interval 1";
    sys_topics_are_retained_and_updated,
);

/// The topic of a `-v` line and its payload (one topic has a space in its name).
fn split(line: &str) -> (&str, &str) {
    let retained = "$SYS/broker/retained messages/count";
    let at = if line.starts_with(retained) { retained.len() } else { line.find(' ').unwrap_or(0) };
    (&line[..at], line[at..].trim_start())
}

/// Every `$SYS` topic culex publishes. Mosquitto's Debian build also has `heap/current` and
/// `heap/maximum` (memory tracking), which culex leaves out.
fn expected_topics() -> BTreeSet<String> {
    let mut topics: Vec<String> = [
        "version",
        "uptime",
        "clients/total",
        "clients/maximum",
        "clients/inactive",
        "clients/disconnected",
        "clients/active",
        "clients/connected",
        "clients/expired",
        "messages/stored",
        "store/messages/count",
        "store/messages/bytes",
        "subscriptions/count",
        "shared_subscriptions/count",
        "retained messages/count",
        "messages/received",
        "messages/sent",
        "publish/messages/dropped",
        "publish/messages/received",
        "publish/messages/sent",
        "bytes/received",
        "bytes/sent",
        "publish/bytes/received",
        "publish/bytes/sent",
    ]
    .iter()
    .map(|topic| (*topic).to_owned())
    .collect();
    for name in SYS_LOAD_COUNTERS {
        for window in ["1min", "5min", "15min"] {
            topics.push(format!("load/{name}/{window}"));
        }
    }
    topics.into_iter().map(|topic| format!("$SYS/broker/{topic}")).collect()
}

fn sys_topics_are_retained_and_updated(broker: &BrokerProcess) {
    // Subscribed to everything but `$SYS`: it must see only the message published at the end.
    let everything = Background::spawn(mosquitto_sub(broker).args(["-t", "#", "-v", "-C", "1"]));
    // The retained copies (about 50), then updates every 2 s (sys_interval + 1, as 2.0.11).
    let done =
        run(mosquitto_sub(broker).args(["-t", "$SYS/#", "-v", "-C", "75"]), COMMAND_DEADLINE);
    assert_eq!(done.code(), 0, "mosquitto_sub failed: {}", done.stderr);
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 75, "{lines:#?}");

    let mut seen = BTreeSet::new();
    let mut uptimes = Vec::new();
    for line in &lines {
        let (topic, payload) = split(line);
        let name = topic.strip_prefix("$SYS/broker/").unwrap_or_else(|| panic!("{line}"));
        if name.starts_with("heap/") {
            continue; // Mosquitto's memory-tracking build only
        }
        seen.insert(topic.to_owned());
        let well_formed = match name {
            "version" => {
                payload.starts_with("culex version ") || payload == "mosquitto version 2.0.11"
            }
            "uptime" => payload.strip_suffix(" seconds").is_some_and(|n| n.parse::<u64>().is_ok()),
            load if load.starts_with("load/") => payload
                .split_once('.')
                .is_some_and(|(int, frac)| int.parse::<u64>().is_ok() && frac.len() == 2),
            "clients/disconnected" | "clients/inactive" => payload.parse::<i64>().is_ok(),
            _ => payload.parse::<u64>().is_ok(),
        };
        assert!(well_formed, "{line}");
        if name == "uptime" {
            uptimes.push(payload.to_owned());
        }
    }
    assert_eq!(seen, expected_topics(), "{lines:#?}");
    assert!(uptimes.len() >= 2, "{uptimes:?}");

    let publish = Command::new(reference_tool("mosquitto_pub"))
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-t", "plain", "-m", "x"])
        .status()
        .expect("running mosquitto_pub");
    assert!(publish.success());
    assert_eq!(everything.wait_for_lines(1), ["plain x"], "`#` must not match `$SYS/…`");
}
