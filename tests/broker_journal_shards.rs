//! The journal on several routers (issue 13): each driver shard keeps its own checkpoint and
//! journal, `mosquitto.db` and `mosquitto.db.shard<i>` (each with `.journal`). Messages
//! published at QoS 1 and 2 on the shard of their persistent subscriber survive a SIGKILL right
//! after the acknowledgements, exactly once; sessions, queues and retained messages survive
//! restarts into 2, 3 and 1 routers (after which no shard file is left); a damaged journal of
//! one shard is moved aside with the usual error line and the rest still loads.

use std::path::Path;
use std::time::Duration;

use mqtt_codec::{ProtocolVersion, QoS};
use mqtt_core::shard_of;

use crate::broker_durable::{Mini, config};
use crate::support::{Background, BrokerProcess, TempDir, our_bin, reference_client};

/// culex with the journal in `dir` on `routers` routers; `port` 0 picks one, else a restart.
fn start(dir: &TempDir, routers: usize, port: u16) -> BrokerProcess {
    let config = |ports: &[u16]| format!("{}routers {routers}\n", config(ports[0], dir));
    if port == 0 {
        BrokerProcess::start_with(&our_bin("culex"), 1, config, &[])
    } else {
        BrokerProcess::restart_on(&our_bin("culex"), &[port], config)
    }
}

/// A client id starting with `name` whose session shard `shard` of each count in `shards`
/// owns: `(count, shard)` pairs.
fn id_on(name: &str, shards: &[(usize, usize)]) -> String {
    (0..)
        .map(|n| format!("{name}{n}"))
        .find(|id| shards.iter().all(|&(count, shard)| shard_of(id, count) == shard))
        .unwrap_or_default()
}

/// A persistent MQTT 5 session `id` subscribed to `filter` at QoS 2, left offline.
fn keep_session(port: u16, id: &str, filter: &str) {
    let mut client = Mini::connect(port, id, ProtocolVersion::V5, true).expect("connects");
    client.subscribe(filter, QoS::ExactlyOnce).expect("subscribes");
}

/// What the persistent session `id` receives when it comes back.
fn come_back(port: u16, id: &str) -> Vec<String> {
    let mut client = Mini::connect(port, id, ProtocolVersion::V5, true).expect("reconnects");
    client.drain(Duration::from_millis(800)).into_iter().map(|(text, _)| text).collect()
}

/// Publishes `payloads` on `topic` as client `id`, alternating QoS 1 and 2, each acknowledged.
fn publish_all(port: u16, id: &str, topic: &str, payloads: &[String]) {
    let mut client = Mini::connect(port, id, ProtocolVersion::V5, false).expect("connects");
    for (n, payload) in payloads.iter().enumerate() {
        let qos = if n % 2 == 0 { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
        client.publish(topic, payload.clone(), qos, false).expect("acknowledged");
    }
}

/// The shard files in `dir` (`mosquitto.db.shard<i>`, with or without `.journal`).
fn shard_files(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir).expect("reads the directory");
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".shard"))
        .collect();
    names.sort();
    names
}

/// Per shard of two, a persistent subscriber and a publisher on that shard; `count`
/// messages each published and acknowledged, then SIGKILL. The subscribers' ids and the
/// payloads each was sent.
fn acknowledged_on_each_shard_then_killed(
    dir: &TempDir,
    count: usize,
) -> (u16, [(String, Vec<String>); 2]) {
    let broker = start(dir, 2, 0);
    let port = broker.ports[0];
    let shards = [0, 1].map(|shard| {
        let subscriber = id_on("sub", &[(2, shard)]);
        keep_session(port, &subscriber, &format!("s{shard}/#"));
        let payloads: Vec<String> = (0..count).map(|n| format!("{shard}-{n}")).collect();
        (subscriber, payloads)
    });
    for (shard, (_, payloads)) in shards.iter().enumerate() {
        publish_all(port, &id_on("pub", &[(2, shard)]), &format!("s{shard}/x"), payloads);
    }
    assert!(dir.path().join("mosquitto.db.shard1.journal").exists(), "shard 1's journal");
    // SIGKILL right after the last acknowledgement: no shutdown, no checkpoint.
    drop(broker);
    (port, shards)
}

