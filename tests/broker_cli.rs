//! `culex` as a program: flags, configuration errors, exit statuses, local-only mode,
//! signals and `-d`, compared with Mosquitto where both behave alike.

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, Finished, TempDir, our_bin, reference_client, reference_tool,
    refused_like_mosquitto, run, stderr_lines, strip_timestamp, unused_port,
};

fn culex(args: &[&str]) -> Finished {
    run(Command::new(our_bin("culex")).args(args), COMMAND_DEADLINE)
}

fn mosquitto(args: &[&str]) -> Finished {
    run(Command::new(reference_tool("mosquitto")).args(args), COMMAND_DEADLINE)
}

/// Writes `text` to `<dir>/<name>` and returns the path as a string.
fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writing test config");
    path.display().to_string()
}

#[test]
fn help_prints_usage_on_stdout_and_exits_3() {
    let done = culex(&["-h"]);
    assert_eq!(done.code(), 3);
    assert!(done.stdout.starts_with("culex version "), "{}", done.stdout);
    assert!(done.stdout.contains("Usage: culex [-c config_file] [-d] [-h] [-p port] [-v]"));
    assert_eq!(culex(&["--help"]).stdout, done.stdout);
    assert_eq!(mosquitto(&["-h"]).code(), 3);
}

/// Every binary's `--version` names the workspace version in its Mosquitto counterpart's
/// format; the clients exit 1 as Mosquitto's do.
#[test]
fn every_binary_prints_the_workspace_version() {
    let version = "0.1.0";
    let client = format!("version {version} running on culex-client {version}.");
    let rows = [
        ("culex", format!("culex version {version}\n"), 0),
        ("culex_passwd", format!("culex_passwd version {version}\n"), 0),
        ("culex_pub", format!("culex_pub {client}\n"), 1),
        ("culex_sub", format!("culex_sub {client}\n"), 1),
    ];
    for (binary, stdout, code) in rows {
        let done = run(Command::new(our_bin(binary)).arg("--version"), COMMAND_DEADLINE);
        assert_eq!((done.code(), done.stdout.as_str()), (code, stdout.as_str()), "{binary}");
    }
}

#[test]
fn unknown_option_is_reported_without_timestamp_then_usage() {
    let ours = culex(&["-x"]);
    let theirs = mosquitto(&["-x"]);
    assert_eq!((ours.code(), ours.stderr.as_str()), (3, "Error: Unknown option '-x'.\n"));
    assert_eq!((theirs.code(), theirs.stderr.as_str()), (3, "Error: Unknown option '-x'.\n"));
    assert!(ours.stdout.contains("Usage: culex"));
}

#[test]
fn flag_errors_match_mosquitto() {
    for args in [&["-p"][..], &["-p", "0"], &["-p", "70000"], &["-c"]] {
        let ours = culex(args);
        let theirs = mosquitto(args);
        assert_eq!(
            (ours.code(), stderr_lines(&ours)),
            (theirs.code(), stderr_lines(&theirs)),
            "{args:?}"
        );
    }
}

#[test]
fn configuration_errors_match_mosquitto_line_for_line() {
    let cases = [
        "foo bar\n",
        "allow_anonymous maybe\n",
        "\n# comment\nlistener\n",
        "listener 70000\n",
        "allow_anonymous\ttrue\n",
        "auto_id_prefix a\nauto_id_prefix b\n",
        "max_inflight_messages 70000\n",
        "max_packet_size 10\n",
        "max_keepalive 5\n",
        "persistent_client_expiration 5x\n",
        "log_type foo\n",
        "message_size_limit 300000000\n",
        "max_topic_alias 70000\n",
        "max_queued_messages\n",
        "log_dest foo\n",
        "log_dest\n",
        "log_dest file\n",
        "log_dest file /tmp/a.log\nlog_dest file /tmp/b.log\n",
        "pid_file\n",
        "password_file a\npassword_file b\n",
    ];
    refused_like_mosquitto("cli-config", &cases);
}

#[test]
fn missing_config_file_exits_3() {
    let ours = culex(&["-c", "/nonexistent/culex.conf"]);
    let theirs = mosquitto(&["-c", "/nonexistent/culex.conf"]);
    assert_eq!((ours.code(), stderr_lines(&ours)), (theirs.code(), stderr_lines(&theirs)));
}

