//! Debian's `mosquitto_pub` and `mosquitto_sub` against `culex`: each QoS, retained messages,
//! wills, persistent sessions across a reconnect, and v3 ↔ v5. Every scenario also runs against
//! Mosquitto itself, which proves the scenario (not only our broker) is right.

use std::process::Command;

use crate::support::{Background, BrokerProcess, COMMAND_DEADLINE, our_bin, reference_client, run};

/// Runs one scenario against culex and against Mosquitto, as two tests; both brokers get
/// `config` (by default [`LOG_ALL`]).
macro_rules! against_both {
    (config = $config:expr; $($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn culex() {
                super::$name(&crate::support::BrokerProcess::culex($config));
            }
            #[test]
            fn mosquitto() {
                super::$name(&crate::support::BrokerProcess::mosquitto($config));
            }
        }
    )+};
    ($($name:ident),+ $(,)?) => {
        crate::broker_tools::against_both!(config = crate::broker_tools::LOG_ALL; $($name),+);
    };
}
pub(crate) use against_both;

/// Both brokers log subscriptions (`<id> <qos> <filter>`), which tells a test when a
/// subscriber is ready.
pub(crate) const LOG_ALL: &str = "log_type all";

against_both!(
    each_qos_is_delivered,
    retained_message_reaches_later_subscribers_until_cleared,
    persistent_session_gets_messages_published_while_offline,
    v5_publisher_reaches_v3_subscriber_and_back,
    will_is_published_when_a_client_dies,
);

against_both!(
    config = "log_type all\nmessage_size_limit 10";
    oversize_publish_is_refused_with_packet_too_large,
);

/// Debian's `mosquitto_sub` pointed at `broker`, giving up after 15 s without a message.
pub(crate) fn mosquitto_sub(broker: &BrokerProcess) -> Command {
    let mut command = reference_client("mosquitto_sub", broker.port);
    command.args(["-W", "15"]);
    command
}

fn mosquitto_pub(broker: &BrokerProcess) -> Command {
    reference_client("mosquitto_pub", broker.port)
}

/// Waits until the broker logged that `client_id` subscribed to `filter`.
pub(crate) fn wait_subscribed(broker: &BrokerProcess, client_id: &str, filter: &str) {
    let suffix = format!(" {filter}");
    broker
        .wait_for_log(|line| line.starts_with(&format!("{client_id} ")) && line.ends_with(&suffix));
}

/// Publishes and asserts mosquitto_pub succeeded.
pub(crate) fn publish(broker: &BrokerProcess, args: &[&str]) {
    let done = run(mosquitto_pub(broker).args(args), COMMAND_DEADLINE);
    assert_eq!(done.code(), 0, "mosquitto_pub {args:?} failed: {}", done.stderr);
}

fn each_qos_is_delivered(broker: &BrokerProcess) {
    for qos in ["0", "1", "2"] {
        let id = format!("sub-q{qos}");
        let topic = format!("qos/{qos}");
        let sub = Background::spawn(
            mosquitto_sub(broker).args(["-i", &id, "-q", qos, "-t", &topic, "-C", "1", "-v"]),
        );
        wait_subscribed(broker, &id, &topic);
        publish(
            broker,
            &[
                "-i",
                &format!("pub-q{qos}"),
                "-q",
                qos,
                "-t",
                &topic,
                "-m",
                &format!("message at qos {qos}"),
            ],
        );
        assert_eq!(sub.wait_for_lines(1), [format!("{topic} message at qos {qos}")]);
        assert!(sub.wait().success());
    }
}

fn retained_message_reaches_later_subscribers_until_cleared(broker: &BrokerProcess) {
    publish(broker, &["-t", "ret/a", "-m", "kept", "-r", "-q", "1"]);
    let first = run(mosquitto_sub(broker).args(["-t", "ret/#", "-C", "1", "-v"]), COMMAND_DEADLINE);
    assert_eq!(first.stdout, "ret/a kept\n");
    // An empty retained payload deletes it: a new subscriber then gets nothing within 1 s.
    publish(broker, &["-t", "ret/a", "-n", "-r", "-q", "1"]);
    let second =
        run(mosquitto_sub(broker).args(["-t", "ret/#", "-C", "1", "-W", "1"]), COMMAND_DEADLINE);
    assert_eq!(second.stdout, "");
    assert_eq!(second.code(), 27, "mosquitto_sub -W timeout exit status");
}

