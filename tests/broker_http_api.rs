//! The `protocol http_api` listener over real sockets, driven with curl: Mosquitto 2.1's
//! endpoints (exact bodies and cJSON layout, the systree values against the `$SYS` topics),
//! every status code, HTTPS, `http_dir` files, the loopback default, access control (Basic,
//! bearer tokens, rights, the failure budget) and culex's endpoints with paging, including a
//! DELETE seen from the disconnected client's side.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqtt_codec::{Connect, MqttString, Packet, ProtocolVersion, ReasonCode};

use crate::support::{Background, BrokerProcess, COMMAND_DEADLINE, Certs, TempDir, our_bin, run};

/// An HTTP answer: status, lower-cased header lines, body.
struct Answer {
    status: u16,
    headers: Vec<String>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.headers.iter().find_map(|line| line.strip_prefix(&prefix))
    }
}

/// `curl <args>` against the broker, within the command deadline.
fn curl(args: &[&str]) -> Answer {
    let mut command = Command::new("curl");
    command.args(["-sS", "-i", "--max-time", "10", "--path-as-is"]).args(args);
    let done = run(&mut command, COMMAND_DEADLINE);
    assert_eq!(done.code(), 0, "curl {args:?}: {}", done.stderr);
    let (head, body) = done.stdout.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|s| s.parse().ok());
    let headers = lines.map(|line| line.to_ascii_lowercase()).collect();
    Answer { status: status.expect("a status line"), headers, body: body.to_owned() }
}

/// `GET` (or `method`) of `path` on `port`, with `extra` curl arguments.
fn request(port: u16, method: &str, path: &str, extra: &[&str]) -> Answer {
    let url = format!("http://127.0.0.1:{port}{path}");
    // A HEAD answer has no body: curl must not wait for one.
    let mut args =
        if method == "HEAD" { vec!["-I", url.as_str()] } else { vec!["-X", method, url.as_str()] };
    args.extend_from_slice(extra);
    curl(&args)
}

fn get(port: u16, path: &str) -> Answer {
    request(port, "GET", path, &[])
}

/// A broker with an MQTT listener and an HTTP API listener (its port second), `extra` after.
fn broker(global: &str, extra: &str) -> (BrokerProcess, u16) {
    start(global, " 127.0.0.1", extra)
}

/// [`broker`] with `http_address` after the HTTP API listener's port (empty: none, and the
/// harness picks the ports, which culex's port 0 cannot do without an address).
fn start(global: &str, http_address: &str, extra: &str) -> (BrokerProcess, u16) {
    let config = |ports: &[u16]| {
        format!(
            "{global}\nlistener {} 127.0.0.1\nlistener {}{http_address}\nprotocol http_api\n{extra}\n",
            ports[0], ports[1]
        )
    };
    let culex = our_bin("culex");
    let broker = if http_address.is_empty() {
        BrokerProcess::start_with_picked_ports(&culex, 2, config, &[])
    } else {
        BrokerProcess::start_with(&culex, 2, config, &[])
    };
    let port = broker.ports[1];
    (broker, port)
}

#[test]
fn version_listeners_and_every_status_code() {
    let (broker, port) = broker("allow_anonymous true", "");
    let version = get(port, "/api/v1/version");
    assert_eq!((version.status, version.body.as_str()), (200, env!("CARGO_PKG_VERSION")));
    assert_eq!(version.header("access-control-allow-origin"), Some("*"));
    let listeners = get(port, "/api/v1/listeners");
    let expected = format!(
        "{{\n\t\"listeners\":\t[{{\n\t\t\t\"port\":\t{}, \n\t\t\t\"protocol\":\t\"mqtt\",\n\t\t\t\
         \"tls\":\tfalse,\n\t\t\t\"mtls\":\tfalse,\n\t\t\t\"allow_anonymous\":\ttrue\n\t\t}}, {{\n\t\t\t\
         \"port\":\t{port},\n\t\t\t\"protocol\":\t\"httpapi\",\n\t\t\t\"tls\":\tfalse,\n\t\t\t\
         \"mtls\":\tfalse,\n\t\t\t\"allow_anonymous\":\ttrue\n\t\t}}]\n}}",
        broker.port
    )
    .replace(", \n", ",\n");
    assert_eq!((listeners.status, listeners.body), (200, expected));
    for method in ["POST", "PUT", "HEAD", "PATCH"] {
        let refused = request(port, method, "/api/v1/version", &[]);
        let body = if method == "HEAD" { "" } else { "Invalid HTTP Method\n" };
        assert_eq!((refused.status, refused.body.as_str()), (405, body), "{method}");
        assert_eq!(refused.header("access-control-allow-origin"), None, "no CORS on errors");
    }
    let delete = request(port, "DELETE", "/api/v1/version", &[]);
    assert_eq!(delete.status, 405, "DELETE only of a client");
    // Without http_dir, `/` is the built-in dashboard (tests/dashboard.rs); other paths are not.
    for path in ["/api/v1/nothing", "/api/v1/Version", "/nothing.html", "/vendor/"] {
        let missing = get(port, path);
        assert_eq!((missing.status, missing.body.as_str()), (404, "Not found.\n"), "{path}");
    }
    let bad = get(port, "/api/v1/clients?page=0");
    assert_eq!((bad.status, bad.body.as_str()), (400, "Bad request.\n"));
    drop(broker);
}

