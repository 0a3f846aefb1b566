//! paho-mqtt (Python) scripts doing what its users do, against `culex` and, as the reference,
//! Mosquitto: `publish.single`, `publish.multiple`, `subscribe.simple` with a persistent
//! session, an `on_message` callback that publishes a reply, and MQTT 5 properties.

use std::process::Command;

use crate::broker_tools::{against_both, wait_subscribed};
use crate::support::{Background, BrokerProcess, COMMAND_DEADLINE, python_with_paho, run};

against_both!(
    single_and_simple,
    multiple_in_order,
    simple_with_persistent_session_gets_offline_message,
    on_message_callback_publishes_a_reply,
    mqtt5_properties_pass_through,
);

/// `python3 -c <script> <port> <args…>`; scripts read the port from `sys.argv[1]`.
fn python(broker: &BrokerProcess, script: &str, args: &[&str]) -> Command {
    let mut command = Command::new(python_with_paho());
    command.arg("-c").arg(script).arg(broker.port.to_string()).args(args);
    command
}

/// Runs a script to completion and returns its stdout.
pub(crate) fn python_output(broker: &BrokerProcess, script: &str, args: &[&str]) -> String {
    let done = run(&mut python(broker, script, args), COMMAND_DEADLINE);
    assert_eq!(done.code(), 0, "python script failed:\n{}\n{}", done.stdout, done.stderr);
    done.stdout
}

const SIMPLE_SUBSCRIBE: &str = r#"
import sys
import paho.mqtt.subscribe as subscribe
port, topic, count, client_id = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
msgs = subscribe.simple(topic, qos=1, msg_count=count, hostname="127.0.0.1", port=port, client_id=client_id)
for m in (msgs if isinstance(msgs, list) else [msgs]):
    print(m.topic, m.payload.decode(), m.qos, flush=True)
"#;

/// Spawns `subscribe.simple` for `count` messages on `filter` as `client_id`; returns once the
/// broker has the subscription.
fn simple_subscriber(
    broker: &BrokerProcess,
    filter: &str,
    count: &str,
    client_id: &str,
) -> Background {
    let sub = Background::spawn(&mut python(broker, SIMPLE_SUBSCRIBE, &[filter, count, client_id]));
    wait_subscribed(broker, client_id, filter);
    sub
}

/// Runs `calls` to `paho.mqtt.publish` (imported as `publish`), with `broker` holding the
/// `hostname` and `port` keyword arguments.
fn paho_publish(broker: &BrokerProcess, calls: &str) {
    let script = format!(
        "import sys\nimport paho.mqtt.publish as publish\n\
         broker = {{\"hostname\": \"127.0.0.1\", \"port\": int(sys.argv[1])}}\n{calls}\n"
    );
    python_output(broker, &script, &[]);
}

/// Runs `script`, which sets up a paho client `c` and sets the event `got` when it has what it
/// waits for: connects `c`, waits (10 s at most), disconnects; fails the test if `got` was
/// never set. Returns the script's stdout.
fn run_until_got(broker: &BrokerProcess, script: &str) -> String {
    let script = format!(
        "import sys, threading\nimport paho.mqtt.client as mqtt\ngot = threading.Event()\n\
         {script}\n\
         c.connect(\"127.0.0.1\", int(sys.argv[1]))\nc.loop_start()\nok = got.wait(10)\n\
         c.disconnect()\nc.loop_stop()\nsys.exit(0 if ok else 1)\n"
    );
    python_output(broker, &script, &[])
}