#[test]
fn unsupported_mosquitto_option_is_refused_with_its_line() {
    let dir = TempDir::new("cli-unsupported");
    let path = write(&dir, "p.conf", "allow_anonymous true\nauth_plugin /usr/lib/auth.so\n");
    let done = culex(&["-c", &path]);
    assert_eq!(done.code(), 3);
    let lines = stderr_lines(&done);
    assert!(lines[0].contains("\"/usr/lib/auth.so\" is a C plugin"), "{lines:?}");
    assert_eq!(lines[1], format!("Error found at {path}:2."));
}

#[test]
fn no_config_means_local_only_mode_on_the_p_port() {
    // A config without listeners keeps local-only mode and honours -p, as in Mosquitto.
    let config = "allow_anonymous false\nlog_type all\n";
    let broker = BrokerProcess::start_with_port_flag(&our_bin("culex"), config);
    let port = broker.port;
    broker.wait_for_log(|line| {
        line == "Starting in local only mode. Connections will only be possible from clients running on this machine."
    });
    broker.wait_for_log(|line| line == format!("Opening ipv4 listen socket on port {port}."));
    // Anonymous access is forced on: a client without credentials is accepted.
    let done =
        run(reference_client("mosquitto_pub", port).args(["-t", "t", "-m", "x"]), COMMAND_DEADLINE);
    assert_eq!(done.code(), 0, "{}", done.stderr);
    let status = broker.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn configured_listener_refuses_anonymous_clients_by_default() {
    let broker = BrokerProcess::start_with(
        &our_bin("culex"),
        1,
        |ports| format!("listener {} 127.0.0.1\n", ports[0]),
        &[],
    );
    let port = broker.port;
    let done =
        run(reference_client("mosquitto_pub", port).args(["-t", "t", "-m", "x"]), COMMAND_DEADLINE);
    assert_ne!(done.code(), 0);
    assert!(done.stderr.contains("not authorised"), "{}", done.stderr);
    drop(broker);
}

#[test]
fn sigterm_stops_cleanly_with_status_0() {
    let broker = BrokerProcess::culex("");
    broker.wait_for_log(|line| line.ends_with(" running"));
    let status = broker.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sighup_reloads_logging_options() {
    let broker = BrokerProcess::culex("");
    let port = broker.port;
    let pub_once = |id: &str| {
        let done = run(
            reference_client("mosquitto_pub", port).args(["-i", id, "-t", "t", "-m", "x"]),
            COMMAND_DEADLINE,
        );
        assert_eq!(done.code(), 0);
    };
    pub_once("before-reload");
    broker.wait_for_log(|line| line == "Client before-reload disconnected.");
    assert!(!broker.log_lines().iter().any(|l| l.starts_with("Received PUBLISH")));
    let config = std::fs::read_to_string(broker.config_path()).unwrap();
    std::fs::write(broker.config_path(), format!("{config}log_type all\n")).unwrap();
    broker.signal("HUP");
    broker.wait_for_log(|line| line == "Reloading config.");
    pub_once("after-reload");
    broker.wait_for_log(|line| line.starts_with("Received PUBLISH from after-reload "));
}

#[test]
fn no_listener_could_be_opened_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir::new("cli-busy");
    let path = write(&dir, "busy.conf", &format!("listener {port} 127.0.0.1\n"));
    let done = culex(&["-c", &path]);
    assert_eq!(done.code(), 1, "{}", done.stderr);
    assert!(
        stderr_lines(&done)
            .contains(&"Error: Unable to start any listening sockets, exiting.".to_owned())
    );
}

#[test]
fn daemon_mode_detaches_writes_its_pid_file_and_logs_to_a_file() {
    let dir = TempDir::new("cli-daemon");
    let pid_path = dir.path().join("culex.pid");
    let log_path = dir.path().join("culex.log");
    // Port 0: the OS picks the port, and the log file's `Opening` line names it.
    let config = format!(
        "listener 0 127.0.0.1\nallow_anonymous true\npid_file {}\nlog_dest file {}\n",
        pid_path.display(),
        log_path.display()
    );
    let path = write(&dir, "d.conf", &config);
    let done = culex(&["-c", &path, "-d"]);
    assert_eq!(done.code(), 0, "the parent exits 0: {}", done.stderr);
    // The listener was open, and logged, before the parent exited.
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let port = log
        .lines()
        .find_map(|line| {
            strip_timestamp(line)
                .strip_prefix("Opening ipv4 listen socket on port ")?
                .strip_suffix('.')?
                .parse::<u16>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no Opening line in the log file:\n{log}"));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    let start = Instant::now();
    let pid = loop {
        if let Some(pid) =
            std::fs::read_to_string(&pid_path).ok().filter(|text| text.ends_with('\n'))
        {
            break pid.trim().to_owned();
        }
        assert!(start.elapsed() < COMMAND_DEADLINE, "no pid file");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    while pid_path.exists() {
        assert!(
            start.elapsed() < COMMAND_DEADLINE,
            "the daemon did not stop and remove its pid file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.lines().any(|line| strip_timestamp(line).ends_with(" running")), "{log}");
    assert!(log.lines().any(|line| strip_timestamp(line).ends_with(" terminating")), "{log}");
}

#[test]
fn an_unwritable_pid_file_exits_1() {
    let dir = TempDir::new("cli-pid");
    let config =
        format!("listener {} 127.0.0.1\npid_file /nonexistent/dir/culex.pid\n", unused_port());
    let path = write(&dir, "p.conf", &config);
    let done = culex(&["-c", &path]);
    assert_eq!(done.code(), 1);
    assert!(
        stderr_lines(&done).contains(&"Error: Unable to write pid file.".to_owned()),
        "{}",
        done.stderr
    );
}

/// `--test-config` (Mosquitto 2.1): the file's syntax and checks only, exit 0 with
/// `Configuration file is OK.`; it reads no password file and binds no socket (the port here is
/// taken, and the password file missing, which would both stop a real start).
#[test]
fn test_config_checks_the_file_and_opens_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir::new("cli-test-config");
    let missing = dir.join("missing-pwfile");
    let config = format!("listener {port} 127.0.0.1\npassword_file {}\n", missing.display());
    let good = write(&dir, "good.conf", &config);
    let done = culex(&["--test-config", "-c", &good]);
    assert_eq!((done.code(), stderr_lines(&done)), (0, vec!["Configuration file is OK.".into()]));
    assert_eq!(culex(&["-c", &good]).code(), 13, "a real start reads the password file");
    let bad = write(&dir, "bad.conf", "max_inflight_messages\n");
    let checked = culex(&["--test-config", "-c", &bad]);
    let started = culex(&["-c", &bad]);
    assert_eq!(checked.code(), 3);
    assert_eq!((checked.code(), stderr_lines(&checked)), (started.code(), stderr_lines(&started)));
    let no_file = culex(&["--test-config"]);
    assert_eq!(
        (no_file.code(), stderr_lines(&no_file)),
        (3, vec!["Please provide a configuration file to test.".into()])
    );
}

/// `-q` (Mosquitto 2.1): nothing is logged once the configuration is read, not even with `-v`,
/// while the broker serves clients.
#[test]
fn quiet_logs_nothing_even_with_verbose() {
    let dir = TempDir::new("cli-quiet");
    let pid_path = dir.join("culex.pid");
    let port = unused_port();
    let config = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npid_file {}\n",
        pid_path.display()
    );
    let path = write(&dir, "q.conf", &config);
    let mut broker = Command::new(our_bin("culex"))
        .args(["-q", "-v", "-c", &path])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting culex");
    let start = Instant::now();
    // The pid file is written once the listeners are open.
    while !pid_path.exists() {
        assert!(start.elapsed() < COMMAND_DEADLINE, "culex -q did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let published = run(
        reference_client("mosquitto_pub", port).args(["-t", "q/t", "-m", "quiet"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(published.code(), 0, "{}", published.stderr);
    let pid = broker.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = crate::support::wait_with_deadline(&mut broker, "culex -q", COMMAND_DEADLINE);
    assert!(status.success());
    let output = broker.wait_with_output().expect("output");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
}
