//! Golden tests for `culex_sub`: every row runs ours and Debian's `mosquitto_sub` with the same
//! arguments against the same Debian `mosquitto` broker (after the same setup: retained
//! messages, or messages queued for a persistent session) and compares stdout, stderr and exit
//! status, normalising only random values (assigned / generated client ids, timestamps) and the
//! tool's own name. Further tests cover what Mosquitto gets wrong or cannot show in a table:
//! `--remove-retained` with `--retained-only`, reconnecting, signals and a closed stdout.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    self, Background, BrokerProcess, COMMAND_DEADLINE, Certs, Compare, GoldenRow, RowContext,
    TempDir, assert_no_problems, compare_tools, difference, mask, our_bin, read_in_background,
    reference_tool, run_tool, strings, wait_with_deadline,
};

/// Our tool and the Mosquitto tool it copies.
const TOOLS: (&str, &str) = ("culex_sub", "mosquitto_sub");

/// A step run (with mosquitto's own tools) before each of the two runs of a row.
#[derive(Clone, Copy)]
enum Setup {
    /// `mosquitto_pub` with these arguments.
    Pub(&'static [&'static str]),
    /// `mosquitto_sub` with these arguments (e.g. to create a persistent session).
    Sub(&'static [&'static str]),
}

/// One row of a golden table. In arguments, `{port}` is the broker's port and `{t}` a topic
/// prefix unique to the row.
struct Row {
    args: &'static [&'static str],
    setup: &'static [Setup],
    rc_file: Option<&'static str>,
    compare: Compare,
}

const fn row(args: &'static [&'static str]) -> Row {
    Row { args, setup: &[], rc_file: None, compare: Compare::All }
}

