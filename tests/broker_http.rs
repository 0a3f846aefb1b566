//! Plain HTTP on a WebSockets listener, against `culex` and Debian's Mosquitto in the same
//! test, over raw TCP: the files of `http_dir` (redirects, 403/404/405 pages, nothing from
//! outside the directory), the upgrade still working beside them, the
//! `websockets_headers_size` bound on the request head, the `websockets_log_level` lines, and
//! a missing directory.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_tool, run, unused_port,
};

/// Sends `request` to `port` and reads the answer until the broker closes the connection.
fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    // A broker refusing an oversized head may close (and so reset) while it is still being
    // sent; the answer then is empty, which a served request's assertions catch.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    // A reset after a refused head counts as the end of the answer.
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// A directory to serve: `index.html`, `sub/a b.txt`, and a symbolic link out of it.
fn site(dir: &TempDir) -> String {
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("sub")).expect("creating the site");
    std::fs::write(www.join("index.html"), "hello index").expect("writing index.html");
    std::fs::write(www.join("sub/a b.txt"), "abc").expect("writing a file");
    std::fs::write(dir.join("secret"), "outside").expect("writing a file outside");
    std::os::unix::fs::symlink(dir.join("secret"), www.join("link")).expect("symlink");
    www.display().to_string()
}

/// Starts `program` with an MQTT listener and a WebSockets listener serving `www`, with
/// `global` options first; returns it and the WebSockets port.
fn start(program: &Path, www: &str, global: &str) -> (BrokerProcess, u16) {
    let config = |ports: &[u16]| {
        format!(
            "{global}\nlog_type all\nallow_anonymous true\nlistener {} 127.0.0.1\n\
             listener {} 127.0.0.1\nprotocol websockets\nhttp_dir {www}\n",
            ports[0], ports[1]
        )
    };
    let broker = BrokerProcess::start_with(program, 2, config, &[]);
    let port = broker.ports[1];
    (broker, port)
}

/// The libwebsockets error page Mosquitto sends for `status` (over HTTP/1.1).
fn error_page(status: &str) -> String {
    let code = &status[..3];
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: 173\r\n\r\n<html><head>\
         <meta charset=utf-8 http-equiv=\"Content-Language\" content=\"en\"/><link \
         rel=\"stylesheet\" type=\"text/css\" href=\"/error.css\"/></head><body><h1>{code}</h1>\
         </body></html>"
    )
}

