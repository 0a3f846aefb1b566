//! The differential runner: a [`Scenario`] is a list of steps over raw TCP connections, run
//! once against Debian's `mosquitto` and once against `culex` with the same configuration;
//! every byte each broker sends, and whether and when it closes each connection, is recorded,
//! and the two records must be equal (or, for a declared difference, must differ).

use std::fmt::Write as _;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqtt_codec::{Packet, ProtocolVersion, decode, whole_packet_len};

use super::wire;
use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_tool, run as run_command,
};

/// How long a [`Step::Recv`] or [`Step::Closed`] waits for its positive signal. Both brokers
/// answer on loopback within milliseconds; this only bounds a step that finds a difference.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a slow [`Step::Recv`] or [`Step::Closed`] waits: for what Mosquitto 2.0.11 does
/// on a timer it checks only every few seconds (keep alive, will delay).
const SLOW_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a [`Step::Quiet`] listens: the only fixed wait, for "nothing more arrives", where
/// no positive signal exists.
const QUIET_TIME: Duration = Duration::from_millis(300);

/// One `#[test]` per `name => scenario;` entry, which runs the scenario (a [`Scenario`]
/// expression, usually a call of the area's shared builder).
macro_rules! scenarios {
    ($($name:ident => $scenario:expr;)*) => {
        $(
            #[test]
            fn $name() {
                $scenario.run();
            }
        )*
    };
}
pub(crate) use scenarios;

/// One of a scenario's client connections (`A`, `B`, `C`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Conn(pub(crate) usize);

/// The first connection of a scenario.
pub(crate) const A: Conn = Conn(0);
/// The second connection of a scenario.
pub(crate) const B: Conn = Conn(1);
/// The third connection of a scenario.
pub(crate) const C: Conn = Conn(2);

/// One step of a scenario.
#[derive(Clone, Debug)]
enum Step {
    /// Open a TCP connection that speaks `version` (used to frame and show what comes back).
    Open(Conn, ProtocolVersion),
    /// Write these bytes.
    Send(Conn, Vec<u8>),
    /// Read until one whole packet arrives, the connection closes, or the timeout.
    Recv(Conn, Duration),
    /// Read until the connection closes (recording anything before it), or the timeout.
    Closed(Conn, Duration),
    /// Listen for a fixed short time, recording whatever arrives.
    Quiet(Conn),
    /// Close our side of the connection abruptly (no DISCONNECT).
    Drop(Conn),
    /// Let this much time pass (for expiry intervals).
    Wait(Duration),
    /// Replace the file of this name in the scenario's directory.
    Write(&'static str, String),
    /// Send SIGHUP to the broker and wait until it logs the reload.
    Reload,
}

impl Step {
    /// The connection the step acts on, if any.
    fn conn(&self) -> Option<usize> {
        match self {
            Self::Open(Conn(conn), _)
            | Self::Send(Conn(conn), _)
            | Self::Recv(Conn(conn), _)
            | Self::Closed(Conn(conn), _)
            | Self::Quiet(Conn(conn))
            | Self::Drop(Conn(conn)) => Some(*conn),
            Self::Wait(_) | Self::Write(..) | Self::Reload => None,
        }
    }
}

/// What one step observed on one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    /// One whole packet, its bytes.
    Packet(Vec<u8>),
    /// Bytes that do not frame as a packet, received before a close or timeout.
    Partial(Vec<u8>),
    /// The broker closed the connection (end of stream).
    Closed,
    /// The connection was reset.
    Reset,
    /// Nothing (more) arrived within the step's time.
    Nothing,
}

/// One recorded observation: the step index and what it saw.
type Record = Vec<(usize, Event)>;

/// A differential scenario; build it with the methods and finish with [`run`](Self::run).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scenario {
    config: String,
    /// Lines only Mosquitto gets, then lines only culex gets, after `config`
    /// ([`config_each`](Self::config_each)).
    own_config: [String; 2],
    /// Files written to the scenario's directory before the broker starts: name, text, and
    /// whether `mosquitto_passwd -U` hashes it (a password file written in plain text).
    files: Vec<(&'static str, String, bool)>,
    steps: Vec<Step>,
    difference: Option<&'static str>,
}

