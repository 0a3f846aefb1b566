//! WebSockets and TLS listeners, against `culex` and, as the reference, Mosquitto: Node's
//! `mqtt` package over ws:// and wss://, paho-mqtt with `transport="websockets"`, Debian's
//! `mosquitto_pub`/`mosquitto_sub` with `--cafile` (and a client certificate when the listener
//! requires one), `use_identity_as_username` with an ACL keyed on the certificate's common
//! name, and the error for a certificate file that cannot be read.

use std::path::Path;
use std::process::Command;

use crate::broker_tools::wait_subscribed;
use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, Certs, TempDir, make_readable, node_test_dir,
    our_bin, python_with_paho, reference_client, reference_tool, run, unused_port,
};

/// One test per broker: the function gets the broker's program.
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn culex() {
                super::$name(&crate::support::our_bin("culex"));
            }
            #[test]
            fn mosquitto() {
                super::$name(&crate::support::reference_tool("mosquitto"));
            }
        }
    )+};
}

on_both!(
    node_over_websockets,
    node_over_secure_websockets,
    paho_over_websockets,
    mosquitto_tools_over_tls,
    client_certificates_when_required,
    certificate_common_name_is_the_username,
    unreadable_certfile_stops_the_broker,
);

/// Starts `program` with a plain listener (anonymous access, all logging) and a second
/// listener, `extra(port)`; returns it and the second listener's port once it runs.
fn start(program: &Path, extra: impl Fn(u16) -> String) -> (BrokerProcess, u16) {
    let config = |ports: &[u16]| {
        format!(
            "log_type all\nallow_anonymous true\nlistener {} 127.0.0.1\n{}\n",
            ports[0],
            extra(ports[1])
        )
    };
    let broker = BrokerProcess::start_with(program, 2, config, &[]);
    let second = broker.ports[1];
    (broker, second)
}

/// A TLS listener section on `port` with the fixture's CA and server certificate.
fn tls_listener(certs: &Certs, port: u16, extra: &str) -> String {
    format!(
        "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n{extra}\n",
        certs.path("ca.crt"),
        certs.path("server.crt"),
        certs.path("server.key"),
    )
}

/// Node's round trip script against `url`, MQTT 3.1.1 and 5.
fn node_round_trip(url: &str, ca: Option<&str>) {
    for version in ["4", "5"] {
        let mut command = Command::new("node");
        command.current_dir(node_test_dir()).args(["roundtrip.js", url, version]);
        if let Some(ca) = ca {
            command.env("NODE_EXTRA_CA_CERTS", ca);
        }
        let done = run(&mut command, COMMAND_DEADLINE);
        assert_eq!(done.code(), 0, "node over {url} (protocol {version}): {}", done.stderr);
        assert_eq!(done.stdout, "received topic-ok hello from node\n", "protocol {version}");
    }
}

fn node_over_websockets(program: &Path) {
    let (broker, ws) = start(program, |ws| format!("listener {ws} 127.0.0.1\nprotocol websockets"));
    let opening = format!("Opening websockets listen socket on port {ws}.");
    broker.wait_for_log(|line| line == opening);
    node_round_trip(&format!("ws://127.0.0.1:{ws}"), None);
}

fn node_over_secure_websockets(program: &Path) {
    let certs = Certs::new();
    let (broker, wss) = start(program, |wss| tls_listener(&certs, wss, "protocol websockets"));
    node_round_trip(&format!("wss://localhost:{wss}"), Some(&certs.path("ca.crt")));
    drop(broker);
}

const PAHO_WEBSOCKETS: &str = r#"
import sys, threading
import paho.mqtt.client as mqtt
port = int(sys.argv[1])
done = threading.Event()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-ws", transport="websockets")
c.on_connect = lambda client, userdata, flags, reason, properties: client.subscribe("paho/ws", qos=1)
c.on_subscribe = lambda client, userdata, mid, reasons, properties: client.publish("paho/ws", "x" * 70000, qos=1)
def on_message(client, userdata, message):
    print(message.topic, len(message.payload), message.qos, flush=True)
    done.set()
c.on_message = on_message
c.connect("127.0.0.1", port)
c.loop_start()
ok = done.wait(10)
c.disconnect()
c.loop_stop()
sys.exit(0 if ok else 1)
"#;

fn paho_over_websockets(program: &Path) {
    let (_broker, ws) =
        start(program, |ws| format!("listener {ws} 127.0.0.1\nprotocol websockets"));
    // A 70 kB payload spans several WebSocket frames and TCP reads.
    let done = run(
        Command::new(python_with_paho()).arg("-c").arg(PAHO_WEBSOCKETS).arg(ws.to_string()),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "paho over websockets: {}\n{}", done.stdout, done.stderr);
    assert_eq!(done.stdout, "paho/ws 70000 1\n");
}

/// `mosquitto_pub`/`mosquitto_sub` on the TLS port with the CA; `extra` adds flags.
fn tls_tool(tool: &str, certs: &Certs, port: u16, extra: &[&str]) -> Command {
    let mut command = Command::new(reference_tool(tool));
    let ca = certs.path("ca.crt");
    command.args(["-h", "localhost", "-p", &port.to_string(), "--cafile", &ca]).args(extra);
    command
}

/// Client certificate flags.
fn client_cert(certs: &Certs) -> Vec<String> {
    vec!["--cert".into(), certs.path("client.crt"), "--key".into(), certs.path("client.key")]
}

