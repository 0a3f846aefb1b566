//! Golden tests for `culex_rr`: every row runs ours and Debian's `mosquitto_rr` with the same
//! arguments against the same Debian `mosquitto` broker and compares stdout, stderr and exit
//! status, normalising only broker-assigned client ids and the tool's own name. A responder
//! (`mosquitto_sub` piped into `mosquitto_pub`) answers every request on `rr/req/…`, on the
//! request's response topic; a raw fake broker plays an MQTT v3 broker refusing v5.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    self, BrokerProcess, Compare, Finished, GoldenRow, RowContext, assert_no_problems, mask,
    reference_tool,
};

/// Our tool and the Mosquitto tool it copies.
const TOOLS: (&str, &str) = ("culex_rr", "mosquitto_rr");

/// One invocation of the golden table. In arguments, `{port}` is the broker's port and
/// `{fake}` the port of a fake broker.
struct Row {
    args: &'static [&'static str],
    stdin: Option<&'static [u8]>,
    rc_file: Option<&'static str>,
    compare: Compare,
}

const fn row(args: &'static [&'static str]) -> Row {
    Row { args, stdin: None, rc_file: None, compare: Compare::All }
}

const fn with_rc(args: &'static [&'static str], rc_file: &'static str) -> Row {
    Row { args, stdin: None, rc_file: Some(rc_file), compare: Compare::All }
}

const fn own_stdout(args: &'static [&'static str]) -> Row {
    Row { args, stdin: None, rc_file: None, compare: Compare::NotStdoutText }
}

/// A table with the ports it runs against.
struct Table<'a> {
    rows: &'a [Row],
    fake: u16,
}

/// A row bound to its fake broker's port.
struct Bound<'a> {
    row: &'a Row,
    fake: u16,
}

impl GoldenRow for Bound<'_> {
    fn rc_file(&self, _: &RowContext<'_>) -> Option<String> {
        self.row.rc_file.map(str::to_owned)
    }

    fn prepare(&self, context: &RowContext<'_>, _: &str) -> Vec<String> {
        let (port, fake) = (context.port.to_string(), self.fake.to_string());
        self.row
            .args
            .iter()
            .map(|arg| arg.replace("{port}", &port).replace("{fake}", &fake))
            .collect()
    }

    fn stdin(&self) -> Option<&[u8]> {
        self.row.stdin
    }

    fn compare(&self) -> Compare {
        self.row.compare
    }
}

/// Normalises what is random by nature: broker-assigned ids.
fn normalise(text: &str) -> String {
    let text = text.replace("culex_rr", "mosquitto_rr");
    mask(&text, "auto-", |c| c.is_ascii_hexdigit() || c == '-')
}

impl Table<'_> {
    /// Runs every row with both tools and returns a description of each difference.
    fn check(&self, label: &str, port: u16) -> Vec<String> {
        let bound: Vec<Bound<'_>> =
            self.rows.iter().map(|row| Bound { row, fake: self.fake }).collect();
        support::check_rows(TOOLS, label, &bound, port, normalise)
    }
}