fn persistent_session_gets_messages_published_while_offline(broker: &BrokerProcess) {
    let id = "persistent-tools";
    // Subscribe with clean session off, then leave (-E exits once subscribed).
    let setup = run(
        mosquitto_sub(broker).args(["-i", id, "-c", "-q", "1", "-t", "offline/#", "-E"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(setup.code(), 0, "{}", setup.stderr);
    for n in 1..=3 {
        publish(broker, &["-q", "1", "-t", "offline/t", "-m", &format!("queued {n}")]);
    }
    let back = run(
        mosquitto_sub(broker).args(["-i", id, "-c", "-q", "1", "-t", "offline/#", "-C", "3"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(back.stdout, "queued 1\nqueued 2\nqueued 3\n");
}

fn v5_publisher_reaches_v3_subscriber_and_back(broker: &BrokerProcess) {
    for (sub_version, pub_version) in [("311", "5"), ("5", "311"), ("31", "5")] {
        let id = format!("sub-v{sub_version}");
        let topic = format!("versions/{sub_version}");
        let sub = Background::spawn(mosquitto_sub(broker).args([
            "-V",
            sub_version,
            "-i",
            &id,
            "-q",
            "1",
            "-t",
            &topic,
            "-C",
            "1",
        ]));
        wait_subscribed(broker, &id, &topic);
        publish(broker, &["-V", pub_version, "-q", "1", "-t", &topic, "-m", "across versions"]);
        assert_eq!(sub.wait_for_lines(1), ["across versions"], "v{pub_version} -> v{sub_version}");
    }
}

fn will_is_published_when_a_client_dies(broker: &BrokerProcess) {
    let watcher = Background::spawn(mosquitto_sub(broker).args([
        "-i",
        "will-watcher",
        "-t",
        "wills/#",
        "-C",
        "1",
        "-v",
    ]));
    wait_subscribed(broker, "will-watcher", "wills/#");
    let doomed = Background::spawn(mosquitto_sub(broker).args([
        "-i",
        "doomed",
        "-t",
        "nothing",
        "--will-topic",
        "wills/doomed",
        "--will-payload",
        "gone",
        "--will-qos",
        "1",
    ]));
    wait_subscribed(broker, "doomed", "nothing");
    drop(doomed); // SIGKILL: the socket closes without DISCONNECT
    assert_eq!(watcher.wait_for_lines(1), ["wills/doomed gone"]);
}

/// Over `message_size_limit` a v5 QoS 1/2 publish is answered with reason 0x95 (which the
/// spec does not list for PUBACK/PUBREC, but Mosquitto sends); the publisher reports it and
/// nothing is delivered, while a small message still is.
fn oversize_publish_is_refused_with_packet_too_large(broker: &BrokerProcess) {
    let sub = Background::spawn(mosquitto_sub(broker).args(["-i", "size-watch", "-t", "size/#"]));
    wait_subscribed(broker, "size-watch", "size/#");
    let culex_pub = || {
        let mut command = Command::new(our_bin("culex_pub"));
        command.args(["-h", "127.0.0.1", "-p", &broker.port.to_string()]);
        command
    };
    for (mut command, qos) in
        [(mosquitto_pub(broker), "1"), (mosquitto_pub(broker), "2"), (culex_pub(), "1")]
    {
        let done = run(
            command.args(["-V", "5", "-q", qos, "-t", "size/big", "-m", "eleven byte"]),
            COMMAND_DEADLINE,
        );
        assert_eq!(done.code(), 0, "{command:?}: {}", done.stderr);
        assert_eq!(done.stderr, "Warning: Publish 1 failed: Packet too large.\n", "{command:?}");
    }
    publish(broker, &["-V", "5", "-q", "1", "-t", "size/small", "-m", "fits"]);
    assert_eq!(sub.wait_for_lines(1), ["fits"]);
}
