//! `GET /metrics` on a `protocol http_api` listener: the text passes `promtool check metrics`
//! (Prometheus's own parser and linter), its values move with MQTT traffic (a moment after it:
//! the driver flushes its counts ten times a second), and where `$SYS` reports the same
//! number, both agree.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::broker_tools::{LOG_ALL, mosquitto_sub, publish, wait_subscribed};
use crate::support::{Background, BrokerProcess, COMMAND_DEADLINE, our_bin, run};

/// culex with an MQTT listener (`ports[0]`) and an anonymous HTTP API listener (`ports[1]`),
/// publishing `$SYS` every second.
fn broker() -> BrokerProcess {
    BrokerProcess::start_with(
        &our_bin("culex"),
        2,
        |ports| {
            format!(
                "allow_anonymous true\nsys_interval 1\n{LOG_ALL}\n\
                 listener {} 127.0.0.1\nlistener {} 127.0.0.1\nprotocol http_api\n",
                ports[0], ports[1]
            )
        },
        &[],
    )
}

/// `GET path` on 127.0.0.1:`port`: the status line's code, the Content-Type and the body.
fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).expect("sets a timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads the response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status");
    let content_type = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-type: ").map(String::from))
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// The samples of a scrape: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Scrapes `/metrics`, checks it with `promtool check metrics` and returns its samples.
///
/// # Panics
/// When promtool refuses the text, or is missing under `CI=true`.
fn scrape(port: u16) -> BTreeMap<String, f64> {
    let (status, content_type, text) = get(port, "/metrics");
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    promtool_check(&text);
    samples(&text)
}

/// Scrapes until `settled` holds for the samples (the driver copies its counts into the metrics
/// a moment after it handled the traffic), and returns them.
///
/// # Panics
/// When they do not settle within [`COMMAND_DEADLINE`].
fn scrape_until(
    port: u16,
    settled: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let start = Instant::now();
    loop {
        let samples = scrape(port);
        if settled(&samples) {
            return samples;
        }
        assert!(start.elapsed() < COMMAND_DEADLINE, "the metrics never settled: {samples:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn promtool_check(text: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "promtool is missing: install Debian's prometheus package (scripts/install-test-deps.sh)"
        );
        eprintln!("promtool is missing (Debian's prometheus package): check skipped");
        return;
    };
    child.stdin.take().expect("piped").write_all(text.as_bytes()).expect("writes");
    let start = Instant::now();
    while child.try_wait().expect("waits").is_none() {
        assert!(start.elapsed() < COMMAND_DEADLINE, "promtool hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    assert!(
        output.status.success(),
        "promtool check metrics refuses the text: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The retained `$SYS` values of `topics`, as numbers.
fn sys_values(broker: &BrokerProcess, topics: &[&str]) -> BTreeMap<String, f64> {
    let mut sub = mosquitto_sub(broker);
    sub.args(["-v", "-C", &topics.len().to_string()]);
    for topic in topics {
        sub.args(["-t", topic]);
    }
    let done = run(&mut sub, COMMAND_DEADLINE);
    assert_eq!(done.code(), 0, "{}", done.stderr);
    done.stdout
        .lines()
        .filter_map(|line| {
            let (topic, value) = line.rsplit_once(' ')?;
            Some((topic.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn metrics_parse_move_with_traffic_and_agree_with_sys() {
    let broker = broker();
    let http = broker.ports[1];
    let before = scrape(http);
    assert_eq!(before.get("culex_messages_received_total{qos=\"1\"}"), Some(&0.0), "{before:?}");

    let sub = Background::spawn(
        mosquitto_sub(&broker).args(["-i", "msub", "-q", "2", "-t", "m/#", "-C", "3"]),
    );
    wait_subscribed(&broker, "msub", "m/#");
    for (qos, retain) in [("0", false), ("1", false), ("2", true)] {
        let mut args = vec!["-q", qos, "-t", "m/x", "-m", "hello"];
        if retain {
            args.push("-r");
        }
        publish(&broker, &args);
    }
    assert!(sub.wait().success());
    let after = scrape_until(http, |samples| {
        samples.get("culex_messages_received_total{qos=\"2\"}") == Some(&1.0)
            && samples
                .get("culex_disconnects_total{reason=\"client_disconnected\"}")
                .is_some_and(|&closed| closed >= 4.0)
    });
    let value = |samples: &BTreeMap<String, f64>, name: &str| {
        *samples.get(name).unwrap_or_else(|| panic!("no {name} in {samples:#?}"))
    };
    for qos in 0..3 {
        let name = format!("culex_messages_received_total{{qos=\"{qos}\"}}");
        assert_eq!(value(&after, &name) - value(&before, &name), 1.0, "{name}");
        let name = format!("culex_messages_sent_total{{qos=\"{qos}\"}}");
        assert!(value(&after, &name) > value(&before, &name), "{name}: {after:#?}");
    }
    for moved in
        ["culex_received_bytes_total", "culex_sent_bytes_total", "culex_publish_received_total"]
    {
        assert!(value(&after, moved) > value(&before, moved), "{moved}");
    }
    assert!(value(&after, "culex_connects_total{reason=\"success\"}") >= 4.0, "{after:#?}");
    assert!(
        value(&after, "culex_disconnects_total{reason=\"client_disconnected\"}") >= 4.0,
        "{after:#?}"
    );
    assert!(value(&after, "culex_driver_event_batch_duration_seconds_count") > 0.0);
    assert!(
        value(&after, "process_open_fds") > 0.0
            && value(&after, "process_resident_memory_bytes") > 0.0
    );

    // A persistent session that went away: what is published for it waits in its queue.
    let asleep = run(
        mosquitto_sub(&broker).args(["-i", "qsleep", "-c", "-q", "1", "-t", "q/#", "-E"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(asleep.code(), 0, "{}", asleep.stderr);
    for _ in 0..2 {
        publish(&broker, &["-q", "1", "-t", "q/x", "-m", "hello"]);
    }

    // Let a `$SYS` update pass after the traffic, then read both: the same counts.
    std::thread::sleep(Duration::from_millis(2500));
    let received = "$SYS/broker/publish/messages/received";
    let retained = "$SYS/broker/retained messages/count";
    let dropped = "$SYS/broker/publish/messages/dropped";
    let sys = sys_values(&broker, &[received, retained, dropped]);
    let now = scrape(http);
    let qos_sum: f64 = (0..3)
        .map(|qos| value(&now, &format!("culex_messages_received_total{{qos=\"{qos}\"}}")))
        .sum();
    let dropped_sum: f64 = now
        .iter()
        .filter(|(name, _)| name.starts_with("culex_messages_dropped_total{"))
        .map(|(_, value)| value)
        .sum();
    assert_eq!(sys.get(received), Some(&value(&now, "culex_publish_received_total")), "{sys:?}");
    assert_eq!(sys.get(received), Some(&qos_sum));
    assert_eq!(sys.get(retained), Some(&value(&now, "culex_retained_messages")), "{sys:?}");
    assert_eq!(sys.get(dropped), Some(&dropped_sum), "{sys:?}");
    // Refreshed at most once a second: the `$SYS` wait above is longer.
    assert_eq!(value(&now, "culex_queued_messages"), 2.0, "{now:#?}");
    assert_eq!(value(&now, "culex_queued_messages_payload_bytes"), 10.0, "{now:#?}");
}
