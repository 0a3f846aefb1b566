//! Persistence with real processes: culex with `persistence true` in a temporary directory,
//! Debian's `mosquitto_pub` / `mosquitto_sub` as clients. A clean restart keeps retained
//! messages and a persistent session's queue; SIGUSR1 saves and a `kill -9` afterwards loses
//! only what came later; a damaged Mosquitto `mosquitto.db`, an empty file and a failing
//! save are handled as documented in docs/configuration.md (`broker_migrate` imports a good
//! one).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::broker_tools::publish;
use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_client, reference_tool, run,
    unused_port,
};

/// Persistence in `dir`, given with a trailing `/` as in Debian's stock mosquitto.conf.
pub(crate) fn persistence(dir: &TempDir) -> String {
    format!("persistence true\npersistence_location {}/\n", dir.path().display())
}

/// The path Mosquitto (and culex) print for the file in `dir`: location + "/" + file.
fn logged_path(dir: &TempDir) -> String {
    format!("{}//mosquitto.db", dir.path().display())
}

fn tool(name: &str, broker: &BrokerProcess, args: &[&str]) -> crate::support::Finished {
    run(reference_client(name, broker.port).args(args), COMMAND_DEADLINE)
}

/// Waits until `path` exists (a save renames the file into place when it is complete).
pub(crate) fn wait_for_file(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < COMMAND_DEADLINE, "{} was not written", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_clean_restart_keeps_retained_messages_and_a_persistent_sessions_queue() {
    let dir = TempDir::new("persist-restart");
    let config = persistence(&dir);
    let broker = BrokerProcess::culex(&config);
    let subscribed = tool("mosquitto_sub", &broker, &["-c", "-q", "1", "-i", "X", "-t", "t", "-E"]);
    assert_eq!(subscribed.code(), 0, "{}", subscribed.stderr);
    publish(&broker, &["-r", "-t", "r", "-m", "kept"]);
    publish(&broker, &["-q", "1", "-t", "t", "-m", "one"]);
    publish(&broker, &["-q", "1", "-t", "t", "-m", "two"]);
    assert!(broker.terminate().success());
    let file = dir.path().join("mosquitto.db");
    let mode = std::fs::metadata(&file).expect("saved at shutdown").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let broker = BrokerProcess::culex(&config);
    let queued = tool(
        "mosquitto_sub",
        &broker,
        &["-c", "-q", "1", "-i", "X", "-t", "t", "-C", "2", "-W", "10"],
    );
    assert_eq!((queued.code(), queued.stdout.as_str()), (0, "one\ntwo\n"), "{}", queued.stderr);
    let retained = tool("mosquitto_sub", &broker, &["-t", "r", "-C", "1", "-W", "10"]);
    assert_eq!((retained.code(), retained.stdout.as_str()), (0, "kept\n"));
    assert!(broker.terminate().success());
}

#[test]
fn sigusr1_saves_and_a_kill_after_it_loses_only_later_changes() {
    let dir = TempDir::new("persist-usr1");
    // Mosquitto's way, without the journal: only saves count.
    let config = format!("{}persistence_journal false\n", persistence(&dir));
    let broker = BrokerProcess::culex(&config);
    publish(&broker, &["-r", "-t", "before", "-m", "saved"]);
    broker.signal("USR1");
    let line = format!("Saving in-memory database to {}.", logged_path(&dir));
    broker.wait_for_log(|logged| logged == line);
    wait_for_file(&dir.path().join("mosquitto.db"));
    publish(&broker, &["-r", "-t", "after", "-m", "lost"]);
    // Dropping the process kills it with SIGKILL: no save at exit.
    drop(broker);

    // log_type all: the SUBSCRIBE line tells when the subscriber below is ready.
    let broker = BrokerProcess::culex(&format!("{config}log_type all\n"));
    // Retained messages come right after the SUBACK; a live sentinel published once the broker
    // has the subscription comes after them and ends the subscriber (--retained-only).
    let got = std::thread::scope(|scope| {
        let sub = scope.spawn(|| {
            let topics = ["-t", "before", "-t", "after", "-t", "sentinel"];
            let args = [&["-v", "--retained-only", "-i", "restored"][..], &topics].concat();
            tool("mosquitto_sub", &broker, &args)
        });
        broker.wait_for_log(|line| line == "Received SUBSCRIBE from restored");
        publish(&broker, &["-t", "sentinel", "-m", "end"]);
        sub.join().expect("subscriber thread")
    });
    assert_eq!(got.stdout, "before saved\n", "{}", got.stderr);
}

#[test]
fn a_mosquitto_database_is_refused_and_left_byte_identical() {
    let dir = TempDir::new("persist-mosquitto");
    let file = dir.path().join("mosquitto.db");
    // Mosquitto 2.0's header: magic, CRC 0, version 6, then a chunk cut short.
    let mut original = b"\x00\xb5\x00mosquitto db\x00\x00\x00\x00\x00\x00\x00\x06".to_vec();
    original.extend_from_slice(&[0, 1, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    std::fs::write(&file, &original).expect("writing the database");
    let config_path = dir.path().join("broker.conf");
    let port = unused_port();
    let config = format!("listener {port} 127.0.0.1\nallow_anonymous true\n{}", persistence(&dir));
    std::fs::write(&config_path, config).expect("writing the config");

    let done = run(Command::new(our_bin("culex")).arg("-c").arg(&config_path), COMMAND_DEADLINE);
    assert_eq!(done.code(), 1, "{}", done.stderr);
    assert!(done.stderr.contains(&logged_path(&dir)), "{}", done.stderr);
    assert!(done.stderr.contains("Mosquitto persistence file"), "{}", done.stderr);
    assert!(done.stderr.contains("Error: Couldn't open database."), "{}", done.stderr);
    assert_eq!(std::fs::read(&file).expect("still there"), original);
}

#[test]
fn an_empty_file_is_a_warning_and_a_failed_save_keeps_the_broker_running() {
    let dir = TempDir::new("persist-empty");
    std::fs::write(dir.path().join("mosquitto.db"), b"").expect("empty file");
    let broker = BrokerProcess::culex(&persistence(&dir));
    broker.wait_for_log(|line| line == "Warning: Persistence file is empty.");
    drop(broker);

    let missing = dir.path().join("no-such-dir");
    let config = format!("persistence true\npersistence_location {}\n", missing.display());
    let broker = BrokerProcess::culex(&config);
    broker.signal("USR1");
    let line = format!(
        "Error saving in-memory database, unable to open {}/mosquitto.db.new for writing.",
        missing.display()
    );
    broker.wait_for_log(|logged| logged == line);
    publish(&broker, &["-t", "still", "-m", "running"]);
    assert!(broker.terminate().success());
}

/// `check_retain_source` across a restart, with culex and Debian's Mosquitto alike: the
/// publisher is saved with its retained message, so after the ACL stops letting it write the
/// topic a new subscriber gets nothing; the message is held back, not deleted: a reload that
/// gives the access back sends it again.
#[test]
fn check_retain_source_keeps_the_publisher_through_a_restart_like_mosquitto() {
    let outcomes: Vec<[(i32, String); 2]> = [reference_tool("mosquitto"), our_bin("culex")]
        .iter()
        .map(|program| {
            let dir = TempDir::new("persist-retain-source");
            // Mosquitto started as root drops to its own user, which must write the file here.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("chmod data dir");
            let acl = dir.join("acl");
            let write_rule = "topic read #\ntopic write r/1\n";
            std::fs::write(&acl, write_rule).expect("acl file");
            let config = format!(
                "{}acl_file {}\ncheck_retain_source true\n",
                persistence(&dir),
                acl.display()
            );
            let start = || {
                let listener = |ports: &[u16]| {
                    format!("listener {} 127.0.0.1\nallow_anonymous true\n{config}", ports[0])
                };
                BrokerProcess::start_with(program, 1, listener, &[])
            };
            let broker = start();
            publish(&broker, &["-r", "-q", "1", "-i", "writer", "-t", "r/1", "-m", "kept"]);
            assert!(broker.terminate().success());
            std::fs::write(&acl, "topic read #\n").expect("acl file");
            let broker = start();
            let denied = tool("mosquitto_sub", &broker, &["-t", "r/#", "-W", "2"]);
            std::fs::write(&acl, write_rule).expect("acl file");
            broker.signal("HUP");
            broker.wait_for_log(|line| line.ends_with("Reloading config."));
            // The reload is applied shortly after the log line.
            std::thread::sleep(Duration::from_millis(300));
            let allowed = tool("mosquitto_sub", &broker, &["-t", "r/#", "-C", "1", "-W", "10"]);
            assert!(broker.terminate().success());
            [denied, allowed].map(|done| (done.code(), done.stdout))
        })
        .collect();
    assert_eq!(outcomes[1], [(27, String::new()), (0, "kept\n".to_owned())], "culex");
    assert_eq!(outcomes[0], outcomes[1], "Mosquitto, then culex");
}

/// Message expiry across a restart, with culex (killed with SIGKILL: its journal holds the
/// message) and Debian's Mosquitto (stopped with SIGTERM: it saves only on exit) alike. A
/// retained message is published with a 3 s Message Expiry Interval and the broker stopped 1 s
/// later. Started again at once, it gives a new v5 subscriber the message with what is left of
/// the interval (less than 3); started again after the 3 s, nothing: both store the expiry as
/// an absolute time (docs/reference: mosquitto-db-format.md §5.2 and §8.1).
#[test]
fn message_expiry_counts_while_the_broker_is_down_like_mosquitto() {
    let outcomes: Vec<[(i32, String); 2]> = [reference_tool("mosquitto"), our_bin("culex")]
        .iter()
        .map(|program| {
            let killed = program.ends_with("culex");
            [false, true].map(|restart_after_expiry| {
                expiring_retained_after_restart(program, killed, restart_after_expiry)
            })
        })
        .collect();
    for (outcome, name) in outcomes.iter().zip(["Mosquitto", "culex"]) {
        let (code, line) = &outcome[0];
        let left = line.strip_prefix("r/expiring soon ").map(|left| left.trim_end().parse::<u32>());
        assert!(
            *code == 0 && matches!(left, Some(Ok(1 | 2))),
            "{name}: restarted before expiry, got {code} {line:?}"
        );
        assert_eq!(outcome[1], (27, String::new()), "{name}: restarted after expiry");
    }
}

/// A function that starts `program` with persistence in `dir` on a port of its own, as often
/// as the caller restarts it.
fn restartable<'a>(program: &'a Path, dir: &TempDir) -> impl Fn() -> BrokerProcess + 'a {
    // Mosquitto started as root drops to its own user, which must write the file here.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod data dir");
    let config = persistence(dir);
    move || {
        let listener = |ports: &[u16]| {
            format!("listener {} 127.0.0.1\nallow_anonymous true\n{config}", ports[0])
        };
        BrokerProcess::start_with(program, 1, listener, &[])
    }
}

/// Stops `broker` `after` from now, with SIGKILL when `killed` (else SIGTERM, and it must exit
/// 0), then, given `restart_at`, waits until that long after now has passed.
fn stop_later(broker: BrokerProcess, after: Duration, killed: bool, restart_at: Option<Duration>) {
    let start = Instant::now();
    std::thread::sleep(after);
    if killed {
        // Dropping the process kills it with SIGKILL.
        drop(broker);
    } else {
        assert!(broker.terminate().success());
    }
    if let Some(at) = restart_at {
        std::thread::sleep(at.saturating_sub(start.elapsed()));
    }
}

/// One run of the test above: the subscriber's exit code and output (`topic payload expiry`).
fn expiring_retained_after_restart(
    program: &Path,
    killed: bool,
    restart_after_expiry: bool,
) -> (i32, String) {
    let dir = TempDir::new("persist-expiry");
    let start = restartable(program, &dir);
    let broker = start();
    let expiry = ["-D", "PUBLISH", "message-expiry-interval", "3"];
    publish(
        &broker,
        &[&["-V", "5", "-r", "-q", "1", "-t", "r/expiring", "-m", "soon"][..], &expiry].concat(),
    );
    // The broker has it once the PUBACK is in: from here on at least 1 s passes.
    // Mosquitto counts whole seconds and keeps a message with 0 s left (as one without
    // expiry): restart more than 4 s after the publish so it has at most -1 s left.
    let restart_at = restart_after_expiry.then_some(Duration::from_millis(4_200));
    stop_later(broker, Duration::from_secs(1), killed, restart_at);
    let broker = start();
    let args = ["-V", "5", "-t", "r/#", "-C", "1", "-W", "2", "-F", "%t %p %E"];
    let got = tool("mosquitto_sub", &broker, &args);
    assert!(broker.terminate().success());
    (got.code(), got.stdout)
}

/// Session expiry across a restart, with culex (killed with SIGKILL: its journal holds the
/// detached session's expiry time) and Debian's Mosquitto (stopped with SIGTERM: it saves on
/// exit). A v5 client with an 8 s Session Expiry Interval subscribes at QoS 1 and disconnects;
/// the broker is stopped 2 s later. Started again at once, the session is there (session
/// present 1) and holds a message published meanwhile, in both (8 s leave room for a loaded
/// machine). Started again 9 s after the disconnect, culex has dropped the session, which
/// expired while it was down (session present 0, nothing), as Mosquitto 2.0.15 and later do;
/// 2.0.11 reads the expiry time back but does not schedule it until the next connect and
/// disconnect, so it still has the session (mosquitto-db-format.md §8.2 and §12).
#[test]
fn session_expiry_counts_while_the_broker_is_down_like_mosquitto() {
    let run = |program: &Path, killed: bool| {
        [false, true].map(|late| expiring_session_after_restart(program, killed, late))
    };
    let [mosquitto_early, mosquitto_late] = run(&reference_tool("mosquitto"), false);
    let culex = run(&our_bin("culex"), true);
    assert_eq!(culex, ["1 meanwhile", "0"], "culex");
    assert_eq!(mosquitto_early, culex[0], "Mosquitto restarted before expiry");
    assert!(["0", "1 meanwhile"].contains(&mosquitto_late.as_str()), "{mosquitto_late:?}");
}

/// Reconnects `sess` with clean start 0 and an 8 s expiry, and prints the CONNACK's session
/// present flag and the payloads it gets within 1 s.
const RESUME_SESSION: &str = r#"
import sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sess", protocol=mqtt.MQTTv5)
seen = []
client.on_connect = lambda c, u, flags, rc, p: seen.append(str(int(flags.session_present)))
client.on_message = lambda c, u, message: seen.append(message.payload.decode())
properties = Properties(PacketTypes.CONNECT)
properties.SessionExpiryInterval = 8
client.connect("127.0.0.1", int(sys.argv[1]), clean_start=False, properties=properties)
client.loop_start()
time.sleep(1)
client.disconnect()
client.loop_stop()
print(" ".join(seen))
"#;

/// One run of the test above: what [`RESUME_SESSION`] printed after the restart.
fn expiring_session_after_restart(program: &Path, killed: bool, late: bool) -> String {
    let dir = TempDir::new("persist-session-expiry");
    let start = restartable(program, &dir);
    let broker = start();
    let subscribe = ["-V", "5", "-c", "-i", "sess", "-x", "8", "-q", "1", "-t", "q", "-E"];
    assert_eq!(tool("mosquitto_sub", &broker, &subscribe).code(), 0);
    // The broker has the session detached once the tool exits. Nothing waits for that record,
    // so culex hands it to the journal within a second (PENDING_AGE): stop 2 s later.
    let restart_at = late.then_some(Duration::from_secs(9));
    stop_later(broker, Duration::from_secs(2), killed, restart_at);
    let broker = start();
    publish(&broker, &["-V", "5", "-q", "1", "-t", "q", "-m", "meanwhile"]);
    let resumed = crate::broker_paho::python_output(&broker, RESUME_SESSION, &[]);
    assert!(broker.terminate().success());
    resumed.trim_end().to_owned()
}
