//! A bad-login flood (issue 12): several attackers send CONNECTs with wrong passwords, hundreds
//! a second, against a password file of argon2id entries (`culex_passwd`'s default, 46 MiB per
//! check). Meanwhile a legitimate client, which has logged in before, connects again and
//! again, and a pair of clients exchanges QoS 1 messages: every legitimate connect succeeds
//! within a bound, the pair's traffic flows, and the broker's memory stays within what its
//! pool of password checks (one per CPU) may hold. (A client whose password has not passed a
//! check since the broker started waits its turn behind the flood: docs/security.md.)

use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::broker_21::{ACCEPTED, first_packet};
use crate::differential::wire::{V3_1_1, connect_with, puback, publish, s, subscribe};
use crate::support::{BrokerProcess, COMMAND_DEADLINE, PeakRss, TempDir, our_bin, rss, run};

/// Attacking threads.
const ATTACKERS: usize = 6;
/// Each attacker sends a CONNECT this often: 6 × 50 = 300 a second.
const ATTACK_EVERY: Duration = Duration::from_millis(20);
/// An attacker closes a connection that has no answer after this long, as a client would.
const ATTACKER_PATIENCE: Duration = Duration::from_secs(1);
/// How long the flood lasts.
const FLOOD_FOR: Duration = Duration::from_secs(8);
/// Memory of one argon2id check at `culex_passwd`'s cost (m=47104 KiB).
const CHECK_MEMORY: u64 = 47_104 * 1024;
/// What the broker holds besides the checks in progress: its own heap and buffers, the
/// connections waiting for a check (a few KiB each) and the allocator's spare heap.
const CONSTANT: u64 = 32 * 1024 * 1024;
/// The longest a legitimate CONNACK may take during the flood.
const CONNACK_BOUND: Duration = Duration::from_secs(5);

#[test]
fn a_flood_of_wrong_passwords_leaves_legitimate_clients_served() {
    let dir = TempDir::new("login-flood");
    let file = dir.join("passwords");
    for (create, user, password) in [(true, "legit", "right"), (false, "pair", "pair")] {
        let mut command = std::process::Command::new(our_bin("culex_passwd"));
        if create {
            command.arg("-c");
        }
        command.arg("-b").arg(&file).args([user, password]);
        let done = run(&mut command, COMMAND_DEADLINE);
        assert!(done.status.success(), "{}", done.stderr);
    }
    let config = |ports: &[u16]| {
        format!(
            "listener {} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
            ports[0],
            file.display()
        )
    };
    let broker = BrokerProcess::start_with(&our_bin("culex"), 1, config, &[]);
    let port = broker.port;
    // The pair, connected before the flood.
    let mut subscriber = login(port, "pair-sub", "pair", "pair").0;
    subscriber.write_all(&subscribe(V3_1_1, 1, &[("pair/t", 1)])).expect("subscribing");
    assert_eq!(first_packet(&mut subscriber), [0x90, 0x03, 0x00, 0x01, 0x01]);
    let mut publisher = login(port, "pair-pub", "pair", "pair").0;
    login(port, "legit", "legit", "right");

    let before = rss(broker.pid());
    let peak = PeakRss::start(broker.pid());
    let flooding = Arc::new(AtomicBool::new(true));
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|n| {
            let flooding = Arc::clone(&flooding);
            std::thread::spawn(move || attack(port, n, &flooding))
        })
        .collect();

    // The legitimate client and the pair, while the flood lasts.
    let start = Instant::now();
    let mut connacks = Vec::new();
    let mut round_trips = Vec::new();
    let mut id = 0;
    while start.elapsed() < FLOOD_FOR {
        let (_, took) = login(port, "legit", "legit", "right");
        connacks.push(took);
        id += 1;
        let sent = Instant::now();
        publisher.write_all(&publish(V3_1_1, "pair/t", b"ping", 1, id)).expect("publishing");
        assert_eq!(first_packet(&mut publisher), puback(V3_1_1, id), "the pair's PUBACK");
        let delivered = first_packet(&mut subscriber);
        assert_eq!(delivered[0] & 0xF0, 0x30, "the pair's message: {delivered:?}");
        let delivered_id = u16::from_be_bytes([delivered[10], delivered[11]]);
        subscriber.write_all(&puback(V3_1_1, delivered_id)).expect("acknowledging");
        round_trips.push(sent.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    flooding.store(false, Ordering::Relaxed);
    let attempts: usize = attackers.into_iter().map(|a| a.join().expect("attacker")).sum();
    let peak = peak.stop();

    connacks.sort();
    round_trips.sort();
    let growth = peak.saturating_sub(before);
    let checks = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    eprintln!(
        "{attempts} wrong logins in {FLOOD_FOR:?}; {} legitimate CONNACKs, p50 {:?}, max {:?}; \
         {} round trips, max {:?}; memory grew {} MiB",
        connacks.len(),
        connacks[connacks.len() / 2],
        connacks.last(),
        round_trips.len(),
        round_trips.last(),
        growth >> 20
    );
    assert!(attempts as f64 / FLOOD_FOR.as_secs_f64() > 100.0, "the flood was too slow");
    assert!(connacks.iter().all(|took| *took < CONNACK_BOUND), "{connacks:?}");
    assert!(round_trips.iter().all(|took| *took < CONNACK_BOUND), "{round_trips:?}");
    let bound = checks as u64 * CHECK_MEMORY + CONSTANT;
    assert!(growth < bound, "grew {growth} bytes, more than {bound}");
}

/// Logs `id` in as `user` with `password` and returns the connection and how long its CONNACK
/// took, which must accept it.
fn login(port: u16, id: &str, user: &str, password: &str) -> (TcpStream, Duration) {
    let connect = connect_with(V3_1_1, id, |connect| {
        connect.username = Some(s(user));
        connect.password = Some(bytes::Bytes::copy_from_slice(password.as_bytes()));
    });
    let start = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).expect("read timeout");
    stream.write_all(&connect).expect("CONNECT");
    assert_eq!(first_packet(&mut stream), ACCEPTED, "{user}'s CONNACK");
    (stream, start.elapsed())
}

/// Attacker `n`: a CONNECT with a wrong password every [`ATTACK_EVERY`] on a new connection,
/// without waiting for the answer, each closed after [`ATTACKER_PATIENCE`], until `flooding`
/// ends. Half name the legitimate user, half a user who does not exist. Returns the CONNECTs
/// sent.
fn attack(port: u16, n: usize, flooding: &AtomicBool) -> usize {
    let mut open: VecDeque<(Instant, TcpStream)> = VecDeque::new();
    let mut sent = 0;
    while flooding.load(Ordering::Relaxed) {
        let user = if sent % 2 == 0 { "legit".to_owned() } else { format!("nobody{n}") };
        let connect = connect_with(V3_1_1, &format!("attacker{n}-{sent}"), |connect| {
            connect.username = Some(s(&user));
            connect.password = Some(bytes::Bytes::from(format!("wrong{sent}")));
        });
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            if stream.write_all(&connect).is_ok() {
                sent += 1;
                open.push_back((Instant::now(), stream));
            }
        }
        while open.front().is_some_and(|(at, _)| at.elapsed() > ATTACKER_PATIENCE) {
            open.pop_front();
        }
        // Answers that came are read, so that a refused connection closes cleanly.
        for (_, stream) in &mut open {
            stream.set_nonblocking(true).expect("non-blocking");
            let _ = stream.read(&mut [0; 16]);
        }
        std::thread::sleep(ATTACK_EVERY);
    }
    sent
}
