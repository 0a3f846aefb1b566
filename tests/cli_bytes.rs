//! The clients' bytes: `culex_pub`, `culex_sub` and `culex_rr` send, for the same flags, byte for
//! byte what Debian's `mosquitto_pub`, `mosquitto_sub` and `mosquitto_rr` send (CONNECT fields and properties, PUBLISH
//! properties from `-D`, SUBSCRIBE options, UNSUBSCRIBE, acknowledgements, DISCONNECT).
//!
//! Each row of the table runs once with Mosquitto's tool and once with ours, each against its
//! own [`FakeBroker`] on a loopback port that answers both alike and records every byte the
//! client writes; the two records (and the exit codes) must be equal packet for packet, and a
//! row must connect. The harness adds `-h` and `-p` (a `-L` row's URL names `{port}` instead)
//! and, unless the row sets one, `-i cli-bytes` (a default client id is random). Every row
//! agrees with Mosquitto 2.0.11; a row whose timing Mosquitto leaves free (several `-l` lines at
//! QoS 2) is written so that it has only one order.
//!
//! Mosquitto 2.1's `--retain-handling`, which 2.0.11 lacks, is checked against the SUBSCRIBE
//! that 2.1 documents instead.

pub(crate) mod fake_broker;

use std::path::Path;

use mqtt_codec::{PacketType, ProtocolVersion, whole_packet_len};

use self::fake_broker::{Delivery, FakeBroker, Recorded};
use crate::support::{TempDir, our_bin, reference_tool, run_tool};

/// The exit code recorded for a tool that did not finish within the command deadline (the
/// panic that says so is caught, so that every row still runs).
const UNFINISHED: i32 = -2;

/// Which pair of tools a row runs.
#[derive(Clone, Copy, Debug)]
enum Tool {
    /// `culex_pub` against `mosquitto_pub`.
    Pub,
    /// `culex_sub` against `mosquitto_sub`.
    Sub,
    /// `culex_rr` against `mosquitto_rr`.
    Rr,
}

impl Tool {
    /// Our binary and Mosquitto's.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::Pub => ("culex_pub", "mosquitto_pub"),
            Self::Sub => ("culex_sub", "mosquitto_sub"),
            Self::Rr => ("culex_rr", "mosquitto_rr"),
        }
    }
}

/// One invocation, run with both tools.
#[derive(Clone, Copy, Debug)]
struct Row {
    tool: Tool,
    args: &'static [&'static str],
    stdin: Option<&'static [u8]>,
    deliveries: &'static [Delivery],
}

/// A `culex_pub` row.
const fn publish(args: &'static [&'static str]) -> Row {
    Row { tool: Tool::Pub, args, stdin: None, deliveries: &[] }
}

/// A `culex_sub` row; the fake broker delivers `deliveries` after the SUBACK.
const fn subscribe(args: &'static [&'static str], deliveries: &'static [Delivery]) -> Row {
    Row { tool: Tool::Sub, args, stdin: None, deliveries }
}

/// A `culex_rr` row; the fake broker delivers `deliveries` (the response) after the SUBACK.
const fn request(args: &'static [&'static str], deliveries: &'static [Delivery]) -> Row {
    Row { tool: Tool::Rr, args, stdin: None, deliveries }
}

impl Row {
    /// The same row with `stdin` fed to the tool.
    const fn stdin(mut self, stdin: &'static [u8]) -> Self {
        self.stdin = Some(stdin);
        self
    }

    /// The full argument list against the fake broker on `port`, `{file}` naming `file` and
    /// `{port}` the port (for `-L`, whose URL names the host and port).
    fn arguments(&self, port: u16, file: &Path) -> Vec<String> {
        let port = port.to_string();
        let mut args = Vec::new();
        if !self.args.contains(&"-L") {
            args.extend(["-h", "127.0.0.1", "-p", &port].map(str::to_owned));
        }
        if !self.args.iter().any(|arg| matches!(*arg, "-i" | "--id" | "-I" | "--id-prefix")) {
            args.extend(["-i".to_owned(), "cli-bytes".to_owned()]);
        }
        let file = file.to_string_lossy();
        args.extend(
            self.args.iter().map(|arg| arg.replace("{file}", &file).replace("{port}", &port)),
        );
        args
    }

    /// Runs `program` with this row against a fresh fake broker, in `home`.
    fn record(&self, program: &Path, home: &Path) -> (Recorded, i32) {
        let broker = FakeBroker::start(self.deliveries);
        let args = self.arguments(broker.port, &home.join("payload.bin"));
        let finished = std::panic::catch_unwind(|| run_tool(program, &args, self.stdin, home));
        (broker.recorded(), finished.map_or(UNFINISHED, |finished| finished.code()))
    }

