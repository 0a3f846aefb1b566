//! Moving over from Mosquitto: Debian's `mosquitto` with `persistence true` saves its
//! `mosquitto.db` with retained messages and offline persistent sessions (v3.1.1 QoS 1, v5
//! QoS 2 with a session expiry) holding queued messages; culex started on the same file
//! imports it once, delivers everything exactly once, keeps its own `mosquitto.db.culex`
//! from then on and never touches Mosquitto's file.

use std::os::unix::fs::PermissionsExt as _;

use crate::broker_tools::publish;
use crate::support::{BrokerProcess, COMMAND_DEADLINE, Finished, TempDir, reference_client, run};

/// Persistence in `dir`, given with a trailing `/` as in Debian's stock mosquitto.conf.
fn persistence(dir: &TempDir) -> String {
    format!("persistence true\npersistence_location {}/\n", dir.path().display())
}

/// The v3.1.1 QoS 1 subscriber and the v5 QoS 2 one (session expiry one hour).
const SUBSCRIBERS: [&[&str]; 2] = [
    &["-i", "import-q1", "-c", "-q", "1"],
    &["-i", "import-q2", "-c", "-q", "2", "-V", "5", "-x", "3600"],
];

fn sub(broker: &BrokerProcess, client: &[&str], args: &[&str]) -> Finished {
    let mut command = reference_client("mosquitto_sub", broker.port);
    run(command.args(client).args(["-t", "q/#", "-v"]).args(args), COMMAND_DEADLINE)
}

#[test]
fn a_database_saved_by_mosquitto_is_imported_once_and_delivered_exactly_once() {
    let dir = TempDir::new("migrate");
    // Mosquitto started as root drops to its own user, which must write the file here.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod data dir");
    let mosquitto = BrokerProcess::mosquitto(&persistence(&dir));
    for client in SUBSCRIBERS {
        let done = sub(&mosquitto, client, &["-E"]);
        assert_eq!(done.code(), 0, "{}", done.stderr);
    }
    publish(&mosquitto, &["-r", "-t", "r/one", "-m", "first"]);
    publish(&mosquitto, &["-r", "-q", "1", "-t", "r/two", "-m", "second"]);
    publish(&mosquitto, &["-q", "1", "-t", "q/a", "-m", "one"]);
    publish(&mosquitto, &["-q", "2", "-t", "q/b", "-m", "two"]);
    publish(&mosquitto, &["-q", "1", "-t", "q/c", "-m", "three"]);
    assert!(mosquitto.terminate().success());
    let file = dir.path().join("mosquitto.db");
    let original = std::fs::read(&file).expect("Mosquitto saved at SIGTERM");
    let own = dir.path().join("mosquitto.db.culex");
    let logged = format!("{}//mosquitto.db", dir.path().display());

    let culex = BrokerProcess::culex(&persistence(&dir));
    let imported = format!(
        "Imported Mosquitto persistence file {logged}: 2 retained messages, 2 sessions, 6 queued \
         messages. culex keeps its state in {logged}.culex from now on and never writes {logged}."
    );
    culex.wait_for_log(|line| line == imported);
    assert!(own.exists(), "culex writes its own file right after the import");
    let retained = run(
        reference_client("mosquitto_sub", culex.port)
            .args(["-t", "r/#", "-v", "-C", "2", "-W", "10"]),
        COMMAND_DEADLINE,
    );
    let mut lines: Vec<&str> = retained.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["r/one first", "r/two second"], "{}", retained.stderr);
    for client in SUBSCRIBERS {
        // Not `-C 3`: mosquitto_sub may leave after the third message without acknowledging
        // the ones before it (then any broker, Mosquitto too, sends them again). `-W` keeps it
        // connected until every flow is complete.
        let queued = sub(&culex, client, &["-W", "5"]);
        // mosquitto_sub prints a QoS 2 message only once its flow completes, so a QoS 1 one
        // sent after it may be printed first: compare the set, and the order at QoS 1.
        let mut lines: Vec<&str> = queued.stdout.lines().collect();
        if client.contains(&"2") {
            lines.sort_unstable();
        }
        assert_eq!(lines, ["q/a one", "q/b two", "q/c three"], "{client:?}: {}", queued.stderr);
        let again = sub(&culex, client, &["-W", "2"]);
        assert_eq!(again.stdout, "", "{client:?} got a message twice");
    }
    assert!(culex.terminate().success());

    // The next start reads culex's own file: nothing is imported or delivered again.
    let culex = BrokerProcess::culex(&persistence(&dir));
    for client in SUBSCRIBERS {
        let again = sub(&culex, client, &["-W", "2"]);
        assert_eq!(again.stdout, "", "{client:?} got a message twice");
    }
    assert!(!culex.log_lines().iter().any(|line| line.starts_with("Imported")));
    let retained = run(
        reference_client("mosquitto_sub", culex.port).args(["-t", "r/one", "-C", "1", "-W", "10"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(retained.stdout, "first\n", "{}", retained.stderr);
    assert!(culex.terminate().success());
    assert_eq!(std::fs::read(&file).expect("still there"), original, "Mosquitto's file changed");
}
