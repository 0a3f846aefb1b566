//! Golden tests for `culex_pub`: every row runs ours and Debian's `mosquitto_pub` with the
//! same arguments against the same Debian `mosquitto` broker and compares stdout, stderr and
//! exit status, normalising only random values (assigned / generated client ids, PIDs) and the
//! tool's own name. Further tests check with `mosquitto_sub` what arrived, and TLS.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    self, BrokerProcess, COMMAND_DEADLINE, Certs, Compare, GoldenRow, RowContext, TempDir,
    assert_no_problems, compare_tools, make_readable, mask, our_bin, reference_tool, run_tool,
    strings,
};

/// Our tool and the Mosquitto tool it copies.
const TOOLS: (&str, &str) = ("culex_pub", "mosquitto_pub");

/// One invocation of the golden table. In arguments, `{port}` is the broker's port and
/// `{file}` a file holding a payload with a NUL byte.
struct Row {
    args: Cow<'static, [&'static str]>,
    stdin: Option<&'static [u8]>,
    rc_file: Option<&'static str>,
    compare: Compare,
}

const fn row(args: &'static [&'static str]) -> Row {
    Row { args: Cow::Borrowed(args), stdin: None, rc_file: None, compare: Compare::All }
}

const fn with_stdin(args: &'static [&'static str], stdin: &'static [u8]) -> Row {
    Row { args: Cow::Borrowed(args), stdin: Some(stdin), rc_file: None, compare: Compare::All }
}

const fn with_rc(args: &'static [&'static str], rc_file: &'static str) -> Row {
    Row { args: Cow::Borrowed(args), stdin: None, rc_file: Some(rc_file), compare: Compare::All }
}

const fn own_stdout(args: &'static [&'static str]) -> Row {
    Row { args: Cow::Borrowed(args), stdin: None, rc_file: None, compare: Compare::NotStdoutText }
}

impl GoldenRow for Row {
    fn rc_file(&self, _: &RowContext<'_>) -> Option<String> {
        self.rc_file.map(str::to_owned)
    }

    fn prepare(&self, context: &RowContext<'_>, _: &str) -> Vec<String> {
        let data = context.home.join("payload.bin");
        std::fs::write(&data, b"file\0payload\n").expect("writing payload file");
        self.args
            .iter()
            .map(|arg| {
                let arg = arg.replace("{port}", &context.port.to_string());
                arg.replace("{file}", &data.to_string_lossy())
            })
            .collect()
    }

    fn stdin(&self) -> Option<&[u8]> {
        self.stdin
    }

    fn compare(&self) -> Compare {
        self.compare
    }
}

/// Normalises what is random by nature: broker-assigned ids, `mosq-` ids, PIDs after `pfx-`.
fn normalise(text: &str) -> String {
    let text = text.replace("culex_pub", "mosquitto_pub");
    let text = mask(&text, "auto-", |c| c.is_ascii_hexdigit() || c == '-');
    let text = mask(&text, "mosq-", |c| c.is_ascii_alphanumeric());
    mask(&text, "pfx-", |c| c.is_ascii_digit())
}

/// Runs every row with both tools and returns a description of each difference.
fn check_rows(rows: &[Row], port: u16) -> Vec<String> {
    support::check_rows(TOOLS, "pub-golden", rows, port, normalise)
}