/// Errors found while parsing, and a connection nobody accepts.
const ARGUMENT_ERRORS: &[Row] = &[
    row(&[]),
    row(&["--foo"]),
    row(&["stray"]),
    row(&["-t", "a"]),
    row(&["-t", "a", "-e", "b"]),
    row(&["-t", "a", "-m", "x"]),
    row(&["-e"]),
    row(&["-t"]),
    row(&["-m"]),
    row(&["-f"]),
    row(&["-F"]),
    row(&["-W"]),
    row(&["-e", "a/#"]),
    row(&["-e", "a/+", "-t", "a", "-m", "x"]),
    row(&["-t", "a/+", "-e", "b", "-m", "x"]),
    row(&["-t", "a", "-m", "x", "-m", "y"]),
    row(&["-t", "a", "-m", "x", "-n", "-e", "r"]),
    row(&["-t", "a", "-e", "r", "-n", "-s"]),
    row(&["-l"]),
    row(&["-r"]),
    row(&["--repeat", "2"]),
    row(&["--repeat-delay", "1"]),
    row(&["-C", "1"]),
    row(&["-E"]),
    row(&["-T", "x"]),
    row(&["-U", "x"]),
    row(&["--remove-retained"]),
    row(&["--retained-only"]),
    row(&["--random-filter", "50"]),
    row(&["-W", "0"]),
    row(&["-W", "-3"]),
    row(&["-q", "3"]),
    row(&["-F", "%z"]),
    row(&["-F", "@"]),
    row(&["-c"]),
    row(&["-V", "311", "-c"]),
    row(&["-V", "31", "-c", "-t", "a", "-e", "b", "-m", "x"]),
    row(&["-c", "-i", "me", "-x", "10", "-t", "a", "-e", "b", "-n", "-p", "1"]),
    row(&["-k", "2", "-t", "a", "-e", "b", "-m", "x"]),
    row(&["--will-retain", "-t", "a", "-e", "b", "-m", "x"]),
    row(&["-D", "connect", "receive-maximum", "0"]),
    row(&["-D", "publish", "response-topic", "q", "-t", "a", "-e", "b", "-m", "x", "-p", "1"]),
    row(&["-t", "a", "-e", "b", "-m", "x", "-p", "1"]),
    row(&["-t", "a", "-e", "b", "-m", "x", "-p", "1", "--quiet"]),
    row(&["-L", "mqtt://127.0.0.1:1/x/y", "-e", "b", "-m", "x"]),
    row(&["-L", "mqtt://127.0.0.1:1/x/#", "-e", "b", "-m", "x"]),
    row(&["-t", "a", "-e", "b", "-m", "x", "--unix", "/nonexistent/socket"]),
    own_stdout(&["--help"]),
    own_stdout(&["--version"]),
    with_rc(&["-t", "a", "-m", "x"], "-e\n"),
    with_rc(&["-t", "a", "-m", "x", "-p", "1"], "-e rr/resp\n-V 311\n"),
    // An MQTT v3 broker refusing the protocol version: a v5 CONNECT reads it as reason 132,
    // a v3.1.1 one as return code 1, which mosquitto_rr prints with the v5 table.
    row(&["-t", "a", "-e", "b", "-m", "x", "-p", "{fake}"]),
    row(&["-t", "a", "-e", "b", "-m", "x", "-p", "{fake}", "-d"]),
    row(&["-t", "a", "-e", "b", "-m", "x", "-p", "{fake}", "-V", "311"]),
    row(&["-t", "a", "-e", "b", "-m", "x", "-p", "{fake}", "-V", "311", "-d"]),
];

/// Requests the responder answers, and the timeouts of requests nobody answers.
const RUNTIME: &[Row] = &[
    row(&["-p", "{port}", "-t", "rr/req/a", "-e", "rr/resp/a", "-m", "hello"]),
    row(&["-p", "{port}", "-t", "rr/req/a", "-e", "rr/resp/a", "-m", "hello", "-v"]),
    row(&["-p", "{port}", "-t", "rr/req/a", "-e", "rr/resp/a", "-m", "hello", "-v", "-N"]),
    row(&["-p", "{port}", "-t", "rr/req/a", "-e", "rr/resp/a", "-m", "x", "-F", "%t|%p|%q|%r"]),
    row(&["-p", "{port}", "-t", "rr/req/a", "-e", "rr/resp/a", "-m", "x", "-F", "%x %l %m"]),
    row(&["-p", "{port}", "-t", "rr/req/b", "-e", "rr/resp/b", "-n", "-d", "-i", "rrn"]),
    row(&["-p", "{port}", "-t", "rr/req/q", "-e", "rr/q", "-m", "q1", "-q", "1", "-d"]),
    row(&["-p", "{port}", "-t", "rr/req/q", "-e", "rr/q", "-m", "q2", "-q", "2", "-d"]),
    row(&["-p", "{port}", "-t", "rr/req/v3", "-e", "rr/req/v3r", "-m", "x", "-V", "311"]),
    row(&["-L", "mqtt://127.0.0.1:{port}/rr/req/url", "-e", "rr/resp/u", "-m", "u", "-d"]),
    row(&[
        "-p",
        "{port}",
        "-t",
        "rr/req/p",
        "-e",
        "rr/resp/p",
        "-m",
        "x",
        "-D",
        "publish",
        "correlation-data",
        "c1",
        "-D",
        "publish",
        "user-property",
        "k",
        "v",
        "-d",
        "-i",
        "rrp",
    ]),
    row(&["-p", "{port}", "-t", "nobody/listens", "-e", "rr/none", "-m", "x", "-W", "1", "-d"]),
    row(&[
        "-p",
        "{port}",
        "-t",
        "nobody/listens",
        "-e",
        "rr/none",
        "-m",
        "x",
        "-W",
        "1",
        "-q",
        "1",
    ]),
];

