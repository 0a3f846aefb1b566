//! Simulated power loss: random workloads of changes, syncs and checkpoints on a file
//! system that loses power after a random number of operations. Whatever the moment, the
//! recovered state is the state after some prefix of the changes that includes every change
//! synced before the power went (acknowledged, in the broker's terms).

use std::collections::BTreeMap;

use bytes::Bytes;
use mqtt_codec::{Properties, ProtocolVersion, QoS, TopicName};
use mqtt_core::snapshot::journal::{Change, Replay, encode_record};
use mqtt_core::snapshot::{
    self, FlowState, Snapshot, StoredDelivery, StoredMessage, StoredSubscription,
};
use proptest::prelude::*;

use crate::fake::FakeFs;
use crate::fs::FileSystem as _;
use crate::{Journal, Names, RecoveryEvent, recover};

/// What a workload does, step by step.
#[derive(Clone, Debug)]
enum Step {
    /// Changes made from these intents (see [`Model::changes`]), appended as one batch.
    Batch(Vec<(u8, u8)>),
    /// A sync: every change so far is acknowledged.
    Sync,
    /// A checkpoint of the state so far.
    Checkpoint,
}

/// Just enough of a broker to make meaningful changes: sessions, their deliveries,
/// retained messages and incoming QoS 2 ids.
#[derive(Default)]
struct Model {
    sessions: BTreeMap<String, Vec<u64>>,
    retained: BTreeMap<String, u64>,
    incoming: BTreeMap<(String, u16), ()>,
    next_message: u64,
    next_delivery: u64,
}

fn message(id: u64, topic: &str) -> Box<StoredMessage> {
    Box::new(StoredMessage {
        id,
        topic: TopicName::new(topic).expect("valid topic"),
        payload: Bytes::from(format!("payload {id}")),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
        source: None,
        expires_at_ms: None,
    })
}

impl Model {
    fn client(n: u8) -> String {
        format!("c{}", n % 3)
    }

    fn new_message(&mut self, out: &mut Vec<Change>, topic: &str) -> u64 {
        self.next_message += 1;
        out.push(Change::Message(message(self.next_message, topic)));
        self.next_message
    }

    fn queue(&mut self, out: &mut Vec<Change>, client: &str, message: u64) {
        self.next_delivery += 1;
        let id = self.next_delivery;
        if let Some(deliveries) = self.sessions.get_mut(client) {
            deliveries.push(id);
        }
        let delivery =
            StoredDelivery { id, message, qos: QoS::AtLeastOnce, retain: false, sub_ids: vec![] };
        out.push(Change::Queued { client_id: client.into(), delivery });
    }