impl Scenario {
    /// An empty scenario with the default configuration (one listener, anonymous access).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends `line` to the configuration both brokers get; `{dir}` in it stands for the
    /// directory that holds the scenario's [`file`](Self::file)s.
    pub(crate) fn config(mut self, line: &str) -> Self {
        self.config.push_str(line);
        self.config.push('\n');
        self
    }

    /// Appends `theirs` to Mosquitto's configuration and `ours` to culex's, after the lines both
    /// get: the same setting in two spellings (Mosquitto 2.1's plugin lines, which Debian's
    /// 2.0.11 lacks, against the 2.0 options they stand for). `{dir}` as in
    /// [`config`](Self::config).
    pub(crate) fn config_each(mut self, theirs: &str, ours: &str) -> Self {
        for (config, line) in self.own_config.iter_mut().zip([theirs, ours]) {
            config.push_str(line);
            config.push('\n');
        }
        self
    }

    /// Writes `text` to the file `name` in the scenario's directory before the broker starts
    /// (each broker gets its own directory).
    pub(crate) fn file(mut self, name: &'static str, text: &str) -> Self {
        self.files.push((name, text.to_owned(), false));
        self
    }

    /// Writes the password file `name` for `users` (`user`, `password`), hashed by Debian's
    /// `mosquitto_passwd -U`.
    pub(crate) fn passwords(mut self, name: &'static str, users: &[(&str, &str)]) -> Self {
        let text: String =
            users.iter().map(|(user, password)| format!("{user}:{password}\n")).collect();
        self.files.push((name, text, true));
        self
    }

    /// Declares that the brokers must differ, with the reason (listed in
    /// docs/mosquitto-differences.md).
    pub(crate) fn differs(mut self, reason: &'static str) -> Self {
        self.difference = Some(reason);
        self
    }

    /// Opens `conn`, which speaks `version`.
    pub(crate) fn open(mut self, conn: Conn, version: ProtocolVersion) -> Self {
        self.steps.push(Step::Open(conn, version));
        self
    }

    /// Writes `bytes` to `conn`.
    pub(crate) fn send(mut self, conn: Conn, bytes: impl Into<Vec<u8>>) -> Self {
        self.steps.push(Step::Send(conn, bytes.into()));
        self
    }

    /// Receives one packet (or the close, or the timeout) on `conn`.
    pub(crate) fn recv(mut self, conn: Conn) -> Self {
        self.steps.push(Step::Recv(conn, SIGNAL_TIMEOUT));
        self
    }

    /// Receives one packet on `conn` like [`recv`](Self::recv), waiting longer: for what a
    /// broker sends on a timer.
    pub(crate) fn recv_slow(mut self, conn: Conn) -> Self {
        self.steps.push(Step::Recv(conn, SLOW_TIMEOUT));
        self
    }

    /// Receives `count` packets on `conn`.
    pub(crate) fn recv_n(mut self, conn: Conn, count: usize) -> Self {
        for _ in 0..count {
            self.steps.push(Step::Recv(conn, SIGNAL_TIMEOUT));
        }
        self
    }

    /// Expects `conn` to be closed by the broker (anything sent before is recorded).
    pub(crate) fn closed(mut self, conn: Conn) -> Self {
        self.steps.push(Step::Closed(conn, SIGNAL_TIMEOUT));
        self
    }

    /// Expects `conn` to be closed like [`closed`](Self::closed), waiting longer: for a close
    /// on a timer (keep alive).
    pub(crate) fn closed_slow(mut self, conn: Conn) -> Self {
        self.steps.push(Step::Closed(conn, SLOW_TIMEOUT));
        self
    }

    /// Lets `millis` milliseconds pass (for expiry intervals; bounded, so keep them short).
    pub(crate) fn wait(mut self, millis: u64) -> Self {
        self.steps.push(Step::Wait(Duration::from_millis(millis)));
        self
    }

    /// Replaces the scenario file `name` with `text` (see [`file`](Self::file)).
    pub(crate) fn rewrite(mut self, name: &'static str, text: &str) -> Self {
        self.steps.push(Step::Write(name, text.to_owned()));
        self
    }