/// A fake broker on a loopback port that answers every CONNECT with `answer` and then reads
/// until the client closes.
fn fake_broker(answer: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fake broker");
    let port = listener.local_addr().expect("a bound socket has an address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buffer = [0_u8; 512];
            if stream.read(&mut buffer).is_err() {
                continue;
            }
            let _ = stream.write_all(answer);
            while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
        }
    });
    port
}

/// `mosquitto_sub` piped into `mosquitto_pub`: every request on `rr/req/#` gets `re: <payload>`
/// back on its response topic (or `rr/req/v3r` for an MQTT v3 request, which has none).
struct Responder(Child);

impl Responder {
    fn start(port: u16) -> Self {
        let script = r#"
            "$SUB" -p "$PORT" -V 5 -q 1 -t 'rr/req/#' -F '%R|%p' | while IFS= read -r line; do
                topic=${line%%|*}; payload=${line#*|}
                [ -n "$topic" ] || topic=rr/req/v3r
                case "$payload" in re:*) continue;; esac
                "$PUB" -p "$PORT" -q 1 -t "$topic" -m "re: $payload"
            done"#;
        let child = Command::new("sh")
            .args(["-c", script])
            .env("SUB", reference_tool("mosquitto_sub"))
            .env("PUB", reference_tool("mosquitto_pub"))
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("starting the responder");
        let responder = Self(child);
        responder.wait_ready(port);
        responder
    }

    /// Waits until a request gets its answer, so the responder's subscription is in place.
    fn wait_ready(&self, port: u16) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let answer = Command::new(reference_tool("mosquitto_rr"))
                .args(["-p", &port.to_string(), "-t", "rr/req/ping", "-e", "rr/resp/ping"])
                .args(["-m", "ping", "-W", "1"])
                .output()
                .expect("running mosquitto_rr");
            if answer.stdout == b"re: ping\n" {
                return;
            }
        }
        panic!("the responder never answered");
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        // The shell and the two tools share the process group the shell leads.
        if let Ok(group) = i32::try_from(self.0.id()) {
            let _ = Command::new("kill").args(["--", &format!("-{group}")]).status();
        }
        let _ = self.0.wait();
    }
}

#[test]
fn argument_and_connection_errors_match_mosquitto_rr() {
    let broker = BrokerProcess::mosquitto("");
    let table = Table { rows: ARGUMENT_ERRORS, fake: fake_broker(b"\x20\x02\x00\x01") };
    assert_no_problems(&table.check("rr-errors", broker.port));
}

/// Runs `program` with `args` in a fresh config dir.
fn run(program: &Path, args: &[&str]) -> Finished {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let home = support::TempDir::new("rr-single");
    support::run_tool(program, &args, None, home.path())
}

#[test]
fn a_v5_refusal_of_the_protocol_version_names_the_tool() {
    let fake = fake_broker(b"\x20\x03\x00\x84\x00").to_string();
    let args = ["-t", "a", "-e", "b", "-m", "x", "-p", &fake];
    let ours = run(&support::our_bin("culex_rr"), &args);
    let theirs = run(&reference_tool("mosquitto_rr"), &args);
    assert_eq!(ours.code(), theirs.code());
    assert_eq!(normalise(&ours.stderr), theirs.stderr);
    assert_eq!(
        ours.stderr,
        "Connection error: Unsupported Protocol Version. culex_rr only supports connecting to an MQTT v5 broker\n"
    );
}

#[test]
fn requests_and_responses_match_mosquitto_rr() {
    let broker = BrokerProcess::mosquitto("");
    let _responder = Responder::start(broker.port);
    let table = Table { rows: RUNTIME, fake: 0 };
    assert_no_problems(&table.check("rr-runtime", broker.port));
}

/// `--latency` is Mosquitto 2.1's, so it is checked on its own: one line after the response.
#[test]
fn latency_follows_the_response() {
    let broker = BrokerProcess::mosquitto("");
    let _responder = Responder::start(broker.port);
    let port = broker.port.to_string();
    let args = ["-p", &port, "-t", "rr/req/l", "-e", "rr/resp/l", "-m", "x", "--latency"];
    let ours = run(&support::our_bin("culex_rr"), &args);
    assert_eq!((ours.code(), ours.stderr.as_str()), (0, ""));
    let (response, latency) = ours.stdout.split_once('\n').expect("two lines");
    assert_eq!(response, "re: x");
    let latency = latency.strip_prefix("Latency: ").expect("a latency line");
    assert!(
        ["ns\n", "µs\n", "ms\n"].iter().any(|unit| latency.ends_with(unit)),
        "unexpected latency line {latency:?}"
    );
}