    /// The changes an intent stands for, as the broker would journal them (a message first,
    /// then what refers to it).
    fn changes(&mut self, (kind, n): (u8, u8)) -> Vec<Change> {
        let mut out = Vec::new();
        let client = Self::client(n);
        let known = self.sessions.contains_key(&client);
        match kind % 11 {
            0 => {
                self.sessions.entry(client.clone()).or_default();
                out.push(Change::Session {
                    client_id: client.into(),
                    username: None,
                    listener: 0,
                    protocol: ProtocolVersion::V5,
                    expiry_secs: u32::MAX,
                });
            }
            1 if known => {
                self.sessions.remove(&client);
                self.incoming.retain(|(c, _), ()| *c != client);
                out.push(Change::SessionGone { client_id: client.into() });
            }
            2 if known => out.push(Change::Subscribed {
                client_id: client.into(),
                subscription: StoredSubscription {
                    filter: format!("f/{}", n % 2),
                    qos: QoS::ExactlyOnce,
                    no_local: false,
                    retain_as_published: n % 2 == 0,
                    id: None,
                },
            }),
            3 if known => {
                out.push(Change::Unsubscribed {
                    client_id: client.into(),
                    filter: format!("f/{}", n % 2),
                });
            }
            4 => {
                // A publish, queued for the sessions picked by the bits of n.
                let id = self.new_message(&mut out, "t");
                let clients: Vec<String> = self.sessions.keys().cloned().collect();
                for (bit, client) in clients.iter().enumerate() {
                    if n & (1 << bit) != 0 {
                        self.queue(&mut out, client, id);
                    }
                }
            }
            5 | 6 if known => {
                let deliveries = &self.sessions[&client];
                if !deliveries.is_empty() {
                    let at = usize::from(n) % deliveries.len();
                    let delivery = deliveries[at];
                    if kind % 11 == 5 {
                        out.push(Change::InFlight {
                            client_id: client.into(),
                            delivery,
                            packet_id: u16::from(n) + 1,
                            state: FlowState::AwaitingPubRec,
                        });
                    } else {
                        if let Some(deliveries) = self.sessions.get_mut(&client) {
                            deliveries.remove(at);
                        }
                        out.push(Change::Delivered { client_id: client.into(), delivery });
                    }
                }
            }
            7 => {
                let topic = format!("r/{}", n % 2);
                let id = self.new_message(&mut out, &topic);
                self.retained.insert(topic.clone(), id);
                out.push(Change::Retained {
                    topic: TopicName::new(&topic).expect("valid"),
                    message: Some(id),
                });
            }
            8 => {
                let topic = format!("r/{}", n % 2);
                self.retained.remove(&topic);
                out.push(Change::Retained {
                    topic: TopicName::new(&topic).expect("valid"),
                    message: None,
                });
            }
            9 if known => {
                let packet_id = u16::from(n % 4) + 1;
                if self.incoming.insert((client.clone(), packet_id), ()).is_none() {
                    let id = self.new_message(&mut out, "in");
                    out.push(Change::Incoming {
                        client_id: client.into(),
                        packet_id,
                        message: Some(id),
                    });
                } else {
                    self.incoming.remove(&(client.clone(), packet_id));
                    out.push(Change::Released { client_id: client.into(), packet_id });
                }
            }
            10 if known => {
                // A retained message sent on subscribe: a delivery of an existing message.
                if let Some(&id) = self.retained.values().next() {
                    self.queue(&mut out, &client, id);
                }
            }
            _ => {}
        }
        out
    }
}

fn state_after(changes: &[Change]) -> Snapshot {
    let mut replay = Replay::new(Snapshot::default());
    for change in changes.iter().cloned() {
        replay.apply(change);
    }
    replay.finish()
}

/// Runs `steps` on `fs` until the power goes (an error). Returns every change made, how
/// many were synced and how many were handed to the journal.
fn run(fs: &FakeFs, names: &Names, steps: &[Step]) -> (Vec<Change>, usize, usize) {
    let mut model = Model::default();
    let mut changes = Vec::new();
    let (mut synced, mut appended) = (0, 0);
    let Ok(mut journal) = Journal::open(fs.clone(), names.clone()) else {
        return (changes, synced, appended);
    };
    for step in steps {
        let done = match step {
            Step::Batch(intents) => {
                let batch: Vec<Change> = intents.iter().flat_map(|&i| model.changes(i)).collect();
                let mut bytes = Vec::new();
                for change in &batch {
                    encode_record(change, &mut bytes).expect("encodes");
                }
                changes.extend(batch);
                appended = changes.len();
                journal.append(&bytes)
            }
            Step::Sync => journal.sync().map(|()| synced = appended),
            Step::Checkpoint => {
                let bytes = snapshot::encode(&state_after(&changes)).expect("encodes");
                journal.checkpoint(&bytes).map(|()| synced = appended)
            }
        };
        if done.is_err() {
            break;
        }
    }
    (changes, synced, appended)
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        6 => proptest::collection::vec((any::<u8>(), any::<u8>()), 1..6).prop_map(Step::Batch),
        3 => Just(Step::Sync),
        1 => Just(Step::Checkpoint),
    ];
    proptest::collection::vec(step, 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn power_loss_keeps_every_synced_change(
        steps in steps(),
        ops in 0usize..120,
        keep in any::<usize>(),
        garble in any::<bool>(),
    ) {
        let names = Names::of("culex.db");
        let fs = FakeFs::failing_after(ops);
        let (changes, synced, appended) = run(&fs, &names, &steps);
        let disk = fs.after_power_loss(keep, garble);
        let recovered = recover(&disk, &names, "1").expect("recovers");
        let state = recovered.snapshot.clone().unwrap_or_default();
        let candidates: Vec<usize> = (synced..=appended).collect();
        let matched = candidates.iter().any(|&k| state_after(&changes[..k]) == state);
        prop_assert!(matched, "synced {} appended {}: {:?}", synced, appended, recovered.events);
        let damaged = recovered.events.iter().any(|event| {
            matches!(event, RecoveryEvent::CheckpointDamaged { .. } | RecoveryEvent::JournalDamaged { .. })
        });
        prop_assert!(!damaged, "a power cut is a torn tail, never damage: {:?}", recovered.events);
        // A second recovery (a crash during start-up's own checkpoint is covered by the
        // failing disk above) finds the same state and nothing to repair.
        let again = recover(&disk, &names, "2").expect("recovers");
        prop_assert_eq!(again.snapshot.unwrap_or_default(), state);
        prop_assert!(again.events.is_empty(), "{:?}", again.events);
    }
}

