//! Publishers that outrun the broker's driver (issue 13). Every PUBLISH is checked against an
//! `acl_file` of [`RULES`] rules, so the one task that routes is slower than the connection
//! tasks that read and decode. What waits for it is bounded in bytes (the broker's
//! `PACKET_BUDGET`, 8 MiB): the publishers are slowed down by TCP at their sockets instead of
//! growing the broker's memory, each gets its turn, and a publisher kept waiting can still be
//! taken over and closed. (Bounded in events only, the broker grew by 30 to 60 MiB in the
//! same flood, depending on how busy the machine was.)

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::broker_21::{ACCEPTED, try_connect};
use crate::differential::wire::{V3_1_1, connect, pingreq, publish};
use crate::support::{BrokerProcess, COMMAND_DEADLINE, PeakRss, TempDir, rss};

/// Rules the driver goes through for every PUBLISH before the one that allows it: a debug
/// build then routes the 4 KiB flood at some 60 MiB/s, several times slower than it is read.
const RULES: usize = 200;
/// The payload of every flood message.
static PAYLOAD: [u8; 4096] = [b'x'; 4096];
/// Flood messages written with one call.
const BATCH: usize = 16;
/// Publishers flooding at once.
const PUBLISHERS: usize = 4;
/// Messages each publisher sends: 16 MiB, so together they are several times the budget and
/// what loopback's socket buffers hold.
pub(crate) const PER_PUBLISHER: usize = 4096;
/// What the broker may hold beyond the budget of 8 MiB: each publisher's read buffer and the
/// one event it decoded while it waits for credit (about 100 KiB each), the allocator's spare
/// heap and the unevenness of sampling. Measured: 13–14 MiB in all, budget included (a debug
/// build; 9 MiB for a release build); without the budget, 31–65 MiB.
const BOUND: u64 = 24 * 1024 * 1024;

#[test]
fn publishers_outrunning_the_driver_cost_a_bounded_memory() {
    let dir = TempDir::new("busy-driver");
    let broker = busy_broker(&dir, None, "");
    let port = broker.port;
    let before = rss(broker.pid());
    let peak = PeakRss::start(broker.pid());
    let publishers = flooders(port, 0..PUBLISHERS);
    // Every publisher gets its flood through: a PINGRESP after its last message says the
    // broker has handled all of them (it handles a client's packets in order).
    for publisher in publishers {
        publisher.join().expect("publisher thread").expect("a publisher's flood");
    }
    let growth = peak.stop().saturating_sub(before);
    eprintln!("peak RSS growth during the flood: {growth} bytes");
    assert!(growth < BOUND, "the broker grew by {growth} bytes");
}

#[test]
fn a_publisher_waiting_for_its_turn_can_be_taken_over() {
    let dir = TempDir::new("busy-driver-takeover");
    let broker = busy_broker(&dir, None, "");
    let port = broker.port;
    let written = Arc::new(AtomicUsize::new(0));
    let victim = publisher(port, "victim");
    let counter = Arc::clone(&written);
    // Floods until the broker closes it.
    let victim = std::thread::spawn(move || flood(victim, None, &counter));
    let others = flooders(port, 1..PUBLISHERS);
    // Once the victim has sent more than the broker takes at once, it waits for its turn.
    let start = Instant::now();
    while written.load(Ordering::Relaxed) < 4 * 1024 * 1024 {
        assert!(start.elapsed() < COMMAND_DEADLINE, "the victim's flood did not get going");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (connack, closed, _stream) = try_connect(port, &connect(V3_1_1, "victim"));
    assert_eq!(connack, ACCEPTED, "the new connection of the victim's client id");
    assert!(!closed, "the new connection stays open");
    let ended = victim.join().expect("victim thread");
    let err = ended.expect_err("the taken-over connection is closed");
    assert!(
        !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "the taken-over connection was not closed: {err}"
    );
    for other in others {
        other.join().expect("publisher thread").expect("a publisher's flood");
    }
}

/// culex with an ACL file of [`RULES`] denials of other topics before the rule that allows
/// `flood/#`, in `dir`, on `cpus` (see [`BrokerProcess::culex_on_cpus`]), with `extra`
/// configuration lines.
pub(crate) fn busy_broker(dir: &TempDir, cpus: Option<&str>, extra: &str) -> BrokerProcess {
    let acl = dir.join("acl");
    let mut rules: String = (0..RULES).map(|n| format!("topic deny busy/{n}\n")).collect();
    rules.push_str("topic readwrite flood/#\n");
    std::fs::write(&acl, rules).expect("writing the ACL file");
    let config = |ports: &[u16]| {
        format!(
            "listener {} 127.0.0.1\nallow_anonymous true\nacl_file {}\n{extra}\n",
            ports[0],
            acl.display()
        )
    };
    BrokerProcess::culex_on_cpus(cpus, 1, config, &[])
}

/// Publishers `publisher<n>` for each `n` of `numbers`, each flooding [`PER_PUBLISHER`]
/// messages on its own thread.
fn flooders(port: u16, numbers: std::ops::Range<usize>) -> Vec<JoinHandle<std::io::Result<()>>> {
    numbers
        .map(|n| {
            let stream = publisher(port, &format!("publisher{n}"));
            std::thread::spawn(move || flood(stream, Some(PER_PUBLISHER), &AtomicUsize::new(0)))
        })
        .collect()
}

/// A connected client `id`, with time limits on its reads and writes.
pub(crate) fn publisher(port: u16, id: &str) -> TcpStream {
    let (connack, _, stream) = try_connect(port, &connect(V3_1_1, id));
    assert_eq!(connack, ACCEPTED, "{id}'s CONNACK");
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).expect("read timeout");
    stream.set_write_timeout(Some(COMMAND_DEADLINE)).expect("write timeout");
    stream
}

/// Writes QoS 0 messages of 4 KiB to `flood/t` on `stream` as fast as the broker takes them
/// (`messages` of them, or until a write fails), counting the bytes in `written`, then a
/// PINGREQ, and waits for the PINGRESP.
pub(crate) fn flood(
    mut stream: TcpStream,
    messages: Option<usize>,
    written: &AtomicUsize,
) -> std::io::Result<()> {
    let batch = publish(V3_1_1, "flood/t", &PAYLOAD, 0, 0).repeat(BATCH);
    let mut sent = 0;
    while messages.is_none_or(|messages| sent < messages) {
        stream.write_all(&batch)?;
        written.fetch_add(batch.len(), Ordering::Relaxed);
        sent += BATCH;
    }
    stream.write_all(&pingreq())?;
    let mut pingresp = [0; 2];
    stream.read_exact(&mut pingresp)?;
    assert_eq!(pingresp, [0xd0, 0x00], "a PINGRESP");
    Ok(())
}
