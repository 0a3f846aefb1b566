//! Mosquitto 2.1's additions to the clients (`culex_pub`, `culex_sub`, `culex_passwd`), which
//! Debian's 2.0.11 tools lack: each is checked against culex's broker and, where the broker
//! side exists in 2.0.11, against Debian's `mosquitto` too.

use std::process::Command;

use crate::support::{BrokerProcess, COMMAND_DEADLINE, our_bin, reference_tool, run};

/// Both brokers the clients are checked against, each with `extra` configuration.
fn brokers(extra: &str) -> [(&'static str, BrokerProcess); 2] {
    [
        ("culex", BrokerProcess::culex(extra)),
        (
            "mosquitto",
            BrokerProcess::start_with(
                &reference_tool("mosquitto"),
                1,
                |ports| format!("listener {} 127.0.0.1\nallow_anonymous true\n{extra}\n", ports[0]),
                &[],
            ),
        ),
    ]
}

/// Runs `culex_pub` on `port` with `args`, and asserts it succeeded.
fn publish(port: u16, args: &[&str]) {
    let done = run(
        Command::new(our_bin("culex_pub"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "culex_pub {args:?}: {}", done.stderr);
}

#[test]
fn session_expiry_switches_to_mqtt_5_unless_a_later_v_says_otherwise() {
    for (name, broker) in brokers("") {
        publish(broker.port, &["-i", "x-only", "-x", "30", "-t", "a", "-m", "b"]);
        publish(broker.port, &["-i", "x-then-v", "-x", "30", "-V", "311", "-t", "a", "-m", "b"]);
        let v5 = broker.wait_for_log(|line| line.contains(" as x-only "));
        assert!(v5.contains("(p5, c1, k60"), "{name}: {v5}");
        let v311 = broker.wait_for_log(|line| line.contains(" as x-then-v "));
        assert!(v311.contains("(p2, c1, k60"), "{name}: {v311}");
    }
}
