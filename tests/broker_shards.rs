//! The broker as driver shards (issue 13), through real sockets: it runs one shard per CPU it
//! may use, and a client's session lives on the shard of its client id
//! (`mqtt_core::shard_of`). Each scenario picks client ids on both shards of two and runs
//! twice: with the broker pinned to one CPU (`taskset -c 0`: one shard) and to two (two
//! shards, where every message below crosses from one driver to the other). Both must behave
//! the same: in order at every QoS, takeover and resumption of a client id from two
//! listeners, a shared subscription with a member on each shard, retained messages.

use std::io::{ErrorKind, Read as _};
use std::path::Path;
use std::time::Duration;

use mqtt_core::shard_of;

use crate::broker_21::{ACCEPTED, try_connect};
use crate::broker_tools::wait_subscribed;
use crate::differential::wire::{V3_1_1, connect};
use crate::support::{Background, BrokerProcess, reference_client, reference_tool, run, run_in};
use crate::support::{COMMAND_DEADLINE, wait_with_deadline};

/// Runs each scenario on a broker pinned to CPU 0 (one shard) and to CPUs 0 and 1 (two), as
/// two tests.
macro_rules! on_one_and_two_cpus {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn one_cpu() {
                super::$name(&super::broker("0"));
            }
            #[test]
            fn two_cpus() {
                super::$name(&super::broker("0,1"));
            }
        }
    )+};
}

on_one_and_two_cpus!(
    messages_cross_shards_in_order_at_every_qos,
    a_client_id_is_taken_over_and_resumed_from_another_listener,
    a_shared_subscription_with_a_member_on_each_shard_gets_each_message_once,
    a_retained_message_set_on_one_shard_is_read_on_the_other,
);

/// Shards the ids are picked for: those of a broker on two CPUs.
const SHARDS: usize = 2;
/// Messages per scenario.
const COUNT: usize = 200;

/// culex on `cpus`, with two listeners and the subscription log lines.
fn broker(cpus: &str) -> BrokerProcess {
    let config = |ports: &[u16]| {
        format!(
            "listener {} 127.0.0.1\nlistener {} 127.0.0.1\nallow_anonymous true\nlog_type all\n",
            ports[0], ports[1]
        )
    };
    BrokerProcess::culex_on_cpus(Some(cpus), 2, config, &[])
}

/// The first client id `<prefix>-<n>` that lives on `shard` of [`SHARDS`].
fn id_on(prefix: &str, shard: usize) -> String {
    (0..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| shard_of(id, SHARDS) == shard)
        .unwrap_or_default()
}

/// Debian's `mosquitto_sub` on `port` with `args`, giving up after 15 s without a message.
fn subscriber(port: u16, args: &[&str]) -> Background {
    Background::spawn(reference_client("mosquitto_sub", port).args(["-W", "15"]).args(args))
}

/// Debian's `mosquitto_pub` on `port` with `args`, one message per line of `lines` (`-l`).
fn publish_lines(port: u16, args: &[&str], lines: &str) {
    let port = port.to_string();
    let args = [&["-h", "127.0.0.1", "-p", port.as_str(), "-l"], args].concat();
    let done = run_in(Path::new("/"), &reference_tool("mosquitto_pub"), &args, lines.as_bytes());
    assert_eq!(done.code(), 0, "mosquitto_pub {args:?}: {}", done.stderr);
}

/// Debian's `mosquitto_pub` on `port` with `args`.
fn publish(port: u16, args: &[&str]) {
    let done = run(reference_client("mosquitto_pub", port).args(args), COMMAND_DEADLINE);
    assert_eq!(done.code(), 0, "mosquitto_pub {args:?}: {}", done.stderr);
}

/// `0` to `COUNT - 1`, one a line.
fn numbers() -> Vec<String> {
    (0..COUNT).map(|n| n.to_string()).collect()
}

fn messages_cross_shards_in_order_at_every_qos(broker: &BrokerProcess) {
    for (qos, shard) in [("0", 0), ("1", 1), ("2", 0)] {
        let (sub_id, pub_id) = (id_on("sub", shard), id_on("pub", 1 - shard));
        let topic = format!("cross/{qos}");
        let count = COUNT.to_string();
        let sub = subscriber(broker.port, &["-i", &sub_id, "-q", qos, "-t", &topic, "-C", &count]);
        wait_subscribed(broker, &sub_id, &topic);
        let lines = numbers().join("\n") + "\n";
        publish_lines(broker.ports[1], &["-i", &pub_id, "-q", qos, "-t", &topic], &lines);
        assert_eq!(sub.wait_for_lines(COUNT), numbers(), "QoS {qos}: every message, in order");
    }
}