#[test]
fn a_damaged_checkpoint_is_moved_aside_and_the_journal_still_counts() {
    let names = Names::of("culex.db");
    let fs = FakeFs::default();
    let mut journal = Journal::open(fs.clone(), names.clone()).expect("opens");
    let mut model = Model::default();
    let first: Vec<Change> = [(0, 0), (7, 0)].into_iter().flat_map(|i| model.changes(i)).collect();
    let bytes = snapshot::encode(&state_after(&first)).expect("encodes");
    journal.checkpoint(&bytes).expect("checkpoints");
    let later: Vec<Change> = [(0, 1), (4, 3)].into_iter().flat_map(|i| model.changes(i)).collect();
    let mut records = Vec::new();
    for change in &later {
        encode_record(change, &mut records).expect("encodes");
    }
    journal.append(&records).expect("appends");
    journal.sync().expect("syncs");
    // Flip a byte in the checkpoint.
    let mut damaged = bytes.clone();
    damaged[bytes.len() / 2] ^= 1;
    fs.replace(&names.checkpoint, &damaged).expect("writes");

    let recovered = recover(&fs, &names, "42").expect("recovers");
    assert!(matches!(
        &recovered.events[0],
        RecoveryEvent::CheckpointDamaged { moved_to, .. } if moved_to == "culex.db.corrupt-42"
    ));
    assert_eq!(fs.read("culex.db.corrupt-42").expect("reads"), Some(damaged), "kept as it was");
    // What the journal says after the checkpoint is still there: session c1 and the message
    // queued for both sessions (c0's delivery names a session only the lost checkpoint had).
    let state = recovered.snapshot.expect("state");
    let clients: Vec<&str> = state.sessions.iter().map(|s| s.client_id.as_str()).collect();
    assert_eq!(clients, ["c1"]);
    assert_eq!(state.sessions[0].queued.len(), 1);
}

#[test]
fn a_damaged_record_in_the_middle_moves_the_journal_aside_and_keeps_what_came_before() {
    let names = Names::of("db");
    let fs = FakeFs::default();
    let mut model = Model::default();
    let changes: Vec<Change> =
        [(0, 0), (4, 1), (4, 1), (4, 1)].into_iter().flat_map(|i| model.changes(i)).collect();
    let mut bytes = Vec::new();
    let mut starts = Vec::new();
    for change in &changes {
        starts.push(bytes.len());
        encode_record(change, &mut bytes).expect("encodes");
    }
    bytes[starts[3] + 10] ^= 0xFF;
    fs.replace(&names.journal, &bytes).expect("writes");
    let recovered = recover(&fs, &names, "7").expect("recovers");
    assert!(matches!(
        &recovered.events[..],
        [RecoveryEvent::Replayed { records: 3, skipped: 0 }, RecoveryEvent::JournalDamaged { moved_to, at, .. }]
            if moved_to == "db.journal.corrupt-7" && *at == starts[3]
    ));
    assert_eq!(recovered.snapshot, Some(state_after(&changes[..3])));
    assert_eq!(fs.read("db.journal").expect("reads"), Some(Vec::new()), "a fresh journal");
    assert_eq!(fs.read("db.journal.corrupt-7").expect("reads"), Some(bytes));
}