    /// Sends SIGHUP to the broker and waits until it logs `Reloading config.`, then for a
    /// short fixed time while the reload is applied.
    pub(crate) fn reload(mut self) -> Self {
        self.steps.push(Step::Reload);
        self
    }

    /// Listens on `conn` for a short fixed time.
    pub(crate) fn quiet(mut self, conn: Conn) -> Self {
        self.steps.push(Step::Quiet(conn));
        self
    }

    /// Drops `conn` without a DISCONNECT.
    pub(crate) fn drop_conn(mut self, conn: Conn) -> Self {
        self.steps.push(Step::Drop(conn));
        self
    }

    /// Opens `conn` for `version`, sends `connect` and receives the CONNACK.
    pub(crate) fn connect(self, conn: Conn, version: ProtocolVersion, connect: Vec<u8>) -> Self {
        self.open(conn, version).send(conn, connect).recv(conn)
    }

    /// Connects `conn` for `version` as `client_id` and subscribes it to `filters` (each with
    /// its QoS), receiving the CONNACK and the SUBACK.
    pub(crate) fn subscriber(
        self,
        conn: Conn,
        version: ProtocolVersion,
        client_id: &str,
        filters: &[(&str, u8)],
    ) -> Self {
        self.connect(conn, version, wire::connect(version, client_id))
            .send(conn, wire::subscribe(version, 1, filters))
            .recv(conn)
    }

    /// Runs the scenario against both brokers and compares the records.
    ///
    /// # Panics
    /// When the records differ (or, for a declared difference, are equal), showing both.
    pub(crate) fn run(self) {
        let mosquitto = reference_tool("mosquitto");
        let culex = our_bin("culex");
        let (theirs, ours) = std::thread::scope(|scope| {
            let theirs = scope.spawn(|| self.run_against(&mosquitto, &self.own_config[0]));
            let ours = self.run_against(&culex, &self.own_config[1]);
            (theirs.join().expect("the mosquitto side does not panic"), ours)
        });
        let equal = theirs == ours;
        match self.difference {
            None if !equal => panic!(
                "the brokers differ:\n{}",
                self.show(&[("mosquitto", &theirs), ("culex", &ours)])
            ),
            Some(reason) if equal => panic!(
                "the declared difference ({reason}) is gone: remove it from the scenario and \
                 docs/mosquitto-differences.md\n{}",
                self.show(&[("both", &ours)])
            ),
            _ => {}
        }
    }

    /// Runs the steps against `program` given `own_config` after the shared lines, returning
    /// one record per connection.
    fn run_against(&self, program: &Path, own_config: &str) -> Vec<Record> {
        let dir = TempDir::new("differential");
        for (name, text, hashed) in &self.files {
            write_file(&dir, name, text, *hashed);
        }
        let config =
            (self.config.clone() + own_config).replace("{dir}", &dir.path().display().to_string());
        let broker = BrokerProcess::start_with(
            program,
            1,
            |ports| format!("listener {} 127.0.0.1\nallow_anonymous true\n{config}", ports[0]),
            &[],
        );
        let mut conns: Vec<Option<Connection>> = Vec::new();
        let mut records: Vec<Record> = Vec::new();
        for (index, step) in self.steps.iter().enumerate() {
            let Some(conn) = step.conn() else {
                match step {
                    Step::Wait(time) => std::thread::sleep(*time),
                    Step::Write(name, text) => write_file(&dir, name, text, false),
                    Step::Reload => reload(&broker),
                    _ => unreachable!("every other step names a connection"),
                }
                continue;
            };
            if conns.len() <= conn {
                conns.resize_with(conn + 1, || None);
                records.resize_with(conn + 1, Vec::new);
            }
            let events = match step {
                Step::Open(_, version) => {
                    conns[conn] = Some(Connection::open(broker.port, *version));
                    Vec::new()
                }
                Step::Drop(_) => {
                    if let Some(connection) = conns[conn].take() {
                        let _ = connection.stream.shutdown(Shutdown::Both);
                    }
                    Vec::new()
                }
                step => {
                    let connection = conns[conn].as_mut().unwrap_or_else(|| {
                        panic!("step {index} uses connection {conn} before opening it")
                    });
                    connection.step(step)
                }
            };
            records[conn].extend(events.into_iter().map(|event| (index, event)));
        }
        records
    }

