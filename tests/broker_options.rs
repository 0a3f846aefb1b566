//! Mosquitto options culex implements (`max_qos`, `use_username_as_clientid`, `memory_limit`,
//! `queue_qos0_messages`, `socket_domain`) and the `-v` lines of a denied PUBLISH, checked
//! against `culex` and, as the reference, Debian's Mosquitto; culex's `send_reason_strings`; and
//! the DISCONNECT for exceeding `max_inflight_messages` as Receive Maximum reaching the client.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_client,
    reference_tool, run,
};

/// Runs a Mosquitto tool against 127.0.0.1:`port`; returns exit code, stdout and stderr.
fn tool(name: &str, port: u16, args: &[&str]) -> (i32, String, String) {
    let done = run(reference_client(name, port).args(args), COMMAND_DEADLINE);
    (done.code(), done.stdout, done.stderr)
}

/// Both brokers with `-v` and `extra` after their loopback listener line.
fn both(extra: &str) -> [BrokerProcess; 2] {
    let config = format!("listener {{port}} 127.0.0.1\nallow_anonymous true\n{extra}\n");
    on_both(|program| BrokerProcess::start_with(program, 1, with_port(&config), &["-v"]))
}

/// `check(program)` for culex, then for Mosquitto.
fn on_both<T>(check: impl Fn(&Path) -> T) -> [T; 2] {
    [check(&our_bin("culex")), check(&reference_tool("mosquitto"))]
}

/// A one-listener configuration: `template` with the listener's port in place of `{port}`.
fn with_port(template: &str) -> impl Fn(&[u16]) -> String + '_ {
    move |ports| template.replace("{port}", &ports[0].to_string())
}

/// The `Opening … listen socket` lines among `lines`, with `port` shown as `N`.
fn opening_lines(lines: impl IntoIterator<Item = String>, port: u16) -> Vec<String> {
    lines
        .into_iter()
        .filter(|line| line.starts_with("Opening"))
        .map(|line| line.replace(&port.to_string(), "N"))
        .collect()
}

#[test]
fn max_qos_limits_publishes_and_grants_like_mosquitto() {
    let [ours, theirs] = both("max_qos 1");
    let cases: [&[&str]; 4] = [
        &["-t", "a", "-m", "m", "-q", "1", "-i", "q1"],
        &["-t", "a", "-m", "m", "-q", "2", "-i", "q2v3"],
        &["-t", "a", "-m", "m", "-q", "2", "-i", "q2v5", "-V", "5"],
        &["-t", "a", "-m", "m", "-q", "1", "-i", "q1v5", "-V", "5"],
    ];
    for args in cases {
        let expected = tool("mosquitto_pub", theirs.port, args);
        assert_eq!(tool("mosquitto_pub", ours.port, args), expected, "{args:?}");
    }
    let sub = ["-t", "a", "-q", "2", "-V", "5", "-d", "-E", "-i", "s5"];
    let expected = tool("mosquitto_sub", theirs.port, &sub);
    assert!(expected.1.contains("Subscribed (mid: 1): 1"), "{expected:?}");
    assert_eq!(tool("mosquitto_sub", ours.port, &sub), expected);
    for broker in [&ours, &theirs] {
        broker.wait_for_log(|line| line == "Too high QoS in PUBLISH from q2v3, disconnecting.");
        broker.wait_for_log(|line| line == "\ta (QoS 1)");
    }
}

#[test]
fn use_username_as_clientid_like_mosquitto() {
    let [ours, theirs] = both("use_username_as_clientid true");
    let cases: [&[&str]; 3] = [
        &["-t", "a", "-m", "m", "-i", "given", "-u", "alice"],
        &["-t", "a", "-m", "m", "-i", "given"],
        &["-t", "a", "-m", "m", "-i", "given", "-V", "5"],
    ];
    for args in cases {
        let expected = tool("mosquitto_pub", theirs.port, args);
        assert_eq!(tool("mosquitto_pub", ours.port, args), expected, "{args:?}");
    }
    for broker in [&ours, &theirs] {
        broker.wait_for_log(|line| line.ends_with(" as alice (p2, c1, k60, u'alice')."));
    }
}

#[test]
fn queue_qos0_messages_like_mosquitto() {
    for (extra, queued) in [("", false), ("queue_qos0_messages true", true)] {
        let [ours, theirs] = both(extra);
        let mut outputs = Vec::new();
        for broker in [&ours, &theirs] {
            let port = broker.port;
            let sub = ["-c", "-i", "qs", "-t", "q/#", "-q", "1"];
            assert_eq!(tool("mosquitto_sub", port, &[&sub[..], &["-E"]].concat()).0, 0);
            assert_eq!(tool("mosquitto_pub", port, &["-t", "q/0", "-m", "zero"]).0, 0);
            outputs.push(tool(
                "mosquitto_sub",
                port,
                &[&sub[..], &["-C", "1", "-W", "1"]].concat(),
            ));
        }
        assert_eq!(outputs[0], outputs[1], "{extra:?}");
        assert_eq!(outputs[1].1 == "zero\n", queued, "{extra:?}: {:?}", outputs[1]);
    }
}

