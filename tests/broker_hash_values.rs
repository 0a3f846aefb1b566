//! A `#` inside a configuration value is part of the value, in culex as in Debian's Mosquitto
//! 2.0.11: a bridge's `topic #`, its name, username and password, `auto_id_prefix`, the
//! path of a password file. And culex's one leniency, which Mosquitto lacks: a comment after a
//! host name (`bind_address 0.0.0.0 # …`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, TempDir, make_readable, our_bin, reference_client,
    reference_tool, run,
};

/// The remote broker's only user, and the password the bridges send.
const USER: &str = "br#user";
const PASSWORD: &str = "ab#cd";

/// Debian's mosquitto with a password file (in a folder whose name holds a `#`) that knows
/// [`USER`]; anonymous clients are allowed too.
fn remote(files: &TempDir) -> BrokerProcess {
    let dir = files.join("pass#words");
    std::fs::create_dir_all(&dir).expect("creating the password folder");
    make_readable(files.path());
    make_readable(&dir);
    let passwords = dir.join("file#1");
    let done = run(
        Command::new(reference_tool("mosquitto_passwd"))
            .args(["-b", "-c"])
            .arg(&passwords)
            .args([USER, PASSWORD]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "mosquitto_passwd: {}", done.stderr);
    make_readable(&passwords);
    BrokerProcess::mosquitto(&format!("password_file {}\nlog_type all", passwords.display()))
}

/// Sends an MQTT 3.1.1 CONNECT with an empty client id to `port` and waits for the CONNACK.
fn connect_without_id(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).expect("read timeout");
    stream
        .write_all(&[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0])
        .expect("sending CONNECT");
    let mut connack = [0; 4];
    stream.read_exact(&mut connack).expect("reading CONNACK");
    assert_eq!(connack, [0x20, 2, 0, 0]);
    stream
}

/// `program` bridging everything (`topic # both 0`, connection `br#1`) to `remote` as `id`
/// with a username and password that hold a `#`: a message published on it reaches the remote
/// broker, which logs the username; a client without an id gets `auto_id_prefix ab#`. (Not a
/// `#` in `remote_clientid`: Mosquitto then refuses to start the bridge, its notification
/// topic being invalid.)
fn bridges_with_hashes(program: &Path, remote: &BrokerProcess, id: &str) {
    let local = BrokerProcess::start_with(
        program,
        1,
        |ports| {
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\nauto_id_prefix ab#\n\
                 connection br#1\naddress 127.0.0.1:{}\nremote_clientid {id}\n\
                 remote_username {USER}\nremote_password {PASSWORD}\ntopic # both 0\n\
                 restart_timeout 1\n",
                ports[0], remote.port
            )
        },
        &[],
    );
    let connected = format!(" as {id} (");
    let line = remote.wait_for_log(|line| line.contains(&connected));
    assert!(line.ends_with(&format!("u'{USER}').")), "{line}");
    let sub = Background::spawn(
        reference_client("mosquitto_sub", remote.port).args(["-t", "hash/#", "-v"]),
    );
    // The bridge's local subscription may trail its remote CONNACK: publish until one arrives.
    let start = Instant::now();
    while sub.lines().is_empty() {
        assert!(start.elapsed() < COMMAND_DEADLINE, "{}: nothing crossed the bridge", id);
        let done = run(
            reference_client("mosquitto_pub", local.port).args(["-t", "hash/t", "-m", id]),
            COMMAND_DEADLINE,
        );
        assert_eq!(done.code(), 0, "{}", done.stderr);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(sub.lines()[0], format!("hash/t {id}"));
    let _client = connect_without_id(local.port);
    local.wait_for_log(|line| line.starts_with("New client connected") && line.contains(" as ab#"));
}

#[test]
fn a_hash_in_a_value_is_read_as_one_like_mosquitto() {
    let files = TempDir::new("hash");
    let remote = remote(&files);
    bridges_with_hashes(&our_bin("culex"), &remote, "culex-id");
    bridges_with_hashes(&reference_tool("mosquitto"), &remote, "mosq-id");
}

#[test]
fn a_comment_after_a_port_or_host_is_accepted_by_culex_alone() {
    let config = |ports: &[u16]| {
        format!(
            "port {}            #开发端口\nbind_address 127.0.0.1 # 使用 ip 地址或者主机名\n\
             allow_anonymous true\n",
            ports[0]
        )
    };
    let culex = BrokerProcess::start_with_picked_ports(&our_bin("culex"), 1, config, &[]);
    let done = run(
        reference_client("mosquitto_pub", culex.port).args(["-t", "t", "-m", "x"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "{}", done.stderr);
    // Mosquitto 2.0.11 resolves the whole rest of the line as the host, and stops.
    let dir = TempDir::new("hash-comment");
    let path = dir.join("m.conf");
    std::fs::write(&path, config(&[culex.port])).expect("writing the config");
    let done =
        run(Command::new(reference_tool("mosquitto")).arg("-c").arg(&path), COMMAND_DEADLINE);
    assert_eq!(done.code(), 3);
    assert!(done.stderr.contains("Error: Error resolving bind_address"), "{}", done.stderr);
}