/// Errors found while parsing: no broker is contacted.
const ARGUMENT_ERRORS: &[Row] = &[
    row(&["--foo"]),
    row(&["-dv"]),
    row(&["stray"]),
    row(&["-t"]),
    row(&["-h"]),
    row(&["-m"]),
    row(&["-f"]),
    row(&["-k"]),
    row(&["-M"]),
    row(&["-V"]),
    row(&["--will-qos"]),
    row(&["--proxy"]),
    row(&["--tls-engine-kpass-sha1"]),
    row(&["-p", "70000", "-t", "a", "-m", "b"]),
    row(&["-q", "3", "-t", "a", "-m", "b"]),
    row(&["-q", "-1"]),
    row(&["-t", "a/#", "-m", "x"]),
    row(&["-t", "-m", "x"]),
    row(&["-m", "x", "-n", "-t", "a"]),
    row(&["-n", "-m"]),
    row(&["-k", "2", "-t", "a", "-m", "b"]),
    row(&["-k", "abc", "-t", "a", "-m", "b"]),
    row(&["-V", "4"]),
    row(&["-x", "abc"]),
    row(&["-x", "-2"]),
    row(&["-c", "-t", "a", "-m", "b"]),
    row(&["-V", "5", "-c", "-t", "a", "-m", "b"]),
    row(&["-I", "x", "-c", "-t", "a", "-m", "b"]),
    row(&["--will-payload", "x", "-t", "a", "-m", "b"]),
    row(&["--will-retain", "-t", "a", "-m", "b"]),
    row(&["--will-qos", "3"]),
    row(&["--will-topic", "a/+"]),
    row(&["-M", "0"]),
    row(&["--repeat", "0"]),
    row(&["--repeat-delay", "-1"]),
    row(&["-L", "foo://x/y"]),
    row(&["-L", "mqtt://host"]),
    row(&["-L", "mqtt://host/a/#", "-m", "x"]),
    row(&["-i", "a", "-I", "b"]),
    row(&["-I", "b", "-i", "a"]),
    row(&["--proxy", "http://x"]),
    row(&["--proxy", "socks5h://"]),
    row(&["--proxy", "socks5h://h:0"]),
    row(&["--cert", "x"]),
    row(&["--keyform", "pem"]),
    row(&["--psk", "00"]),
    row(&["--psk", "00", "--psk-identity", "i", "--cafile", "x"]),
    row(&["-D", "connect", "foo", "1"]),
    row(&["-D", "foo", "bar", "1"]),
    row(&["-D", "connect", "receive-maximum"]),
    row(&["-D", "Publish", "Topic-Alias", "70000"]),
    row(&["-D", "connect", "maximum-qos", "1"]),
    row(&["-D", "connack", "maximum-qos", "1"]),
    row(&["-D", "auth", "user-property", "a", "b"]),
    row(&["-D", "publish", "subscription-identifier", "3"]),
    row(&["-D", "connect", "session-expiry-interval", "-1"]),
    row(&["-D", "CONNECT", "receive-maximum", "0", "-t", "a", "-m", "b"]),
    row(&[
        "-D",
        "publish",
        "content-type",
        "x",
        "-D",
        "publish",
        "content-type",
        "y",
        "-t",
        "a",
        "-m",
        "b",
    ]),
    row(&["-x", "5", "-D", "connect", "session-expiry-interval", "6", "-t", "a", "-m", "b"]),
    row(&[
        "-D",
        "will",
        "content-type",
        "a",
        "-D",
        "will",
        "content-type",
        "b",
        "-t",
        "a",
        "-m",
        "b",
    ]),
    row(&["-t", "a\u{1}", "-m", "x"]),
    row(&["-t", "a\u{fdd0}", "-m", "x"]),
    row(&["-L", "mqtt://h/a\u{85}", "-m", "x"]),
    row(&["--will-topic", "w\u{7f}", "-m", "x"]),
    row(&["-D", "publish", "content-type", "\u{1}", "-t", "a", "-m", "x"]),
    row(&["-D", "publish", "user-property", "\u{ffff}", "v", "-t", "a", "-m", "x"]),
    row(&["-f", "/nonexistent/file", "-t", "a"]),
    row(&["-f", "/nonexistent/file", "-t", "a", "--quiet"]),
    with_stdin(&["-s", "-t", "a"], b""),
    own_stdout(&["-t", "a"]),
    own_stdout(&["-m", "a"]),
    own_stdout(&["--help"]),
    own_stdout(&["--help", "-t"]),
    with_rc(&["-t", "a", "-m", "b"], "--foo\n"),
    with_rc(&["-m", "b"], "-t\n"),
    with_rc(&["-t", "a", "-n"], "-m  hi\r\n"),
];

#[test]
fn argument_errors_match_mosquitto_pub() {
    let broker = BrokerProcess::mosquitto("");
    let problems = check_rows(ARGUMENT_ERRORS, broker.port);
    assert_no_problems(&problems);
}

