//! Mosquitto 2.1's bridge options, end to end (Debian has no 2.1 to compare with, and its
//! 2.0.11 refuses every one of them, which is asserted): a v5 bridge's CONNECT properties
//! (`bridge_receive_maximum`, `bridge_session_expiry_interval`, `bridge_max_topic_alias`) and
//! its topic aliases both ways, read as bytes by a fake remote broker; `bridge_tcp_keepalive`
//! and `bridge_tcp_user_timeout` read back from the bridge's socket (the bridge's debug log of
//! getsockopt, and the kernel's keepalive timer in /proc/net/tcp); `bridge_tls_use_os_certs`
//! with the test CA installed through `SSL_CERT_FILE` or `SSL_CERT_DIR`.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    ConnAck, MAX_PACKET_SIZE, Packet, Properties, PropertyValues, ProtocolVersion, Publish,
    ReasonCode, TopicName, decode, encode, whole_packet_len,
};

use crate::broker_bridge::{REMOTE_ID, STATE, config, subscribed, wait_for_value};
use crate::cli_bytes::fake_broker::{answer, connect_version, read_available};
use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, Certs, TempDir, our_bin, reference_client,
    reference_tool, run,
};

/// What the fake remote saw: each packet the bridge sent, decoded, with its bytes.
type Seen = Arc<Mutex<Vec<(Packet, Vec<u8>)>>>;

/// A remote broker for a bridge's connections, one after the other: it answers like a
/// permissive broker (its CONNACK carries `connack`), records every packet, sends what the
/// test hands it, and hangs up when told to.
pub(crate) struct FakeRemote {
    pub(crate) port: u16,
    seen: Seen,
    to_bridge: Sender<Packet>,
    /// Set by [`Self::hang_up`]; the serving thread clears it once the connection is closed.
    hang_up: Arc<AtomicBool>,
    /// Set when dropped: the serving thread ends.
    done: Arc<AtomicBool>,
    _serving: JoinHandle<()>,
}

/// The flags a [`FakeRemote`]'s serving thread reads.
struct Flags {
    hang_up: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl FakeRemote {
    pub(crate) fn start(connack: Properties) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("bound socket has an address").port();
        let seen = Seen::default();
        let (to_bridge, packets) = channel();
        let record = Arc::clone(&seen);
        let flags = Flags { hang_up: Arc::default(), done: Arc::default() };
        let (hang_up, done) = (Arc::clone(&flags.hang_up), Arc::clone(&flags.done));
        let serving = std::thread::spawn(move || {
            serve(&listener, &connack, &record, &packets, &flags);
        });
        Self { port, seen, to_bridge, hang_up, done, _serving: serving }
    }