const fn with_setup(setup: &'static [Setup], args: &'static [&'static str]) -> Row {
    Row { args, setup, rc_file: None, compare: Compare::All }
}

/// Two retained messages under `{t}/`, both QoS 0.
const TWO_RETAINED: &[Setup] = &[
    Setup::Pub(&["-p", "{port}", "-t", "{t}/a", "-m", "first message", "-r"]),
    Setup::Pub(&["-p", "{port}", "-t", "{t}/b", "-m", "xyz", "-r"]),
];

/// Normalises what is random by nature: broker-assigned and generated ids, and timestamps
/// (the JSON `tst`, and whatever a row's format prints after `T=`).
fn normalise(text: &str) -> String {
    let text = text.replace("culex_sub", "mosquitto_sub").replace("-ours", "-mosq");
    let text = mask(&text, "auto-", |c| c.is_ascii_hexdigit() || c == '-');
    let text = mask(&text, "mosq-", |c| c.is_ascii_alphanumeric());
    let text = mask(&text, "\"tst\":\t\"", |c| c != '"');
    let text = mask(&text, "\"tst\":\"", |c| c != '"');
    mask(&text, "T=", |c| c.is_ascii_digit() || "-:T+.Z".contains(c))
}

/// Fills in `{port}`, `{t}` (the row's topic prefix) and `{id}` (a client id for persistent
/// sessions, different for each tool's run so both start from a fresh session).
fn expand(args: &[&str], port: u16, topic: &str, run: &str) -> Vec<String> {
    args.iter()
        .map(|arg| {
            arg.replace("{port}", &port.to_string())
                .replace("{id}", &format!("{topic}-{run}"))
                .replace("{t}", topic)
        })
        .collect()
}

fn run_setup(setup: &[Setup], port: u16, topic: &str, run: &str, home: &Path) {
    for step in setup {
        let (tool, args) = match step {
            Setup::Pub(args) => ("mosquitto_pub", args),
            Setup::Sub(args) => ("mosquitto_sub", args),
        };
        let done = run_tool(&reference_tool(tool), &expand(args, port, topic, run), None, home);
        assert_eq!(done.code(), 0, "setup {tool} {args:?} failed: {done:?}");
    }
}

impl GoldenRow for Row {
    fn rc_file(&self, context: &RowContext<'_>) -> Option<String> {
        let topic = format!("{}{}", context.label, context.index);
        self.rc_file.map(|rc| rc.replace("{t}", &topic))
    }

    /// The row's setup, then its arguments; the topic prefix is the table's label and the
    /// row's number.
    fn prepare(&self, context: &RowContext<'_>, run: &str) -> Vec<String> {
        let topic = format!("{}{}", context.label, context.index);
        run_setup(self.setup, context.port, &topic, run, context.home);
        expand(self.args, context.port, &topic, run)
    }

    fn stdin(&self) -> Option<&[u8]> {
        None
    }

    fn compare(&self) -> Compare {
        self.compare
    }
}

/// Runs every row with both tools and returns a description of each difference.
fn check_rows(label: &str, rows: &[Row], port: u16) -> Vec<String> {
    support::check_rows(TOOLS, label, rows, port, normalise)
}

/// Argument errors: message, blank lines, usage hint and exit status.
const ARGUMENT_ERRORS: &[Row] = &[
    row(&[]),
    row(&["-v"]),
    row(&["-t"]),
    row(&["-t", "a", "-T"]),
    row(&["-t", "a", "-U"]),
    row(&["-t", "a", "-q"]),
    row(&["-t", "a", "-C"]),
    row(&["-t", "a", "-W"]),
    row(&["-t", "a", "-F"]),
    row(&["-t", "a", "--random-filter"]),
    row(&["-t", "a", "-C", "0"]),
    row(&["-t", "a", "-C", "x"]),
    row(&["-t", "a", "-W", "0"]),
    row(&["-t", "a", "-q", "3"]),
    row(&["-t", "a", "-q", "-1"]),
    row(&["-t", "a/#/b"]),
    row(&["-t", "a", "-T", "a/#/b"]),
    row(&["-t", "a", "-U", "+a"]),
    row(&["-t", "a", "-R", "--retained-only"]),
    row(&["-t", "a", "--retained-only", "-R", "-c"]),
    row(&["-T", "a", "-U", "b"]),
    row(&["-t", "a", "-F", "%z"]),
    row(&["-t", "a", "-F", "%5"]),
    row(&["-t", "a", "-F", "%-0-5l"]),
    row(&["-t", "a", "-F", "@"]),
    row(&["-t", "a", "-F", "\\"]),
    row(&["-t", "a", "-F", "\\q"]),
    row(&["-t", "a", "--random-filter", "0"]),
    row(&["-t", "a", "--random-filter", "1000.1"]),
    row(&["-t", "a", "-e", "x"]),
    row(&["-t", "a", "-c"]),
    row(&["-t", "a", "-V", "5", "-c"]),
    row(&["-t", "a", "--will-retain"]),
    row(&["-t", "a", "-D", "connect", "receive-maximum", "0"]),
    Row { args: &["--help"], setup: &[], rc_file: None, compare: Compare::NotStdoutText },
    Row { args: &["--version"], setup: &[], rc_file: None, compare: Compare::NotStdoutText },
];

#[test]
fn argument_errors_match_mosquitto_sub() {
    let broker = BrokerProcess::mosquitto("");
    assert_no_problems(&check_rows("suberr", ARGUMENT_ERRORS, broker.port));
}

/// Output styles and every `-F` specifier, on retained messages.
const OUTPUT: &[Row] = &[
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2"]),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-v"]),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-N"]),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-v", "-N"]),
    with_setup(
        TWO_RETAINED,
        &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-F", "%t|%p|%l|%m|%q|%r|%x|%X|%%"],
    ),
    with_setup(
        TWO_RETAINED,
        &[
            "-p",
            "{port}",
            "-t",
            "{t}/#",
            "-C",
            "2",
            "-F",
            "[%10t][%-10t][%.3t][%5.2t][%05l][%-5l|][%5m][%08x][%-8X|][%5p][%-5p|][%.2p]",
        ],
    ),
    with_setup(
        TWO_RETAINED,
        &[
            "-p",
            "{port}",
            "-t",
            "{t}/#",
            "-C",
            "2",
            "-F",
            "@@|@q|@%|\\t|\\\\|\\e|\\a|\\v|\\r|\\0|\\n|%0t|%.0t",
        ],
    ),
    with_setup(
        TWO_RETAINED,
        &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-F", "T=%U;T=%I;T=@s;T=@N;T=@Y-@m-@d;", "-N"],
    ),
    with_setup(
        TWO_RETAINED,
        &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-F", "%A|%5A|%05E|%C|%5C|%D|%P|%R|%S|%F"],
    ),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-F", "%j"]),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-F", "%j", "--pretty"]),
    // Not JSON: Mosquitto complains on stderr and still ends the line.
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-F", "<%J>"]),
    with_setup(
        &[
            Setup::Pub(&[
                "-p",
                "{port}",
                "-t",
                "{t}/j",
                "-r",
                "-m",
                r#"{"a":[1,2.50,{"b":null}],"c":"\u00e9","d":1e3}"#,
            ]),
            Setup::Pub(&[
                "-p",
                "{port}",
                "-t",
                "{t}/k",
                "-r",
                "-m",
                r#" [true, false, "x\ty", {}, []] "#,
            ]),
        ],
        &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-F", "%J"],
    ),
    with_setup(
        &[Setup::Pub(&[
            "-p",
            "{port}",
            "-t",
            "{t}/j",
            "-r",
            "-m",
            r#"{"a":[1,{"b":{}}],"c":"d"}"#,
        ])],
        &["-p", "{port}", "-t", "{t}/#", "-C", "1", "-F", "%J", "--pretty"],
    ),
    // An empty retained message cannot exist, but an empty payload can be queued for a session.
    with_setup(
        &[
            Setup::Sub(&["-p", "{port}", "-t", "{t}/#", "-c", "-i", "{id}", "-q", "1", "-E"]),
            Setup::Pub(&["-p", "{port}", "-t", "{t}/e", "-n", "-q", "1"]),
            Setup::Pub(&["-p", "{port}", "-t", "{t}/f", "-m", "full", "-q", "1"]),
        ],
        &[
            "-p", "{port}", "-t", "{t}/#", "-c", "-i", "{id}", "-q", "1", "-C", "2", "-v", "-F",
            "%t:%p:%j",
        ],
    ),
    Row {
        args: &["-p", "{port}", "-C", "1"],
        setup: TWO_RETAINED,
        rc_file: Some("# options\n-v\n-t {t}/b\n"),
        compare: Compare::All,
    },
];