/// Run-time rows against a broker that accepts anyone.
const RUNTIME: &[Row] = &[
    row(&["-p", "{port}", "-t", "g/a", "-m", "b", "-d"]),
    row(&["-p", "{port}", "-t", "g/a", "-m", "b"]),
    row(&["-p", "{port}", "-t", "g/q1", "-m", "qos one", "-q", "1", "-d", "-i", "pubq1"]),
    row(&["-p", "{port}", "-t", "g/q2", "-m", "qos two", "-q", "2", "-d", "-i", "pubq2"]),
    row(&["-p", "{port}", "-t", "g/v31", "-m", "x", "-q", "2", "-d", "-V", "31"]),
    row(&["-p", "{port}", "-t", "g/v31", "-m", "x", "-q", "1", "-d", "-V", "mqttv31", "-i", "old"]),
    row(&["-p", "{port}", "-t", "g/v5", "-m", "x", "-q", "1", "-d", "-V", "5"]),
    row(&["-p", "{port}", "-t", "g/v5", "-m", "x", "-q", "2", "-d", "-V", "mqttv5", "-i", "five"]),
    row(&[
        "-p", "{port}", "-t", "g/v311", "-m", "x", "-q", "1", "-r", "-d", "-V", "mqttv311", "-i",
        "fixed",
    ]),
    row(&[
        "-p", "{port}", "-t", "g/rep", "-m", "x", "--repeat", "3", "-q", "1", "-d", "-I", "pfx-",
    ]),
    row(&[
        "-p",
        "{port}",
        "-t",
        "g/rep",
        "-m",
        "x",
        "--repeat",
        "2",
        "--repeat-delay",
        "0.1",
        "-d",
        "-i",
        "rd",
    ]),
    row(&["-p", "{port}", "-t", "g/null", "-n", "-d", "-i", "nul"]),
    row(&["-p", "{port}", "-t", "g/file", "-f", "{file}", "-d", "-i", "fil", "-q", "1"]),
    with_stdin(&["-p", "{port}", "-t", "g/stdin", "-s", "-d", "-i", "sin"], b"whole\nstdin\n"),
    // Mosquitto's -l reads stdin on another thread, so whether an acknowledgement is logged
    // before the next PUBLISH is a race there.
    Row {
        args: Cow::Borrowed(&["-p", "{port}", "-t", "g/lines", "-l", "-d", "-i", "lin", "-q", "1"]),
        stdin: Some(b"a\n\nb\r\nlast"),
        rc_file: None,
        compare: Compare::StdoutLinesAnyOrder,
    },
    with_stdin(&["-p", "{port}", "-t", "g/lines", "-l", "-d", "-i", "lin0"], b"one\ntwo\n"),
    with_stdin(&["-p", "{port}", "-t", "g/lines", "-l", "-d", "-i", "lin2", "-q", "2"], b""),
    row(&["-L", "mqtt://127.0.0.1:{port}/g/url", "-m", "x", "-d", "-i", "url"]),
    row(&["-L", "mqtt://user:pw@127.0.0.1:{port}/g/url", "-m", "x", "-d", "-i", "url"]),
    row(&["-L", "mqtt://127.0.0.1:{port}/", "-m", "x", "-d", "-i", "emptytopic"]),
    row(&[
        "-p",
        "{port}",
        "-V",
        "5",
        "-D",
        "publish",
        "topic-alias",
        "3",
        "--repeat",
        "2",
        "-r",
        "-t",
        "g/ta",
        "-m",
        "ta",
        "-d",
        "-i",
        "pubTA",
    ]),
    row(&[
        "-p",
        "{port}",
        "--will-topic",
        "g/will",
        "--will-payload",
        "bye",
        "--will-qos",
        "1",
        "--will-retain",
        "-t",
        "g/w",
        "-m",
        "b",
        "-d",
        "-i",
        "wl",
    ]),
    row(&["-p", "{port}", "-u", "user", "-P", "pass", "-t", "g/u", "-m", "b", "-d", "-i", "usr"]),
    row(&["-p", "{port}", "-V", "5", "-P", "pass", "-t", "g/u", "-m", "b", "-d", "-i", "pw5"]),
    row(&[
        "-p",
        "{port}",
        "-k",
        "5",
        "--nodelay",
        "-A",
        "127.0.0.1",
        "-t",
        "g/k",
        "-m",
        "b",
        "-d",
        "-i",
        "ka",
    ]),
    row(&[
        "-p", "{port}", "-c", "-i", "persist", "-V", "5", "-x", "60", "-t", "g/c", "-m", "b", "-q",
        "1", "-d",
    ]),
    row(&["-p", "{port}", "-c", "-i", "persist3", "-t", "g/c", "-m", "b", "-d"]),
    row(&[
        "-p",
        "{port}",
        "-V",
        "5",
        "-D",
        "connect",
        "user-property",
        "a",
        "b",
        "-D",
        "publish",
        "user-property",
        "c",
        "d",
        "-D",
        "publish",
        "content-type",
        "text/plain",
        "-D",
        "publish",
        "message-expiry-interval",
        "30",
        "-t",
        "g/p",
        "-m",
        "b",
        "-q",
        "1",
        "-d",
        "-i",
        "props",
    ]),
    row(&[
        "-p",
        "{port}",
        "-V",
        "5",
        "-D",
        "disconnect",
        "session-expiry-interval",
        "0",
        "-t",
        "g/p",
        "-m",
        "b",
        "-d",
        "-i",
        "dprops",
    ]),
    row(&["-p", "{port}", "-M", "1", "-t", "g/m", "-m", "b", "-q", "1", "-d", "-i", "inflight"]),
    row(&["-p", "{port}", "-V", "31", "-P", "x", "-t", "a", "-m", "b"]),
    row(&["-p", "{port}", "-i", "", "-t", "a", "-m", "b"]),
    row(&["-p", "{port}", "-I", "", "-t", "a", "-m", "b"]),
    row(&["-p", "{port}", "-t", "a", "-f", "/"]),
    row(&["-p", "{port}", "-t", "", "-m", "b"]),
    row(&["-p", "{port}", "-t", "/lead/slash", "-m", "b", "-d", "-i", "slash"]),
    row(&[
        "-p",
        "{port}",
        "-V",
        "5",
        "-D",
        "connect",
        "maximum-packet-size",
        "20",
        "-t",
        "a",
        "-m",
        "b",
        "-d",
        "-i",
        "mps",
    ]),
    row(&[
        "-p",
        "{port}",
        "-V",
        "5",
        "-D",
        "connect",
        "authentication-method",
        "x",
        "-t",
        "a",
        "-m",
        "b",
        "-d",
        "-i",
        "auth",
    ]),
    row(&[
        "-p",
        "{port}",
        "-V",
        "5",
        "-D",
        "publish",
        "response-topic",
        "r/t",
        "-D",
        "publish",
        "correlation-data",
        "cd",
        "-D",
        "publish",
        "payload-format-indicator",
        "1",
        "-t",
        "a",
        "-m",
        "b",
        "-q",
        "2",
        "-d",
        "-i",
        "rr",
    ]),
    row(&[
        "-p",
        "{port}",
        "-V",
        "5",
        "--will-topic",
        "w",
        "-D",
        "will",
        "will-delay-interval",
        "5",
        "-D",
        "will",
        "content-type",
        "t",
        "-t",
        "a",
        "-m",
        "b",
        "-d",
        "-i",
        "wd",
    ]),
    row(&[
        "-p",
        "{port}",
        "-V",
        "5",
        "-D",
        "connect",
        "receive-maximum",
        "1",
        "-q",
        "1",
        "--repeat",
        "3",
        "-t",
        "a",
        "-m",
        "b",
        "-d",
        "-i",
        "rm",
    ]),
    row(&["-p", "{port}", "-c", "-V", "5", "-x", "10", "-t", "a", "-m", "b"]),
    row(&["-p", "{port}", "-c", "-V", "5", "-x", "10", "-t", "a", "-m", "b", "--quiet"]),
    row(&["-p", "{port}", "--tls-version", "tlsv1.0", "-t", "a", "-m", "b"]),
    row(&[
        "-p",
        "{port}",
        "--tls-version",
        "tlsv1.2",
        "-t",
        "g/plain",
        "-m",
        "b",
        "-d",
        "-i",
        "notls",
    ]),
    row(&["-p", "{port}", "--cafile", "/nonexistent/ca.crt", "-t", "a", "-m", "b"]),
    row(&["-L", "mqtt://127.0.0.1:99999/a", "-m", "b"]),
    row(&["--unix", "/nonexistent/socket", "-t", "a", "-m", "b"]),
    // A "proxy" that is really an MQTT broker: it drops the SOCKS greeting.
    row(&[
        "--proxy",
        "socks5h://127.0.0.1:{port}",
        "-p",
        "{port}",
        "-t",
        "a",
        "-m",
        "b",
        "-d",
        "-i",
        "notsocks",
    ]),
    row(&["-h", "host.invalid", "-p", "{port}", "-t", "a", "-m", "b"]),
    with_rc(&["-t", "g/rc", "-m", "b", "-p", "{port}"], "# defaults\n-q 2\n-d\n-i rcid\n"),
];