    /// How Mosquitto's and our records differ (or that a tool hung or sent nothing); `None`
    /// when they agree.
    fn check(&self, index: usize, work: &TempDir) -> Option<String> {
        let (ours, theirs) = self.tool.names();
        let home = work.join(&format!("row-{index}"));
        std::fs::create_dir_all(&home).expect("creating the row's home");
        std::fs::write(home.join("payload.bin"), b"file\0payload\n").expect("writing the payload");
        let (ours, theirs_path) = (our_bin(ours), reference_tool(theirs));
        let ((mine, my_code), (reference, their_code)) = std::thread::scope(|scope| {
            let reference = scope.spawn(|| self.record(&theirs_path, &home));
            (self.record(&ours, &home), reference.join().expect("recording Mosquitto's tool"))
        });
        let (mine_shown, reference_shown) = (show(&mine), show(&reference));
        // Every row is meant to connect: one that sends nothing proves nothing.
        let finished =
            my_code != UNFINISHED && their_code != UNFINISHED && !reference.bytes.is_empty();
        let equal = finished && mine_shown == reference_shown && my_code == their_code;
        let label = format!("row {index}: {theirs} {:?}", self.args);
        (!equal).then(|| {
            format!(
                "{label}\n  mosquitto (exit {their_code}):\n{}\n  culex (exit {my_code}):\n{}",
                reference_shown.join("\n"),
                mine_shown.join("\n")
            )
        })
    }
}

/// One line per packet the client sent: its name and its bytes in hex.
fn show(recorded: &Recorded) -> Vec<String> {
    let version = recorded.version.unwrap_or(ProtocolVersion::V3_1_1);
    let mut rest = recorded.bytes.as_slice();
    let mut lines = Vec::new();
    while let Some(&first) = rest.first() {
        let len = whole_packet_len(rest, version).ok().flatten().unwrap_or(rest.len());
        let (packet, after) = rest.split_at(len);
        let hex: String = packet.iter().map(|byte| format!("{byte:02x}")).collect();
        let name = PacketType::from_u8(first >> 4).map_or("?", PacketType::name);
        lines.push(format!("    {name:<11} {hex}"));
        rest = after;
    }
    lines
}

/// A QoS `qos` message on `topic`, not retained.
const fn message(topic: &'static str, qos: u8) -> Delivery {
    Delivery { topic, qos, retain: false }
}

/// A retained QoS 0 message on `topic`.
const fn retained(topic: &'static str) -> Delivery {
    Delivery { topic, qos: 0, retain: true }
}