/// Whether the broker closes `stream` within the command deadline.
fn closed(stream: &mut std::net::TcpStream) -> bool {
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).expect("read timeout");
    match stream.read(&mut [0; 1]) {
        Ok(n) => n == 0,
        Err(err) => !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn a_client_id_is_taken_over_and_resumed_from_another_listener(broker: &BrokerProcess) {
    for shard in 0..SHARDS {
        let id = id_on("taken", shard);
        let (connack, closed_at_once, mut first) =
            try_connect(broker.ports[0], &connect(V3_1_1, &id));
        assert_eq!((connack, closed_at_once), (ACCEPTED.to_vec(), false));
        let (connack, closed_at_once, _second) =
            try_connect(broker.ports[1], &connect(V3_1_1, &id));
        assert_eq!((connack, closed_at_once), (ACCEPTED.to_vec(), false), "the takeover");
        assert!(closed(&mut first), "the first connection of {id} is closed");
    }
    // A kept session, resumed through the other listener, with a message published from the
    // other shard while it was away.
    let (id, publisher) = (id_on("kept", 0), id_on("pub", 1));
    let topic = "resume/t";
    let first = subscriber(broker.ports[0], &["-c", "-i", &id, "-q", "1", "-t", topic, "-E"]);
    assert!(first.wait().success(), "subscribed and left");
    publish(broker.ports[1], &["-i", &publisher, "-q", "1", "-t", topic, "-m", "queued"]);
    let again = subscriber(broker.ports[1], &["-c", "-i", &id, "-q", "1", "-t", topic, "-C", "1"]);
    assert_eq!(again.wait_for_lines(1), ["queued"]);
}

fn a_shared_subscription_with_a_member_on_each_shard_gets_each_message_once(
    broker: &BrokerProcess,
) {
    let filter = "$share/group/shared/t";
    let members: Vec<Background> = (0..SHARDS)
        .map(|shard| {
            let id = id_on("member", shard);
            let member = subscriber(broker.port, &["-i", &id, "-q", "1", "-t", filter]);
            wait_subscribed(broker, &id, filter);
            member
        })
        .collect();
    let lines = numbers().join("\n") + "\n";
    publish_lines(broker.port, &["-i", &id_on("pub", 0), "-q", "1", "-t", "shared/t"], &lines);
    let received = || members.iter().map(|member| member.lines().len()).sum::<usize>();
    let start = std::time::Instant::now();
    while received() < COUNT && start.elapsed() < COMMAND_DEADLINE {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Time for a duplicate to show, if one were sent.
    std::thread::sleep(Duration::from_millis(200));
    let mut all: Vec<String> = members.iter().flat_map(Background::lines).collect();
    assert!(members.iter().all(|member| !member.lines().is_empty()), "both members get some");
    all.sort_by_key(|line| line.parse::<usize>().unwrap_or(usize::MAX));
    assert_eq!(all, numbers(), "each message exactly once");
}

fn a_retained_message_set_on_one_shard_is_read_on_the_other(broker: &BrokerProcess) {
    let read = |shard: usize, topic: &str| {
        let id = id_on("reader", shard);
        subscriber(broker.ports[1], &["-i", &id, "-t", topic, "-C", "1"]).wait_for_lines(1)
    };
    publish(
        broker.port,
        &["-i", &id_on("setter", 0), "-q", "1", "-r", "-t", "kept/t", "-m", "kept"],
    );
    assert_eq!(read(1, "kept/t"), ["kept"]);
    // Two retained messages on one topic from both shards at once: every shard keeps the same.
    let setters: Vec<std::process::Child> = (0..SHARDS)
        .map(|shard| {
            let id = id_on("setter", shard);
            let value = format!("from-{shard}");
            reference_client("mosquitto_pub", broker.port)
                .args(["-i", &id, "-q", "1", "-r", "-t", "race/t", "-m", &value])
                .spawn()
                .expect("starting mosquitto_pub")
        })
        .collect();
    for mut setter in setters {
        let status = wait_with_deadline(&mut setter, "mosquitto_pub", COMMAND_DEADLINE);
        assert!(status.success());
    }
    let kept: Vec<Vec<String>> = (0..SHARDS).map(|shard| read(shard, "race/t")).collect();
    assert!(kept.iter().all(|value| *value == kept[0]), "every shard keeps one value: {kept:?}");
}

/// Subscribers on shard 1 that never read: every message is checked against the ACL once per
/// subscriber there (and dropped past their `max_queued_bytes`), so shard 1 routes several
/// times slower than shard 0, which only checks the publishers' writes.
const SLOW_READERS: usize = 8;
/// What the broker may grow by while publishers on shard 0 outrun shard 1: the packet budget
/// (8 MiB, shared by the shards), the forward credit from 0 to 1 (8 MiB), read buffers and
/// the allocator's spare heap. Measured (debug build, a busy machine): 20–30 MiB; without the
/// credit, 61 MiB, and the flood took three times as long to drain.
const FORWARD_BOUND: u64 = 40 * 1024 * 1024;

#[test]
fn a_shard_that_falls_behind_holds_back_the_publishers_of_the_other() {
    use crate::broker_busy_driver::{PER_PUBLISHER, busy_broker, flood, publisher};
    use crate::differential::wire::subscribe;
    use std::io::Write as _;
    use std::sync::atomic::AtomicUsize;

    let dir = crate::support::TempDir::new("shards-backlog");
    let broker = busy_broker(&dir, Some("0,1"), "max_queued_bytes 65536");
    let readers: Vec<std::net::TcpStream> = (0..SLOW_READERS)
        .map(|n| {
            let mut reader = publisher(broker.port, &id_on(&format!("reader{n}"), 1));
            reader.write_all(&subscribe(V3_1_1, 1, &[("flood/#", 0)])).expect("subscribing");
            reader
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let before = crate::support::rss(broker.pid());
    let peak = crate::support::PeakRss::start(broker.pid());
    let publishers: Vec<_> = (0..4)
        .map(|n| {
            let stream = publisher(broker.port, &id_on(&format!("flooder{n}"), 0));
            std::thread::spawn(move || flood(stream, Some(PER_PUBLISHER), &AtomicUsize::new(0)))
        })
        .collect();
    for publisher in publishers {
        publisher.join().expect("publisher thread").expect("a publisher's flood");
    }
    let growth = peak.stop().saturating_sub(before);
    eprintln!("peak RSS growth while shard 1 fell behind: {growth} bytes");
    assert!(growth < FORWARD_BOUND, "the broker grew by {growth} bytes");
    drop(readers);
}
