//! `password_file` and `acl_file` with files made by Debian's `mosquitto_passwd`, checked with
//! `mosquitto_pub`/`mosquitto_sub` against `culex` and, as the reference, Mosquitto; and
//! Mosquitto 2.1's plugin lines for the same files (per listener, on SIGHUP, and the refusal of
//! any other plugin), checked against 2.0.11 given the options they stand for.

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

/// The 2.0 options that name the files (`{dir}`: their directory).
const LEGACY: &str = "password_file {dir}/passwords\nacl_file {dir}/acl";

/// Mosquitto 2.1's plugin lines for the same files.
const PLUGINS: &str = "plugin /usr/lib/mosquitto_password_file.so\n\
                       plugin_opt_password_file {dir}/passwords\n\
                       plugin /usr/lib/mosquitto_acl_file.so\nplugin_opt_acl_file {dir}/acl";

/// Writes the password file `name` in `dir` with `users` (`user`, `password`), hashed by
/// Debian's `mosquitto_passwd`.
fn password_file(dir: &TempDir, name: &str, users: &[(&str, &str)]) {
    let path = dir.path().join(name);
    for (n, (user, password)) in users.iter().enumerate() {
        let mut command = Command::new(reference_tool("mosquitto_passwd"));
        command.arg("-b");
        if n == 0 {
            command.arg("-c");
        }
        let done = run(command.arg(&path).args([user, password]), COMMAND_DEADLINE);
        assert_eq!(done.code(), 0, "mosquitto_passwd: {}", done.stderr);
    }
}

/// [`Secured`] with the files named by `security` ([`LEGACY`] or [`PLUGINS`]).
fn secured(program: &Path, security: &str) -> Secured {
    let files = TempDir::new("auth");
    password_file(&files, "passwords", &[("alice", "secret"), ("bob", "hunter2")]);
    let acl = files.path().join("acl");
    std::fs::write(&acl, "user alice\ntopic write data/#\n\nuser bob\ntopic read data/#\n")
        .unwrap();
    let security = security.replace("{dir}", &files.path().display().to_string());
    let config =
        |ports: &[u16]| format!("listener {} 127.0.0.1\n{security}\nlog_type all\n", ports[0]);
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
    let ours = outcomes(&secured(&our_bin("culex"), LEGACY));
    let theirs = outcomes(&secured(&reference_tool("mosquitto"), LEGACY));
    assert_eq!(ours, theirs);
    // Mosquitto 2.1's plugin lines for the same files decide alike.
    assert_eq!(outcomes(&secured(&our_bin("culex"), PLUGINS)), theirs);
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
    for security in [LEGACY, PLUGINS] {
        sighup_reloads_the_password_file_named_by(security);
    }
}

fn sighup_reloads_the_password_file_named_by(security: &str) {
    let secured = secured(&our_bin("culex"), security);
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

/// Connect outcomes (exit code, stderr) of alice and bob publishing on each of `broker`'s two
/// listeners, and of alice publishing where her ACL does not let her.
fn per_listener_outcomes(broker: &BrokerProcess) -> Vec<(i32, String)> {
    let mut results = Vec::new();
    for &port in &broker.ports {
        for (user, password) in [("alice", "secret"), ("bob", "hunter2")] {
            let args = ["-u", user, "-P", password, "-t", "data/1", "-m", "x", "-q", "1"];
            let done = run(reference_client("mosquitto_pub", port).args(args), COMMAND_DEADLINE);
            results.push((done.code(), done.stderr));
        }
    }
    results
}

#[test]
fn plugin_use_gives_each_listener_its_own_files_like_per_listener_settings() {
    let files = TempDir::new("plugin-use");
    password_file(&files, "a.pw", &[("alice", "secret")]);
    password_file(&files, "b.pw", &[("bob", "hunter2")]);
    std::fs::write(files.path().join("a.acl"), "user alice\ntopic write data/#\n").unwrap();
    let dir = files.path().display().to_string();
    let ours = BrokerProcess::start_with(
        &our_bin("culex"),
        2,
        |ports| {
            format!(
                "plugin_load pwA /usr/lib/mosquitto_password_file.so\n\
                 plugin_opt_password_file {dir}/a.pw\n\
                 plugin_load aclA /usr/lib/mosquitto_acl_file.so\nplugin_opt_acl_file {dir}/a.acl\n\
                 plugin_load pwB /usr/lib/mosquitto_password_file.so\n\
                 plugin_opt_password_file {dir}/b.pw\n\
                 listener {} 127.0.0.1\nplugin_use pwA\nplugin_use aclA\n\
                 listener {} 127.0.0.1\nplugin_use pwB\n",
                ports[0], ports[1]
            )
        },
        &[],
    );
    let theirs = BrokerProcess::start_with(
        &reference_tool("mosquitto"),
        2,
        |ports| {
            format!(
                "per_listener_settings true\n\
                 listener {} 127.0.0.1\npassword_file {dir}/a.pw\nacl_file {dir}/a.acl\n\
                 listener {} 127.0.0.1\npassword_file {dir}/b.pw\n",
                ports[0], ports[1]
            )
        },
        &[],
    );
    let outcomes = per_listener_outcomes(&ours);
    assert_eq!(outcomes, per_listener_outcomes(&theirs));
    let codes: Vec<i32> = outcomes.iter().map(|(code, _)| *code).collect();
    assert_eq!(codes[0], 0, "alice on her listener: {outcomes:?}");
    assert_eq!(codes[3], 0, "bob on his listener: {outcomes:?}");
    assert!(codes[1] != 0 && codes[2] != 0, "each refused on the other's: {outcomes:?}");
}

#[test]
fn any_other_plugin_is_refused_by_name_at_its_line() {
    let dir = TempDir::new("plugin-refused");
    let config = dir.path().join("c.conf");
    let path = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";
    std::fs::write(&config, format!("listener {} 127.0.0.1\nplugin {path}\n", unused_port()))
        .unwrap();
    let done = run(Command::new(our_bin("culex")).arg("-c").arg(&config), COMMAND_DEADLINE);
    assert_eq!(done.code(), 3, "{}", done.stderr);
    let lines: Vec<String> =
        done.stderr.lines().map(|line| crate::support::strip_timestamp(line).to_owned()).collect();
    assert_eq!(
        lines,
        [
            format!(
                "Error: The plugin \"{path}\" is a C plugin for Mosquitto's plugin API, which \
                 culex cannot load; culex has only mosquitto_password_file.so and \
                 mosquitto_acl_file.so built in."
            ),
            format!("Error found at {}:2.", config.display()),
        ]
    );
}