#[test]
fn socket_domain_opens_one_family_like_mosquitto() {
    let config = "listener {port} localhost\nsocket_domain ipv4\nallow_anonymous true\n";
    let opened = on_both(|program| {
        let broker = BrokerProcess::start_with_picked_ports(program, 1, with_port(config), &[]);
        broker.wait_for_log(|line| line.contains(" running"));
        opening_lines(broker.log_lines(), broker.port)
    });
    assert_eq!(opened[0], vec!["Opening ipv4 listen socket on port N.".to_owned()]);
    assert_eq!(opened[0], opened[1]);
}

#[test]
fn a_denied_publish_logs_only_the_denied_line_like_mosquitto() {
    let dir = TempDir::new("options-acl");
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "topic read #\ntopic write ok/#\n").expect("writing acl");
    crate::support::make_readable(&acl);
    let [ours, theirs] = both(&format!("acl_file {}", acl.display()));
    for broker in [&ours, &theirs] {
        tool("mosquitto_pub", broker.port, &["-t", "no/x", "-m", "hi", "-q", "1", "-i", "dpub"]);
        tool("mosquitto_pub", broker.port, &["-t", "ok/x", "-m", "hi", "-i", "okpub"]);
        broker.wait_for_log(|line| line.starts_with("Received PUBLISH from okpub"));
        let lines = broker.log_lines();
        assert!(
            lines
                .iter()
                .any(|l| l == "Denied PUBLISH from dpub (d0, q1, r0, m1, 'no/x', ... (2 bytes))"),
            "{lines:?}"
        );
        assert!(!lines.iter().any(|l| l.starts_with("Received PUBLISH from dpub")), "{lines:?}");
    }
}

#[test]
fn mount_point_prefixes_like_mosquitto_and_strips_outgoing_topics_like_2_0_12() {
    let seen = on_both(|program| {
        let config = |ports: &[u16]| {
            format!(
                "allow_anonymous true\nlistener {} 127.0.0.1\nmount_point site/\n\
                 listener {} 127.0.0.1\n",
                ports[0], ports[1]
            )
        };
        let broker = BrokerProcess::start_with(program, 2, config, &["-v"]);
        let (mounted, plain) = (broker.ports[0], broker.ports[1]);
        let publish = ["-t", "a/b", "-m", "m", "-r", "-i", "mp"];
        assert_eq!(tool("mosquitto_pub", mounted, &publish).0, 0);
        let read = |port: u16, filter: &str| {
            tool("mosquitto_sub", port, &["-t", filter, "-v", "-C", "1", "-W", "2"]).1
        };
        let seen = (read(plain, "#"), read(mounted, "a/#"));
        broker.wait_for_log(|line| {
            line == "Received PUBLISH from mp (d0, q0, r1, m0, 'site/a/b', ... (1 bytes))"
        });
        seen
    });
    assert_eq!(seen[0].0, "site/a/b m\n", "prefixed for everybody else");
    assert_eq!(seen[0].0, seen[1].0);
    assert_eq!(seen[0].1, "a/b m\n", "culex removes the prefix, as 2.0.12 does");
    assert_eq!(seen[1].1, "site/a/b m\n", "2.0.11 leaves it on (fixed in 2.0.12)");
}

#[test]
fn bind_interface_listens_on_the_interface_address_like_mosquitto() {
    let dir = TempDir::new("options-interface");
    // No bind address: the loopback interface's addresses only (127.0.0.1, ::1).
    let config = "listener {port}\nbind_interface lo\nsocket_domain ipv4\nallow_anonymous true\n";
    let opened = on_both(|program| {
        let broker = BrokerProcess::start_with_picked_ports(program, 1, with_port(config), &[]);
        let port = broker.port;
        assert_eq!(tool("mosquitto_pub", port, &["-t", "t", "-m", "m"]).0, 0);
        broker.wait_for_log(|line| line.contains(" running"));
        drop(broker);
        let path = dir.path().join("missing.conf");
        std::fs::write(&path, format!("listener {port} 127.0.0.1\nbind_interface nonexist0\n"))
            .expect("writing config");
        let done = run(Command::new(program).arg("-c").arg(&path), COMMAND_DEADLINE);
        let lines: Vec<String> = done
            .stderr
            .lines()
            .map(|line| crate::support::strip_timestamp(line).replace(&port.to_string(), "N"))
            .filter(|line| line.starts_with("Opening") || line.contains("Interface"))
            .collect();
        (done.code(), lines)
    });
    assert_eq!(opened[0].0, 1);
    assert_eq!(
        opened[0].1,
        vec![
            "Opening ipv4 listen socket on port N.".to_owned(),
            "Warning: Interface nonexist0 does not support IPv4 configuration.".to_owned()
        ]
    );
    assert_eq!(opened[0], opened[1]);
}