/// The rows: every flag that changes what the tools send.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // CONNECT per version, clean session, keep alive, credentials, wills.
    publish(&["-t", "a/b", "-m", "hello"]),
    publish(&["-V", "31", "-t", "a/b", "-m", "hello"]),
    publish(&["-V", "mqttv311", "-t", "a/b", "-m", "hello"]),
    publish(&["-V", "5", "-t", "a/b", "-m", "hello"]),
    publish(&["-k", "5", "-t", "a/b", "-m", "hello"]),
    publish(&["-k", "7", "-V", "5", "-t", "a/b", "-m", "hello"]),
    publish(&["-k", "65535", "-q", "1", "-r", "-V", "31", "-t", "a/b", "-m", "x"]),
    publish(&["-i", "explicit-id", "-t", "a/b", "-m", "hello"]),
    publish(&["-c", "-t", "a/b", "-m", "hello"]),
    publish(&["-c", "-V", "5", "-t", "a/b", "-m", "hello"]),
    publish(&["-c", "-x", "60", "-V", "5", "-t", "a/b", "-m", "hello"]),
    publish(&["-x", "-1", "-V", "5", "-t", "a/b", "-m", "hello"]),
    publish(&["-u", "user", "-t", "a/b", "-m", "hello"]),
    publish(&["-u", "user", "-P", "secret", "-t", "a/b", "-m", "hello"]),
    publish(&["-u", "user", "-P", "secret", "-V", "5", "-t", "a/b", "-m", "hello"]),
    publish(&["-V", "5", "-u", "user", "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-P", "only-a-password", "-t", "a/b", "-m", "x"]),
    publish(&["-L", "mqtt://user:pw@127.0.0.1:{port}/from/url", "-m", "hello"]),
    publish(&["-L", "mqtt://127.0.0.1:{port}/url/topic", "-V", "5", "-m", ""]),
    publish(&["--will-topic", "w/t", "-t", "a/b", "-m", "hello"]),
    publish(&["--will-topic", "w/t", "--will-payload", "gone", "-t", "a/b", "-m", "x"]),
    publish(&["--will-topic", "w/t", "--will-payload", "gone", "--will-qos", "2", "--will-retain",
              "-t", "a/b", "-m", "x"]),
    publish(&["-V", "31", "--will-topic", "w", "--will-qos", "1", "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "--will-topic", "w/t", "--will-payload", "gone", "--will-qos", "1",
              "-D", "will", "will-delay-interval", "30", "-D", "will", "content-type", "text/plain",
              "-D", "will", "user-property", "k", "v", "-D", "will", "message-expiry-interval", "99",
              "-D", "will", "payload-format-indicator", "1", "-D", "will", "response-topic", "r/t",
              "-D", "will", "correlation-data", "abc", "-t", "a/b", "-m", "x"]),
    // CONNECT properties, in the order given, and the Receive Maximum the tools add.
    publish(&["-V", "5", "-D", "connect", "receive-maximum", "20", "-D", "connect",
              "maximum-packet-size", "1000", "-D", "connect", "topic-alias-maximum", "3",
              "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "connect", "request-problem-information", "0", "-D", "connect",
              "request-response-information", "1", "-D", "connect", "session-expiry-interval", "77",
              "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "connect", "user-property", "a", "1", "-D", "connect",
              "user-property", "b", "2", "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-x", "30", "-D", "connect", "user-property", "a", "b",
              "-t", "a/b", "-m", "x"]),
    publish(&["-c", "-V", "5", "-D", "connect", "receive-maximum", "5", "-D", "connect",
              "user-property", "a", "b", "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "connect", "maximum-packet-size", "500", "-D", "connect",
              "request-problem-information", "1", "-c", "-x", "10", "-D", "disconnect",
              "session-expiry-interval", "0", "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-M", "5", "-q", "1", "-t", "a/b", "-m", "x"]),
    // PUBLISH: QoS, retain, payload modes.
    publish(&["-q", "1", "-t", "a/b", "-m", "hello"]),
    publish(&["-q", "2", "-t", "a/b", "-m", "hello"]),
    publish(&["-q", "1", "-V", "5", "-t", "a/b", "-m", "hello"]),
    publish(&["-q", "2", "-V", "5", "-t", "a/b", "-m", "hello"]),
    publish(&["-r", "-t", "a/b", "-m", "hello"]),
    publish(&["-r", "-q", "1", "-t", "a/b", "-n"]),
    publish(&["-t", "a/b", "-n", "-V", "5"]),
    publish(&["-t", "a/b", "-f", "{file}", "-q", "1"]),
    publish(&["-t", "a/b", "-s"]).stdin(b"all of\nstdin\n"),
    publish(&["-t", "a/b", "-l", "-q", "1"]).stdin(b"one\ntwo\n\nthree"),
    // One line: with more, where Mosquitto's PUBRELs fall between its PUBLISHes depends on
    // how its reader thread and its network thread take turns.
    publish(&["-t", "a/b", "-l", "-V", "5", "-q", "2"]).stdin(b"one\n"),
    publish(&["-t", "a/b", "-m", "again", "--repeat", "3", "-q", "1"]),
    // PUBLISH properties, in the order given.
    publish(&["-V", "5", "-D", "publish", "content-type", "text/plain", "-D", "publish",
              "correlation-data", "1234", "-D", "publish", "response-topic", "re/ply",
              "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "publish", "message-expiry-interval", "3600", "-D", "publish",
              "payload-format-indicator", "1", "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "publish", "user-property", "k1", "v1", "-D", "publish",
              "user-property", "k2", "v2", "-q", "1", "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "publish", "topic-alias", "1", "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "publish", "topic-alias", "2", "--repeat", "2",
              "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "publish", "user-property", "k", "v", "-D", "publish",
              "content-type", "ct", "-D", "publish", "message-expiry-interval", "9",
              "-q", "2", "-r", "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "publish", "payload-format-indicator", "1", "-D", "publish",
              "user-property", "a", "1", "-D", "publish", "content-type", "ct", "-D", "publish",
              "user-property", "b", "2", "-t", "a/b", "-s"]).stdin(b"text"),
    // DISCONNECT properties.
    publish(&["-V", "5", "-D", "disconnect", "session-expiry-interval", "5",
              "-t", "a/b", "-m", "x"]),
    publish(&["-V", "5", "-D", "disconnect", "user-property", "why", "done",
              "-t", "a/b", "-m", "x"]),
    // SUBSCRIBE: versions, QoS, several filters, options, deliveries and their acks.
    subscribe(&["-t", "s/#", "-E"], &[]),
    subscribe(&["-V", "31", "-t", "s/#", "-E"], &[]),
    subscribe(&["-V", "5", "-t", "s/#", "-E"], &[]),
    subscribe(&["-q", "1", "-t", "s/#", "-t", "t/+", "-t", "u", "-E"], &[]),
    subscribe(&["-q", "2", "-V", "5", "-t", "s/#", "-t", "t/+", "-E"], &[]),
    subscribe(&["-V", "5", "-R", "-t", "s/#", "-E"], &[]),
    subscribe(&["-V", "5", "--retain-as-published", "-q", "1", "-t", "s/#", "-t", "x", "-E"], &[]),
    subscribe(&["-t", "s/a", "-C", "1"], &[message("s/a", 0)]),
    subscribe(&["-q", "1", "-t", "s/a", "-C", "1"], &[message("s/a", 1)]),
    subscribe(&["-q", "2", "-t", "s/a", "-C", "1"], &[message("s/a", 2)]),
    subscribe(&["-q", "1", "-t", "s/a", "-C", "1"], &[message("s/a", 2)]),
    subscribe(&["-c", "-q", "2", "-t", "s/a", "-C", "1"], &[message("s/a", 2)]),
    subscribe(&["-q", "2", "-V", "5", "-t", "s/a", "-C", "2"],
              &[message("s/a", 1), message("s/a", 2)]),
    subscribe(&["-V", "5", "-C", "3", "-t", "s/#", "-q", "1"],
              &[message("s/a", 1), message("s/b", 1), message("s/c", 1)]),
    subscribe(&["-v", "-N", "-F", "%t %p", "-t", "s/#", "-C", "1"], &[message("s/a", 0)]),
    subscribe(&["-t", "s/#", "-T", "s/skip", "-C", "1"],
              &[message("s/skip", 0), message("s/keep", 0)]),
    subscribe(&["-t", "s/#", "-R", "-C", "1"], &[retained("s/old"), message("s/new", 0)]),
    subscribe(&["-t", "s/#", "--retained-only", "-C", "2"],
              &[retained("s/old"), message("s/new", 0)]),
    subscribe(&["-t", "s/#", "--remove-retained", "-W", "1"], &[retained("s/old")]),
    subscribe(&["-V", "5", "-t", "s/#", "--remove-retained", "-W", "1"], &[retained("s/old")]),
    subscribe(&["-c", "-q", "1", "-t", "s/#", "-E"], &[]),
    subscribe(&["-c", "-V", "5", "-x", "120", "-t", "s/#", "-E"], &[]),
    subscribe(&["-u", "user", "-P", "pw", "-k", "10", "-t", "s/#", "-E"], &[]),
    // A PINGREQ once the keep-alive interval passes without traffic, then the -W timeout.
    subscribe(&["-V", "5", "-k", "5", "-W", "7", "-t", "s/#"], &[]),
    subscribe(&["--will-topic", "w", "--will-payload", "bye", "--will-retain", "-t", "s", "-E"],
              &[]),
    // UNSUBSCRIBE.
    subscribe(&["-t", "s/#", "-U", "old/#", "-E"], &[]),
    subscribe(&["-V", "31", "-t", "s/#", "-U", "old/#", "-E"], &[]),
    subscribe(&["-V", "5", "-t", "s/#", "-U", "old/#", "-U", "older", "-E"], &[]),
    subscribe(&["-V", "5", "-U", "old/#", "-t", "s/#", "-C", "1"], &[message("s/a", 0)]),
    // SUBSCRIBE, UNSUBSCRIBE, CONNECT and DISCONNECT properties of the subscriber.
    subscribe(&["-V", "5", "-D", "subscribe", "subscription-identifier", "7", "-t", "s/#", "-E"],
              &[]),
    subscribe(&["-V", "5", "-D", "subscribe", "user-property", "k", "v", "-D", "subscribe",
                "subscription-identifier", "9", "-t", "s/#", "-E"], &[]),
    subscribe(&["-V", "5", "-D", "unsubscribe", "user-property", "k", "v",
                "-t", "s/#", "-U", "o", "-E"], &[]),
    subscribe(&["-V", "5", "-D", "connect", "receive-maximum", "1", "-D", "connect",
                "user-property", "a", "b", "-t", "s/#", "-E"], &[]),
    subscribe(&["-V", "5", "-D", "connect", "user-property", "a", "b", "-C", "2", "-t", "s/#"],
              &[message("s/a", 0), message("s/b", 0)]),
    subscribe(&["-V", "5", "-D", "disconnect", "reason-string", "bye", "-t", "s/#", "-E"], &[]),
    // culex_rr: CONNECT with receive maximum 1, SUBSCRIBE to -e, the request with its response
    // topic, the acknowledgement of the response, and no DISCONNECT. The request is QoS 0 so
    // that no acknowledgement of it is left unread when the tool closes.
    request(&["-t", "rq/a", "-e", "rs/a", "-m", "hi"], &[message("rs/a", 0)]),
    request(&["-t", "rq/a", "-e", "rs/a", "-m", "hi"], &[message("rs/a", 1)]),
    request(&["-t", "rq/a", "-e", "rs/a", "-m", "hi"], &[message("rs/a", 2)]),
    request(&["-V", "311", "-t", "rq/a", "-e", "rs/a", "-m", "hi"], &[message("rs/a", 1)]),
    request(&["-V", "31", "-t", "rq/a", "-e", "rs/a", "-n"], &[message("rs/a", 0)]),
    request(&["-c", "-x", "60", "-k", "30", "-t", "rq/a", "-e", "rs/a", "-m", "x"],
            &[message("rs/a", 0)]),
    request(&["-D", "publish", "correlation-data", "c1", "-D", "publish", "user-property", "k",
              "v", "-D", "connect", "receive-maximum", "5", "-t", "rq/a", "-e", "rs/a", "-m", "x"],
            &[message("rs/a", 0)]),
    request(&["--will-topic", "w/t", "--will-payload", "gone", "-t", "rq/a", "-e", "rs/a",
              "-m", "x", "-v", "-F", "%t"], &[message("rs/a", 0)]),
];