#[test]
fn runtime_output_matches_mosquitto_pub() {
    let broker = BrokerProcess::mosquitto("");
    let mut problems = check_rows(RUNTIME, broker.port);
    // Nothing listens on a port we bound and released.
    let closed = support::unused_port().to_string();
    let work = TempDir::new("pub-closed");
    for extra in [&[][..], &["--quiet"][..], &["-d"][..]] {
        let args = strings(&[&["-p", &closed, "-t", "a", "-m", "b"][..], extra].concat());
        problems.extend(compare_tools(TOOLS, &args, None, work.path()));
    }
    assert_no_problems(&problems);
}

/// Writes a password file for user `alice` / `secret` with mosquitto_passwd.
fn password_file(dir: &Path) -> PathBuf {
    let path = dir.join("passwd");
    let status = Command::new(reference_tool("mosquitto_passwd"))
        .arg("-c")
        .arg("-b")
        .arg(&path)
        .arg("alice")
        .arg("secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running mosquitto_passwd");
    assert!(status.success(), "mosquitto_passwd failed");
    make_readable(&path);
    path
}

#[test]
fn refused_connections_match_mosquitto_pub() {
    let dir = TempDir::new("pub-auth");
    make_readable(dir.path());
    let passwd = password_file(dir.path());
    let broker = BrokerProcess::mosquitto(&format!(
        "allow_anonymous false\npassword_file {}",
        passwd.display()
    ));
    let rows = [
        row(&["-p", "{port}", "-t", "a", "-m", "b"]),
        row(&["-p", "{port}", "-t", "a", "-m", "b", "-d", "-i", "anon"]),
        row(&["-p", "{port}", "-t", "a", "-m", "b", "--quiet"]),
        row(&[
            "-p", "{port}", "-t", "a", "-m", "b", "-u", "alice", "-P", "wrong", "-d", "-i",
            "authbad",
        ]),
        row(&[
            "-p", "{port}", "-t", "a", "-m", "b", "-u", "alice", "-P", "secret", "-d", "-i",
            "authok",
        ]),
        row(&["-p", "{port}", "-t", "a", "-m", "b", "-V", "5"]),
        row(&["-p", "{port}", "-t", "a", "-m", "b", "-V", "5", "-d"]),
        row(&["-p", "{port}", "-t", "a", "-m", "b", "-V", "31", "-d", "-i", "old"]),
        row(&["-L", "mqtt://alice:secret@127.0.0.1:{port}/a", "-m", "b", "-d", "-i", "urlauth"]),
    ];
    let problems = check_rows(&rows, broker.port);
    assert_no_problems(&problems);
}

