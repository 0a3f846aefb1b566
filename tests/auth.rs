//! Issue 5 end to end: a password file made with `culex_passwd` through a real terminal, a
//! broker with `allow_anonymous false`, clients with right, wrong and missing credentials; and
//! an `acl_file` matrix (users × topics × read/write, patterns with `%c`/`%u`). Every scenario
//! runs against culex and against Mosquitto, which proves the expectations themselves.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_tool, run};

/// Runs one scenario against culex and against Mosquitto, as two tests. The scenario gets the
/// directory holding its files and a function that starts a broker with extra configuration.
macro_rules! against_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn culex() {
                super::$name(crate::support::BrokerProcess::culex);
            }
            #[test]
            fn mosquitto() {
                super::$name(crate::support::BrokerProcess::mosquitto);
            }
        }
    )+};
}

against_both!(
    password_file_admits_only_right_credentials,
    acl_file_filters_reads_and_refuses_writes
);

type StartBroker = fn(&str) -> BrokerProcess;

/// A directory whose files a broker started as root can read after dropping to its own user.
fn shared_dir(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod dir");
    dir
}

fn make_readable(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod file");
}

/// `culex_passwd args` on a pseudo-terminal, typing each answer at each password prompt.
/// Returns the exit status and the terminal transcript.
fn culex_passwd_on_pty(dir: &Path, args: &[&str], answers: &[&str]) -> (i32, String) {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("passwd/pty_driver.py");
    let answers =
        format!("[{}]", answers.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(","));
    let done = run(
        Command::new("python3")
            .arg(driver)
            .arg(answers)
            .arg(our_bin("culex_passwd"))
            .args(args)
            .current_dir(dir),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "pty driver failed (needs python3): {}", done.stderr);
    let (code, transcript) = done.stdout.split_once('\n').expect("driver prints the status first");
    (code.parse().expect("exit status"), transcript.to_owned())
}

fn client(tool: &Path, broker: &BrokerProcess, version: &str) -> Command {
    let mut command = Command::new(tool);
    command.args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-V", version]);
    command
}