#[test]
fn messages_acknowledged_on_two_routers_survive_kill_9_exactly_once() {
    let dir = TempDir::new("journal-shards-kill");
    let (port, shards) = acknowledged_on_each_shard_then_killed(&dir, 20);
    let broker = start(&dir, 2, port);
    assert_eq!(shard_files(dir.path()), ["mosquitto.db.shard1", "mosquitto.db.shard1.journal"]);
    for (subscriber, payloads) in &shards {
        assert_eq!(&come_back(port, subscriber), payloads, "{subscriber}");
    }
    drop(broker);
}

#[test]
fn sessions_queues_and_retained_messages_survive_restarts_into_2_3_and_1_routers() {
    let dir = TempDir::new("journal-shards-routers");
    // A session on every pair of shards of two and of three.
    let sessions: Vec<String> = (0..2)
        .flat_map(|two| (0..3).map(move |three| (two, three)))
        .map(|(two, three)| id_on("keep", &[(2, two), (3, three)]))
        .collect();
    let broker = start(&dir, 2, 0);
    let port = broker.ports[0];
    for id in &sessions {
        keep_session(port, id, "t");
    }
    let mut publisher = Mini::connect(port, "pub", ProtocolVersion::V5, false).expect("connects");
    publisher.publish("r", "kept".to_owned(), QoS::AtLeastOnce, true).expect("acknowledged");
    drop(publisher);
    let mut expected = vec!["on 2".to_owned()];
    publish_all(port, "pub", "t", &expected);
    assert!(broker.terminate().success());
    for routers in [3, 1] {
        let broker = start(&dir, routers, port);
        let files: Vec<String> = (1..routers)
            .flat_map(|shard| ["", ".journal"].map(|end| format!("mosquitto.db.shard{shard}{end}")))
            .collect();
        assert_eq!(shard_files(dir.path()), files, "dealt out to {routers} routers");
        let payload = vec![format!("on {routers}")];
        publish_all(port, "pub", "t", &payload);
        expected.extend(payload);
        if routers == 3 {
            // SIGUSR1 reaches every shard, and each checkpoints its own pair.
            broker.signal("USR1");
            for file in ["mosquitto.db", "mosquitto.db.shard1", "mosquitto.db.shard2"] {
                broker.wait_for_log(|line| line.ends_with(&format!("/{file}.")));
            }
            // A will that the last shard publishes at the clean stop reaches every session:
            // each shard takes its last checkpoint once every shard's wills are in.
            let leaver = id_on("leaver", &[(3, 2)]);
            let will = ["--will-topic", "t", "--will-payload", "bye", "--will-qos", "1"];
            let _leaver = Background::spawn(
                reference_client("mosquitto_sub", port).args(["-i", &leaver, "-t", "x"]).args(will),
            );
            broker.wait_for_log(|line| line.contains(&format!(" as {leaver} (")));
            expected.push("bye".to_owned());
        }
        assert!(broker.terminate().success());
    }
    let broker = start(&dir, 1, port);
    for id in &sessions {
        assert_eq!(come_back(port, id), expected, "{id}");
    }
    let mut reader = Mini::connect(port, "reader", ProtocolVersion::V5, false).expect("connects");
    reader.subscribe("r", QoS::AtLeastOnce).expect("subscribes");
    let retained: Vec<String> =
        reader.drain(Duration::from_millis(500)).into_iter().map(|(text, _)| text).collect();
    assert_eq!(retained, ["kept"]);
    assert!(broker.terminate().success());
    assert_eq!(shard_files(dir.path()), Vec::<String>::new());
}

#[test]
fn a_damaged_journal_of_one_shard_is_moved_aside_and_the_rest_loads() {
    let dir = TempDir::new("journal-shards-damaged");
    let (port, [zero, one]) = acknowledged_on_each_shard_then_killed(&dir, 10);
    let journal = dir.path().join("mosquitto.db.shard1.journal");
    let mut bytes = std::fs::read(&journal).expect("shard 1's journal");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&journal, &bytes).expect("writes");

    let broker = start(&dir, 2, port);
    let named =
        format!("The journal {}//mosquitto.db.shard1.journal is damaged", dir.path().display());
    let logged = broker.wait_for_log(|line| line.contains(&named));
    assert!(logged.starts_with("Error: "), "{logged}");
    assert!(
        shard_files(dir.path())
            .iter()
            .any(|name| name.starts_with("mosquitto.db.shard1.journal.corrupt-"))
    );
    assert_eq!(come_back(port, &zero.0), zero.1, "shard 0 lost nothing");
    // Shard 1 kept what came before the damage, in order.
    let kept = come_back(port, &one.0);
    assert!(one.1.starts_with(&kept), "{kept:?}");
    drop(broker);
}