/// The `$SYS/broker/…` retained values a subscriber gets for `keys` (topics may hold spaces).
fn sys_topics(broker: &BrokerProcess, keys: &[String]) -> BTreeMap<String, String> {
    let mut sub = Command::new(our_bin("culex_sub"));
    sub.args(["-p", &broker.port.to_string(), "-t", "$SYS/broker/#", "-v", "--retained-only"]);
    sub.args(["-W", "2"]);
    let done = run(&mut sub, COMMAND_DEADLINE);
    let mut found = BTreeMap::new();
    for line in done.stdout.lines() {
        for key in keys {
            if let Some(value) = line.strip_prefix(key.as_str()).and_then(|v| v.strip_prefix(' ')) {
                found.insert(key.clone(), value.to_owned());
            }
        }
    }
    found
}

/// 2.1's systree keys that culex has `$SYS` topics for, in 2.1's order, after `$SYS/broker/`.
const SYSTREE_KEYS: &str = "clients/total, clients/maximum, clients/disconnected, \
    clients/connected, clients/expired, messages/stored, store/messages/bytes, \
    subscriptions/count, shared_subscriptions/count, retained messages/count, heap/current, \
    heap/maximum, messages/received, messages/sent, bytes/received, bytes/sent, \
    publish/bytes/received, publish/bytes/sent, publish/messages/dropped, \
    publish/messages/received, publish/messages/sent, uptime";

/// The systree body as (key, value) pairs, checking its layout line by line.
fn systree(port: u16) -> Vec<(String, i64)> {
    let answer = get(port, "/api/v1/systree");
    assert_eq!(answer.status, 200);
    let lines: Vec<&str> = answer.body.lines().collect();
    assert_eq!((lines.first(), lines.last()), (Some(&"{"), Some(&"}")), "{}", answer.body);
    lines[1..lines.len() - 1]
        .iter()
        .map(|line| {
            let line = line.strip_prefix("\t\"").expect("one TAB, then the key");
            let (key, value) = line.split_once("\":\t").expect("a TAB after the colon");
            let value = value.trim_end_matches(',').parse().expect("an integer");
            (key.to_owned(), value)
        })
        .collect()
}

#[test]
fn systree_reports_the_values_of_the_sys_topics() {
    // One update at start, the next after 61 s: the topics and the API see the same one.
    let (broker, port) = broker("allow_anonymous true\nsys_interval 60", "");
    let values = systree(port);
    let keys: Vec<String> = values.iter().map(|(key, _)| key.clone()).collect();
    let expected: Vec<String> =
        SYSTREE_KEYS.split(", ").map(|key| format!("$SYS/broker/{key}")).collect();
    assert_eq!(keys, expected);
    let topics = sys_topics(&broker, &keys);
    for (key, value) in &values {
        let maximum = key.ends_with("clients/maximum");
        if key.ends_with("uptime") || (maximum && !topics.contains_key(key)) {
            continue; // uptime is live; no client yet: no `clients/maximum` topic, 2.1's 1
        }
        assert_eq!(topics.get(key), Some(&value.to_string()), "{key}");
    }
    assert_eq!(values.iter().find(|(k, _)| k.ends_with("clients/maximum")).map(|v| v.1), Some(1));
}

#[test]
fn without_sys_updates_every_systree_value_is_one() {
    let (_broker, port) = broker("allow_anonymous true\nsys_interval 0", "");
    for (key, value) in systree(port) {
        if !key.ends_with("uptime") {
            assert_eq!(value, 1, "{key}");
        }
    }
}

