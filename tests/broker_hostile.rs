//! Oversized and hostile input (issue 12), against culex and Debian's Mosquitto side by side:
//! topics and filters of the maximum length (65,535 bytes), refused from the fixed header
//! under a smaller `max_packet_size`; a remaining length of 268,435,455 bytes followed by a
//! trickle (never allocated up front) and a remaining length of five bytes (malformed); the
//! deepest topic and filter that fit in 65,535 bytes (32,768 levels); 100,000 subscriptions
//! from one client; 100,000 retained topics sent to one `#` subscriber. Each ends as it does
//! in Mosquitto, in bounded time and memory, with the broker still serving a new client. The
//! figures each test prints (`hostile:` lines, `--nocapture`) are docs/benchmarks.md's.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqtt_codec::{MAX_PACKET_SIZE, Packet};

use crate::differential::wire::{V3_1_1, connect, pingreq, publish, publish_with, subscribe};
use crate::support::{BrokerProcess, COMMAND_DEADLINE, proc_status};

/// How long a connection must stay silent to count as answered with nothing.
const QUIET: Duration = Duration::from_millis(500);
/// The longest topic or filter: a two-byte length.
const MAX_TOPIC: usize = 65_535;
/// Subscriptions, and retained topics, in the many-of-them tests.
const MANY: usize = 100_000;
/// Filters per SUBSCRIBE packet when subscribing to [`MANY`].
const PER_SUBSCRIBE: usize = 1_000;

/// A raw MQTT v3.1.1 connection to a broker on loopback.
struct Client {
    stream: TcpStream,
    /// Bytes read but not decoded yet.
    pending: BytesMut,
}

/// What happened on a connection: the broker's answer, or its absence.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    /// A packet, summarised (type and the fields that matter here).
    Packet(String),
    /// Nothing within [`QUIET`].
    Nothing,
    /// The broker closed the connection.
    Closed,
}

impl Client {
    /// Connects to `port` as `id` (clean session) and waits for the CONNACK.
    fn connect(port: u16, id: &str) -> Self {
        let mut client = Self::open(port);
        client.send(&connect(V3_1_1, id));
        assert_eq!(
            client.answer(COMMAND_DEADLINE),
            Answer::Packet("CONNACK Success".into()),
            "{id}"
        );
        client
    }

    /// A TCP connection to `port` that has sent nothing yet.
    fn open(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
        Self { stream, pending: BytesMut::new() }
    }

    /// Sends `data`; a broker that closed the connection already is not an error here.
    fn send(&mut self, data: &[u8]) {
        let _ = self.stream.write_all(data);
    }

    /// The next packet within `wait`, summarised; [`Answer::Nothing`] or [`Answer::Closed`].
    fn answer(&mut self, wait: Duration) -> Answer {
        match self.next(wait) {
            Ok(Some(packet)) => Answer::Packet(summary(&packet)),
            Ok(None) => Answer::Nothing,
            Err(()) => Answer::Closed,
        }
    }

    /// The next packet within `wait` (`None` without one); `Err` once the broker closed.
    fn next(&mut self, wait: Duration) -> Result<Option<Packet>, ()> {
        let start = Instant::now();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            match mqtt_codec::decode(&mut self.pending, V3_1_1, MAX_PACKET_SIZE) {
                Ok(Some(packet)) => return Ok(Some(packet)),
                Ok(None) => {}
                Err(err) => panic!("the broker sent a malformed packet: {err}"),
            }
            let Some(left) = wait.checked_sub(start.elapsed()).filter(|left| !left.is_zero())
            else {
                return Ok(None);
            };
            self.stream.set_read_timeout(Some(left)).expect("read timeout");
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(()),
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Err(()),
            }
        }
    }

    /// Sends a PINGREQ and reads up to its PINGRESP, returning what came before it.
    fn sync(&mut self, deadline: Duration) -> Vec<Packet> {
        self.send(&pingreq());
        let start = Instant::now();
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_sub(start.elapsed());
            match self.next(left) {
                Ok(Some(Packet::PingResp)) => return before,
                Ok(Some(packet)) => before.push(packet),
                Ok(None) => panic!("no PINGRESP within {deadline:?} ({} before)", before.len()),
                Err(()) => panic!("closed before the PINGRESP ({} before)", before.len()),
            }
        }
    }
}

