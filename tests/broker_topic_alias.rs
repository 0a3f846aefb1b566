//! `max_topic_alias_broker` (Mosquitto 2.1) end to end: culex sets up topic aliases towards
//! the v5 clients that allow them. culex_sub resolves them back to the topic (`%A` shows the
//! alias each PUBLISH carried); paho, which does not resolve them, shows the PUBLISHes as they
//! are on the wire. (Debian's mosquitto_sub 2.0.11 cannot be used: its library fails with a
//! protocol error on the first PUBLISH that reuses an alias.) Bad values stop culex with
//! Mosquitto 2.1's errors, file and line.

use std::process::Command;

use crate::broker_tools::wait_subscribed;
use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, python_with_paho, run,
    stderr_lines,
};

/// Published in this order, payload `0`, `1`, …: with 2 aliases, `alias/a` takes 1,
/// `alias/b` takes 2 and `alias/c` goes out in full every time.
const TOPICS: [&str; 6] = ["alias/a", "alias/a", "alias/b", "alias/c", "alias/c", "alias/a"];

/// culex with `max_topic_alias_broker 2` on its listener, logging subscriptions.
fn broker() -> BrokerProcess {
    BrokerProcess::start_with(
        &our_bin("culex"),
        1,
        |ports| {
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\nmax_topic_alias_broker 2\n",
                ports[0]
            )
        },
        &["-v"],
    )
}

/// Starts `subscriber` as `client_id` on `alias/#`, publishes [`TOPICS`] once it is
/// subscribed, and returns the lines it printed for them.
fn received(broker: &BrokerProcess, client_id: &str, subscriber: &mut Command) -> Vec<String> {
    let sub = Background::spawn(subscriber);
    wait_subscribed(broker, client_id, "alias/#");
    let port = broker.port.to_string();
    for (payload, topic) in TOPICS.iter().enumerate() {
        let payload = payload.to_string();
        let done = run(
            Command::new(our_bin("culex_pub")).args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-t",
                topic,
                "-m",
                &payload,
            ]),
            COMMAND_DEADLINE,
        );
        assert_eq!(done.code(), 0, "culex_pub -t {topic}: {}", done.stderr);
    }
    sub.wait_for_lines(TOPICS.len())
}

/// `culex_sub -V 5` as `client_id` on `alias/#`, printing `%t %A %p` for six messages.
fn culex_sub(broker: &BrokerProcess, client_id: &str) -> Command {
    let mut sub = Command::new(our_bin("culex_sub"));
    sub.args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-i", client_id])
        .args(["-V", "5", "-t", "alias/#", "-C", "6", "-F", "%t %A %p"]);
    sub
}

#[test]
fn culex_sub_gets_aliases_within_both_limits_and_the_right_topics() {
    let broker = broker();
    let expected =
        ["alias/a 1 0", "alias/a 1 1", "alias/b 2 2", "alias/c  3", "alias/c  4", "alias/a 1 5"];
    // The client allows 3, the listener 2: the lower wins.
    let mut sub = culex_sub(&broker, "culex-sub-alias");
    sub.args(["-D", "connect", "topic-alias-maximum", "3"]);
    assert_eq!(received(&broker, "culex-sub-alias", &mut sub), expected);
    // Without topic-alias-maximum in its CONNECT a client gets none.
    let mut plain = culex_sub(&broker, "no-alias");
    let topics: Vec<String> = TOPICS.iter().enumerate().map(|(n, t)| format!("{t}  {n}")).collect();
    assert_eq!(received(&broker, "no-alias", &mut plain), topics);
}

/// paho as a v5 client allowing 3 aliases: prints `[<topic as sent>] <alias or -> <payload>`.
const PAHO_WIRE: &str = r#"
import sys
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
props = Properties(PacketTypes.CONNECT)
props.TopicAliasMaximum = 3
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-alias", protocol=mqtt.MQTTv5)
c.on_connect = lambda client, userdata, flags, reason, properties: client.subscribe("alias/#")
def on_message(client, userdata, m):
    alias = getattr(m.properties, "TopicAlias", "-")
    print(f"[{m.topic}] {alias} {m.payload.decode()}", flush=True)
c.on_message = on_message
c.connect("127.0.0.1", int(sys.argv[1]), properties=props)
c.loop_forever()
"#;

#[test]
fn paho_sees_the_aliases_on_the_wire() {
    let broker = broker();
    let mut paho = Command::new(python_with_paho());
    paho.args(["-c", PAHO_WIRE, &broker.port.to_string()]);
    assert_eq!(
        received(&broker, "paho-alias", &mut paho),
        ["[alias/a] 1 0", "[] 1 1", "[alias/b] 2 2", "[alias/c] - 3", "[alias/c] - 4", "[] 1 5",]
    );
}

#[test]
fn bad_values_are_refused_with_mosquitto_2_1_errors_and_the_line() {
    let dir = TempDir::new("topic-alias-config");
    let cases = [
        (
            "max_topic_alias_broker 3\n",
            "Error: The 'max_topic_alias_broker' option requires a listener to be defined first.",
            1,
        ),
        (
            "listener 0 127.0.0.1\nmax_topic_alias_broker 65536\n",
            "Error: Invalid 'max_topic_alias_broker' value in configuration.",
            2,
        ),
        (
            "listener 0 127.0.0.1\nmax_topic_alias_broker -1\n",
            "Error: Invalid 'max_topic_alias_broker' value in configuration.",
            2,
        ),
    ];
    for (text, error, line) in cases {
        let path = dir.join("alias.conf");
        std::fs::write(&path, text).expect("writing test config");
        let path = path.display().to_string();
        let done = run(Command::new(our_bin("culex")).args(["-c", &path]), COMMAND_DEADLINE);
        assert_eq!(
            (done.code(), stderr_lines(&done)),
            (3, vec![error.to_owned(), format!("Error found at {path}:{line}.")]),
            "{text}"
        );
    }
}
