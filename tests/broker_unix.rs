//! Unix socket listeners (`listener 0 PATH`) in culex and Debian's Mosquitto 2.0.11: the
//! socket file's mode, the connection log line, culex's and Mosquitto's clients over `--unix`
//! both ways, the file removed at exit, and a socket that cannot be bound.

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::Command;

use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_tool, run,
};

/// `sub_tool` subscribed through the Unix socket of `broker` receives what `pub_tool` publishes
/// through it.
fn crosses(broker: &BrokerProcess, socket: &str, sub_tool: &Path, pub_tool: &Path, id: &str) {
    let sub = Background::spawn(
        Command::new(sub_tool).args(["--unix", socket, "-i", id, "-t", "ux/#", "-v", "-C", "1"]),
    );
    broker.wait_for_log(|line| line == format!("Received SUBSCRIBE from {id}"));
    let done = run(
        Command::new(pub_tool).args(["--unix", socket, "-t", "ux/t", "-m", id]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "{}: {}", pub_tool.display(), done.stderr);
    assert_eq!(sub.wait_for_lines(1), [format!("ux/t {id}")]);
}

#[test]
fn unix_socket_listeners_serve_both_tool_sets_like_mosquitto() {
    for program in [our_bin("culex"), reference_tool("mosquitto")] {
        let dir = TempDir::new("unix");
        let (broker, socket) = BrokerProcess::with_unix_socket(&program, &dir, "log_type all");
        let meta = std::fs::metadata(&socket).expect("the socket exists");
        assert!(meta.file_type().is_socket(), "{socket}");
        assert_eq!(meta.permissions().mode() & 0o777, 0o770, "{}", program.display());
        assert!(
            broker.log_lines().contains(&format!("Opening unix listen socket on path {socket}."))
        );
        let (ours, theirs) = (our_bin("culex_sub"), reference_tool("mosquitto_sub"));
        crosses(&broker, &socket, &ours, &reference_tool("mosquitto_pub"), "ours-sub");
        crosses(&broker, &socket, &theirs, &our_bin("culex_pub"), "their-sub");
        broker.wait_for_log(|line| line == format!("New connection from {socket}:0 on port 0."));
        let status = broker.terminate();
        assert!(status.success(), "{}: {status}", program.display());
        assert!(!Path::new(&socket).exists(), "{} left {socket}", program.display());
    }
}

#[test]
fn a_unix_socket_that_cannot_be_bound_stops_the_broker_like_mosquitto() {
    let dir = TempDir::new("unix-bad");
    let config = dir.join("bad.conf");
    std::fs::write(&config, "listener 0 /nonexistent/dir/broker.sock\n").expect("config");
    let outcome = |program: &Path| {
        let done = run(Command::new(program).arg("-c").arg(&config), COMMAND_DEADLINE);
        let errors: Vec<String> = done
            .stderr
            .lines()
            .map(crate::support::strip_timestamp)
            .filter(|line| !line.contains(" version ") && !line.starts_with("Config loaded"))
            .map(str::to_owned)
            .collect();
        (done.code(), errors)
    };
    let ours = outcome(&our_bin("culex"));
    assert_eq!(ours, outcome(&reference_tool("mosquitto")));
    assert_eq!(
        ours,
        (
            1,
            vec![
                "Opening unix listen socket on path /nonexistent/dir/broker.sock.".to_owned(),
                "Error binding unix socket: No such file or directory".to_owned()
            ]
        )
    );
}