/// Reads back the retained message on `topic` with mosquitto_sub, formatted by `format`.
fn retained(port: u16, topic: &str, format: &str, v5: bool) -> String {
    let mut command = Command::new(reference_tool("mosquitto_sub"));
    command.args([
        "-p",
        &port.to_string(),
        "-t",
        topic,
        "-C",
        "1",
        "-W",
        "5",
        "-q",
        "2",
        "-F",
        format,
    ]);
    if v5 {
        command.args(["-V", "5"]);
    }
    let finished = support::run(&mut command, COMMAND_DEADLINE);
    assert_eq!(finished.code(), 0, "mosquitto_sub on {topic}: {finished:?}");
    finished.stdout
}

#[test]
fn published_messages_arrive_with_payload_retain_and_qos() {
    let broker = BrokerProcess::mosquitto("");
    let work = TempDir::new("pub-arrive");
    let file = work.path().join("payload.bin");
    std::fs::write(&file, b"bin\x01ary\n").expect("writing payload");
    let file = file.to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, &str, bool)> = vec![
        (vec!["-m", "hello", "-q", "0"], "%r %q %l %p", false),
        (vec!["-m", "hello one", "-q", "1"], "%r %q %l %p", false),
        (vec!["-m", "hello two", "-q", "2", "-V", "31"], "%r %q %l %p", false),
        (vec!["-f", &file, "-q", "1"], "%r %q %l %x", false),
        (
            vec![
                "-m",
                "{}",
                "-q",
                "1",
                "-V",
                "5",
                "-D",
                "publish",
                "content-type",
                "application/json",
                "-D",
                "publish",
                "user-property",
                "k",
                "v",
            ],
            "%r %q %C %P %p",
            true,
        ),
    ];
    for (index, (args, format, v5)) in cases.iter().enumerate() {
        let mut outputs = Vec::new();
        for (tool, program) in
            [("ours", our_bin("culex_pub")), ("mosquitto", reference_tool("mosquitto_pub"))]
        {
            let topic = format!("arrive/{index}/{tool}");
            let mut full = vec![
                "-p".to_owned(),
                broker.port.to_string(),
                "-t".into(),
                topic.clone(),
                "-r".into(),
            ];
            full.extend(args.iter().map(|arg| (*arg).to_owned()));
            let finished = run_tool(&program, &full, None, work.path());
            assert_eq!(finished.code(), 0, "{tool} {full:?}: {finished:?}");
            outputs.push(retained(broker.port, &topic, format, *v5));
        }
        assert_eq!(outputs[0], outputs[1], "case {index} {args:?}");
    }
}

/// Reads `stdout` byte by byte until what was read contains `marker`.
///
/// # Panics
/// If `what`'s output ends first.
fn read_until(stdout: &mut impl Read, marker: &str, what: &str) {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        assert_eq!(stdout.read(&mut byte).expect("reading output"), 1, "{what} ended early");
        seen.push(byte[0]);
    }
}