#[test]
fn https_with_the_listeners_certificate() {
    let certs = Certs::new();
    let tls =
        format!("certfile {}\nkeyfile {}", certs.path("server.crt"), certs.path("server.key"));
    let (_broker, port) = broker("allow_anonymous true", &tls);
    let url = format!("https://localhost:{port}/api/v1/listeners");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let answer = curl(&["--cacert", &certs.path("ca.crt"), "--resolve", &resolve, &url]);
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains("\"protocol\":\t\"httpapi\",\n\t\t\t\"tls\":\ttrue"),
        "{}",
        answer.body
    );
}

#[test]
fn http_dir_files_stay_inside_the_directory() {
    let dir = TempDir::new("http-api-dir");
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("sub")).expect("creating the site");
    std::fs::write(www.join("index.html"), "home").expect("index.html");
    std::fs::write(www.join("sub/a b.js"), "script").expect("a file");
    std::fs::write(dir.join("secret"), "outside").expect("a file outside");
    let (broker, port) = broker("allow_anonymous true", &format!("http_dir {}", www.display()));
    assert!(
        broker
            .log_lines()
            .iter()
            .any(|l| l.ends_with(&format!("Using http_dir {}", www.display())))
    );
    let cases = [
        ("/", 200, "home"),
        ("/sub/a%20b.js", 200, "script"),
        ("/sub/", 404, "Not found.\n"),
        ("/sub", 404, "Not found.\n"),
        ("/../secret", 404, "Not found.\n"),
        ("/../../../../etc/passwd", 404, "Not found.\n"),
        ("/missing", 404, "Not found.\n"),
    ];
    for (path, status, body) in cases {
        let answer = get(port, path);
        assert_eq!((answer.status, answer.body.as_str()), (status, body), "{path}");
        assert_eq!(answer.header("access-control-allow-origin"), None, "{path}");
    }
}

#[test]
fn http_api_listeners_alone_do_not_start_a_broker() {
    let dir = TempDir::new("http-api-only");
    let config = dir.join("only.conf");
    std::fs::write(&config, "listener 0 127.0.0.1\nprotocol http_api\n").expect("config");
    let done = run(Command::new(our_bin("culex")).arg("-c").arg(&config), COMMAND_DEADLINE);
    assert_eq!(done.code(), 1);
    assert!(done.stderr.contains("Opening http api listen socket on port "), "{}", done.stderr);
    assert!(
        done.stderr.contains("Error: Unable to start any listening sockets, exiting."),
        "{}",
        done.stderr
    );
}

/// Whether `/proc/net/tcp` lists a listening socket on `address:port` (`address` in the
/// file's hex, e.g. `0100007F` for 127.0.0.1).
fn listening(address: &str, port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let wanted = format!("{address}:{port:04X}");
    table.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&wanted.as_str()) && fields.get(3) == Some(&"0A")
    })
}

#[test]
fn without_an_address_the_listener_is_on_loopback_only() {
    let (_broker, port) = start("allow_anonymous true", "", "");
    assert!(listening("0100007F", port), "127.0.0.1:{port}");
    assert!(!listening("00000000", port), "not 0.0.0.0:{port}");
    assert_eq!(get(port, "/api/v1/version").status, 200);
}

/// A password file with `reader:readpw` and `admin:adminpw`, and a token file naming the
/// token `secret` `ops`; returns the config lines that use them.
fn credentials(dir: &TempDir) -> String {
    let passwords = dir.join("passwords");
    for (user, password) in [("reader", "readpw"), ("admin", "adminpw")] {
        let mut command = Command::new(our_bin("culex_passwd"));
        if !passwords.exists() {
            command.arg("-c");
        }
        command.arg("-b").arg(&passwords).args([user, password]);
        assert_eq!(run(&mut command, COMMAND_DEADLINE).code(), 0, "culex_passwd");
    }
    let tokens = dir.join("tokens");
    // SHA-256 of "secret".
    let hash = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
    std::fs::write(&tokens, format!("# name:sha256\nops:{hash}\n")).expect("token file");
    format!(
        "password_file {}\nhttp_api_token_file {}\nhttp_api_admin admin\nhttp_api_admin ops",
        passwords.display(),
        tokens.display()
    )
}