#[test]
fn message_output_matches_mosquitto_sub() {
    let broker = BrokerProcess::mosquitto("");
    assert_no_problems(&check_rows("subout", OUTPUT, broker.port));
}

/// QoS flows, protocol versions, `-d` lines and the sub-only flags that change packets.
const SESSIONS: &[Row] = &[
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-d", "-i", "{t}"]),
    with_setup(
        &[Setup::Pub(&["-p", "{port}", "-t", "{t}/q1", "-m", "qos one", "-r", "-q", "1"])],
        &["-p", "{port}", "-t", "{t}/#", "-C", "1", "-d", "-q", "1", "-i", "{t}", "-v"],
    ),
    with_setup(
        &[Setup::Pub(&["-p", "{port}", "-t", "{t}/q2", "-m", "qos two", "-r", "-q", "2"])],
        &["-p", "{port}", "-t", "{t}/#", "-C", "1", "-d", "-q", "2", "-i", "{t}", "-v"],
    ),
    with_setup(
        &[Setup::Pub(&["-p", "{port}", "-t", "{t}/q2", "-m", "qos two", "-r", "-q", "2"])],
        &["-p", "{port}", "-t", "{t}/#", "-C", "1", "-d", "-q", "1", "-V", "5", "-F", "%m %q %j"],
    ),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-d", "-V", "mqttv31"]),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-d", "-V", "311"]),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-C", "2", "-d", "-V", "mqttv5"]),
    // v3: the broker still sends retained messages, -R hides them; v5: Options 0x20, none sent.
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-R", "-W", "1", "-d", "-i", "{t}"]),
    with_setup(
        TWO_RETAINED,
        &["-p", "{port}", "-t", "{t}/#", "-R", "-W", "1", "-d", "-i", "{t}", "-V", "5"],
    ),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-T", "{t}/a", "-C", "1", "-v"]),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-T", "{t}/+", "-W", "1", "-v"]),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-E", "-d", "-i", "{t}"]),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-T", "", "-C", "2", "-v"]),
    with_setup(
        TWO_RETAINED,
        &[
            "-p",
            "{port}",
            "-t",
            "{t}/#",
            "-C",
            "1",
            "--will-topic",
            "w/{t}",
            "--will-qos",
            "1",
            "-k",
            "30",
            "-M",
            "5",
            "--nodelay",
            "-A",
            "127.0.0.1",
            "-v",
        ],
    ),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "-E", "-d", "--quiet"]),
    with_setup(
        TWO_RETAINED,
        &[
            "-p", "{port}", "-t", "{t}/a", "-t", "{t}/b", "-U", "{t}/b", "-C", "2", "-d", "-i",
            "{t}",
        ],
    ),
    with_setup(TWO_RETAINED, &["-p", "{port}", "-t", "{t}/#", "--retained-only", "-W", "1", "-v"]),
    // --retained-only stops at the first message without the retain flag (here a queued one).
    with_setup(
        &[
            Setup::Sub(&["-p", "{port}", "-t", "{t}/#", "-c", "-i", "{id}", "-q", "1", "-E"]),
            Setup::Pub(&["-p", "{port}", "-t", "{t}/live", "-m", "live", "-q", "1"]),
        ],
        &[
            "-p",
            "{port}",
            "-t",
            "{t}/#",
            "-c",
            "-i",
            "{id}",
            "-q",
            "1",
            "--retained-only",
            "-v",
            "-d",
        ],
    ),
    with_setup(
        &[
            Setup::Sub(&["-p", "{port}", "-t", "{t}/#", "-c", "-i", "{id}", "-q", "2", "-E"]),
            Setup::Pub(&["-p", "{port}", "-t", "{t}/1", "-m", "one", "-q", "1"]),
            Setup::Pub(&["-p", "{port}", "-t", "{t}/2", "-m", "two", "-q", "2"]),
        ],
        &["-p", "{port}", "-t", "{t}/#", "-c", "-i", "{id}", "-q", "2", "-C", "2", "-v", "-d"],
    ),
    with_setup(
        TWO_RETAINED,
        &[
            "-p",
            "{port}",
            "-t",
            "{t}/#",
            "--retain-as-published",
            "-V",
            "5",
            "-E",
            "-d",
            "-i",
            "{t}",
        ],
    ),
    with_setup(
        TWO_RETAINED,
        &["-p", "{port}", "-t", "{t}/#", "-x", "60", "-V", "5", "-E", "-d", "-i", "{t}"],
    ),
    with_setup(
        TWO_RETAINED,
        &["-p", "{port}", "-t", "{t}/#", "--random-filter", "1000", "-C", "2"],
    ),
    with_setup(TWO_RETAINED, &["-L", "mqtt://127.0.0.1:{port}/{t}/b", "-C", "1", "-v"]),
    with_setup(
        &[Setup::Pub(&[
            "-p",
            "{port}",
            "-V",
            "5",
            "-t",
            "{t}/p",
            "-r",
            "-m",
            "{\"t\":21.5}",
            "-D",
            "publish",
            "payload-format-indicator",
            "1",
            "-D",
            "publish",
            "content-type",
            "application/json",
            "-D",
            "publish",
            "response-topic",
            "resp/t",
            "-D",
            "publish",
            "correlation-data",
            "corr123",
            "-D",
            "publish",
            "user-property",
            "k1",
            "v1",
            "-D",
            "publish",
            "user-property",
            "k2",
            "v2",
        ])],
        &[
            "-p",
            "{port}",
            "-t",
            "{t}/#",
            "-C",
            "1",
            "-V",
            "5",
            "-D",
            "subscribe",
            "subscription-identifier",
            "42",
            "-F",
            "A=%A C=%C D=%D E=%E F=%F P=%P R=%R S=%S %5S|%-20C|%.3R| %j",
        ],
    ),
];