#[test]
fn log_timestamp_format_is_strftime_like_mosquitto() {
    let config = "listener {port} 127.0.0.1\nlog_timestamp_format [%Y-%m-%dT%H:%M:%S %%]\n";
    let shapes = on_both(|program| {
        let broker = BrokerProcess::start_with(program, 1, with_port(config), &[]);
        let line = broker.wait_for_log(|line| line.ends_with(" running"));
        let stamp = line.split_once(": ").map_or("", |(stamp, _)| stamp);
        stamp.chars().map(|c| if c.is_ascii_digit() { 'N' } else { c }).collect::<String>()
    });
    assert_eq!(shapes[0], "[NNNN-NN-NNTNN:NN:NN %]");
    assert_eq!(shapes[0], shapes[1]);
}

#[test]
fn allow_duplicate_messages_like_mosquitto_for_v3_clients() {
    for (extra, copies) in [("", 1), ("allow_duplicate_messages true", 2)] {
        let [ours, theirs] = both(extra);
        for broker in [&ours, &theirs] {
            let sub = Background::spawn(
                reference_client("mosquitto_sub", broker.port)
                    .args(["-i", "dup", "-t", "ov/#", "-t", "ov/+", "-t", "end"]),
            );
            broker.wait_for_log(|line| line == "dup 0 end");
            assert_eq!(tool("mosquitto_pub", broker.port, &["-t", "ov/x", "-m", "m"]).0, 0);
            assert_eq!(tool("mosquitto_pub", broker.port, &["-t", "end", "-m", "e"]).0, 0);
            let start = Instant::now();
            while !sub.lines().contains(&"e".to_owned()) {
                assert!(start.elapsed() < COMMAND_DEADLINE, "{:?}", sub.lines());
                std::thread::sleep(Duration::from_millis(10));
            }
            let got = sub.lines().iter().filter(|line| *line == "m").count();
            assert_eq!(got, copies, "{extra:?}");
        }
    }
}

/// A v5 CONNECT for client id "a".
const CONNECT_V5: [u8; 16] = [
    0x10, 0x0e, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x01, b'a',
];

/// Writes `packets` to a broker at `port` (ignoring write errors: the broker may close first)
/// and reads until it closes. Returns what came after the CONNACK, and whether the end was a
/// clean close (`Ok`) or a reset.
fn after_connack(port: u16, packets: &[u8]) -> (Vec<u8>, std::io::Result<()>) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).expect("read timeout");
    let _ = stream.write_all(packets);
    let mut answer = Vec::new();
    let end = stream.read_to_end(&mut answer).map(drop);
    assert_eq!(answer.first(), Some(&0x20), "a CONNACK first: {answer:02x?}");
    let connack_len = answer.get(1).map_or(0, |len| 2 + usize::from(*len));
    (answer.split_off(connack_len.min(answer.len())), end)
}

/// What a broker at `port` sends a v5 client after its CONNACK when that client publishes with
/// Topic Alias 11, above the maximum of 10 (a protocol error), up to the close.
fn answer_to_a_topic_alias_too_high(port: u16) -> Vec<u8> {
    // PUBLISH "t" with Topic Alias 11 and payload "x".
    let publish = [0x30, 0x08, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x0b, b'x'];
    let (answer, end) = after_connack(port, &[&CONNECT_V5[..], &publish].concat());
    end.expect("a clean close");
    answer
}

#[test]
fn send_reason_strings_is_off_like_mosquitto_and_on_names_the_rule() {
    let expected = answer_to_a_topic_alias_too_high(BrokerProcess::mosquitto("").port);
    assert_eq!(answer_to_a_topic_alias_too_high(BrokerProcess::culex("").port), expected);
    let named =
        answer_to_a_topic_alias_too_high(BrokerProcess::culex("send_reason_strings true").port);
    assert_eq!(named.first(), Some(&0xe0), "a DISCONNECT: {named:02x?}");
    assert_eq!(named.get(2), expected.get(2), "the same reason code");
    let text = String::from_utf8_lossy(&named);
    assert!(text.contains("[v5 MQTT-3.3.2-9] Topic Alias 0"), "{text}");
}

