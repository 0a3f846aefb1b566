//! `culex -v` prints Mosquitto's log lines: the same client session against `culex` and
//! against Mosquitto gives the same lines for each client (ports and timestamps aside).

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use crate::broker_tools::wait_subscribed;
use std::process::Command;

use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_client, run,
};

/// Runs `scenario` against Mosquitto, then against culex, both with `log_type all`; returns
/// (Mosquitto's result, culex's).
fn mosquitto_then_culex<T>(scenario: impl Fn(&BrokerProcess) -> T) -> (T, T) {
    let mosquitto = scenario(&BrokerProcess::mosquitto("log_type all"));
    let culex = scenario(&BrokerProcess::culex("log_type all"));
    (mosquitto, culex)
}

/// Runs one subscriber and one QoS 1 publisher (the subscriber has a will) and returns each
/// client's log lines, in order, with ports replaced by `P`.
fn session_lines(broker: &BrokerProcess) -> BTreeMap<String, Vec<String>> {
    let sub = Background::spawn(reference_client("mosquitto_sub", broker.port).args([
        "-i",
        "logsub",
        "-q",
        "1",
        "-t",
        "logs/#",
        "-C",
        "1",
        "--will-topic",
        "logs/will",
        "--will-payload",
        "bye",
    ]));
    wait_subscribed(broker, "logsub", "logs/#");
    let done = run(
        reference_client("mosquitto_pub", broker.port)
            .args(["-i", "logpub", "-q", "1", "-t", "logs/a", "-m", "hello"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert!(sub.wait().success());
    broker.wait_for_log(|line| line == "Client logsub disconnected.");
    broker.wait_for_log(|line| line == "Client logpub disconnected.");
    per_client(&broker.log_lines(), &["logsub", "logpub"])
}

/// A takeover (a raw socket loses its id to mosquitto_pub, which then publishes at QoS 2) and
/// a client with a will whose socket just closes; each client's lines, ports replaced.
fn takeover_and_will_lines(broker: &BrokerProcess) -> BTreeMap<String, Vec<String>> {
    let port = broker.port;
    let mut taken = raw_connect(port, "taken", None);
    let done = run(
        reference_client("mosquitto_pub", port)
            .args(["-i", "taken", "-q", "2", "-t", "logs2/x", "-m", "qos2"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "{}", done.stderr);
    let mut rest = Vec::new();
    taken.set_read_timeout(Some(COMMAND_DEADLINE)).unwrap();
    let _ = taken.read_to_end(&mut rest); // the broker closes the old connection
    broker.wait_for_log(|line| line == "Client taken disconnected.");
    let killed = raw_connect(port, "killed", Some(("logs2/will", b"gone")));
    drop(killed);
    broker.wait_for_log(|line| line == "Client killed closed its connection.");
    per_client(&broker.log_lines(), &["taken", "killed"])
}

/// Connects with a raw MQTT 3.1.1 CONNECT (keep alive 60, clean session, optional QoS 1
/// retained will) and reads the CONNACK.
fn raw_connect(port: u16, client_id: &str, will: Option<(&str, &[u8])>) -> TcpStream {
    let mut flags = 0x02;
    if will.is_some() {
        flags |= 0x04 | 0x08 | 0x20;
    }
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, 60];
    let mut field = |bytes: &[u8]| {
        body.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
        body.extend_from_slice(bytes);
    };
    field(client_id.as_bytes());
    if let Some((topic, payload)) = will {
        field(topic.as_bytes());
        field(payload);
    }
    let mut packet = vec![0x10, u8::try_from(body.len()).unwrap()];
    packet.extend(body);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).unwrap();
    stream.write_all(&packet).unwrap();
    let mut connack = [0; 4];
    stream.read_exact(&mut connack).unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0]);
    stream
}

/// Groups lines by the client they mention; TAB-indented detail lines belong to the client of
/// the line before. Lines about no client (startup, `New connection`) are left out.
fn per_client(lines: &[String], clients: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut last = None;
    for line in lines {
        let normalised = normalise_ports(line);
        if line.starts_with('\t') {
            if let Some(client) = &last {
                grouped.entry(String::clone(client)).or_default().push(normalised);
            }
            continue;
        }
        let client =
            clients.iter().copied().find(|id| line.split([' ', '\t']).any(|word| word == *id));
        last = client.map(str::to_owned);
        if let Some(client) = client {
            grouped.entry(client.to_owned()).or_default().push(normalised);
        }
    }
    grouped
}

/// `127.0.0.1:40986` → `127.0.0.1:P`.
fn normalise_ports(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(head);
        out.push('P');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[test]
fn verbose_lines_match_mosquitto_for_the_same_session() {
    let (mosquitto, culex) = mosquitto_then_culex(session_lines);
    assert_eq!(culex["logsub"], mosquitto["logsub"]);
    assert_eq!(culex["logpub"], mosquitto["logpub"]);
    // Spell out a few lines so a regression in both is still caught.
    assert!(culex["logpub"].contains(
        &"Received PUBLISH from logpub (d0, q1, r0, m1, 'logs/a', ... (5 bytes))".to_owned()
    ));
    assert!(
        culex["logsub"]
            .contains(&"New client connected from 127.0.0.1:P as logsub (p2, c1, k60).".to_owned())
    );
}

#[test]
fn takeover_qos2_and_will_lines_match_mosquitto() {
    let (mosquitto, culex) = mosquitto_then_culex(takeover_and_will_lines);
    assert_eq!(culex["taken"], mosquitto["taken"]);
    assert_eq!(culex["killed"], mosquitto["killed"]);
    assert!(
        culex["taken"]
            .contains(&"Client taken already connected, closing old connection.".to_owned())
    );
}

#[test]
fn default_log_shows_connections_but_not_packets() {
    let broker = BrokerProcess::culex("");
    let done = run(
        reference_client("mosquitto_pub", broker.port)
            .args(["-i", "quietpub", "-t", "t", "-m", "x"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0);
    broker.wait_for_log(|line| line == "Client quietpub disconnected.");
    let lines = broker.log_lines();
    assert!(lines.iter().any(|l| l.starts_with("New connection from 127.0.0.1:")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("New client connected from 127.0.0.1:")
        && l.ends_with("as quietpub (p2, c1, k60).")));
    assert!(
        !lines.iter().any(|l| l.starts_with("Received ") || l.starts_with("Sending ")),
        "{lines:?}"
    );
}

#[test]
fn connection_messages_false_hides_connect_lines() {
    let broker = BrokerProcess::culex("connection_messages false");
    let done = run(
        reference_client("mosquitto_pub", broker.port).args(["-i", "hidden", "-t", "t", "-m", "x"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0);
    // A sentinel publish at QoS 1: its PUBACK comes after the broker handled everything the
    // first client sent, so a connect or disconnect line for it would be in the log by then.
    let sentinel = run(
        reference_client("mosquitto_pub", broker.port)
            .args(["-q", "1", "-t", "sentinel", "-m", "x"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(sentinel.code(), 0);
    assert!(
        !broker.log_lines().iter().any(|l| l.contains("hidden") || l.starts_with("New connection"))
    );
}

#[test]
fn log_timestamp_false_drops_the_prefix() {
    let broker = BrokerProcess::culex("log_timestamp false");
    let raw = broker.wait_for_log(|line| line.ends_with(" running"));
    assert!(raw.starts_with("culex version "), "{raw}");
    // `log_lines` strips timestamps; check the raw line had none by its first word.
    assert!(
        broker.log_lines().iter().all(|l| !l.chars().next().is_some_and(|c| c.is_ascii_digit()))
    );
}

/// Sends raw bytes on a new connection and reads until the broker closes it.
fn raw_exchange(port: u16, bytes: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

/// Lines a broker logs for refused CONNECTs: bad protocol level, empty client id without clean
/// session, and (with `anonymous false`) a client without credentials.
fn refused_connect_lines(broker: &BrokerProcess) -> Vec<String> {
    raw_exchange(broker.port, b"\x10\x0e\x00\x04MQTT\x09\x02\x00\x3c\x00\x02ab");
    raw_exchange(broker.port, b"\x10\x0c\x00\x04MQTT\x04\x00\x00\x3c\x00\x00");
    let wanted = 4;
    let start = std::time::Instant::now();
    loop {
        let lines: Vec<String> = broker
            .log_lines()
            .into_iter()
            // The readiness probe of the harness also shows up as "closed its connection".
            .filter(|line| line.starts_with("Sending CONNACK") || line.starts_with("Client "))
            .filter(|line| !line.ends_with("closed its connection."))
            .collect();
        if lines.len() >= wanted || start.elapsed() > COMMAND_DEADLINE {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn refused_connect_lines_match_mosquitto() {
    let (mosquitto, culex) = mosquitto_then_culex(refused_connect_lines);
    assert_eq!(culex, mosquitto);
    assert_eq!(culex[0], "Sending CONNACK to 127.0.0.1 (0, 1)");
}

/// `log_format json` with `log_dest stdout`: every line a client's session causes is one JSON
/// object with an RFC 3339 timestamp, Mosquitto's level name, the event, the client when the
/// line names one, and Mosquitto's text as the message.
#[test]
fn log_format_json_writes_one_object_per_line() {
    let dir = TempDir::new("logjson");
    let config = dir.join("culex.conf");
    let text = "listener 0 127.0.0.1\nallow_anonymous true\nlog_dest stdout\nlog_format json\n\
                log_type all\n";
    std::fs::write(&config, text).expect("writing config");
    let broker = Background::spawn(Command::new(our_bin("culex")).arg("-c").arg(&config));
    let parse = |line: &str| -> serde_json::Value {
        serde_json::from_str(line).unwrap_or_else(|err| panic!("{line:?} is not JSON: {err}"))
    };
    let message = |object: &serde_json::Value| object["message"].as_str().unwrap_or("").to_owned();
    let started = broker.wait_until("the running line", |lines| {
        lines.iter().any(|line| message(&parse(line)).ends_with(" running"))
    });
    let port: u16 = started
        .iter()
        .find_map(|line| {
            let text = message(&parse(line));
            text.split_once(" listen socket on port ")?.1.strip_suffix('.')?.parse().ok()
        })
        .expect("an Opening line names the port");
    let done = run(
        reference_client("mosquitto_pub", port)
            .args(["-i", "jsonpub", "-q", "1", "-t", "j", "-m", "x"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "{}", done.stderr);
    let lines = broker.wait_until("jsonpub's disconnect", |lines| {
        lines.iter().any(|line| parse(line)["event"] == "client_disconnected")
    });
    for line in &lines {
        let object = parse(line);
        let stamp = object["timestamp"].as_str().unwrap_or_else(|| panic!("no timestamp: {line}"));
        assert!(
            stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{line}"
        );
        let level = object["level"].as_str().unwrap_or_default();
        assert!(["information", "notice", "debug"].contains(&level), "{line}");
        assert!(object["event"].is_string() && object["message"].is_string(), "{line}");
    }
    let events: Vec<(String, Option<String>)> = lines
        .iter()
        .map(|line| parse(line))
        .map(|o| {
            (o["event"].as_str().unwrap_or("").to_owned(), o["client"].as_str().map(String::from))
        })
        .collect();
    let client = Some("jsonpub".to_owned());
    for wanted in ["client_connected", "packet_received", "packet_sent", "client_disconnected"] {
        assert!(events.contains(&(wanted.to_owned(), client.clone())), "{wanted}: {lines:#?}");
    }
    assert!(events.iter().any(|(event, _)| event == "starting"), "{lines:#?}");
}