fn mosquitto_tools_over_tls(program: &Path) {
    let certs = Certs::new();
    let (broker, tls) = start(program, |tls| tls_listener(&certs, tls, ""));
    let sub = Background::spawn(&mut tls_tool(
        "mosquitto_sub",
        &certs,
        tls,
        &["-i", "tls-sub", "-t", "tls/t", "-C", "1", "-W", "15", "-v"],
    ));
    wait_subscribed(&broker, "tls-sub", "tls/t");
    let done = run(
        &mut tls_tool("mosquitto_pub", &certs, tls, &["-t", "tls/t", "-m", "secret", "-q", "1"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "mosquitto_pub over TLS: {}", done.stderr);
    assert_eq!(sub.wait_for_lines(1), ["tls/t secret"]);
    // Without the CA the client refuses the server.
    let done = run(
        Command::new(reference_tool("mosquitto_pub"))
            .args(["-h", "localhost", "-p", &tls.to_string(), "-t", "t", "-m", "m"])
            .args(["--capath", "/nonexistent"]),
        COMMAND_DEADLINE,
    );
    assert_ne!(done.code(), 0, "no CA, no connection");
}

fn client_certificates_when_required(program: &Path) {
    let certs = Certs::new();
    let (_broker, tls) =
        start(program, |tls| tls_listener(&certs, tls, "require_certificate true"));
    let publish = |extra: &[String]| {
        let mut args: Vec<&str> = vec!["-t", "mutual", "-m", "m", "-q", "1"];
        args.extend(extra.iter().map(String::as_str));
        run(&mut tls_tool("mosquitto_pub", &certs, tls, &args), COMMAND_DEADLINE)
    };
    let refused = publish(&[]);
    assert_ne!(refused.code(), 0, "a client without a certificate is refused");
    let accepted = publish(&client_cert(&certs));
    assert_eq!(accepted.code(), 0, "with a client certificate: {}", accepted.stderr);
}

fn certificate_common_name_is_the_username(program: &Path) {
    let certs = Certs::new();
    let files = TempDir::new("cn-acl");
    make_readable(files.path());
    let acl = files.path().join("acl");
    std::fs::write(&acl, "user client\ntopic readwrite cn/#\n").expect("writing acl");
    make_readable(&acl);
    // The TLS listener is the only way in: no anonymous access, the CN is the username.
    let config = |ports: &[u16]| {
        format!(
            "log_type all\nallow_anonymous false\nacl_file {}\nlistener {} 127.0.0.1\n{}",
            acl.display(),
            ports[0],
            tls_listener(
                &certs,
                ports[1],
                "require_certificate true\nuse_identity_as_username true"
            ),
        )
    };
    let broker = BrokerProcess::start_with(program, 2, config, &[]);
    let (plain, tls) = (broker.ports[0], broker.ports[1]);
    let cert = client_cert(&certs);
    let mut sub_args = vec!["-i", "cn-sub", "-t", "cn/#", "-t", "other/#", "-W", "15", "-v"];
    sub_args.extend(cert.iter().map(String::as_str));
    let sub = Background::spawn(&mut tls_tool("mosquitto_sub", &certs, tls, &sub_args));
    wait_subscribed(&broker, "cn-sub", "other/#");
    broker.wait_for_log(|line| {
        line.starts_with("New client connected")
            && line.contains("as cn-sub")
            && line.ends_with("u'client').")
    });
    for topic in ["other/x", "cn/x"] {
        let mut args = vec!["-t", topic, "-m", topic, "-q", "1", "-u", "ignored", "-P", "x"];
        args.extend(cert.iter().map(String::as_str));
        let done = run(&mut tls_tool("mosquitto_pub", &certs, tls, &args), COMMAND_DEADLINE);
        assert_eq!(done.code(), 0, "publishing to {topic}: {}", done.stderr);
    }
    // Only the ACL's topic gets through: the username came from the certificate.
    assert_eq!(sub.wait_for_lines(1), ["cn/x cn/x"]);
    broker.wait_for_log(|line| line.starts_with("Denied PUBLISH") && line.contains("'other/x'"));
    assert_eq!(sub.lines(), ["cn/x cn/x"]);
    // The plain listener has no certificate to go by: anonymous clients are refused.
    let done = run(
        reference_client("mosquitto_pub", plain).args(["-t", "cn/x", "-m", "m"]),
        COMMAND_DEADLINE,
    );
    assert_ne!(done.code(), 0, "anonymous access stays refused");
}

fn unreadable_certfile_stops_the_broker(program: &Path) {
    let certs = Certs::new();
    let dir = TempDir::new("bad-cert");
    let missing = dir.path().join("missing.crt").display().to_string();
    let config = dir.path().join("broker.conf");
    let port = unused_port();
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\ncertfile {missing}\nkeyfile {}\n",
            certs.path("server.key")
        ),
    )
    .expect("writing config");
    make_readable(dir.path());
    make_readable(&config);
    let done = run(Command::new(program).arg("-c").arg(&config), COMMAND_DEADLINE);
    assert_eq!(done.code(), 1, "{}", done.stderr);
    let wanted = format!("Error: Unable to load server certificate \"{missing}\". Check certfile.");
    assert!(done.stderr.lines().any(|line| line.ends_with(&wanted)), "{}", done.stderr);
    // A key that does not match its certificate is refused too.
    if program == our_bin("culex") {
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
                certs.path("server.crt"),
                certs.path("client.key")
            ),
        )
        .expect("writing config");
        let done = run(Command::new(program).arg("-c").arg(&config), COMMAND_DEADLINE);
        assert_eq!(done.code(), 1, "{}", done.stderr);
        assert!(done.stderr.contains("Error: Server certificate/key are inconsistent."));
    }
}