fn single_and_simple(broker: &BrokerProcess) {
    let sub = simple_subscriber(broker, "paho/single", "1", "paho-simple");
    paho_publish(broker, r#"publish.single("paho/single", "hello paho", qos=1, **broker)"#);
    assert_eq!(sub.wait_for_lines(1), ["paho/single hello paho 1"]);
}

fn multiple_in_order(broker: &BrokerProcess) {
    let sub = simple_subscriber(broker, "paho/multi/#", "3", "paho-multi");
    paho_publish(
        broker,
        r#"
msgs = [{"topic": "paho/multi/a", "payload": "one", "qos": 1},
        ("paho/multi/b", "two", 2, False),
        ("paho/multi/c", "three", 0, False)]
publish.multiple(msgs, **broker)
"#,
    );
    assert_eq!(
        sub.wait_for_lines(3),
        ["paho/multi/a one 1", "paho/multi/b two 1", "paho/multi/c three 0"]
    );
}

fn simple_with_persistent_session_gets_offline_message(broker: &BrokerProcess) {
    // First visit: a persistent session subscribes at QoS 1 and leaves.
    python_output(
        broker,
        r#"
import sys, threading
import paho.mqtt.client as mqtt
subscribed = threading.Event()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-offline", clean_session=False)
c.on_subscribe = lambda client, userdata, mid, reason_codes, properties: subscribed.set()
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
c.subscribe("paho/offline", qos=1)
if not subscribed.wait(10):
    sys.exit(1)
c.disconnect()
c.loop_stop()
"#,
        &[],
    );
    wait_subscribed(broker, "paho-offline", "paho/offline");
    paho_publish(
        broker,
        r#"publish.single("paho/offline", "while you were away", qos=1, **broker)"#,
    );
    let out = python_output(
        broker,
        r#"
import sys
import paho.mqtt.subscribe as subscribe
m = subscribe.simple("paho/offline", qos=1, msg_count=1, clean_session=False, client_id="paho-offline",
                     hostname="127.0.0.1", port=int(sys.argv[1]))
print(m.topic, m.payload.decode(), flush=True)
"#,
        &[],
    );
    assert_eq!(out, "paho/offline while you were away\n");
}

fn on_message_callback_publishes_a_reply(broker: &BrokerProcess) {
    let responder = Background::spawn(&mut python(
        broker,
        r#"
import sys
import paho.mqtt.client as mqtt
def on_connect(client, userdata, flags, reason_code, properties):
    client.subscribe("paho/request", qos=1)
def on_message(client, userdata, msg):
    client.publish("paho/reply", msg.payload.decode().upper(), qos=1)
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-responder")
c.on_connect = on_connect
c.on_message = on_message
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
"#,
        &[],
    ));
    wait_subscribed(broker, "paho-responder", "paho/request");
    let out = run_until_got(
        broker,
        r#"
def on_connect(client, userdata, flags, reason_code, properties):
    client.subscribe("paho/reply", qos=1)
def on_subscribe(client, userdata, mid, reason_codes, properties):
    client.publish("paho/request", "ping", qos=1)
def on_message(client, userdata, msg):
    print(msg.topic, msg.payload.decode(), flush=True)
    got.set()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-requester")
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
"#,
    );
    assert_eq!(out, "paho/reply PING\n");
    drop(responder);
}

fn mqtt5_properties_pass_through(broker: &BrokerProcess) {
    let out = run_until_got(
        broker,
        r#"
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
def on_connect(client, userdata, flags, reason_code, properties):
    print("connack", reason_code, getattr(properties, "ReceiveMaximum", None), getattr(properties, "TopicAliasMaximum", None), flush=True)
    client.subscribe("paho5/props", qos=1)
def on_subscribe(client, userdata, mid, reason_codes, properties):
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("k1", "v1"), ("k2", "v2")]
    props.ContentType = "text/plain"
    props.ResponseTopic = "paho5/response"
    props.CorrelationData = b"\x01\x02"
    props.PayloadFormatIndicator = 1
    props.MessageExpiryInterval = 60
    client.publish("paho5/props", "with properties", qos=1, properties=props)
def on_message(client, userdata, msg):
    p = msg.properties
    print(msg.topic, msg.payload.decode(), p.UserProperty, p.ContentType, p.ResponseTopic,
          p.CorrelationData.hex(), p.PayloadFormatIndicator, flush=True)
    got.set()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho5", protocol=mqtt.MQTTv5)
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
"#,
    );
    assert_eq!(
        out,
        "connack Success 20 10\n\
         paho5/props with properties [('k1', 'v1'), ('k2', 'v2')] text/plain paho5/response 0102 1\n"
    );
}