#[test]
fn rights_come_from_basic_credentials_and_tokens() {
    let dir = TempDir::new("http-api-auth");
    let files = credentials(&dir);
    let (password_file, rest) = files.split_once('\n').expect("two parts");
    let (_broker, port) = broker(password_file, rest);
    let clients = "/api/v1/clients";
    let delete = "/api/v1/clients/nobody";
    // (method, path, curl arguments, status)
    let cases: [(&str, &str, &[&str], u16); 10] = [
        ("GET", clients, &[], 401),
        ("GET", clients, &["-u", "reader:wrong"], 401),
        ("GET", clients, &["-u", "stranger:readpw"], 401),
        ("GET", clients, &["-u", "reader:readpw"], 200),
        ("DELETE", delete, &["-u", "reader:readpw"], 403),
        ("DELETE", delete, &["-u", "admin:adminpw"], 404),
        ("GET", clients, &["-H", "Authorization: Bearer secret"], 200),
        ("DELETE", delete, &["-H", "Authorization: Bearer secret"], 404),
        ("GET", clients, &["-H", "Authorization: Bearer guess"], 401),
        ("DELETE", delete, &[], 401),
    ];
    for (method, path, args, status) in cases {
        let answer = request(port, method, path, args);
        assert_eq!(answer.status, status, "{method} {path} {args:?}: {}", answer.body);
        if status == 401 {
            assert_eq!(answer.body, "Not authorised\n");
            assert_eq!(answer.header("www-authenticate"), Some("basic realm=\"mosquitto api\""));
        }
    }
}

#[test]
fn anonymous_requests_read_only_where_anonymous_clients_are_allowed() {
    let (_broker, port) = broker("allow_anonymous true", "http_api_admin nobody");
    assert_eq!(get(port, "/api/v1/clients").status, 200);
    assert_eq!(request(port, "DELETE", "/api/v1/clients/x", &[]).status, 401);
}

#[test]
fn the_acl_read_check_on_the_path_stays() {
    let dir = TempDir::new("http-api-acl");
    let acl = dir.join("acl");
    std::fs::write(&acl, "topic read /api/v1/version\n").expect("acl file");
    let (_broker, port) = broker(&format!("allow_anonymous true\nacl_file {}", acl.display()), "");
    assert_eq!(get(port, "/api/v1/version").status, 200);
    assert_eq!(get(port, "/api/v1/listeners").status, 401);
}

#[test]
fn wrong_credentials_are_rate_limited_per_address() {
    let dir = TempDir::new("http-api-budget");
    let files = credentials(&dir);
    let (password_file, rest) = files.split_once('\n').expect("two parts");
    let (_broker, port) = broker(password_file, rest);
    let good = ["-u", "reader:readpw"];
    for _ in 0..6 {
        assert_eq!(request(port, "GET", "/api/v1/version", &["-u", "reader:bad"]).status, 401);
    }
    // The sixth failure makes the address wait a second: good credentials are not checked.
    assert_eq!(request(port, "GET", "/api/v1/version", &good).status, 401);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(request(port, "GET", "/api/v1/version", &good).status, 200);
}

/// An MQTT client over a raw socket, to see exactly what the broker sends it.
struct RawClient {
    stream: TcpStream,
    version: ProtocolVersion,
    buffer: BytesMut,
}

impl RawClient {
    /// Connects `id` with `version`, and reads the CONNACK.
    fn connect(port: u16, version: ProtocolVersion, id: &'static str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
        let mut client = Self { stream, version, buffer: BytesMut::new() };
        let connect = Packet::Connect(Box::new(Connect::new(version, MqttString::from_static(id))));
        let mut out = BytesMut::new();
        mqtt_codec::encode(&connect, version, u32::MAX, &mut out).expect("encoding CONNECT");
        client.stream.write_all(&out).expect("sending CONNECT");
        assert!(matches!(client.next(), Some(Packet::ConnAck(_))), "CONNACK");
        client
    }

    /// The next packet, or `None` when the broker closed the connection.
    fn next(&mut self) -> Option<Packet> {
        loop {
            if let Some(packet) =
                mqtt_codec::decode(&mut self.buffer, self.version, u32::MAX).expect("decoding")
            {
                return Some(packet);
            }
            let mut chunk = [0; 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(err) => panic!("reading: {err}"),
            }
        }
    }
}