/// A packet as the tests compare it: its type, and a PUBLISH's topic length and retain flag.
fn summary(packet: &Packet) -> String {
    match packet {
        Packet::ConnAck(ack) => format!("CONNACK {:?}", ack.reason),
        Packet::SubAck(ack) => {
            let reasons: Vec<String> = ack.reasons.iter().map(|r| format!("{r:?}")).collect();
            format!("SUBACK {}", reasons.join(","))
        }
        Packet::Publish(publish) => {
            format!("PUBLISH topic of {} bytes retain {}", publish.topic.len(), publish.retain)
        }
        other => format!("{:?}", other.packet_type()),
    }
}

/// Runs `scenario` against Debian's Mosquitto and culex, each started with `config` added
/// and named to the scenario (for its figures), and returns what each gave, Mosquitto's
/// first. After each run a new client must still connect, subscribe and receive a message:
/// the broker survived.
fn both<T>(config: &str, scenario: impl Fn(&str, &BrokerProcess) -> T) -> [T; 2] {
    [("mosquitto", BrokerProcess::mosquitto(config)), ("culex", BrokerProcess::culex(config))].map(
        |(name, broker)| {
            let outcome = scenario(name, &broker);
            still_serving(&broker);
            outcome
        },
    )
}

/// Checks that `broker` serves a new client: subscribe, publish, receive.
fn still_serving(broker: &BrokerProcess) {
    let mut client = Client::connect(broker.port, "hostile-after");
    client.send(&subscribe(V3_1_1, 1, &[("after", 0)]));
    assert_eq!(client.answer(COMMAND_DEADLINE), Answer::Packet("SUBACK Success".into()));
    client.send(&publish(V3_1_1, "after", b"alive", 0, 0));
    let delivered = client.answer(COMMAND_DEADLINE);
    assert_eq!(delivered, Answer::Packet("PUBLISH topic of 5 bytes retain false".into()));
}

/// `bytes` in MiB, for the printed figures.
fn mib(bytes: u64) -> f64 {
    // Exact for any memory size a process has (below 2^52 bytes).
    #[expect(clippy::cast_precision_loss, reason = "figures to print, far below 2^52")]
    let bytes = bytes as f64;
    bytes / 1_048_576.0
}

#[test]
fn topics_and_filters_of_the_maximum_length_pass_as_in_mosquitto() {
    let long = "t".repeat(MAX_TOPIC);
    let outcomes = both("", |_, broker| {
        let mut subscriber = Client::connect(broker.port, "hostile-long-sub");
        subscriber.send(&subscribe(V3_1_1, 1, &[(long.as_str(), 1)]));
        let granted = subscriber.answer(COMMAND_DEADLINE);
        let mut publisher = Client::connect(broker.port, "hostile-long-pub");
        let retained = publish_with(V3_1_1, &long, b"long", 1, 7, |p| p.retain = true);
        publisher.send(&retained);
        let acknowledged = publisher.answer(COMMAND_DEADLINE);
        let delivered = subscriber.answer(COMMAND_DEADLINE);
        let mut late = Client::connect(broker.port, "hostile-long-late");
        late.send(&subscribe(V3_1_1, 1, &[("#", 0)]));
        let late_granted = late.answer(COMMAND_DEADLINE);
        let late_retained = late.answer(COMMAND_DEADLINE);
        [granted, acknowledged, delivered, late_granted, late_retained]
    });
    assert_eq!(outcomes[0], outcomes[1], "Mosquitto's, then culex's");
    assert_eq!(
        outcomes[1][4],
        Answer::Packet(format!("PUBLISH topic of {MAX_TOPIC} bytes retain true"))
    );
}