fn password_file_admits_only_right_credentials(start: StartBroker) {
    let dir = shared_dir("auth");
    let pwfile = dir.path().join("pwfile");
    // The guide's first step, answered through a real terminal. sha512-pbkdf2 so that
    // Mosquitto 2.0 can read the same file.
    let (code, transcript) = culex_passwd_on_pty(
        dir.path(),
        &["-H", "sha512-pbkdf2", "-c", "pwfile", "leo"],
        &["leopw", "leopw"],
    );
    let expected = "Password: \r\nReenter password: \r\nAdding password for user leo\r\n";
    assert_eq!((code, transcript.as_str()), (0, expected));
    // A second user added by Mosquitto's own tool.
    let added = run(
        Command::new(reference_tool("mosquitto_passwd"))
            .args(["-b"])
            .arg(&pwfile)
            .args(["mia", "miapw"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(added.code(), 0, "{}", added.stderr);
    make_readable(&pwfile);
    // log_type all: the SUBSCRIBE line tells when the subscriber below is ready.
    let broker =
        start(&format!("allow_anonymous false\npassword_file {}\nlog_type all", pwfile.display()));

    let publishers: [(PathBuf, &str); 2] =
        [(reference_tool("mosquitto_pub"), "mosquitto_pub"), (our_bin("culex_pub"), "culex_pub")];
    for (tool, name) in &publishers {
        for (version, refused_code, refused_line) in [
            ("mqttv311", 5, "Connection error: Connection Refused: not authorised."),
            ("mqttv5", 135, "Connection error: Not authorized"),
        ] {
            for (user, password) in [("leo", "leopw"), ("mia", "miapw")] {
                let done = run(
                    client(tool, &broker, version)
                        .args(["-t", "t", "-m", "m", "-u", user, "-P", password]),
                    COMMAND_DEADLINE,
                );
                assert_eq!((done.code(), done.stderr.as_str()), (0, ""), "{name} {version} {user}");
            }
            let credentials: [&[&str]; 4] = [
                &["-u", "leo", "-P", "wrong"],
                &["-u", "nobody", "-P", "leopw"],
                &["-u", "leo"],
                &[],
            ];
            for creds in credentials {
                let done = run(
                    client(tool, &broker, version).args(["-t", "t", "-m", "m"]).args(creds),
                    COMMAND_DEADLINE,
                );
                assert_eq!(
                    done.code(),
                    refused_code,
                    "{name} {version} {creds:?}: {}",
                    done.stderr
                );
                assert_eq!(
                    done.stderr.lines().next(),
                    Some(refused_line),
                    "{name} {version} {creds:?}"
                );
            }
        }
    }

    // A subscriber with the right password receives what leo publishes once it subscribed.
    let received = std::thread::scope(|scope| {
        let sub = scope.spawn(|| {
            run(
                client(&reference_tool("mosquitto_sub"), &broker, "mqttv311").args([
                    "-t",
                    "guide/#",
                    "-u",
                    "mia",
                    "-P",
                    "miapw",
                    "-C",
                    "1",
                    "-W",
                    "10",
                    "-v",
                    "-i",
                    "guide-sub",
                ]),
                COMMAND_DEADLINE,
            )
        });
        broker.wait_for_log(|line| line == "Received SUBSCRIBE from guide-sub");
        let published = run(
            client(&reference_tool("mosquitto_pub"), &broker, "mqttv311").args([
                "-t",
                "guide/hello",
                "-m",
                "hi",
                "-u",
                "leo",
                "-P",
                "leopw",
            ]),
            COMMAND_DEADLINE,
        );
        assert_eq!(published.code(), 0, "{}", published.stderr);
        sub.join().expect("subscriber thread")
    });
    assert_eq!((received.code(), received.stdout.as_str()), (0, "guide/hello hi\n"));
}

const ACL: &str = "\
topic read anon/#
topic deny anon/secret
user alice
topic readwrite a/#
topic deny a/secret/#
topic read shared/#
user bob
topic write b/in
pattern read dev/%c/#
pattern deny a/pdeny
pattern readwrite u/%u/#
user admin
topic readwrite #
";

/// (client id, username, topic, write?, allowed?) as Mosquitto 2.0.11 decides.
const PROBES: &[(&str, Option<&str>, &str, bool, bool)] = &[
    ("c1", None, "anon/x", false, true),
    ("c1", None, "anon/x", true, false),
    ("c1", None, "anon/secret", false, false),
    ("c1", None, "dev/c1/x", false, true),
    ("c1", None, "u/c1/x", false, false),
    ("c2", Some("alice"), "a/x", true, true),
    ("c2", Some("alice"), "a/secret/k", true, false),
    ("c2", Some("alice"), "a/pdeny", true, true),
    ("c2", Some("alice"), "shared/1", true, false),
    ("c2", Some("alice"), "shared/1", false, true),
    ("c2", Some("alice"), "anon/x", false, false),
    ("c2", Some("alice"), "u/alice/z", true, true),
    ("c2", Some("alice"), "dev/c2/q", false, true),
    ("c3", Some("bob"), "b/in", true, true),
    ("c3", Some("bob"), "b/in", false, false),
    ("c3", Some("bob"), "u/bob/x", false, true),
    ("c4", Some("carol"), "u/carol/x", true, true),
    ("c4", Some("carol"), "a/pdeny", true, false),
    ("c+5", Some("carol"), "u/carol/x", true, false),
    ("c1", None, "$SYS/broker/x", true, false),
];

fn acl_file_filters_reads_and_refuses_writes(start: StartBroker) {
    let dir = shared_dir("acl");
    let pwfile = dir.path().join("pwfile");
    for (index, user) in ["alice", "bob", "carol", "admin"].into_iter().enumerate() {
        let create: &[&str] = if index == 0 { &["-c", "-b"] } else { &["-b"] };
        let done = run(
            Command::new(our_bin("culex_passwd"))
                .args(["-H", "sha512-pbkdf2"])
                .args(create)
                .arg(&pwfile)
                .args([user, "pw"]),
            COMMAND_DEADLINE,
        );
        assert_eq!(done.code(), 0, "{}", done.stderr);
    }
    let aclfile = dir.path().join("aclfile");
    std::fs::write(&aclfile, ACL).expect("writing the ACL file");
    make_readable(&pwfile);
    make_readable(&aclfile);
    let broker = start(&format!(
        "allow_anonymous true\npassword_file {}\nacl_file {}",
        pwfile.display(),
        aclfile.display()
    ));
    let login = |command: &mut Command, client_id: &str, username: Option<&str>| {
        command.args(["-i", client_id]);
        if let Some(user) = username {
            command.args(["-u", user, "-P", "pw"]);
        }
    };
    // Retained messages for every read probe, published by the all-powerful admin.
    for &(_, _, topic, write, _) in PROBES {
        if !write {
            let mut command = client(&reference_tool("mosquitto_pub"), &broker, "mqttv5");
            login(&mut command, "seed", Some("admin"));
            let done =
                run(command.args(["-q", "1", "-r", "-t", topic, "-m", "r"]), COMMAND_DEADLINE);
            assert_eq!(done.code(), 0, "{}", done.stderr);
        }
    }
    let mut wrong = Vec::new();
    for &(client_id, username, topic, write, expected) in PROBES {
        let allowed = if write {
            let mut command = client(&reference_tool("mosquitto_pub"), &broker, "mqttv5");
            login(&mut command, client_id, username);
            let done = run(command.args(["-q", "1", "-t", topic, "-m", "probe"]), COMMAND_DEADLINE);
            assert_eq!(done.code(), 0, "{}", done.stderr);
            // A refused v5 QoS 1 publish: `Warning: Publish 1 failed: Not authorized.`
            !done.stderr.contains("Not authorized")
        } else {
            let mut command = client(&reference_tool("mosquitto_sub"), &broker, "mqttv5");
            login(&mut command, client_id, username);
            let done = run(command.args(["-t", topic, "-C", "1", "-W", "1"]), COMMAND_DEADLINE);
            !done.stdout.is_empty()
        };
        if allowed != expected {
            wrong
                .push(format!("{client_id} {username:?} {topic} write={write}: allowed={allowed}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "ACL decisions differ from Mosquitto 2.0.11's:\n{}",
        wrong.join("\n")
    );
}
