//! The ACL model in `mqtt_core::acl` checked against Debian's `mosquitto` broker: the same
//! acl_file, the same clients, and every probe must get the same answer from both.

use std::process::Command;

use mqtt_core::acl::{Access, AclFile};

use super::mosquittos;
use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, TempDir, make_readable, reference_tool, run,
};

const ACL: &str = "\
# anonymous clients
topic read anon/#
topic deny anon/secret
topic read $SYS/broker/version
user alice
topic readwrite a/#
topic deny a/secret/#
topic read shared/#
user bob
topic write b/in
user alice
topic write more/alice
pattern read dev/%c/#
pattern deny a/pdeny
pattern readwrite u/%u/#
";

/// (client id, username, topic, access). Users have password `pw`; `admin` may do anything.
const PROBES: &[(&str, Option<&str>, &str, Access)] = &[
    ("c1", None, "anon/x", Access::Read),
    ("c1", None, "anon/x", Access::Write),
    ("c1", None, "anon/secret", Access::Read),
    ("c1", None, "dev/c1/x", Access::Read),
    ("c1", None, "u/c1/x", Access::Read),
    ("c1", None, "$SYS/broker/version", Access::Read),
    ("c2", Some("alice"), "a/x", Access::Write),
    ("c2", Some("alice"), "a/x", Access::Read),
    ("c2", Some("alice"), "a/secret/k", Access::Write),
    ("c2", Some("alice"), "a/pdeny", Access::Write),
    ("c2", Some("alice"), "shared/1", Access::Write),
    ("c2", Some("alice"), "shared/1", Access::Read),
    ("c2", Some("alice"), "anon/x", Access::Read),
    ("c2", Some("alice"), "more/alice", Access::Write),
    ("c2", Some("alice"), "u/alice/z", Access::Write),
    ("c2", Some("alice"), "dev/c2/q", Access::Read),
    ("c3", Some("bob"), "b/in", Access::Write),
    ("c3", Some("bob"), "b/in", Access::Read),
    ("c3", Some("bob"), "u/bob/x", Access::Read),
    ("c3", Some("bob"), "$SYS/broker/version", Access::Read),
    ("c4", Some("carol"), "u/carol/x", Access::Write),
    ("c4", Some("carol"), "a/pdeny", Access::Write),
    ("c+5", Some("carol"), "u/carol/x", Access::Write),
    ("c6", Some("ev#il"), "u/ev/x", Access::Write),
];

/// Debian's broker with the users (password `pw`), `ACL` and an `admin` who may do anything.
fn start_broker(dir: &TempDir) -> BrokerProcess {
    for user in ["alice", "bob", "carol", "ev#il", "admin"] {
        let create = if user == "alice" { vec!["-c", "-b"] } else { vec!["-b"] };
        let args: Vec<&str> = create.into_iter().chain(["pw", user, "pw"]).collect();
        assert_eq!(mosquittos(dir, &args).code(), 0, "adding {user}");
    }
    std::fs::write(dir.join("acl"), format!("{ACL}user admin\ntopic readwrite #\n")).unwrap();
    // Started as root, the broker reads these files as the `mosquitto` user.
    for path in [dir.path().to_owned(), dir.join("pw"), dir.join("acl")] {
        make_readable(&path);
    }
    BrokerProcess::start_with(
        &reference_tool("mosquitto"),
        1,
        |ports| {
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npassword_file {}\nacl_file {}\n",
                ports[0],
                dir.join("pw").display(),
                dir.join("acl").display()
            )
        },
        &[],
    )
}

fn client_args<'a>(port: &'a str, client_id: &'a str, username: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec!["-h", "127.0.0.1", "-p", port, "-V", "5", "-i", client_id];
    if let Some(user) = username {
        args.extend(["-u", user, "-P", "pw"]);
    }
    args
}

/// Whether Mosquitto let the client publish (a refused v5 QoS 1 publish makes mosquitto_pub
/// print `Warning: Publish 1 failed: Not authorized.`).
fn mosquitto_allows_write(
    port: &str,
    client_id: &str,
    username: Option<&str>,
    topic: &str,
) -> bool {
    let mut command = Command::new(reference_tool("mosquitto_pub"));
    command
        .args(client_args(port, client_id, username))
        .args(["-q", "1", "-t", topic, "-m", "probe"]);
    let out = run(&mut command, COMMAND_DEADLINE);
    assert_eq!(out.code(), 0, "{client_id} {topic}: {}", out.stderr);
    !out.stderr.contains("Not authorized")
}

/// Whether Mosquitto delivered the retained message on `topic` to the client.
fn mosquitto_allows_read(port: &str, client_id: &str, username: Option<&str>, topic: &str) -> bool {
    let mut command = Command::new(reference_tool("mosquitto_sub"));
    command.args(client_args(port, client_id, username)).args(["-t", topic, "-C", "1", "-W", "1"]);
    let out = run(&mut command, COMMAND_DEADLINE);
    !out.stdout.is_empty()
}

#[test]
fn acl_decisions_match_mosquitto_for_every_probe() {
    let dir = TempDir::new("acl-matrix");
    let broker = start_broker(&dir);
    let port = broker.port.to_string();
    // Retained messages for every readable probe topic ($SYS/broker/version is the broker's own).
    for &(_, _, topic, access) in PROBES {
        if access == Access::Read && !topic.starts_with('$') {
            let mut command = Command::new(reference_tool("mosquitto_pub"));
            command
                .args(client_args(&port, "admin-seed", Some("admin")))
                .args(["-q", "1", "-r", "-t", topic, "-m", "r"]);
            assert_eq!(run(&mut command, COMMAND_DEADLINE).code(), 0);
        }
    }
    let acl = AclFile::parse(ACL).expect("the test ACL parses");
    let mut mismatches = Vec::new();
    for &(client_id, username, topic, access) in PROBES {
        let theirs = match access {
            Access::Write => mosquitto_allows_write(&port, client_id, username, topic),
            _ => mosquitto_allows_read(&port, client_id, username, topic),
        };
        let ours = acl.allowed(client_id, username, topic, access);
        if ours != theirs {
            mismatches.push(format!(
                "{client_id} {username:?} {access:?} {topic}: culex {ours}, mosquitto {theirs}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "decisions differ:\n{}", mismatches.join("\n"));
}