/// `--retain-handling` (Mosquitto 2.1) rows and the SUBSCRIBE each must send, as 2.1 documents
/// it: the retain-handling bits of the options byte are 0x00, 0x10 or 0x20 for `always`, `new`
/// and `never`, replacing what an earlier `-R` set; an MQTT v3 SUBSCRIBE has options 0x00.
#[rustfmt::skip]
const RETAIN_HANDLING: &[(Row, &str)] = &[
    (subscribe(&["-V", "5", "-t", "s/#", "--retain-handling", "always", "-E"], &[]),
     "82090001000003732f2300"),
    (subscribe(&["-V", "5", "-q", "1", "-t", "s/#", "--retain-handling", "new", "-E"], &[]),
     "82090001000003732f2311"),
    (subscribe(&["-V", "5", "-t", "s/#", "--retain-handling", "never", "-E"], &[]),
     "82090001000003732f2320"),
    (subscribe(&["-V", "5", "-R", "-t", "s/#", "--retain-handling", "new", "-E"], &[]),
     "82090001000003732f2310"),
    (subscribe(&["-V", "5", "-q", "2", "--retain-as-published", "--retain-handling", "never",
                 "-t", "s/#", "-E"], &[]),
     "82090001000003732f232a"),
    (subscribe(&["-V", "311", "-t", "s/#", "--retain-handling", "never", "-E"], &[]),
     "820800010003732f2300"),
    (request(&["-t", "rq/a", "-e", "rs/a", "-m", "x", "--retain-handling", "new"],
             &[message("rs/a", 0)]),
     "820a000100000472732f6110"),
];