    /// Both records side by side, connection by connection, as hex with decoded packets.
    fn show(&self, sides: &[(&str, &Vec<Record>)]) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "steps:");
        for (index, step) in self.steps.iter().enumerate() {
            let _ = writeln!(text, "  {index:>2}: {}", describe_step(step));
        }
        let versions = self.versions();
        for (name, records) in sides {
            let _ = writeln!(text, "{name}:");
            for (conn, record) in records.iter().enumerate() {
                let version = versions.get(conn).copied().unwrap_or(ProtocolVersion::V5);
                let _ = writeln!(text, "  connection {}:", conn_name(conn));
                for (index, event) in record {
                    let _ = writeln!(text, "    step {index:>2}: {}", describe(event, version));
                }
            }
        }
        text
    }

    /// The version each connection speaks, by connection index.
    fn versions(&self) -> Vec<ProtocolVersion> {
        let mut versions = Vec::new();
        for step in &self.steps {
            if let Step::Open(conn, version) = step {
                if versions.len() <= conn.0 {
                    versions.resize(conn.0 + 1, *version);
                }
                versions[conn.0] = *version;
            }
        }
        versions
    }
}

/// A connection's letter.
fn conn_name(conn: usize) -> char {
    char::from(b'A' + u8::try_from(conn % 26).unwrap_or(0))
}

fn describe_step(step: &Step) -> String {
    match step {
        Step::Open(conn, version) => format!("open {} ({version:?})", conn_name(conn.0)),
        Step::Send(conn, bytes) => format!("send {} {}", conn_name(conn.0), hex(bytes)),
        Step::Recv(conn, time) => format!("recv {} (up to {time:?})", conn_name(conn.0)),
        Step::Closed(conn, time) => {
            format!("expect {} closed (within {time:?})", conn_name(conn.0))
        }
        Step::Quiet(conn) => format!("quiet {} for {QUIET_TIME:?}", conn_name(conn.0)),
        Step::Drop(conn) => format!("drop {}", conn_name(conn.0)),
        Step::Wait(time) => format!("wait {time:?}"),
        Step::Write(name, text) => format!("write {name}: {text:?}"),
        Step::Reload => "reload (SIGHUP)".to_owned(),
    }
}

/// Writes the scenario file `name` in `dir`; `hashed` runs `mosquitto_passwd -U` on it.
fn write_file(dir: &TempDir, name: &str, text: &str, hashed: bool) {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
    if hashed {
        let done = run_command(
            Command::new(reference_tool("mosquitto_passwd")).arg("-U").arg(&path),
            COMMAND_DEADLINE,
        );
        assert_eq!(done.code(), 0, "mosquitto_passwd -U: {}", done.stderr);
    }
}