/// Polls `path` until `done` holds for its body, returning it.
fn poll(port: u16, path: &str, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let answer = get(port, path);
        if done(&answer.body) {
            return answer.body;
        }
        assert!(start.elapsed() < COMMAND_DEADLINE, "{path}: {}", answer.body);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn clients_page_and_an_administrator_disconnects_them() {
    let dir = TempDir::new("http-api-clients");
    let files = credentials(&dir);
    let (password_file, rest) = files.split_once('\n').expect("two parts");
    let (broker, port) = broker(&format!("allow_anonymous true\n{password_file}"), rest);
    let mut five = RawClient::connect(broker.port, ProtocolVersion::V5, "c-five");
    let mut three = RawClient::connect(broker.port, ProtocolVersion::V3_1_1, "c-three");
    let _other = RawClient::connect(broker.port, ProtocolVersion::V3_1, "b-other");
    let all = poll(port, "/api/v1/clients", |body| body.contains("\"total\":\t3"));
    let ids: Vec<&str> = all.lines().filter_map(|l| l.trim().strip_prefix("\"id\":\t")).collect();
    assert_eq!(ids, ["\"b-other\",", "\"c-five\",", "\"c-three\","]);
    for field in [
        format!("\"listener\":\t{},", broker.port),
        "\"protocol\":\t\"3.1\",".to_owned(),
        "\"username\":\tnull,".to_owned(),
        "\"address\":\t\"127.0.0.1:".to_owned(),
        "\"keepalive\":\t60,".to_owned(),
        "\"clean_start\":\ttrue,".to_owned(),
    ] {
        assert!(all.contains(&field), "{field} in {all}");
    }
    let page = get(port, "/api/v1/clients?page=2&per_page=2").body;
    assert!(page.contains("\"id\":\t\"c-three\"") && !page.contains("c-five"), "{page}");
    assert!(page.contains("\"page\":\t2,\n\t\"per_page\":\t2,\n\t\"total\":\t3"), "{page}");
    let found = get(port, "/api/v1/clients?search=c-").body;
    assert!(found.contains("\"total\":\t2"), "{found}");
    let one = get(port, "/api/v1/clients/c%2Dfive");
    assert_eq!(one.status, 200);
    assert!(one.body.contains("\"protocol\":\t\"5.0\","), "{}", one.body);
    assert!(one.body.contains("\"subscription_list\":\t[]"), "{}", one.body);
    assert_eq!(get(port, "/api/v1/clients/none").status, 404);

    let admin = ["-u", "admin:adminpw"];
    assert_eq!(request(port, "DELETE", "/api/v1/clients/c-five", &[]).status, 401);
    let deleted = request(port, "DELETE", "/api/v1/clients/c-five", &admin);
    assert_eq!((deleted.status, deleted.header("access-control-allow-origin")), (204, Some("*")));
    match five.next() {
        Some(Packet::Disconnect(disconnect)) => {
            assert_eq!(disconnect.reason, ReasonCode::AdministrativeAction);
        }
        other => panic!("a DISCONNECT 0x98, not {other:?}"),
    }
    assert_eq!(request(port, "DELETE", "/api/v1/clients/c-three", &admin).status, 204);
    assert!(three.next().is_none(), "a v3 client's socket is closed");
    broker.wait_for_log(|line| {
        line.ends_with("Client c-five been disconnected by administrative action.")
    });
    assert_eq!(request(port, "DELETE", "/api/v1/clients/c-three", &admin).status, 404);
}

#[test]
fn pages_are_cut_from_the_whole_list_whichever_shard_holds_each_client() {
    // Ids whose sessions two driver shards (`routers 2`) share out.
    let ids = ["m-1", "m-2", "m-3", "m-4", "m-5", "m-6"];
    let on_shard_0 = ids.iter().filter(|id| mqtt_core::shard_of(id, 2) == 0).count();
    assert!((2..=4).contains(&on_shard_0), "the ids must spread over two shards");
    let (broker, port) = broker("allow_anonymous true\nrouters 2", "");
    let _clients: Vec<RawClient> = ids
        .iter()
        .rev()
        .map(|id| RawClient::connect(broker.port, ProtocolVersion::V5, id))
        .collect();
    poll(port, "/api/v1/clients", |body| body.contains("\"total\":\t6"));
    for per_page in [1, 2, 4, 6] {
        let mut listed = Vec::new();
        for page in 1..=ids.len().div_ceil(per_page) {
            let body = get(port, &format!("/api/v1/clients?page={page}&per_page={per_page}")).body;
            assert!(body.contains("\"total\":\t6"), "{body}");
            let on_page = body.lines().filter_map(|line| line.trim().strip_prefix("\"id\":\t\""));
            listed.extend(on_page.map(|id| id.trim_end_matches("\",").to_owned()));
        }
        assert_eq!(listed, ids, "{per_page} a page");
    }
}

/// Runs `culex_pub` or `culex_sub` against `broker` with `args`, to completion.
fn tool(name: &str, broker: &BrokerProcess, args: &[&str]) {
    let mut command = Command::new(our_bin(name));
    command.args(["-p", &broker.port.to_string()]).args(args);
    let done = run(&mut command, COMMAND_DEADLINE);
    assert_eq!(done.code(), 0, "{name} {args:?}: {}", done.stderr);
}

#[test]
fn subscriptions_retained_messages_and_offline_sessions() {
    let (broker, port) = broker("allow_anonymous true\nsys_interval 0", "");
    let sub = |id: &str, filter: &str| {
        Background::spawn(Command::new(our_bin("culex_sub")).args([
            "-p",
            &broker.port.to_string(),
            "-i",
            id,
            "-q",
            "1",
            "-t",
            filter,
        ]))
    };
    let _a = sub("sub-a", "sensors/#");
    let _b = sub("sub-b", "other/x");
    let subs = poll(port, "/api/v1/subscriptions?topic=sensors", |b| b.contains("\"total\":\t1"));
    assert!(
        subs.contains(
            "\"client_id\":\t\"sub-a\",\n\t\t\t\"filter\":\t\"sensors/#\",\n\t\t\t\"qos\":\t1"
        ),
        "{subs}"
    );
    let all = poll(port, "/api/v1/subscriptions", |b| b.contains("\"total\":\t2"));
    assert!(all.contains("other/x"), "{all}");
    let one = get(port, "/api/v1/clients/sub-a").body;
    assert!(one.contains("\"subscription_list\":\t[{\n\t\t\t\"filter\":\t\"sensors/#\",\n\t\t\t\"qos\":\t1\n\t\t}]"), "{one}");

    let long = "x".repeat(100);
    tool("culex_pub", &broker, &["-r", "-t", "r/long", "-m", &long]);
    tool("culex_pub", &broker, &["-r", "-q", "1", "-t", "r/short", "-m", "hi"]);
    tool("culex_pub", &broker, &["-r", "-t", "s/other", "-m", "no"]);
    let retained = get(port, "/api/v1/retained?prefix=r/&per_page=1").body;
    let preview = format!("\"preview\":\t\"{}\"", "x".repeat(64));
    assert!(retained.contains("\"topic\":\t\"r/long\",\n\t\t\t\"bytes\":\t100,"), "{retained}");
    assert!(retained.contains(&preview) && retained.contains("\"total\":\t2"), "{retained}");
    let second = get(port, "/api/v1/retained?prefix=r/&per_page=1&page=2").body;
    assert!(second.contains("\"qos\":\t1,\n\t\t\t\"preview\":\t\"hi\""), "{second}");

    tool("culex_sub", &broker, &["-i", "sleeper", "-c", "-q", "1", "-t", "q/t", "-E"]);
    tool("culex_pub", &broker, &["-q", "1", "-t", "q/t", "-m", "hello"]);
    let sessions = poll(port, "/api/v1/sessions", |b| b.contains("\"queued\":\t1,"));
    assert!(
        sessions.contains("\"id\":\t\"sleeper\",\n\t\t\t\"username\":\tnull,\n\t\t\t\"queued\":\t1,\n\t\t\t\"queued_bytes\":\t5,\n\t\t\t\"expires_in\":\tnull"),
        "{sessions}"
    );
}

#[test]
fn max_connections_bounds_the_http_api_listener() {
    let (_broker, port) = broker("allow_anonymous true", "max_connections 1");
    let held = TcpStream::connect(("127.0.0.1", port)).expect("the first connection");
    assert!(raw_get(port).is_empty(), "over max_connections: closed unanswered");
    drop(held);
    // The slot comes free once the listener has seen the first connection close.
    let start = Instant::now();
    while raw_get(port).is_empty() {
        assert!(start.elapsed() < COMMAND_DEADLINE, "the slot never came free");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The raw answer to a GET of the version, read to the close (empty when refused).
fn raw_get(port: u16) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    let request = b"GET /api/v1/version HTTP/1.1\r\nHost: culex\r\nConnection: close\r\n\r\n";
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}
