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

/// Runs `culex_pub` with `args` (after `-h 127.0.0.1`); its exit code and stderr.
fn culex_pub(args: &[&str]) -> (i32, String) {
    let mut command = Command::new(our_bin("culex_pub"));
    let done = run(command.args(["-h", "127.0.0.1"]).args(args), COMMAND_DEADLINE);
    (done.code(), done.stderr)
}

/// Runs `culex_pub` on `port` with `args`, and asserts it succeeded.
fn publish(port: u16, args: &[&str]) {
    let port = port.to_string();
    let (code, stderr) = culex_pub(&[&["-p", &port][..], args].concat());
    assert_eq!(code, 0, "culex_pub {args:?}: {stderr}");
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

#[test]
fn no_tls_cancels_the_tls_options_given_before_it() {
    for (name, broker) in brokers("") {
        let port = broker.port.to_string();
        let url = format!("mqtts://127.0.0.1:{port}/no-tls");
        let tls_options: [&[&str]; 2] = [&["-p", &port, "--cafile", "/missing"], &["-L", &url]];
        for options in tls_options {
            let (code, _) = culex_pub(&[options, &["-m", "x", "-t", "t"]].concat());
            assert_ne!(code, 0, "{name}: TLS to a plain listener must fail: {options:?}");
            let (code, stderr) =
                culex_pub(&[options, &["--no-tls", "-m", "x", "-t", "t"]].concat());
            assert_eq!(code, 0, "{name} {options:?} --no-tls: {stderr}");
        }
    }
}
