//! Persistence without the journal on a sharded broker (issue 13): one file for every
//! shard. Persistent sessions whose client ids live on both shards of two, and retained
//! messages, survive a clean restart into one shard (`taskset -c 0`) and back into two, with
//! the will a client on one shard left at the shutdown queued on both, and a message published
//! right after the restart queued on both; a SIGUSR1 save on two
//! shards holds both shards' sessions, so a `kill -9` after it loses nothing saved.

use mqtt_core::shard_of;

use crate::broker_persist::{persistence, wait_for_file};
use crate::broker_tools::publish;
use crate::support::{Background, BrokerProcess, COMMAND_DEADLINE, TempDir, reference_client, run};

/// Persistence in `dir` without the journal (`broker_journal_shards` runs it with the journal).
fn config(dir: &TempDir) -> String {
    format!("{}persistence_journal false\n", persistence(dir))
}

/// culex on `cpus` (one driver shard per CPU) with `extra` configuration.
fn broker(cpus: &str, extra: &str) -> BrokerProcess {
    let config =
        |ports: &[u16]| format!("listener {} 127.0.0.1\nallow_anonymous true\n{extra}", ports[0]);
    BrokerProcess::culex_on_cpus(Some(cpus), 1, config, &[])
}

/// A client id starting with `prefix` on each shard of two.
fn ids(prefix: &str) -> [String; 2] {
    [0, 1].map(|shard| {
        (0..)
            .map(|n| format!("{prefix}-{n}"))
            .find(|id| shard_of(id, 2) == shard)
            .unwrap_or_default()
    })
}

/// `mosquitto_sub` as the persistent client `id` on topic `t` at QoS 1 with `args`.
fn subscribe(broker: &BrokerProcess, id: &str, args: &[&str]) -> String {
    let base = ["-c", "-q", "1", "-i", id, "-t", "t"];
    let done =
        run(reference_client("mosquitto_sub", broker.port).args(base).args(args), COMMAND_DEADLINE);
    assert_eq!(done.code(), 0, "{id}: {}", done.stderr);
    done.stdout
}

/// Reads `count` messages queued for `id`.
fn queued(broker: &BrokerProcess, id: &str, count: usize) -> String {
    subscribe(broker, id, &["-C", &count.to_string(), "-W", "10"])
}

fn retained(broker: &BrokerProcess) -> String {
    let args = ["-t", "r", "-C", "1", "-W", "10"];
    run(reference_client("mosquitto_sub", broker.port).args(args), COMMAND_DEADLINE).stdout
}

/// culex on two CPUs (two shards) with persistence in `dir`, and a persistent subscriber to
/// `t` on each shard: their ids.
fn two_shards_with_keepers(dir: &TempDir) -> (BrokerProcess, [String; 2]) {
    let two = broker("0,1", &config(dir));
    let keepers = ids("keeper");
    for id in &keepers {
        subscribe(&two, id, &["-E"]);
    }
    (two, keepers)
}

#[test]
fn sessions_on_both_shards_survive_restarts_into_one_shard_and_back_into_two() {
    let dir = TempDir::new("persist-shards-restart");
    let config = config(&dir);
    let (two, [first, second]) = two_shards_with_keepers(&dir);
    publish(&two, &["-r", "-t", "r", "-m", "kept"]);
    publish(&two, &["-q", "1", "-t", "t", "-m", "one"]);
    publish(&two, &["-q", "1", "-t", "t", "-m", "two"]);
    // A client on the second shard whose will goes out at the shutdown, to both sessions.
    let leaver = &ids("leaver")[1];
    let will = ["--will-topic", "t", "--will-payload", "bye", "--will-qos", "1"];
    let _leaver = Background::spawn(
        reference_client("mosquitto_sub", two.port).args(["-i", leaver, "-t", "x"]).args(will),
    );
    two.wait_for_log(|line| line.contains(&format!(" as {leaver} (")));
    assert!(two.terminate().success());

    // The file two shards saved, split over one (which saves both sessions again).
    let one = broker("0", &config);
    assert_eq!(retained(&one), "kept\n");
    publish(&one, &["-q", "1", "-t", "t", "-m", "three"]);
    assert!(one.terminate().success());

    // And the file one shard saved, split over two again. A message published at once reaches
    // both offline sessions: each shard knows where the other's restored subscriptions are
    // before it takes a client.
    let two = broker("0,1", &config);
    publish(&two, &["-q", "1", "-t", "t", "-m", "four"]);
    for id in [&first, &second] {
        assert_eq!(queued(&two, id, 5), "one\ntwo\nbye\nthree\nfour\n", "{id}");
    }
    assert_eq!(retained(&two), "kept\n");
    assert!(two.terminate().success());
}

#[test]
fn a_sigusr1_save_on_two_shards_holds_the_sessions_of_both() {
    let dir = TempDir::new("persist-shards-usr1");
    let config = config(&dir);
    let (two, [first, second]) = two_shards_with_keepers(&dir);
    publish(&two, &["-q", "1", "-t", "t", "-m", "saved"]);
    two.signal("USR1");
    wait_for_file(&dir.path().join("mosquitto.db"));
    // Dropping the process kills it with SIGKILL: no save at exit.
    drop(two);

    let two = broker("0,1", &config);
    for id in [&first, &second] {
        assert_eq!(queued(&two, id, 1), "saved\n", "{id}");
    }
    assert!(two.terminate().success());
}