#[test]
fn sessions_and_flags_match_mosquitto_sub() {
    let broker = BrokerProcess::mosquitto("");
    let mut problems = check_rows("subses", SESSIONS, broker.port);
    // Nothing listens on a port we bound and released.
    let closed = support::unused_port().to_string();
    let home = TempDir::new("sub-closed");
    for extra in [&[][..], &["--quiet"][..], &["-d"][..]] {
        let args = strings(&[&["-p", &closed, "-t", "a"][..], extra].concat());
        problems.extend(compare_tools(TOOLS, &args, None, home.path()));
    }
    assert_no_problems(&problems);
}

/// Starts `culex_sub` with stdout piped and returns it once `-d` shows the SUBACK.
fn start_subscribed(args: &[String]) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(our_bin("culex_sub"))
        .args(args)
        .arg("-d")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting culex_sub");
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("stdout is piped");
    };
    let mut reader = BufReader::new(stdout);
    // Every caller passes -W, so culex_sub ends (and read_line returns) even if it hangs.
    let start = Instant::now();
    let mut line = String::new();
    while start.elapsed() < COMMAND_DEADLINE {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with("Subscribed (mid:") {
            return (child, reader);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("culex_sub {args:?} did not subscribe");
}

/// Waits (within the command deadline) for a subscriber from [`start_subscribed`] to end;
/// returns its status and the rest of its output.
fn wait_for_end(
    mut child: Child,
    mut reader: BufReader<std::process::ChildStdout>,
    what: &str,
) -> (ExitStatus, String) {
    let status = wait_with_deadline(&mut child, what, COMMAND_DEADLINE);
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    (status, rest)
}

/// `-p port` followed by `args`.
fn on_port(port: u16, args: &[&str]) -> Vec<String> {
    strings(&[&["-p", &port.to_string()][..], args].concat())
}

fn publish(port: u16, args: &[&str]) {
    let all = on_port(port, args);
    let home = TempDir::new("sub-pub");
    let done = run_tool(&reference_tool("mosquitto_pub"), &all, None, home.path());
    assert_eq!(done.code(), 0, "mosquitto_pub {all:?}: {done:?}");
}

fn retained_now(port: u16, topic: &str) -> String {
    let home = TempDir::new("sub-check");
    let args = on_port(port, &["-t", topic, "-v", "-W", "1"]);
    run_tool(&reference_tool("mosquitto_sub"), &args, None, home.path()).stdout
}

/// Refused connections: the CONNACK code is the exit status; mosquitto_sub answers with
/// DISCONNECT.
const REFUSED: &[Row] = &[
    row(&["-p", "{port}", "-t", "a", "-i", "refused"]),
    row(&["-p", "{port}", "-t", "a", "-i", "refused", "-d"]),
    row(&["-p", "{port}", "-t", "a", "-V", "5", "-d"]),
    row(&["-p", "{port}", "-t", "a", "-V", "31", "-d", "-i", "refused"]),
    row(&["-p", "{port}", "-t", "a", "-V", "5"]),
    row(&["-p", "{port}", "-t", "a", "-V", "31", "-u", "user", "-P", "wrong"]),
    row(&["-p", "{port}", "-t", "a", "-V", "5", "--quiet"]),
];

#[test]
fn refused_connections_match_mosquitto_sub() {
    let broker = BrokerProcess::mosquitto("allow_anonymous false");
    assert_no_problems(&check_rows("subref", REFUSED, broker.port));
}

#[test]
fn keepalive_and_unix_sockets_match_mosquitto_sub() {
    let dir = TempDir::new("sub-unix");
    let (broker, socket) = BrokerProcess::mosquitto_with_unix_socket(&dir);
    let port = broker.port.to_string();
    // Both tools run at the same time (the keep-alive row takes seconds), so their client ids
    // differ: "-ours" / "-mosq", which normalise() treats as equal.
    let rows = |run: &str| -> Vec<Vec<String>> {
        let list: [Vec<&str>; 3] = [
            // A PINGREQ goes out after 5 s without traffic; -W ends the run.
            vec!["-p", &port, "-t", "ka/#", "-k", "5", "-W", "6", "-d", "-i"],
            vec!["--unix", &socket, "-t", "ux/#", "-E", "-d", "-i"],
            vec!["--unix", "/nonexistent/broker.sock", "-t", "ux/#", "-E", "-i"],
        ];
        list.iter()
            .enumerate()
            .map(|(index, args)| {
                let mut args = strings(args);
                args.push(format!("c{index}-{run}"));
                args
            })
            .collect()
    };
    let ours: Vec<_> = rows("ours")
        .into_iter()
        .map(|args| {
            let home = dir.path().to_owned();
            std::thread::spawn(move || run_tool(&our_bin("culex_sub"), &args, None, &home))
        })
        .collect();
    let mut problems = Vec::new();
    for (args, mine) in rows("mosq").into_iter().zip(ours) {
        let theirs = run_tool(&reference_tool("mosquitto_sub"), &args, None, dir.path());
        let mine = mine.join().expect("our run");
        let label = format!("{args:?}");
        problems.extend(difference(&label, &mine, &theirs, Compare::All, normalise));
    }
    assert_no_problems(&problems);
}

#[test]
fn tls_subscriptions_match_mosquitto_sub_and_untrusted_servers_are_refused() {
    let certs = Certs::new();
    let (broker, tls_port) = certs.broker("server.crt", "");
    let dir = TempDir::new("sub-tls");
    publish(broker.port, &["-t", "tls/a", "-m", "over tls", "-r"]);
    let port = tls_port.to_string();
    let ca = certs.path("ca.crt");
    let args = strings(&[
        "-h",
        "localhost",
        "-p",
        &port,
        "--cafile",
        &ca,
        "-t",
        "tls/#",
        "-C",
        "1",
        "-v",
        "-d",
        "-i",
        "tls",
    ]);
    let mine = run_tool(&our_bin("culex_sub"), &args, None, dir.path());
    let theirs = run_tool(&reference_tool("mosquitto_sub"), &args, None, dir.path());
    assert_eq!(
        (mine.code(), &mine.stdout, &mine.stderr),
        (theirs.code(), &theirs.stdout, &theirs.stderr)
    );
    assert!(mine.stdout.contains("tls/a over tls\n"), "{mine:?}");
    // A server whose certificate the given CA did not sign is refused before anything is sent.
    let other = certs.path("other.crt");
    let args =
        strings(&["-h", "localhost", "-p", &port, "--cafile", &other, "-t", "tls/#", "-C", "1"]);
    let refused = run_tool(&our_bin("culex_sub"), &args, None, dir.path());
    assert_eq!((refused.code(), refused.stdout.as_str()), (8, ""), "{refused:?}");
    assert_eq!(refused.stderr, "Error: A TLS error occurred.\n");
}

#[test]
fn random_filter_prints_about_the_given_percentage() {
    let broker = BrokerProcess::mosquitto("");
    let port = broker.port.to_string();
    let home = TempDir::new("sub-random");
    let session = ["-p", &port, "-t", "rf/#", "-c", "-i", "rf", "-q", "1"];
    let setup: Vec<String> = session.iter().chain(&["-E"]).map(|arg| (*arg).to_owned()).collect();
    assert_eq!(run_tool(&reference_tool("mosquitto_sub"), &setup, None, home.path()).code(), 0);
    let script = format!(
        "seq 400 | {} -p {port} -t rf/x -q 1 -l",
        reference_tool("mosquitto_pub").display()
    );
    let queued = run_tool(Path::new("/bin/bash"), &["-c".to_owned(), script], None, home.path());
    assert_eq!(queued.code(), 0, "{queued:?}");
    let args: Vec<String> = session
        .iter()
        .chain(&["-C", "400", "--random-filter", "50", "-W", "15"])
        .map(|arg| (*arg).to_owned())
        .collect();
    let done = run_tool(&our_bin("culex_sub"), &args, None, home.path());
    assert_eq!(done.code(), 0, "all 400 messages count, printed or not: {done:?}");
    let printed = done.stdout.lines().count();
    // Binomial(400, 0.5): 200 ± 10; Mosquitto 2.0.11 would print about 20 (5%).
    assert!((140..=260).contains(&printed), "printed {printed} of 400 at 50%");
}

#[test]
fn remove_retained_with_retained_only_clears_and_exits_where_mosquitto_hangs() {
    let broker = BrokerProcess::mosquitto("");
    let port = broker.port;
    publish(port, &["-t", "rr/a", "-m", "one", "-r"]);
    publish(port, &["-t", "rr/b", "-m", "two", "-r"]);
    publish(port, &["-t", "rr/keep", "-m", "kept", "-r"]);
    // A persistent session with one queued live message ends --retained-only after the
    // retained ones were cleared... but the queued one arrives first, so use a live publish.
    let home = TempDir::new("sub-rr");
    let args = on_port(
        port,
        &["-t", "rr/#", "-T", "rr/keep", "--remove-retained", "--retained-only", "-v", "-W", "10"],
    );
    let (child, reader) = start_subscribed(&args);
    publish(port, &["-t", "rr/live", "-m", "live"]);
    let (status, rest) = wait_for_end(child, reader, "culex_sub --remove-retained --retained-only");
    assert_eq!(status.code(), Some(0), "exits 0 at the first live message, output {rest:?}");
    assert!(rest.contains("rr/a one\n") && rest.contains("rr/b two\n"), "{rest:?}");
    assert!(rest.contains("sending PUBLISH (d0, q1, r1, m2, 'rr/a', ... (0 bytes))"), "{rest:?}");
    assert!(!rest.contains("rr/live live"), "the live message is not printed: {rest:?}");
    assert!(rest.contains("received PUBACK"), "clears are acknowledged before exit: {rest:?}");
    assert_eq!(retained_now(port, "rr/#"), "rr/keep kept\n", "only the -T topic keeps its message");
    drop(home);
}

#[test]
fn count_with_remove_retained_exits_after_the_clears_are_acknowledged() {
    let broker = BrokerProcess::mosquitto("");
    let port = broker.port;
    publish(port, &["-t", "rc/a", "-m", "one", "-r"]);
    publish(port, &["-t", "rc/b", "-m", "two", "-r"]);
    let home = TempDir::new("sub-rc");
    let args = on_port(port, &["-t", "rc/#", "--remove-retained", "-C", "2", "-W", "10"]);
    let done = run_tool(&our_bin("culex_sub"), &args, None, home.path());
    assert_eq!((done.code(), done.stdout.as_str()), (0, "one\ntwo\n"), "{done:?}");
    assert_eq!(retained_now(port, "rc/#"), "");
}

#[test]
fn interrupt_disconnects_cleanly_so_no_will_is_published() {
    let broker = BrokerProcess::mosquitto("log_type all");
    // A watcher for the will topic; it must see nothing before the sentinel published after
    // culex_sub ended.
    let sentinel = "sentinel/t after";
    let watcher =
        Background::spawn(support::reference_client("mosquitto_sub", broker.port).args([
            "-t",
            "will/t",
            "-t",
            "sentinel/t",
            "-v",
            "-i",
            "will-watcher",
        ]));
    broker.wait_for_log(|line| line == "Received SUBSCRIBE from will-watcher");
    let args = on_port(
        broker.port,
        &["-t", "int/#", "--will-topic", "will/t", "--will-payload", "gone", "-i", "intr"],
    );
    let (child, reader) = start_subscribed(&args);
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().expect("running kill");
    assert!(kill.success());
    let (status, rest) = wait_for_end(child, reader, "culex_sub after SIGINT");
    assert_eq!(status.code(), Some(0));
    assert_eq!(rest, "Client intr sending DISCONNECT\n");
    // Mosquitto handles the ended connection before the sentinel's, so a will would come first.
    publish(broker.port, &["-t", "sentinel/t", "-m", "after"]);
    let lines = watcher.wait_until(sentinel, |lines| lines.iter().any(|line| line == sentinel));
    let seen: String = lines.into_iter().filter(|line| line != sentinel).collect();
    assert_eq!(seen, "", "a clean v3 DISCONNECT discards the will");
}

#[test]
fn a_closed_stdout_ends_the_subscriber_quietly_with_success() {
    let broker = BrokerProcess::mosquitto("");
    let port = broker.port;
    let script = format!(
        "{} -p {port} -t 'pipe/#' -W 15 | head -1; echo \"status=${{PIPESTATUS[0]}}\"",
        our_bin("culex_sub").display()
    );
    let mut pipeline = Command::new("/bin/bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting bash");
    let stdout = read_in_background(pipeline.stdout.take().expect("stdout is piped"));
    let stderr = read_in_background(pipeline.stderr.take().expect("stderr is piped"));
    // Keep messages coming: the first goes through head, a later write finds the pipe closed.
    let start = Instant::now();
    let status = loop {
        if let Some(status) = pipeline.try_wait().expect("polling bash") {
            break status;
        }
        assert!(start.elapsed() < COMMAND_DEADLINE, "culex_sub | head -1 did not end");
        publish(port, &["-t", "pipe/x", "-m", "line"]);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    assert_eq!(stdout.join().expect("stdout"), "line\nstatus=0\n");
    assert_eq!(stderr.join().expect("stderr"), "");
}

#[test]
fn a_closed_stdout_is_noticed_without_waiting_for_another_message() {
    let broker = BrokerProcess::mosquitto("");
    publish(broker.port, &["-t", "idle/a", "-m", "only", "-r"]);
    // Mosquitto notices only at its next write, so here it would run into -W (status 27).
    let script = format!(
        "{} -p {} -t 'idle/#' -W 10 | head -1; echo \"status=${{PIPESTATUS[0]}}\"",
        our_bin("culex_sub").display(),
        broker.port
    );
    let home = TempDir::new("sub-idle");
    let start = Instant::now();
    let done = run_tool(Path::new("/bin/bash"), &["-c".to_owned(), script], None, home.path());
    assert_eq!((done.stdout.as_str(), done.stderr.as_str()), ("only\nstatus=0\n", ""));
    assert!(start.elapsed() < Duration::from_secs(8), "took {:?}", start.elapsed());
}

#[test]
fn lost_connections_are_reestablished_and_resubscribed() {
    let config = |ports: &[u16]| format!("listener {} 127.0.0.1\nallow_anonymous true\n", ports[0]);
    let broker = BrokerProcess::start_with(&reference_tool("mosquitto"), 1, config, &[]);
    let port = broker.port;
    let args = on_port(port, &["-t", "re/#", "-v", "-C", "1", "-i", "resub", "-W", "15"]);
    let (child, mut reader) = start_subscribed(&args);
    drop(broker);
    std::thread::sleep(Duration::from_millis(500));
    let broker = BrokerProcess::restart_on(&reference_tool("mosquitto"), &[port], config);
    // Wait until the subscriber is back: its -d output shows the second SUBACK.
    let mut line = String::new();
    let start = Instant::now();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).expect("reading") > 0, "culex_sub ended");
        if line.starts_with("Subscribed (mid: 2)") {
            break;
        }
        assert!(start.elapsed() < COMMAND_DEADLINE, "no resubscription");
    }
    publish(port, &["-t", "re/x", "-m", "after restart"]);
    let (status, rest) = wait_for_end(child, reader, "culex_sub after reconnect");
    drop(broker);
    assert_eq!(status.code(), Some(0), "{rest:?}");
    assert!(rest.contains("re/x after restart\n"), "{rest:?}");
}