/// Starts `mosquitto_sub -d` on `topic` (QoS 1, plus `extra`) and returns once its
/// subscription is acknowledged, with the rest of its stdout to read.
fn subscribed(
    port: u16,
    topic: &str,
    extra: &[&str],
) -> (std::process::Child, std::process::ChildStdout) {
    // stdbuf: mosquitto_sub's -d lines are block-buffered on a pipe.
    let mut sub = Command::new("stdbuf")
        .arg("-oL")
        .arg(reference_tool("mosquitto_sub"))
        .args(["-p", &port.to_string(), "-t", topic, "-q", "1", "-d"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting mosquitto_sub");
    let mut stdout = sub.stdout.take().expect("piped");
    read_until(&mut stdout, "received SUBACK", "mosquitto_sub");
    (sub, stdout)
}

#[test]
fn stdin_lines_arrive_as_separate_messages() {
    let broker = BrokerProcess::mosquitto("");
    let work = TempDir::new("pub-lines");
    let mut received = Vec::new();
    for (tool, program) in
        [("ours", our_bin("culex_pub")), ("mosquitto", reference_tool("mosquitto_pub"))]
    {
        let topic = format!("lines/{tool}");
        let (mut sub, mut stdout) =
            subscribed(broker.port, &topic, &["-C", "4", "-W", "10", "-F", "[%p] q%q"]);
        let args = strings(&["-p", &broker.port.to_string(), "-t", &topic, "-l", "-q", "1"]);
        let finished =
            run_tool(&program, &args, Some(b"first\n\nthird\r\nno newline"), work.path());
        assert_eq!(finished.code(), 0, "{tool}: {finished:?}");
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).expect("reading mosquitto_sub");
        let _ = sub.wait();
        let messages: Vec<String> =
            rest.lines().filter(|line| line.starts_with('[')).map(str::to_owned).collect();
        received.push(messages);
    }
    assert_eq!(received[0], ["[first] q1", "[] q1", "[third\r] q1", "[no newline] q1"]);
    assert_eq!(received[0], received[1]);
}

#[test]
fn tls_publishes_and_rejects_untrusted_or_expired_servers() {
    let certs = Certs::new();
    let (_broker, port) = certs.broker("server.crt", "require_certificate false");
    let (_expired, expired_port) = certs.broker("expired.crt", "");
    let (_mutual, mutual_port) = certs.broker("server.crt", "require_certificate true");
    let ca = certs.path("ca.crt");
    let other = certs.path("other.crt");
    let work = TempDir::new("pub-tls-run");
    let base = |port: u16, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> =
            ["-p", &port.to_string(), "-t", "tls/t", "-m", "m", "-i", "tlsc"]
                .iter()
                .map(|arg| (*arg).to_owned())
                .collect();
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        args
    };
    // Cases whose output Mosquitto produces deterministically: compare exactly.
    let same = [
        base(port, &["--cafile", &ca, "-d"]),
        base(port, &["--cafile", &ca, "-h", "localhost", "-q", "1", "-d"]),
        base(port, &["--cafile", &ca, "--tls-version", "tlsv1.3", "-d"]),
        base(port, &["--cafile", &ca, "--ciphers", "HIGH:!aNULL", "-d"]),
        base(
            port,
            &[
                "--cafile",
                &ca,
                "--ciphers",
                "ECDHE-RSA-AES128-GCM-SHA256",
                "--tls-version",
                "tlsv1.2",
                "-q",
                "2",
                "-d",
            ],
        ),
        base(port, &["--cafile", &ca, "--ciphers", "FOO"]),
        base(port, &["--cafile", &ca, "--tls-version", "tlsv1.2", "--tls-alpn", "mqtt", "-d"]),
        base(
            mutual_port,
            &[
                "--cafile",
                &ca,
                "--cert",
                &certs.path("client.crt"),
                "--key",
                &certs.path("client.key"),
                "-d",
            ],
        ),
        base(
            port,
            &["--cafile", &ca, "--cert", &certs.path("client.crt"), "--key", "/nonexistent.key"],
        ),
    ];
    let mut problems = Vec::new();
    for args in same {
        problems.extend(compare_tools(TOOLS, &args, None, work.path()));
    }
    // Handshake failures: Mosquitto reports them either while connecting ("Unable to connect
    // (A TLS error occurred.).", exit 1) or from its loop ("Error: A TLS error occurred.", exit
    // 8), depending on a race; we always report the latter.
    for args in [
        base(port, &["--cafile", &other]),
        base(expired_port, &["--cafile", &ca]),
        base(port, &["--cafile", &ca, "-h", "127.0.0.1"]),
    ] {
        let mine = run_tool(&our_bin("culex_pub"), &args, None, work.path());
        let theirs = run_tool(&reference_tool("mosquitto_pub"), &args, None, work.path());
        let allowed = [
            (8, "Error: A TLS error occurred.\n"),
            (1, "Unable to connect (A TLS error occurred.).\n"),
        ];
        if !allowed.contains(&(theirs.code(), theirs.stderr.as_str())) {
            problems.push(format!("{args:?}: mosquitto did something new: {theirs:?}"));
        }
        if (mine.code(), mine.stderr.as_str()) != (8, "Error: A TLS error occurred.\n")
            || !mine.stdout.is_empty()
        {
            problems.push(format!("{args:?}: ours {mine:?}"));
        }
    }
    // --capath loads every PEM file of the directory (OpenSSL needs `c_rehash` names first).
    let capath = base(port, &["--capath", &certs.path("."), "-q", "2"]);
    let mine = run_tool(&our_bin("culex_pub"), &capath, None, work.path());
    if mine.code() != 0 {
        problems.push(format!("--capath: {mine:?}"));
    }
    // --insecure skips only the host-name check: a name the certificate lacks is accepted.
    let insecure = base(port, &["--cafile", &ca, "-h", "127.0.0.1", "--insecure"]);
    let mine = run_tool(&our_bin("culex_pub"), &insecure, None, work.path());
    if mine.code() != 0 {
        problems.push(format!("--insecure: {mine:?}"));
    }
    assert_no_problems(&problems);
}

#[test]
fn unix_socket_and_keepalive_match_mosquitto_pub() {
    let dir = TempDir::new("pub-unix");
    let (broker, socket) = BrokerProcess::mosquitto_with_unix_socket(&dir);
    let port = broker.port.to_string();
    let rows: Vec<Vec<&str>> = vec![
        vec!["--unix", &socket, "-t", "u/a", "-m", "b", "-d", "-i", "ux"],
        vec!["--unix", &socket, "-t", "u/a", "-m", "b", "-d", "-i", "ux", "-q", "2", "-V", "5"],
        vec!["-p", "0", "-h", &socket, "-t", "u/a", "-m", "b", "-d", "-i", "ux", "-q", "1"],
        // A PINGREQ goes out when the keep-alive interval passes without traffic.
        vec![
            "-p",
            &port,
            "-k",
            "5",
            "--repeat",
            "2",
            "--repeat-delay",
            "5.5",
            "-t",
            "k/a",
            "-m",
            "b",
            "-d",
            "-i",
            "ka",
        ],
    ];
    let mut problems = Vec::new();
    for args in rows {
        problems.extend(compare_tools(TOOLS, &strings(&args), None, dir.path()));
    }
    assert_no_problems(&problems);
}