    /// Closes the current connection (without a DISCONNECT) and waits until it is closed.
    pub(crate) fn hang_up(&self) {
        self.hang_up.store(true, Ordering::SeqCst);
        let start = Instant::now();
        while self.hang_up.load(Ordering::SeqCst) {
            assert!(start.elapsed() < COMMAND_DEADLINE, "the fake remote did not hang up");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The packets the bridge sent so far, each with the number of its connection (1 for
    /// the first CONNECT's).
    pub(crate) fn packets(&self) -> Vec<(usize, Packet)> {
        let mut connection = 0;
        let seen = self.seen.lock().expect("seen lock");
        let mut numbered = Vec::new();
        for (packet, _) in seen.iter() {
            if matches!(packet, Packet::Connect(_)) {
                connection += 1;
            }
            numbered.push((connection, packet.clone()));
        }
        numbered
    }

    /// Waits until the bridge sent, on its connection number `connection`, a packet that
    /// satisfies `wanted`.
    pub(crate) fn wait_on(&self, connection: usize, what: &str, wanted: impl Fn(&Packet) -> bool) {
        let start = Instant::now();
        while !self.packets().iter().any(|(n, packet)| *n == connection && wanted(packet)) {
            assert!(
                start.elapsed() < COMMAND_DEADLINE,
                "no {what} on connection {connection}: {:?}",
                self.packets()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `done` finds what it wants in the packets the bridge sent so far.
    fn until<T>(&self, what: &str, done: impl Fn(&[(Packet, Vec<u8>)]) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            let seen = self.seen.lock().expect("seen lock").clone();
            if let Some(found) = done(&seen) {
                return found;
            }
            assert!(start.elapsed() < COMMAND_DEADLINE, "no {what} from the bridge: {seen:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until a packet the bridge sent satisfies `wanted`, returning it and its bytes.
    fn wait_for(&self, what: &str, wanted: impl Fn(&Packet) -> bool) -> (Packet, Vec<u8>) {
        self.until(what, |seen| seen.iter().find(|(packet, _)| wanted(packet)).cloned())
    }

    /// Waits for `count` PUBLISHes from the bridge, returning them as (topic, topic alias).
    fn publishes(&self, count: usize) -> Vec<(String, Option<u16>)> {
        self.until(&format!("{count} PUBLISHes"), |seen| {
            let named: Vec<_> = seen
                .iter()
                .filter_map(|(packet, _)| match packet {
                    Packet::Publish(p) => {
                        Some((p.topic.as_str().to_owned(), p.properties.topic_alias))
                    }
                    _ => None,
                })
                .collect();
            (named.len() >= count).then_some(named)
        })
    }

    /// Sends the bridge a QoS 0 PUBLISH of `payload` on `topic` (empty: none) with `alias`.
    fn publish(&self, topic: &str, alias: u16, payload: &'static str) {
        let topic =
            if topic.is_empty() { TopicName::empty() } else { TopicName::new(topic).unwrap() };
        let mut publish = Publish::new(topic, Bytes::from_static(payload.as_bytes()));
        publish.properties.topic_alias = Some(alias);
        self.to_bridge.send(Packet::Publish(publish)).expect("the fake remote is serving");
    }
}

impl Drop for FakeRemote {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// How long a fake remote serves at most.
const SERVING_DEADLINE: Duration = Duration::from_secs(60);

/// Serves connections one after the other until dropped or the deadline.
fn serve(
    listener: &TcpListener,
    connack: &Properties,
    seen: &Seen,
    packets: &Receiver<Packet>,
    flags: &Flags,
) {
    let start = Instant::now();
    listener.set_nonblocking(true).expect("non-blocking listener");
    while start.elapsed() < SERVING_DEADLINE && !flags.done.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => serve_one(stream, start, connack, seen, packets, flags),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Serves one connection until it closes, the test hangs up, or the deadline.
fn serve_one(
    mut stream: TcpStream,
    start: Instant,
    connack: &Properties,
    seen: &Seen,
    packets: &Receiver<Packet>,
    flags: &Flags,
) {
    stream.set_nonblocking(false).expect("blocking stream");
    stream.set_read_timeout(Some(Duration::from_millis(20))).expect("read timeout");
    let mut pending = BytesMut::new();
    let mut version = None;
    while start.elapsed() < SERVING_DEADLINE && !flags.done.load(Ordering::SeqCst) {
        if flags.hang_up.load(Ordering::SeqCst) {
            drop(stream);
            flags.hang_up.store(false, Ordering::SeqCst);
            return;
        }
        if read_available(&mut stream, &mut pending).is_none() {
            return;
        }
        if version.is_none() {
            version = connect_version(&pending);
        }
        let Some(version) = version else { continue };
        let mut out = Vec::new();
        while let Ok(Some(len)) = whole_packet_len(&pending, version) {
            let bytes = pending[..len].to_vec();
            let Ok(Some(packet)) = decode(&mut pending, version, MAX_PACKET_SIZE) else { return };
            let reply = match &packet {
                Packet::Connect(_) => Some(Packet::ConnAck(ConnAck {
                    properties: connack.clone(),
                    ..ConnAck::new(ReasonCode::Success)
                })),
                other => answer(other.clone()),
            };
            seen.lock().expect("seen lock").push((packet, bytes));
            out.extend(reply);
        }
        out.extend(packets.try_iter());
        write(&mut stream, &out, version);
    }
}

fn write(stream: &mut TcpStream, packets: &[Packet], version: ProtocolVersion) {
    let mut out = BytesMut::new();
    for packet in packets {
        encode(packet, version, MAX_PACKET_SIZE, &mut out).expect("the fake's packets encode");
    }
    let _ = stream.write_all(&out);
}

/// culex bridging to `port` (log everything, no notifications) with `options` appended.
pub(crate) fn bridging_to(port: u16, options: &str) -> BrokerProcess {
    let bridge = format!(
        "connection br\naddress 127.0.0.1:{port}\nremote_clientid {REMOTE_ID}\n\
         notifications false\nrestart_timeout 1\n{options}"
    );
    BrokerProcess::start_with(&our_bin("culex"), 1, |ports| config(ports[0], &bridge), &[])
}

#[test]
fn a_v5_bridge_sends_the_21_connect_properties() {
    let v5 = "bridge_protocol_version mqttv50\ntopic t/# out 1\n";
    let set = "bridge_receive_maximum 16\nbridge_session_expiry_interval 300\n\
               bridge_max_topic_alias 0\n";
    // Bridge options; receive-maximum, session-expiry-interval, topic-alias-maximum in the
    // CONNECT, and the bytes of those properties (identifier, then value).
    let cases: [(String, _, &[&[u8]]); 3] = [
        (v5.to_owned(), (None, None, Some(10)), &[&[0x22, 0, 10]]),
        (
            format!("{v5}{set}"),
            (Some(16), Some(300), None),
            &[&[0x21, 0, 16], &[0x11, 0, 0, 0x01, 0x2c]],
        ),
        // A 3.1.1 bridge has no properties to send.
        (format!("topic t/# out 1\n{set}"), (None, None, None), &[]),
    ];
    for (options, wanted, fragments) in cases {
        let remote = FakeRemote::start(Properties::default());
        let _local = bridging_to(remote.port, &options);
        let (packet, bytes) = remote.wait_for("CONNECT", |p| matches!(p, Packet::Connect(_)));
        let Packet::Connect(connect) = packet else { unreachable!("waited for a CONNECT") };
        let props = &connect.properties;
        let got = (props.receive_maximum, props.session_expiry_interval, props.topic_alias_maximum);
        assert_eq!(got, wanted, "{options}");
        for fragment in fragments {
            assert!(bytes.windows(fragment.len()).any(|w| w == *fragment), "{options}: {bytes:x?}");
        }
    }
}

#[test]
fn a_v5_bridge_uses_topic_aliases_both_ways_within_the_maximums() {
    let connack = Properties::from(PropertyValues {
        topic_alias_maximum: Some(2),
        ..PropertyValues::default()
    });
    let remote = FakeRemote::start(connack);
    let local = bridging_to(
        remote.port,
        "bridge_protocol_version mqttv50\nbridge_max_topic_alias 2\n\
         topic out/# out 1\ntopic in/# in 0\n",
    );
    remote.wait_for("SUBSCRIBE", |p| matches!(p, Packet::Subscribe(_)));
    // Towards us: learnt, resolved, and set up again for another topic.
    let sub = Background::spawn(
        reference_client("mosquitto_sub", local.port).args(["-i", "s21", "-t", "in/#", "-v"]),
    );
    subscribed(&local, "s21");
    for (topic, alias, payload) in
        [("in/x", 1, "1"), ("", 1, "2"), ("in/y", 2, "3"), ("", 2, "4"), ("in/z", 1, "5")]
    {
        remote.publish(topic, alias, payload);
    }
    let wanted = ["in/x 1", "in/x 2", "in/y 3", "in/y 4", "in/z 5"];
    assert_eq!(sub.wait_for_lines(wanted.len()), wanted);
    // Towards the remote: 1, 2 in order, then by alias alone; none left for a third topic.
    for topic in ["out/a", "out/b", "out/a", "out/c", "out/b"] {
        let args = ["-q", "1", "-t", topic, "-m", "m"];
        let done = run(reference_client("mosquitto_pub", local.port).args(args), COMMAND_DEADLINE);
        assert_eq!(done.code(), 0, "{}", done.stderr);
    }
    let named = remote.publishes(5);
    let want =
        [("out/a", Some(1)), ("out/b", Some(2)), ("", Some(1)), ("out/c", None), ("", Some(2))];
    let want: Vec<_> = want.iter().map(|(t, a)| ((*t).to_owned(), *a)).collect();
    assert_eq!(named, want);
    // An alias above what the CONNECT offered ends the connection with 0x94.
    remote.publish("in/w", 3, "6");
    remote.wait_for(
        "DISCONNECT",
        |p| matches!(p, Packet::Disconnect(d) if d.reason == ReasonCode::TopicAliasInvalid),
    );
    local.wait_for_log(|l| {
        l == "Bridge br: the remote broker used an invalid topic alias, disconnecting."
    });
}

/// The timer of the bridge's established socket to `port` in /proc/net/tcp once no data
/// waits for an acknowledgement: `(timer, when)`, the kernel's `tr` (0: none, 2: keepalive;
/// 1, the retransmit timer, is waited out) and the time left in clock ticks.
fn bridge_socket_timer(port: u16) -> (u8, u64) {
    let find = || {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("reading /proc/net/tcp");
        table.lines().skip(1).find_map(|line| {
            let fields: Vec<_> = line.split_whitespace().collect();
            let remote_port = u16::from_str_radix(fields.get(2)?.split(':').nth(1)?, 16).ok()?;
            let (timer, when) = fields.get(5)?.split_once(':')?;
            let timer = (u8::from_str_radix(timer, 16).ok()?, u64::from_str_radix(when, 16).ok()?);
            (remote_port == port && fields.get(3) == Some(&"01")).then_some(timer)
        })
    };
    let start = Instant::now();
    loop {
        let timer = find();
        match timer {
            Some((tr, when)) if tr != 1 => return (tr, when),
            _ => assert!(start.elapsed() < COMMAND_DEADLINE, "bridge socket timer: {timer:?}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tcp_keepalive_and_user_timeout_are_set_on_the_bridges_socket() {
    let remote = FakeRemote::start(Properties::default());
    let local = bridging_to(
        remote.port,
        "topic t/# out 1\nbridge_tcp_keepalive 7 3 4\nbridge_tcp_user_timeout 5000\n",
    );
    remote.wait_for("CONNECT", |p| matches!(p, Packet::Connect(_)));
    // What getsockopt reads back from the bridge's socket.
    local.wait_for_log(|l| l == "Bridge br TCP keepalive: idle 7 s, interval 3 s, count 4.");
    local.wait_for_log(|l| l == "Bridge br TCP user timeout: 5000 ms.");
    // And the kernel's own view: the idle socket runs its keepalive timer, due within 7 s.
    let (timer, when) = bridge_socket_timer(remote.port);
    assert!(timer == 2 && when <= 700, "timer {timer}, due in {when} ticks");
    // Without the options, no keepalive timer and no such log lines.
    let plain_remote = FakeRemote::start(Properties::default());
    let plain = bridging_to(plain_remote.port, "topic t/# out 1\n");
    plain_remote.wait_for("CONNECT", |p| matches!(p, Packet::Connect(_)));
    plain.wait_for_log(|l| l.starts_with("Received CONNACK on connection"));
    assert_eq!(bridge_socket_timer(plain_remote.port).0, 0);
    assert!(!plain.log_lines().iter().any(|l| l.contains("TCP keepalive")));
}

/// culex run through a wrapper script that sets `variable` to `value` (the script is named
/// culex, so the harness treats it as culex).
fn culex_with_env(dir: &TempDir, variable: &str, value: &str, bridge: &str) -> BrokerProcess {
    use std::os::unix::fs::PermissionsExt as _;
    let script = dir.path().join("culex");
    let culex = our_bin("culex");
    let text = format!("#!/bin/sh\n{variable}='{value}' exec '{}' \"$@\"\n", culex.display());
    std::fs::write(&script, text).expect("writing the wrapper");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    BrokerProcess::start_with(&script, 1, |ports| config(ports[0], bridge), &[])
}

#[test]
fn tls_use_os_certs_trusts_the_ca_the_system_store_names() {
    let certs = Certs::new();
    let ca_dir = TempDir::new("os-certs");
    std::fs::copy(certs.path("ca.crt"), ca_dir.path().join("ca.pem")).expect("installing CA");
    let ca_dir_path = ca_dir.path().to_string_lossy().into_owned();
    // The environment the local culex runs with, and whether its bridge connects.
    let cases = [
        ("SSL_CERT_FILE", certs.path("ca.crt"), true),
        ("SSL_CERT_DIR", ca_dir_path, true),
        ("SSL_CERT_FILE", certs.path("other.crt"), false),
    ];
    for (variable, value, connects) in cases {
        let (remote, tls_port) = certs.broker("server.crt", "");
        let bridge = format!(
            "connection br\naddress localhost:{tls_port}\nremote_clientid {REMOTE_ID}\n\
             restart_timeout 1\ntopic t/# out 1\nbridge_tls_use_os_certs true\n"
        );
        let wrapper = TempDir::new("os-certs-wrapper");
        let local = culex_with_env(&wrapper, variable, &value, &bridge);
        if connects {
            wait_for_value(&remote, STATE, "1");
        } else {
            local.wait_for_log(|l| l.starts_with("Error connecting bridge br: TLS Error: "));
        }
    }
}

#[test]
fn mosquitto_2_0_11_refuses_the_21_bridge_options() {
    let dir = TempDir::new("bridge21-refused");
    for line in [
        "bridge_receive_maximum 16",
        "bridge_session_expiry_interval 300",
        "bridge_max_topic_alias 5",
        "bridge_tls_use_os_certs true",
        "bridge_tcp_keepalive 7 3 4",
        "bridge_tcp_user_timeout 5000",
        "bridge_reload_type immediate",
    ] {
        let path = dir.path().join("bridge.conf");
        std::fs::write(&path, format!("connection br\naddress 127.0.0.1:1\ntopic t\n{line}\n"))
            .expect("writing config");
        let done =
            run(Command::new(reference_tool("mosquitto")).arg("-c").arg(&path), COMMAND_DEADLINE);
        let name = line.split(' ').next().unwrap_or_default();
        assert_eq!(done.code(), 3, "{line}");
        let wanted = format!("Error: Unknown configuration variable \"{name}\".");
        assert!(done.stderr.contains(&wanted), "{line}: {}", done.stderr);
        assert!(done.stderr.contains(&format!("Error found at {}:4.", path.display())), "{line}");
    }
}