#[test]
fn retain_handling_reaches_the_subscribe_as_mosquitto_21_documents() {
    let work = TempDir::new("retain-handling");
    for (index, (row, expected)) in RETAIN_HANDLING.iter().enumerate() {
        let home = work.join(&format!("row-{index}"));
        std::fs::create_dir_all(&home).expect("creating the row's home");
        let (ours, _) = row.tool.names();
        let (recorded, code) = row.record(&our_bin(ours), &home);
        let sent = show(&recorded);
        let subscribe = sent.iter().find_map(|line| line.trim().strip_prefix("SUBSCRIBE"));
        assert_eq!(
            (code, subscribe.map(str::trim)),
            (0, Some(*expected)),
            "{ours} {:?} sent:\n{}",
            row.args,
            sent.join("\n")
        );
    }
}

/// How many rows run at once (each runs its two tools at once).
const WORKERS: usize = 8;

#[test]
fn clients_send_the_bytes_mosquitto_clients_send() {
    let work = TempDir::new("cli-bytes");
    let problems: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let work = &work;
                scope.spawn(move || {
                    let mine = ROWS.iter().enumerate().skip(worker).step_by(WORKERS);
                    mine.filter_map(|(index, row)| row.check(index, work)).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().expect("a row worker")).collect()
    });
    assert!(
        problems.is_empty(),
        "{} of {} rows differ:\n{}",
        problems.len(),
        ROWS.len(),
        problems.join("\n")
    );
}
