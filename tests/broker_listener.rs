//! `per_listener_settings` and `clientid_prefixes`: configuration rules and what
//! `mosquitto_pub` sees, checked against `culex` and, as the reference, Mosquitto.

use std::path::Path;
use std::process::Command;

use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_client, reference_tool,
    refused_like_mosquitto, run,
};

/// Publishes one message with Debian's `mosquitto_pub` to 127.0.0.1:`port`; returns the exit
/// code and stderr.
fn publish(port: u16, args: &[&str]) -> (i32, String) {
    let done = run(
        reference_client("mosquitto_pub", port).args(["-t", "t", "-m", "m"]).args(args),
        COMMAND_DEADLINE,
    );
    (done.code(), done.stderr)
}

/// A password file with alice/secret, written by Debian's `mosquitto_passwd`.
fn password_file(dir: &TempDir) -> String {
    let path = dir.path().join("passwords");
    let done = run(
        Command::new(reference_tool("mosquitto_passwd"))
            .args(["-b", "-c"])
            .arg(&path)
            .args(["alice", "secret"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "mosquitto_passwd: {}", done.stderr);
    path.display().to_string()
}

#[test]
fn clientid_prefixes_refuses_other_ids_like_mosquitto() {
    let cases: [&[&str]; 5] = [
        &["-i", "plant-1"],
        &["-i", "plant-1", "-V", "5"],
        &["-i", "other"],
        &["-i", "other", "-V", "5"],
        // An id the broker assigns does not have the prefix either.
        &["-V", "5"],
    ];
    let extra = "clientid_prefixes plant-\n";
    let ours = BrokerProcess::culex(extra);
    let theirs = BrokerProcess::mosquitto(extra);
    for args in cases {
        let expected = publish(theirs.port, args);
        assert_eq!(publish(ours.port, args), expected, "{args:?}");
        let code = if args.contains(&"plant-1") {
            0
        } else if args.contains(&"5") {
            135
        } else {
            5
        };
        assert_eq!(expected.0, code, "{args:?}");
    }
    for broker in [&ours, &theirs] {
        broker.wait_for_log(|line| line == "Client <unknown> disconnected, not authorised.");
        let notice = "The 'clientid_prefixes' option is now deprecated and will be removed in a \
                      future version.";
        assert!(broker.log_lines().iter().any(|line| line == notice));
    }
}

#[test]
fn configuration_rules_and_messages_match_mosquitto() {
    let cases = [
        "allow_anonymous true\nper_listener_settings true\nlistener 1884 127.0.0.1\n",
        "listener 1884 127.0.0.1\npassword_file /p\nper_listener_settings true\n",
        "auto_id_prefix a-\nper_listener_settings true\n",
        "allow_zero_length_clientid true\nper_listener_settings true\n",
        "acl_file /a\nper_listener_settings true\n",
        "per_listener_settings maybe\n",
        "per_listener_settings true\npassword_file /a\npassword_file /b\n",
        "per_listener_settings true\nlistener 1884 127.0.0.1\nacl_file /a\nacl_file /b\n",
        "password_file /a\nlistener 1884 127.0.0.1\npassword_file /b\n",
        "clientid_prefixes \n",
        "clientid_prefixes a\nlistener 1884 127.0.0.1\nclientid_prefixes b\n",
    ];
    for (text, code) in cases.iter().zip(refused_like_mosquitto("listener-config", &cases)) {
        assert_eq!(code, 3, "{text:?}");
    }
}

/// Starts `program` with two loopback listeners; returns the broker and both ports.
fn two_listeners(program: &Path, config: impl Fn(u16, u16) -> String) -> (BrokerProcess, u16) {
    let broker = BrokerProcess::start_with(program, 2, |ports| config(ports[0], ports[1]), &[]);
    let second = broker.ports[1];
    (broker, second)
}

/// Starts culex and Mosquitto on the same two-listener `config`, publishes with each of
/// `cases` on each listener, checks culex answers as Mosquitto does, and returns Mosquitto's
/// answers: per case, the first listener's then the second's.
fn publish_on_two_listeners(
    config: impl Fn(u16, u16) -> String + Copy,
    cases: &[&[&str]],
) -> Vec<(i32, String)> {
    let (ours, ours_second) = two_listeners(&our_bin("culex"), config);
    let (theirs, theirs_second) = two_listeners(&reference_tool("mosquitto"), config);
    let mut outcomes = Vec::new();
    for args in cases {
        for (our_port, their_port) in [(ours.port, theirs.port), (ours_second, theirs_second)] {
            let expected = publish(their_port, args);
            assert_eq!(publish(our_port, args), expected, "{args:?} on listener {their_port}");
            outcomes.push(expected);
        }
    }
    outcomes
}

#[test]
fn per_listener_settings_scopes_options_to_the_listener_they_follow() {
    let dir = TempDir::new("listener-scope");
    let passwords = password_file(&dir);
    // `allow_anonymous true` before the first listener belongs to the default listener, which
    // is not opened: both listeners refuse anonymous clients and check alice's password.
    let config = |first: u16, second: u16| {
        format!(
            "per_listener_settings true\nallow_anonymous true\n\
             listener {first} 127.0.0.1\npassword_file {passwords}\n\
             listener {second} 127.0.0.1\npassword_file {passwords}\nallow_anonymous false\n"
        )
    };
    let cases: [&[&str]; 5] = [
        &[],
        &["-V", "5"],
        &["-u", "alice", "-P", "secret"],
        &["-u", "alice", "-P", "wrong"],
        &["-u", "alice", "-P", "wrong", "-V", "5"],
    ];
    let outcomes = publish_on_two_listeners(config, &cases);
    // Both listeners answer alike: each case's two outcomes are next to each other.
    for (args, expected) in cases.iter().flat_map(|args| [args, args]).zip(outcomes) {
        assert_eq!(expected.0 == 0, args.contains(&"secret"), "{args:?}: {expected:?}");
    }
}

#[test]
fn listeners_with_different_security_options_each_apply_their_own() {
    let dir = TempDir::new("listener-differ");
    let passwords = password_file(&dir);
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "user alice\ntopic readwrite t\n").expect("writing acl");
    let acl = acl.display();
    // The first listener is open to anyone; the second wants alice's password and lets her
    // publish to `t` only.
    let config = |first: u16, second: u16| {
        format!(
            "per_listener_settings true\n\
             listener {first} 127.0.0.1\nallow_anonymous true\n\
             listener {second} 127.0.0.1\npassword_file {passwords}\nacl_file {acl}\n"
        )
    };
    let cases: [&[&str]; 6] = [
        &[],
        &["-V", "5"],
        &["-u", "alice", "-P", "secret"],
        &["-u", "alice", "-P", "wrong", "-V", "5"],
        &["-u", "alice", "-P", "secret", "-V", "5", "-q", "1", "-t", "not-t"],
        &["-V", "5", "-q", "1", "-t", "not-t"],
    ];
    let outcomes = publish_on_two_listeners(config, &cases);
    let refused = (
        5,
        "Connection error: Connection Refused: not authorised.\n\
         Error: The connection was refused.\n"
            .to_owned(),
    );
    let refused_v5 = (
        135,
        "Connection error: Not authorized\n\
         Error: A network protocol error occurred when communicating with the broker.\n"
            .to_owned(),
    );
    let denied = (0, "Warning: Publish 1 failed: Not authorized.\n".to_owned());
    let fine = (0, String::new());
    assert_eq!(
        outcomes,
        [
            fine.clone(),
            refused.clone(),
            fine.clone(),
            refused_v5.clone(),
            fine.clone(),
            fine.clone(),
            fine.clone(),
            refused_v5.clone(),
            fine.clone(),
            denied,
            fine,
            refused_v5,
        ],
        "what Mosquitto does"
    );
}

#[test]
fn sighup_applies_a_new_clientid_prefix_and_keeps_settings_it_cannot_use() {
    let broker = BrokerProcess::culex("clientid_prefixes plant-\n");
    assert_eq!(publish(broker.port, &["-i", "office-1"]).0, 5);
    let base = format!("listener {} 127.0.0.1\nallow_anonymous true\n", broker.port);
    // A configuration culex cannot run is reported and the running settings stay.
    let broken = format!("{base}clientid_prefixes office-\nno_such_option 1\n");
    std::fs::write(broker.config_path(), broken).expect("rewriting config");
    broker.signal("HUP");
    broker.wait_for_log(|line| line.starts_with("Error: Unknown configuration variable"));
    assert_eq!(publish(broker.port, &["-i", "office-1"]).0, 5);
    assert_eq!(publish(broker.port, &["-i", "plant-1"]).0, 0);
    std::fs::write(broker.config_path(), format!("{base}clientid_prefixes office-\n"))
        .expect("rewriting config");
    broker.signal("HUP");
    // The driver applies the new settings shortly after the reload line.
    let deadline = std::time::Instant::now() + COMMAND_DEADLINE;
    while publish(broker.port, &["-i", "office-1"]).0 != 0 {
        assert!(std::time::Instant::now() < deadline, "the new prefix was never applied");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(publish(broker.port, &["-i", "plant-1"]).0, 5);
}