#[test]
fn a_maximum_length_topic_over_max_packet_size_is_refused_from_the_fixed_header() {
    let long = "t".repeat(MAX_TOPIC);
    let packets = [
        ("PUBLISH", publish(V3_1_1, &long, b"x", 0, 0)),
        ("SUBSCRIBE", subscribe(V3_1_1, 1, &[(long.as_str(), 0)])),
    ];
    let outcomes = both("max_packet_size 1000", |_, broker| {
        packets
            .iter()
            .enumerate()
            .map(|(i, (kind, packet))| {
                let id = format!("hostile-mps-{i}");
                let mut client = Client::connect(broker.port, &id);
                // The fixed header alone (type and a three-byte remaining length): the broker
                // must decide on it, not wait for the 65 KB that would follow.
                client.send(&packet[..4]);
                let answer = client.answer(COMMAND_DEADLINE);
                let wanted = format!("Client {id} disconnected due to oversize packet.");
                broker.wait_for_log(|line| line.ends_with(&wanted));
                (*kind, answer)
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(outcomes[0], outcomes[1], "Mosquitto's, then culex's");
    assert!(outcomes[1].iter().all(|(_, answer)| *answer == Answer::Closed), "{outcomes:?}");
}

#[test]
fn a_268_mb_remaining_length_is_not_allocated_up_front_and_five_length_bytes_are_refused() {
    /// A PUBLISH's fixed header announcing the largest remaining length, 268,435,455 bytes.
    const HUGE: [u8; 5] = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    /// A PUBLISH's fixed header with a remaining length of five bytes (at most four are allowed).
    const FIVE: [u8; 6] = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    /// What the trickle sends after [`HUGE`]: 64 reads of 1 KiB.
    const TRICKLE: (usize, usize) = (64, 1024);
    let outcomes = both("", |name, broker| {
        let pid = broker.pid();
        let (size_before, rss_before) = (proc_status(pid, "VmSize:"), proc_status(pid, "VmRSS:"));
        let mut huge = Client::connect(broker.port, "hostile-huge");
        huge.send(&HUGE);
        let start = Instant::now();
        for _ in 0..TRICKLE.0 {
            huge.send(&[b'x'; TRICKLE.1]);
            std::thread::sleep(Duration::from_millis(15));
        }
        let huge_answer = huge.answer(QUIET);
        let grown_size = proc_status(pid, "VmSize:").saturating_sub(size_before);
        let grown_rss = proc_status(pid, "VmRSS:").saturating_sub(rss_before);
        eprintln!(
            "hostile: {}: a 268,435,455-byte remaining length, then {} KiB in {:?}: \
             VmSize +{:.1} MiB, VmRSS +{:.1} MiB",
            name,
            TRICKLE.0 * TRICKLE.1 / 1024,
            start.elapsed(),
            mib(grown_size),
            mib(grown_rss)
        );
        let mut five = Client::connect(broker.port, "hostile-five");
        five.send(&FIVE);
        let five_answer = five.answer(COMMAND_DEADLINE);
        let line = broker.wait_for_log(|line| line.starts_with("Client hostile-five "));
        ((huge_answer, five_answer, line), (grown_size, grown_rss))
    });
    assert_eq!(outcomes[0].0, outcomes[1].0, "Mosquitto's, then culex's");
    let (answers, (grown_size, grown_rss)) = &outcomes[1];
    assert_eq!((&answers.0, &answers.1), (&Answer::Nothing, &Answer::Closed));
    // Mosquitto reserves the 256 MiB at once (it shows in VmSize, not in VmRSS); culex grows
    // its buffer with what arrives.
    assert!(*grown_size < 64 << 20, "culex reserved {:.1} MiB", mib(*grown_size));
    assert!(*grown_rss < 16 << 20, "culex's VmRSS grew {:.1} MiB", mib(*grown_rss));
}

#[test]
fn the_deepest_topic_and_filter_are_handled_as_in_mosquitto_in_bounded_time() {
    // 32,768 levels in 65,535 bytes: `a/a/…/a` and `a/a/…/#`.
    let topic = "a/".repeat(MAX_TOPIC / 2) + "a";
    let filter = "a/".repeat(MAX_TOPIC / 2) + "#";
    assert_eq!((topic.len(), filter.len()), (MAX_TOPIC, MAX_TOPIC));
    let outcomes = both("", |name, broker| {
        let start = Instant::now();
        let mut watcher = Client::connect(broker.port, "hostile-deep-watch");
        watcher.send(&subscribe(V3_1_1, 1, &[("#", 1)]));
        assert_eq!(watcher.answer(COMMAND_DEADLINE), Answer::Packet("SUBACK GrantedQoS1".into()));
        let mut deep = Client::connect(broker.port, "hostile-deep-sub");
        deep.send(&subscribe(V3_1_1, 1, &[(filter.as_str(), 0)]));
        let subscribed = deep.answer(QUIET);
        let mut publisher = Client::connect(broker.port, "hostile-deep-pub");
        publisher.send(&publish(V3_1_1, &topic, b"deep", 1, 1));
        let published = publisher.answer(QUIET);
        let mut retainer = Client::connect(broker.port, "hostile-deep-ret");
        retainer.send(&publish_with(V3_1_1, &topic, b"deep", 1, 2, |p| p.retain = true));
        let retained = retainer.answer(QUIET);
        let watched = watcher.answer(QUIET);
        let mut late = Client::connect(broker.port, "hostile-deep-late");
        late.send(&subscribe(V3_1_1, 1, &[("a/#", 0)]));
        assert_eq!(late.answer(COMMAND_DEADLINE), Answer::Packet("SUBACK Success".into()));
        let late_retained = late.answer(QUIET);
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
        let lines: Vec<String> = broker
            .log_lines()
            .into_iter()
            .filter(|line| line.starts_with("Client hostile-deep") && !line.contains(" as "))
            .collect();
        let answers = [subscribed, published, retained, watched, late_retained];
        eprintln!(
            "hostile: {name}: 32,768-level topic and filter: {elapsed:?}: {answers:?} {lines:?}"
        );
        (answers, lines)
    });
    assert_eq!(outcomes[0], outcomes[1], "Mosquitto's, then culex's");
}

/// Runs `work` on Mosquitto and culex (see [`both`]), timing it and measuring the growth of
/// each broker's VmRSS, printed as `what`'s figures. The outcomes must be equal, and culex's
/// time and memory bounded (a minute, 256 MiB). Returns culex's outcome.
fn bounded<T: PartialEq + std::fmt::Debug>(what: &str, work: impl Fn(&BrokerProcess) -> T) -> T {
    let [theirs, ours] = both("", |name, broker| {
        let rss_before = proc_status(broker.pid(), "VmRSS:");
        let start = Instant::now();
        let outcome = work(broker);
        let time = start.elapsed();
        let grown = proc_status(broker.pid(), "VmRSS:").saturating_sub(rss_before);
        eprintln!("hostile: {name}: {what}: {time:?}, VmRSS +{:.1} MiB: {outcome:?}", mib(grown));
        (outcome, time, grown)
    });
    assert_eq!(theirs.0, ours.0, "Mosquitto's, then culex's");
    let (outcome, time, grown) = ours;
    assert!(time < Duration::from_secs(60), "culex took {time:?}");
    assert!(grown < 256 << 20, "culex's VmRSS grew {:.1} MiB", mib(grown));
    outcome
}

#[test]
fn a_hundred_thousand_subscriptions_from_one_client_then_a_publish_routes() {
    let what = format!("{MANY} subscriptions in SUBSCRIBE packets of {PER_SUBSCRIBE}, a publish");
    let (acks, routed) = bounded(&what, |broker| {
        let mut subscriber = Client::connect(broker.port, "hostile-many-sub");
        for batch in 0..MANY / PER_SUBSCRIBE {
            let names: Vec<String> =
                (0..PER_SUBSCRIBE).map(|i| format!("many/{}", batch * PER_SUBSCRIBE + i)).collect();
            let filters: Vec<(&str, u8)> = names.iter().map(|n| (n.as_str(), 0)).collect();
            let id = u16::try_from(batch + 1).expect("fewer than 65,536 packets");
            subscriber.send(&subscribe(V3_1_1, id, &filters));
        }
        let acks = subscriber.sync(Duration::from_secs(120));
        let mut publisher = Client::connect(broker.port, "hostile-many-pub");
        publisher.send(&publish(V3_1_1, &format!("many/{}", MANY - 1), b"routed", 0, 0));
        (acks.len(), subscriber.answer(COMMAND_DEADLINE))
    });
    assert_eq!(acks, MANY / PER_SUBSCRIBE);
    let topic_len = format!("many/{}", MANY - 1).len();
    assert_eq!(routed, Answer::Packet(format!("PUBLISH topic of {topic_len} bytes retain false")));
}

#[test]
fn a_hundred_thousand_retained_topics_all_reach_a_hash_subscriber() {
    let what = format!("{MANY} retained topics stored, then sent to a `#` subscriber");
    let retained = bounded(&what, |broker| {
        let mut publisher = Client::connect(broker.port, "hostile-ret-pub");
        let mut batch = Vec::new();
        for i in 0..MANY {
            let packet = publish_with(V3_1_1, &format!("ret/{i}"), b"r", 0, 0, |p| p.retain = true);
            batch.extend_from_slice(&packet);
            if batch.len() > 64 * 1024 {
                publisher.send(&std::mem::take(&mut batch));
            }
        }
        publisher.send(&batch);
        publisher.sync(Duration::from_secs(120));
        let mut subscriber = Client::connect(broker.port, "hostile-ret-sub");
        subscriber.send(&subscribe(V3_1_1, 1, &[("#", 0)]));
        let received = subscriber.sync(Duration::from_secs(120));
        received
            .iter()
            .filter(|p| matches!(p, Packet::Publish(p) if p.retain && p.topic.starts_with("ret/")))
            .count()
    });
    assert_eq!(retained, MANY);
}