/// A minimal SOCKS5 proxy on a free loopback port: no-auth or user/password, CONNECT only,
/// relaying to the requested address. Remembers the credentials it was given. Stops on drop.
struct Socks5Proxy {
    port: u16,
    credentials: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Socks5Proxy {
    fn start() -> Self {
        use std::net::TcpListener;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding proxy");
        listener.set_nonblocking(true).expect("nonblocking proxy listener");
        let port = listener.local_addr().expect("proxy address").port();
        let credentials = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (credentials.clone(), stop.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while !stopping.load(Ordering::Relaxed) && start.elapsed() < COMMAND_DEADLINE * 3 {
                match listener.accept() {
                    Ok((client, _)) => {
                        let seen = seen.clone();
                        std::thread::spawn(move || {
                            let _ = client.set_nonblocking(false);
                            let _ = Self::serve(client, &seen);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { port, credentials, stop }
    }

    fn serve(
        mut client: std::net::TcpStream,
        seen: &std::sync::Mutex<Vec<(String, String)>>,
    ) -> std::io::Result<()> {
        use std::net::TcpStream;
        client.set_read_timeout(Some(COMMAND_DEADLINE))?;
        let mut head = [0u8; 2];
        client.read_exact(&mut head)?;
        let mut methods = vec![0u8; usize::from(head[1])];
        client.read_exact(&mut methods)?;
        if methods.contains(&2) {
            client.write_all(&[5, 2])?;
            let mut version_len = [0u8; 2];
            client.read_exact(&mut version_len)?;
            let mut user = vec![0u8; usize::from(version_len[1])];
            client.read_exact(&mut user)?;
            let mut pass_len = [0u8; 1];
            client.read_exact(&mut pass_len)?;
            let mut pass = vec![0u8; usize::from(pass_len[0])];
            client.read_exact(&mut pass)?;
            seen.lock().expect("credentials lock").push((
                String::from_utf8_lossy(&user).into_owned(),
                String::from_utf8_lossy(&pass).into_owned(),
            ));
            client.write_all(&[1, 0])?;
        } else {
            client.write_all(&[5, 0])?;
        }
        let mut request = [0u8; 4];
        client.read_exact(&mut request)?;
        let host = match request[3] {
            1 => {
                let mut ip = [0u8; 4];
                client.read_exact(&mut ip)?;
                std::net::Ipv4Addr::from(ip).to_string()
            }
            3 => {
                let mut len = [0u8; 1];
                client.read_exact(&mut len)?;
                let mut name = vec![0u8; usize::from(len[0])];
                client.read_exact(&mut name)?;
                String::from_utf8_lossy(&name).into_owned()
            }
            _ => return Ok(()),
        };
        let mut port = [0u8; 2];
        client.read_exact(&mut port)?;
        let upstream = TcpStream::connect((host.as_str(), u16::from_be_bytes(port)))?;
        client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
        client.set_read_timeout(None)?;
        let (mut client_read, mut upstream_write) = (client.try_clone()?, upstream.try_clone()?);
        let forward = std::thread::spawn(move || {
            let _ = std::io::copy(&mut client_read, &mut upstream_write);
            let _ = upstream_write.shutdown(std::net::Shutdown::Write);
        });
        let (mut upstream_read, mut client_write) = (upstream, client);
        let _ = std::io::copy(&mut upstream_read, &mut client_write);
        let _ = client_write.shutdown(std::net::Shutdown::Write);
        let _ = forward.join();
        Ok(())
    }
}

impl Drop for Socks5Proxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn socks5_proxy_matches_mosquitto_pub_and_decodes_40_as_at() {
    let broker = BrokerProcess::mosquitto("");
    let proxy = Socks5Proxy::start();
    let work = TempDir::new("pub-socks");
    let target = broker.port.to_string();
    let plain = format!("socks5h://127.0.0.1:{}", proxy.port);
    let with_user = format!("socks5h://proxy%25user:p%3Ass@127.0.0.1:{}", proxy.port);
    let through_proxy = |url: &str, extra: &[&str]| {
        let through = ["--proxy", url, "-h", "127.0.0.1", "-p", &target, "-t", "s/a", "-m", "b"];
        strings(&[&through[..], extra].concat())
    };
    let mut problems = Vec::new();
    for url in [&plain, &with_user] {
        let args = through_proxy(url, &["-q", "1", "-d", "-i", "sx"]);
        problems.extend(compare_tools(TOOLS, &args, None, work.path()));
    }
    assert_no_problems(&problems);
    let seen = proxy.credentials.lock().expect("credentials lock").clone();
    let expected = ("proxy%user".to_owned(), "p:ss".to_owned());
    assert_eq!(seen, [expected.clone(), expected], "both decode %25 and %3A");
    // Mosquitto 2.0.11 turns %40 into ':'; we give the '@' its documentation promises.
    let args = through_proxy(&format!("socks5h://a%40b:pw@127.0.0.1:{}", proxy.port), &[]);
    let mine = run_tool(&our_bin("culex_pub"), &args, None, work.path());
    assert_eq!(mine.code(), 0, "{mine:?}");
    let seen = proxy.credentials.lock().expect("credentials lock").clone();
    assert_eq!(seen.last(), Some(&("a@b".to_owned(), "pw".to_owned())));
}

#[test]
fn refused_publishes_warn_like_mosquitto_pub() {
    let broker = BrokerProcess::mosquitto("message_size_limit 10");
    let big = |extra: &[&'static str]| {
        let base = ["-p", "{port}", "-t", "big", "-m", "twenty bytes long..."];
        Row { args: Cow::Owned([&base[..], extra].concat()), ..row(&[]) }
    };
    let rows = [
        big(&["-V", "5", "-q", "1", "-d", "-i", "big5"]),
        big(&["-V", "5", "-q", "2", "-d", "-i", "big5"]),
        big(&["-V", "5", "-q", "1", "--quiet"]),
        big(&["-V", "5", "-q", "1", "--repeat", "2", "-i", "big5r"]),
        big(&["-q", "1", "-d", "-i", "big3"]),
        row(&[
            "-p", "{port}", "-V", "5", "-q", "1", "-t", "small", "-m", "tiny", "-d", "-i", "small5",
        ]),
    ];
    let problems = check_rows(&rows, broker.port);
    assert_no_problems(&problems);
}

#[test]
fn our_options_file_wins_over_mosquittos() {
    let broker = BrokerProcess::mosquitto("");
    let home = TempDir::new("pub-rc");
    std::fs::write(home.path().join("culex_pub"), "-i from-culex-file\n-d\n").expect("rc file");
    std::fs::write(home.path().join("mosquitto_pub"), "--not-an-option\n").expect("rc file");
    let args = strings(&["-p", &broker.port.to_string(), "-t", "rc/t", "-m", "m"]);
    let mine = run_tool(&our_bin("culex_pub"), &args, None, home.path());
    assert_eq!(mine.code(), 0, "{mine:?}");
    assert!(mine.stdout.starts_with("Client from-culex-file sending CONNECT\n"), "{mine:?}");
}

/// Regression: with `-l`, a write backlog of QoS 0 messages (which produce no acknowledgement
/// to wake the publisher) once stalled culex_pub forever.
#[test]
fn many_stdin_lines_are_all_published_without_stalling() {
    // Unlimited queues: the subscriber may lag behind, and no message may be dropped for it.
    let broker = BrokerProcess::mosquitto("max_queued_messages 0");
    let work = TempDir::new("pub-many-lines");
    const LINES: usize = 60_000;
    let input: Vec<u8> = (0..LINES).flat_map(|n| format!("line {n}\n").into_bytes()).collect();
    for qos in ["0", "1"] {
        let topic = format!("many/{qos}");
        let (mut sub, mut stdout) =
            subscribed(broker.port, &topic, &["-C", &LINES.to_string(), "-W", "120"]);
        let args = strings(&["-p", &broker.port.to_string(), "-t", &topic, "-l", "-q", qos]);
        let finished = run_tool(&our_bin("culex_pub"), &args, Some(&input), work.path());
        assert_eq!(finished.code(), 0, "qos {qos}: {finished:?}");
        let mut received = String::new();
        stdout.read_to_string(&mut received).expect("reading sub");
        let _ = sub.wait();
        let messages: Vec<&str> =
            received.lines().filter(|line| line.starts_with("line ")).collect();
        assert_eq!(messages.len(), LINES, "qos {qos}");
        assert_eq!(messages.last(), Some(&format!("line {}", LINES - 1).as_str()));
    }
}

#[test]
fn will_is_published_when_the_publisher_dies() {
    let broker = BrokerProcess::mosquitto("");
    let work = TempDir::new("pub-will");
    let port = broker.port.to_string();
    for (version, extra) in
        [("311", &[][..]), ("5", &["-D", "will", "content-type", "text/bye"][..])]
    {
        let mut outputs = Vec::new();
        for (tool, program) in
            [("ours", our_bin("culex_pub")), ("mosquitto", reference_tool("mosquitto_pub"))]
        {
            let will_topic = format!("will/{version}/{tool}");
            // stdbuf execs the tool (so the pid is the tool's) with a line-buffered stdout.
            let mut child = Command::new("stdbuf")
                .arg("-oL")
                .arg(&program)
                .args(["-p", &port, "-t", "will/alive", "-l", "-d", "-V", version])
                .args(["--will-topic", &will_topic, "--will-payload", "bye", "--will-qos", "1"])
                .arg("--will-retain")
                .args(extra)
                .env("XDG_CONFIG_HOME", work.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting publisher");
            // Once CONNACK is in, it waits for stdin lines; killing it skips DISCONNECT.
            let mut stdout = child.stdout.take().expect("piped");
            read_until(&mut stdout, "received CONNACK", tool);
            child.kill().expect("killing publisher");
            let _ = child.wait();
            outputs.push(retained(broker.port, &will_topic, "%r %q %p %C", version == "5"));
        }
        let expected = if version == "5" { "1 1 bye text/bye\n" } else { "1 1 bye \n" };
        assert_eq!(outputs[0], expected, "v{version}");
        assert_eq!(outputs[0], outputs[1], "v{version}");
    }
}
