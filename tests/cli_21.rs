//! Mosquitto 2.1's additions to the clients (`culex_pub`, `culex_sub`, `culex_rr`), which
//! Debian's 2.0.11 tools lack: each is checked against culex's broker and, where the broker
//! side exists in 2.0.11, against Debian's `mosquitto` too. (`culex_passwd`'s are in
//! `tests/passwd/`; the SUBSCRIBE bytes of `--retain-handling` in `tests/cli_bytes.rs`.)

use std::process::Command;

use std::io::{ErrorKind, Read as _};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, Certs, Finished, TempDir, our_bin, reference_tool, run,
};

/// Both brokers the clients are checked against, each with one plain listener and `extra`
/// configuration.
fn brokers(extra: &str) -> [(&'static str, BrokerProcess); 2] {
    brokers_with(1, |ports| {
        format!("listener {} 127.0.0.1\nallow_anonymous true\n{extra}\n", ports[0])
    })
}

/// Both brokers, each started with `config(ports)` declaring `listeners` listeners (as
/// [`BrokerProcess::start_with`] describes).
fn brokers_with(
    listeners: usize,
    config: impl Fn(&[u16]) -> String,
) -> [(&'static str, BrokerProcess); 2] {
    let start = |program| BrokerProcess::start_with(program, listeners, &config, &[]);
    [("culex", start(&our_bin("culex"))), ("mosquitto", start(&reference_tool("mosquitto")))]
}

/// Runs `culex_pub` with `args` (after `-h 127.0.0.1`); its exit code and stderr.
fn culex_pub(args: &[&str]) -> (i32, String) {
    let done = tool("culex_pub", args);
    (done.code(), done.stderr)
}

/// Runs our `program` with `args` after `-h 127.0.0.1`.
fn tool(program: &str, args: &[&str]) -> Finished {
    let mut command = Command::new(our_bin(program));
    run(command.args(["-h", "127.0.0.1"]).args(args), COMMAND_DEADLINE)
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

#[test]
fn websockets_carry_pub_and_sub_plain_and_over_tls() {
    let certs = Certs::new();
    let ca = certs.path("ca.crt");
    // Mosquitto 2.0.11 will not start with websockets listeners alone: the first is plain MQTT.
    let config = |ports: &[u16]| {
        format!(
            "allow_anonymous true\nlistener {} 127.0.0.1\n\
             listener {} 127.0.0.1\nprotocol websockets\n\
             listener {} 127.0.0.1\nprotocol websockets\ncafile {ca}\ncertfile {}\nkeyfile {}\n",
            ports[0],
            ports[1],
            ports[2],
            certs.path("server.crt"),
            certs.path("server.key"),
        )
    };
    for (name, broker) in brokers_with(3, config) {
        let (ws, wss) = (broker.ports[1], broker.ports[2]);
        let cases: [(&str, Vec<String>); 3] = [
            (
                "ws/flag",
                vec!["-p".into(), ws.to_string(), "--ws".into(), "-t".into(), "ws/flag".into()],
            ),
            ("ws/url", vec!["-L".into(), format!("ws://127.0.0.1:{ws}/ws/url")]),
            (
                "ws/tls",
                vec![
                    "--cafile".into(),
                    ca.clone(),
                    "-L".into(),
                    format!("wss://localhost:{wss}/ws/tls"),
                ],
            ),
        ];
        for (topic, connect) in cases {
            let connect: Vec<&str> = connect.iter().map(String::as_str).collect();
            let (code, stderr) = culex_pub(&[&connect[..], &["-r", "-m", name]].concat());
            assert_eq!(code, 0, "{name}: culex_pub {connect:?}: {stderr}");
            let got = tool("culex_sub", &[&connect[..], &["-C", "1", "-v"]].concat());
            assert_eq!(got.stdout, format!("{topic} {name}\n"), "{name}: {}", got.stderr);
        }
    }
}

#[test]
fn the_websocket_upgrade_request_is_mosquitto_21s() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    let port = listener.local_addr().expect("bound socket has an address").port().to_string();
    let client =
        std::thread::spawn(move || culex_pub(&["-p", &port, "--ws", "-t", "t", "-m", "m"]));
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let start = Instant::now();
    let mut socket = loop {
        match listener.accept() {
            Ok((socket, _)) => break socket,
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                assert!(start.elapsed() < COMMAND_DEADLINE, "culex_pub never connected");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(err) => panic!("accepting: {err}"),
        }
    };
    socket.set_nonblocking(false).expect("a blocking socket");
    socket.set_read_timeout(Some(COMMAND_DEADLINE)).expect("setting a read timeout");
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") && socket.read(&mut byte).expect("reading") == 1 {
        request.push(byte[0]);
    }
    drop(socket);
    let request = String::from_utf8(request).expect("the request is text");
    let mut lines: Vec<&str> = request.split("\r\n").filter(|line| !line.is_empty()).collect();
    assert_eq!(lines.remove(0), "GET /mqtt HTTP/1.1");
    let key = lines.iter().position(|line| line.starts_with("Sec-WebSocket-Key: "));
    lines.remove(key.expect("a Sec-WebSocket-Key header"));
    lines.sort_unstable();
    let expected = [
        "Connection: Upgrade",
        "Host: 127.0.0.1",
        "Sec-WebSocket-Protocol: mqtt",
        "Sec-WebSocket-Version: 13",
        "Upgrade: websocket",
    ];
    assert_eq!(lines, expected, "{request}");
    let (code, _) = client.join().expect("culex_pub thread");
    assert_ne!(code, 0, "the upgrade was never answered");
}

#[test]
fn tls_keylog_appends_the_secrets_of_each_connection() {
    let certs = Certs::new();
    let config = |ports: &[u16]| {
        format!(
            "allow_anonymous true\nlistener {} 127.0.0.1\n\
             listener {} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
            ports[0],
            ports[1],
            certs.path("ca.crt"),
            certs.path("server.crt"),
            certs.path("server.key"),
        )
    };
    let dir = TempDir::new("keylog");
    for (name, broker) in brokers_with(2, config) {
        let keylog = dir.join(name).to_string_lossy().into_owned();
        let tls = broker.ports[1].to_string();
        let ca = certs.path("ca.crt");
        let args = ["-h", "localhost", "-p", &tls, "--cafile", &ca, "--tls-keylog", &keylog];
        for version in ["tlsv1.3", "tlsv1.2"] {
            let (code, stderr) =
                culex_pub(&[&args[..], &["--tls-version", version, "-t", "t", "-m", "m"]].concat());
            assert_eq!(code, 0, "{name} {version}: {stderr}");
        }
        let log = std::fs::read_to_string(&keylog).expect("the key log was written");
        let labels: Vec<&str> = log.lines().filter_map(|line| line.split(' ').next()).collect();
        // TLS 1.3 writes its traffic secrets, then TLS 1.2 (where the broker allows it) adds
        // the master secret; every line is `<label> <64 hex digits> <hex secret>`.
        assert!(labels.contains(&"CLIENT_HANDSHAKE_TRAFFIC_SECRET"), "{name}: {log}");
        assert!(labels.contains(&"CLIENT_TRAFFIC_SECRET_0"), "{name}: {log}");
        assert!(
            log.lines().all(|line| line.split(' ').nth(1).is_some_and(|random| random.len() == 64)),
            "{name}: {log}"
        );
        let (code, _) = culex_pub(
            &[&args[..], &["--no-tls", "-p", &broker.port.to_string(), "-t", "t", "-m", "m"]]
                .concat(),
        );
        assert_eq!(code, 0, "{name}: --no-tls ignores --tls-keylog");
        assert_eq!(std::fs::read_to_string(&keylog).expect("the key log"), log, "{name}");
    }
}

#[test]
fn retain_handling_values_are_checked_as_mosquitto_21_checks_them() {
    let hint = |tool: &str| format!("\nUse '{tool} --help' to see usage.\n");
    for program in ["culex_sub", "culex_rr"] {
        let cases: [(&[&str], String); 3] = [
            (
                &["--retain-handling"],
                "--retain-handling argument given but no option specified.\n\n".into(),
            ),
            (
                &["--retain-handling", "sometimes"],
                "Unknown value 'sometimes' for --retain-handling.\n\n".into(),
            ),
            (
                &["--retain-handling", "new", "-R"],
                "--retain-handling new and a later -R cannot be used together.\n".into(),
            ),
        ];
        for (args, error) in cases {
            let done = tool(program, args);
            assert_eq!(
                (done.code(), done.stderr),
                (1, format!("Error: {error}{}", hint(program))),
                "{program} {args:?}"
            );
        }
    }
}

#[test]
fn watch_gives_each_topic_a_line_of_the_screen() {
    for (name, broker) in brokers("") {
        let port = broker.port.to_string();
        publish(broker.port, &["-t", "watch/a", "-m", "first", "-r"]);
        publish(broker.port, &["-t", "watch/b", "-m", "xyz", "-r"]);
        let got = tool("culex_sub", &["-p", &port, "-t", "watch/#", "-w", "-v", "-C", "2"]);
        assert_eq!((got.code(), got.stderr.as_str()), (0, ""), "{name}");
        // The two retained messages come in the broker's order; each takes the next line.
        let mut arrived = [("watch/a", "first"), ("watch/b", "xyz")];
        arrived.sort_by_key(|(topic, _)| got.stdout.find(topic));
        let mut expected = "\x1b[2J\x1b[1;1HBroker: 127.0.0.1\n".to_owned();
        for (line, (topic, payload)) in (2..).zip(arrived) {
            expected.push_str(&format!("\x1b[{line};1H{topic} {payload}\n\x1b[{line};1H\n"));
        }
        assert_eq!(got.stdout, expected, "{name}");
    }
}

#[test]
fn message_rate_prints_a_count_each_second_instead_of_the_messages() {
    for (name, broker) in brokers("log_type all") {
        let port = broker.port.to_string();
        // -w and -C have no effect beside --message-rate: only -W ends the run.
        let args =
            ["-p", &port, "-i", "rate-sub", "-t", "rate/#", "--message-rate", "-w", "-C", "1"];
        let args: Vec<String> =
            args.iter().chain(&["-v", "-W", "4"]).map(|a| (*a).to_owned()).collect();
        let subscriber = std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            tool("culex_sub", &args)
        });
        broker.wait_for_log(|line| line == "Received SUBSCRIBE from rate-sub");
        publish(broker.port, &["-t", "rate/a", "-m", "x", "-q", "1", "--repeat", "50"]);
        let done = subscriber.join().expect("the subscriber's thread");
        assert_eq!((done.code(), done.stderr.as_str()), (27, "Timed out\n"), "{name}");
        let counts: Vec<u32> = done
            .stdout
            .lines()
            .map(|line| {
                let count = line.strip_suffix(" msgs/s").and_then(|count| count.parse().ok());
                count.unwrap_or_else(|| panic!("{name}: not a rate line: {line:?}"))
            })
            .collect();
        assert!((2..=4).contains(&counts.len()), "{name}: one line a second: {counts:?}");
        assert_eq!(counts.iter().sum::<u32>(), 50, "{name}: every message counted once");
    }
}
