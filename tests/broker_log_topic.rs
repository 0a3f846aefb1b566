//! `log_dest topic` in culex and Debian's Mosquitto 2.0.11: the log lines (not the debug
//! ones) published on `$SYS/broker/log/<level>` at QoS 2, not retained, with the line as
//! printed as payload.

use std::path::Path;

use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, our_bin, reference_client, reference_tool, run,
};

/// What a subscriber to `$SYS/broker/log/#` receives from `program` while a client connects,
/// subscribes, unsubscribes and leaves and the broker reloads its configuration: `topic qos
/// retain payload`, with the timestamp and the client's port masked.
fn published_log(program: &Path) -> Vec<String> {
    let broker = BrokerProcess::start_with(
        program,
        1,
        |ports| {
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\nlog_type all\nlog_dest stderr\n\
                 log_dest topic\n",
                ports[0]
            )
        },
        &[],
    );
    let sub = Background::spawn(reference_client("mosquitto_sub", broker.port).args([
        "-i",
        "logsub",
        "-q",
        "2",
        "-F",
        "%t q%q r%r %p",
        "-t",
        "$SYS/broker/log/#",
    ]));
    broker.wait_for_log(|line| line == "Sending SUBACK to logsub");
    let done = run(
        reference_client("mosquitto_sub", broker.port)
            .args(["-i", "u1", "-t", "x", "-U", "y", "-E"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "{}", done.stderr);
    broker.signal("HUP");
    let lines = sub.wait_until("Reloading config.", |lines| {
        lines.iter().any(|line| line.ends_with("Reloading config."))
    });
    let port = format!("on port {}.", broker.port);
    lines
        .iter()
        // Whether the subscriber hears of its own subscription is a race in both brokers.
        .filter(|line| !line.ends_with(" logsub 2 $SYS/broker/log/#"))
        .map(|line| {
            let (head, rest) = line.split_once(" r0 ").expect("topic qos retain payload");
            let (_, text) = rest.split_once(": ").expect("timestamp");
            let text = text.replace(&port, "on port PORT.");
            // Under load Mosquitto may see the socket close before it reads the client's
            // DISCONNECT, and logs that instead: the same leaving, for this comparison.
            let text = text.replace("Client u1 closed its connection.", "Client u1 disconnected.");
            let text = match text.split_once("127.0.0.1:") {
                Some((before, after)) => {
                    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                    format!("{before}127.0.0.1:N{}", &after[digits..])
                }
                None => text,
            };
            format!("{head} r0 T: {text}")
        })
        .collect()
}

#[test]
fn log_dest_topic_publishes_on_sys_broker_log_like_mosquitto() {
    let ours = published_log(&our_bin("culex"));
    let theirs = published_log(&reference_tool("mosquitto"));
    assert_eq!(ours, theirs);
    assert_eq!(
        ours,
        [
            "$SYS/broker/log/N q2 r0 T: New connection from 127.0.0.1:N on port PORT.",
            "$SYS/broker/log/N q2 r0 T: New client connected from 127.0.0.1:N as u1 (p2, c1, k60).",
            "$SYS/broker/log/M/subscribe q2 r0 T: u1 0 x",
            "$SYS/broker/log/M/unsubscribe q2 r0 T: u1 y",
            "$SYS/broker/log/N q2 r0 T: Client u1 disconnected.",
            "$SYS/broker/log/I q2 r0 T: Reloading config.",
        ]
    );
}