#[test]
fn http_dir_serves_files_like_mosquitto() {
    let ok = |body: &str| {
        format!(
            "HTTP/1.0 200 OK\r\nServer: mosquitto\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let cases = [
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", ok("hello index")),
        ("GET /index.html HTTP/1.0\r\n\r\n", ok("hello index")),
        ("GET /sub/a%20b.txt?q=1 HTTP/1.1\r\n\r\n", ok("abc")),
        ("HEAD //sub/../sub/./a%20b.txt HTTP/1.1\r\n\r\n", ok("abc")),
        ("GET /sub?x=1 HTTP/1.1\r\n\r\n", "HTTP/1.0 302 OK\r\nLocation: /sub/\r\n\r\n".into()),
        ("GET /sub/ HTTP/1.1\r\n\r\n", error_page("404 Not Found")),
        ("GET /nope HTTP/1.1\r\n\r\n", error_page("404 Not Found")),
        ("GET /../secret HTTP/1.1\r\n\r\n", error_page("404 Not Found")),
        ("GET /link HTTP/1.1\r\n\r\n", error_page("403 Forbidden")),
        (
            "POST /index.html HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            error_page("405 Method Not Allowed"),
        ),
    ];
    for program in [our_bin("culex"), reference_tool("mosquitto")] {
        let dir = TempDir::new("http-dir");
        let www = site(&dir);
        let (broker, port) = start(&program, &www, "");
        for (request, expected) in &cases {
            let answer = String::from_utf8_lossy(&exchange(port, request.as_bytes()))
                .replace("Server: culex\r\n", "Server: mosquitto\r\n");
            assert_eq!(&answer, expected, "{program:?}: {request:?}");
        }
        let served = format!("http serving file \"{www}/sub/a b.txt\".");
        broker.wait_for_log(|line| line == served);
        // The upgrade still works beside the files.
        let upgrade = exchange_upgrade(port, "mqtt");
        assert!(upgrade.starts_with("HTTP/1.1 101 "), "{program:?}: {upgrade}");
    }
}

/// A WebSocket upgrade for `protocol` on `port`: the broker's status line and headers.
fn exchange_upgrade(port: u16, protocol: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    let request = format!(
        "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("sending the upgrade");
    let mut answer = [0; 512];
    let n = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[test]
fn websockets_headers_size_bounds_the_request_head() {
    let request = |cookie: usize| {
        format!("GET /index.html HTTP/1.1\r\nCookie: {}\r\n\r\n", "a".repeat(cookie))
    };
    for program in [our_bin("culex"), reference_tool("mosquitto")] {
        let dir = TempDir::new("http-head");
        let www = site(&dir);
        let (_small, port) = start(&program, &www, "websockets_headers_size 200");
        let served = exchange(port, request(100).as_bytes());
        assert!(served.starts_with(b"HTTP/1.0 200 OK"), "{program:?}");
        assert_eq!(exchange(port, request(400).as_bytes()), b"", "{program:?}: closed unanswered");
        // The default (libwebsockets' 4096 bytes) lets a 3000-byte cookie through, not 5000.
        let (_default, port) = start(&program, &www, "");
        assert!(exchange(port, request(3000).as_bytes()).starts_with(b"HTTP/1.0 200 OK"));
        assert_eq!(exchange(port, request(5000).as_bytes()), b"", "{program:?}");
    }
}

#[test]
fn websockets_log_level_errors_and_notices() {
    let big_head = format!("GET / HTTP/1.1\r\nCookie: {}\r\n\r\n", "a".repeat(5000));
    let lines = ["No supported protocol \"chat\"", "Ran out of header data space"];
    for program in [our_bin("culex"), reference_tool("mosquitto")] {
        let dir = TempDir::new("http-log-level");
        let www = site(&dir);
        for (level, logged) in [("0", false), ("5", true)] {
            let (broker, port) = start(&program, &www, &format!("websockets_log_level {level}"));
            assert!(!exchange_upgrade(port, "chat").starts_with("HTTP/1.1 101"), "{program:?}");
            assert_eq!(exchange(port, big_head.as_bytes()), b"", "{program:?}");
            if logged {
                for wanted in lines {
                    broker.wait_for_log(|line| line == wanted);
                }
            } else {
                // The served file's debug line comes after both: then nothing else will.
                exchange(port, b"GET / HTTP/1.1\r\n\r\n");
                broker.wait_for_log(|line| line.starts_with("http serving file"));
                let log = broker.log_lines();
                assert!(!log.iter().any(|line| lines.contains(&line.as_str())), "{log:?}");
            }
        }
    }
}

#[test]
fn a_missing_http_dir_stops_the_broker() {
    let dir = TempDir::new("http-missing");
    let missing = dir.join("missing").display().to_string();
    let port = unused_port();
    let config = dir.join("broker.conf");
    let text = format!(
        "listener {} 127.0.0.1\nlistener {port} 127.0.0.1\nprotocol websockets\nhttp_dir {missing}\n",
        unused_port()
    );
    std::fs::write(&config, text).expect("writing config");
    for program in [our_bin("culex"), reference_tool("mosquitto")] {
        let done = run(Command::new(&program).arg("-c").arg(&config), COMMAND_DEADLINE);
        assert_eq!(done.code(), 1, "{program:?}: {}", done.stderr);
        let tail: Vec<&str> = done.stderr.lines().rev().take(2).collect();
        assert_eq!(
            tail.iter().rev().map(|line| crate::support::strip_timestamp(line)).collect::<Vec<_>>(),
            [
                format!("Error: Unable to open http dir \"{missing}\"."),
                format!("Error: Unable to create websockets listener on port {port}."),
            ],
            "{program:?}"
        );
    }
}