#[test]
fn a_mosquitto_file_is_left_alone() {
    let names = Names::of("mosquitto.db");
    let fs = FakeFs::default();
    let mut bytes = snapshot::MOSQUITTO_MAGIC.to_vec();
    bytes.extend_from_slice(&[0; 12]);
    fs.replace(&names.checkpoint, &bytes).expect("writes");
    assert!(matches!(recover(&fs, &names, "1"), Err(crate::StoreError::Mosquitto { .. })));
    assert_eq!(fs.read("mosquitto.db").expect("reads"), Some(bytes));
}

/// A fresh directory under the system's temporary directory.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("culex-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creates the directory");
    dir
}

#[test]
fn the_writer_commits_in_groups_on_disk_and_reports_what_is_durable() {
    use std::sync::mpsc;

    use crate::fs::DiskDir;
    use crate::{SyncPolicy, Writer, WriterReport};

    let dir = temp_dir("writer");
    let names = Names::of("culex.db");
    let disk = DiskDir::new(&dir);
    assert_eq!(recover(&disk, &names, "0").expect("recovers"), crate::Recovered::default());
    let journal = Journal::open(disk.clone(), names.clone()).expect("opens");
    let (reports, reported) = mpsc::channel();
    let writer = Writer::spawn(journal, SyncPolicy::EveryBatch, move |report| {
        let _ = reports.send(report);
    })
    .expect("starts");
    let mut model = Model::default();
    let mut all = Vec::new();
    for (seq, intents) in [[(0, 0), (4, 1)], [(7, 0), (4, 1)], [(0, 1), (6, 0)]].iter().enumerate()
    {
        let batch: Vec<Change> = intents.iter().flat_map(|&i| model.changes(i)).collect();
        let mut bytes = Vec::new();
        for change in &batch {
            encode_record(change, &mut bytes).expect("encodes");
        }
        all.extend(batch);
        writer.records(bytes, seq as u64 + 1);
        if seq == 1 {
            writer.checkpoint(state_after(&all), 2);
        }
    }
    // Reports come in order and end at the last sequence; every batch was synced by then.
    let mut last = 0;
    while last < 3 {
        match reported.recv_timeout(std::time::Duration::from_secs(10)).expect("a report") {
            WriterReport::Synced(upto) => {
                assert!(upto >= last);
                last = upto;
            }
            WriterReport::Checkpointed { bytes } => assert!(bytes > 0),
            WriterReport::SyncTook(took) => assert!(took < std::time::Duration::from_secs(10)),
            WriterReport::Failed(err) => panic!("{err}"),
        }
    }
    writer.finish();
    let recovered = recover(&disk, &names, "1").expect("recovers");
    assert_eq!(recovered.snapshot, Some(state_after(&all)));
    assert!(matches!(recovered.events[..], [RecoveryEvent::Replayed { skipped: 0, .. }]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_a_sync_interval_the_writer_reports_at_once_and_syncs_on_its_timer() {
    use std::sync::mpsc;
    use std::time::Duration;

    use crate::fs::DiskDir;
    use crate::{SyncPolicy, Writer, WriterReport};

    let dir = temp_dir("interval");
    let names = Names::of("culex.db");
    let disk = DiskDir::new(&dir);
    let journal = Journal::open(disk.clone(), names.clone()).expect("opens");
    let (reports, reported) = mpsc::channel();
    let writer = Writer::spawn(journal, SyncPolicy::Every(Duration::from_millis(50)), move |r| {
        let _ = reports.send(r);
    })
    .expect("starts");
    let mut model = Model::default();
    let changes: Vec<Change> =
        [(0, 0), (4, 1)].into_iter().flat_map(|i| model.changes(i)).collect();
    let mut bytes = Vec::new();
    for change in &changes {
        encode_record(change, &mut bytes).expect("encodes");
    }
    writer.records(bytes, 7);
    // Reported as written straight away, and again (synced) when the interval has passed.
    let mut synced = 0;
    while synced < 2 {
        match reported.recv_timeout(Duration::from_secs(10)).expect("a report") {
            WriterReport::Synced(7) => synced += 1,
            WriterReport::Synced(_) | WriterReport::SyncTook(_) => {}
            other => panic!("{other:?}"),
        }
    }
    writer.finish();
    let recovered = recover(&disk, &names, "1").expect("recovers");
    assert_eq!(recovered.snapshot, Some(state_after(&changes)));
    let _ = std::fs::remove_dir_all(&dir);
}