/// A v5 QoS 2 PUBLISH to "t" with packet identifier `id` and 1000 bytes of payload.
fn qos2_publish(id: u16) -> Vec<u8> {
    let [high, low] = id.to_be_bytes();
    let mut packet = vec![0x34, 0xee, 0x07, 0x00, 0x01, b't', high, low, 0x00];
    packet.extend([b'x'; 1000]);
    packet
}

/// paho's test_flow_control2: a v5 client that sends QoS 2 PUBLISHes past the broker's
/// Receive Maximum (`max_inflight_messages`) and goes on sending for a moment reads DISCONNECT
/// 0x93 and a clean close, and none of its writes fails: the broker drains what comes after
/// its DISCONNECT (closing with it unread would reset the connection, and paho's next write
/// would fail with a broken pipe).
#[test]
fn a_client_past_receive_maximum_reads_the_disconnect() {
    use std::io::{Read as _, Write as _};
    let broker = BrokerProcess::culex("max_inflight_messages 2");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", broker.port)).expect("connect");
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).expect("read timeout");
    let mut writer = stream.try_clone().expect("a second handle");
    let sending = std::thread::spawn(move || {
        writer.write_all(&CONNECT_V5)?;
        // 30 publishes 10 ms apart: well within the broker's drain (1 s, 256 KiB).
        for id in 1..=30 {
            writer.write_all(&qos2_publish(id))?;
            std::thread::sleep(Duration::from_millis(10));
        }
        std::io::Result::Ok(())
    });
    let mut answer = Vec::new();
    let end = stream.read_to_end(&mut answer);
    sending.join().expect("the writer does not panic").expect("every write succeeds");
    let connack_len = answer.get(1).map_or(0, |len| 2 + usize::from(*len));
    let pubrecs = [0x50, 0x02, 0x00, 0x01, 0x50, 0x02, 0x00, 0x02];
    assert_eq!(answer.get(connack_len..), Some(&[&pubrecs[..], &[0xe0, 0x01, 0x93]].concat()[..]));
    end.expect("a clean close, not a reset");
}

/// `persistent_client_expiration` in seconds (Mosquitto 2.1; 2.0.11 refuses `2s`): a
/// disconnected persistent session, with a QoS 1 message queued for it, is gone once the time
/// has passed; one that comes back in time gets its message.
#[test]
fn persistent_client_expiration_in_seconds_ends_idle_sessions() {
    let config =
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistent_client_expiration 2s\n";
    let broker = BrokerProcess::start_with(&our_bin("culex"), 1, with_port(config), &[]);
    let port = broker.port;
    fn subscribe(id: &str) -> [&str; 11] {
        ["-c", "-q", "1", "-i", id, "-t", "exp/t", "-C", "1", "-W", "1"]
    }
    for id in ["kept", "expired"] {
        let (code, _, stderr) = tool("mosquitto_sub", port, &subscribe(id));
        assert_eq!(code, 27, "timed out waiting, the session stays: {stderr}");
    }
    let (code, _, stderr) = tool("mosquitto_pub", port, &["-q", "1", "-t", "exp/t", "-m", "m"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, kept, _) = tool("mosquitto_sub", port, &subscribe("kept"));
    assert_eq!(kept, "m\n", "back within 2 s: the queued message");
    std::thread::sleep(Duration::from_millis(3500));
    let (_, expired, _) = tool("mosquitto_sub", port, &subscribe("expired"));
    assert_eq!(expired, "", "after 2 s the session and its queue are gone");
}

/// `memory_limit` below what the broker holds already: a v5 QoS 1 PUBLISH is answered with
/// Quota exceeded (the client stays connected), a v3 one closes the connection with
/// Mosquitto's line. Mosquitto 2.0.11 itself closes every version's connection, and then
/// crashes (see docs/mosquitto-differences.md), so culex alone is checked.
#[test]
fn memory_limit_refuses_publishes_above_it() {
    let config = "listener 0 127.0.0.1\nallow_anonymous true\nmemory_limit 1\nlog_type all\n";
    let broker = BrokerProcess::start_with(&our_bin("culex"), 1, |_| config.to_owned(), &[]);
    let v5 = ["-V", "5", "-q", "1", "-t", "a", "-m", "x", "-i", "mem-v5"];
    let (code, _, stderr) = tool("mosquitto_pub", broker.port, &v5);
    assert_eq!((code, stderr.as_str()), (0, "Warning: Publish 1 failed: Quota exceeded.\n"));
    let v3 = ["-q", "1", "-t", "a", "-m", "x", "-i", "mem-v3"];
    let (code, _, stderr) = tool("mosquitto_pub", broker.port, &v3);
    assert_eq!((code, stderr.as_str()), (7, "Error: The connection was lost.\n"));
    broker.wait_for_log(|line| line.ends_with("Client mem-v3 disconnected due to out of memory."));
}