/// Sends SIGHUP to `broker`, waits for one more `Reloading config.` line than it had logged
/// before, and gives the reload a fixed moment to be applied.
fn reload(broker: &BrokerProcess) {
    let reloads = || broker.log_lines().iter().filter(|line| *line == "Reloading config.").count();
    let before = reloads();
    broker.signal("HUP");
    let start = Instant::now();
    while reloads() == before {
        assert!(start.elapsed() < COMMAND_DEADLINE, "the broker did not log the reload");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(QUIET_TIME);
}

/// An event as text: hex bytes and, for a packet, what it decodes to.
fn describe(event: &Event, version: ProtocolVersion) -> String {
    match event {
        Event::Packet(bytes) => {
            let mut buf = BytesMut::from(&bytes[..]);
            let decoded = match decode(&mut buf, version, u32::MAX) {
                Ok(Some(packet)) => compact(&format!("{packet:?}")),
                Ok(None) => "incomplete".to_owned(),
                Err(err) => format!("undecodable: {err}"),
            };
            format!("{}\n              = {decoded}", hex(bytes))
        }
        Event::Partial(bytes) => format!("partial {}", hex(bytes)),
        Event::Closed => "closed".to_owned(),
        Event::Reset => "reset".to_owned(),
        Event::Nothing => "nothing".to_owned(),
    }
}

/// A packet's `Debug` text without the fields that are unset (`x: None`, `x: []`).
fn compact(debug: &str) -> String {
    let mut text = debug.to_owned();
    for empty in [": None", ": []"] {
        while let Some(at) = text.find(empty) {
            let start =
                text[..at].rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
            let mut end = at + empty.len();
            if text[end..].starts_with(", ") {
                end += 2;
            } else if text[..start].ends_with(", ") {
                text.replace_range(start - 2..end, "");
                continue;
            }
            text.replace_range(start..end, "");
        }
    }
    text.replace("properties: PropertyValues {  }", "properties: {}")
}

/// Bytes as space-separated hex pairs.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// One client connection and the bytes read but not yet framed.
struct Connection {
    stream: TcpStream,
    version: ProtocolVersion,
    buf: Vec<u8>,
    /// Set once the broker closed (or reset) it: later reads see nothing new.
    ended: bool,
}

impl Connection {
    fn open(port: u16, version: ProtocolVersion) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|err| panic!("connecting to 127.0.0.1:{port}: {err}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Self { stream, version, buf: Vec::new(), ended: false }
    }

    fn step(&mut self, step: &Step) -> Vec<Event> {
        match step {
            Step::Send(_, bytes) => {
                // A broker that closed already makes this fail; the next read shows the close.
                let _ = self.stream.write_all(bytes);
                Vec::new()
            }
            Step::Recv(_, time) => self.read(*time, true, true),
            Step::Closed(_, time) => self.read(*time, false, true),
            Step::Quiet(_) => self.read(QUIET_TIME, false, false),
            _ => Vec::new(),
        }
    }

    /// Reads for up to `time`: stops after one packet when `one_packet`, and at the close.
    /// `Nothing` is recorded when the time runs out and `report_timeout` is set, or when no
    /// event at all happened.
    fn read(&mut self, time: Duration, one_packet: bool, report_timeout: bool) -> Vec<Event> {
        let mut events = Vec::new();
        let deadline = Instant::now() + time;
        loop {
            while let Some(packet) = self.frame() {
                events.push(Event::Packet(packet));
                if one_packet {
                    return events;
                }
            }
            if self.ended {
                return events;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                if !self.buf.is_empty() {
                    events.push(Event::Partial(std::mem::take(&mut self.buf)));
                }
                if report_timeout || events.is_empty() {
                    events.push(Event::Nothing);
                }
                return events;
            }
            self.stream.set_read_timeout(Some(left)).expect("setting a read timeout");
            let mut chunk = [0; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.end(&mut events, Event::Closed);
                    return events;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.end(&mut events, Event::Reset);
                    return events;
                }
            }
        }
    }

    /// Records the end of the stream: packets still buffered, any partial rest, then `how`.
    fn end(&mut self, events: &mut Vec<Event>, how: Event) {
        while let Some(packet) = self.frame() {
            events.push(Event::Packet(packet));
        }
        if !self.buf.is_empty() {
            events.push(Event::Partial(std::mem::take(&mut self.buf)));
        }
        events.push(how);
        self.ended = true;
    }

    /// Takes one whole packet off the front of the buffer, if there is one.
    fn frame(&mut self) -> Option<Vec<u8>> {
        match whole_packet_len(&self.buf, self.version) {
            Ok(Some(len)) => {
                let mut packet: Vec<u8> = self.buf.drain(..len).collect();
                mask_assigned_id(&mut packet, self.version);
                Some(packet)
            }
            Ok(None) | Err(_) => None,
        }
    }
}

/// Replaces the random hex digits of a v5 CONNACK's Assigned Client Identifier with `X`, so
/// that two brokers' records compare its format and position but not its random value.
fn mask_assigned_id(packet: &mut [u8], version: ProtocolVersion) {
    if packet.first() != Some(&0x20) {
        return;
    }
    let mut buf = BytesMut::from(&packet[..]);
    let Ok(Some(Packet::ConnAck(ack))) = decode(&mut buf, version, u32::MAX) else { return };
    let Some(id) = ack.properties.assigned_client_identifier.clone() else { return };
    let id = id.as_bytes();
    let Some(at) = packet.windows(id.len() + 3).position(|w| w[0] == 0x12 && &w[3..] == id) else {
        return;
    };
    for byte in &mut packet[at + 3..at + 3 + id.len()] {
        if byte.is_ascii_hexdigit() {
            *byte = b'X';
        }
    }
}
