//! `password_file` and `acl_file` with files made by Debian's `mosquitto_passwd`, checked with
//! `mosquitto_pub`/`mosquitto_sub` against `culex` and, as the reference, Mosquitto.

use std::path::Path;
use std::process::Command;

use crate::broker_tools::wait_subscribed;
use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, Finished, TempDir, our_bin, reference_client,
    reference_tool, run, unused_port,
};

/// A broker with a password file (alice/secret, bob/hunter2) and an ACL that lets alice write
/// `data/#` and bob read `data/#`; anonymous clients are refused.
struct Secured {
    broker: BrokerProcess,
    files: TempDir,
}

fn secured(program: &Path) -> Secured {
    let files = TempDir::new("auth");
    let passwords = files.path().join("passwords");
    for (n, (user, password)) in [("alice", "secret"), ("bob", "hunter2")].into_iter().enumerate() {
        let mut command = Command::new(reference_tool("mosquitto_passwd"));
        command.arg("-b");
        if n == 0 {
            command.arg("-c");
        }
        let done = run(command.arg(&passwords).args([user, password]), COMMAND_DEADLINE);
        assert_eq!(done.code(), 0, "mosquitto_passwd: {}", done.stderr);
    }
    let acl = files.path().join("acl");
    std::fs::write(&acl, "user alice\ntopic write data/#\n\nuser bob\ntopic read data/#\n")
        .unwrap();
    let config = |ports: &[u16]| {
        format!(
            "listener {} 127.0.0.1\npassword_file {}\nacl_file {}\nlog_type all\n",
            ports[0],
            passwords.display(),
            acl.display()
        )
    };
    Secured { broker: BrokerProcess::start_with(program, 1, config, &[]), files }
}

fn publish(broker: &BrokerProcess, args: &[&str]) -> Finished {
    run(reference_client("mosquitto_pub", broker.port).args(args), COMMAND_DEADLINE)
}

/// What happens to each kind of client: (exit code, stderr) per attempt.
fn outcomes(secured: &Secured) -> Vec<(i32, String)> {
    let broker = &secured.broker;
    let reader = Background::spawn(
        reference_client("mosquitto_sub", broker.port)
            .args(["-i", "reader", "-u", "bob", "-P", "hunter2", "-t", "#", "-v", "-q", "1"]),
    );
    wait_subscribed(broker, "reader", "#");
    let attempts: [&[&str]; 5] = [
        &["-u", "alice", "-P", "secret", "-t", "data/1", "-m", "allowed", "-q", "1"],
        &["-u", "alice", "-P", "wrong", "-t", "data/2", "-m", "bad password"],
        &["-u", "mallory", "-P", "secret", "-t", "data/3", "-m", "unknown user"],
        &["-t", "data/4", "-m", "anonymous"],
        &[
            "-V",
            "5",
            "-u",
            "alice",
            "-P",
            "secret",
            "-t",
            "other/5",
            "-m",
            "denied by acl",
            "-q",
            "1",
        ],
    ];
    let mut results: Vec<(i32, String)> = attempts
        .iter()
        .map(|args| {
            let done = publish(broker, args);
            (done.code(), done.stderr)
        })
        .collect();
    // A final allowed message proves the denied one did not arrive in between.
    assert_eq!(
        publish(broker, &["-u", "alice", "-P", "secret", "-t", "data/6", "-m", "last", "-q", "1"])
            .code(),
        0
    );
    let lines = reader.wait_for_lines(2);
    results.push((0, lines.join("\n")));
    results
}

#[test]
fn password_and_acl_files_decide_like_mosquitto() {
    let ours = outcomes(&secured(&our_bin("culex")));
    let theirs = outcomes(&secured(&reference_tool("mosquitto")));
    assert_eq!(ours, theirs);
    assert_eq!(ours[5].1, "data/1 allowed\ndata/6 last");
    assert!(ours[1].1.contains("not authorised"), "{:?}", ours[1]);
}

#[test]
fn a_missing_password_file_exits_13_like_mosquitto() {
    let dir = TempDir::new("auth-missing");
    let config = dir.path().join("c.conf");
    std::fs::write(
        &config,
        format!("listener {} 127.0.0.1\npassword_file /nonexistent/pw\n", unused_port()),
    )
    .unwrap();
    let ours = run(Command::new(our_bin("culex")).arg("-c").arg(&config), COMMAND_DEADLINE);
    let theirs =
        run(Command::new(reference_tool("mosquitto")).arg("-c").arg(&config), COMMAND_DEADLINE);
    assert_eq!(ours.code(), 13);
    assert_eq!(ours.code(), theirs.code());
    let errors = |done: &Finished| -> Vec<String> {
        done.stderr
            .lines()
            .map(|l| crate::support::strip_timestamp(l).to_owned())
            .filter(|l| l.starts_with("Error"))
            .collect()
    };
    assert_eq!(errors(&ours), errors(&theirs));
}

#[test]
fn sighup_reloads_the_password_file() {
    let secured = secured(&our_bin("culex"));
    let broker = &secured.broker;
    let carol = ["-u", "carol", "-P", "pw", "-t", "data/c", "-m", "x"];
    assert_ne!(publish(broker, &carol).code(), 0, "carol is not in the file yet");
    let passwords = secured.files.path().join("passwords");
    let done = run(
        Command::new(reference_tool("mosquitto_passwd"))
            .arg("-b")
            .arg(&passwords)
            .args(["carol", "pw"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0);
    broker.signal("HUP");
    broker.wait_for_log(|line| line == "Reloading config.");
    // The reload is applied by the running broker shortly after the log line.
    let start = std::time::Instant::now();
    while publish(broker, &carol).code() != 0 {
        assert!(start.elapsed() < COMMAND_DEADLINE, "carol never accepted after SIGHUP");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
