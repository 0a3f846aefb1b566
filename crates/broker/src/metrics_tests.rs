//! Tests of the metrics' text: names, labels and values (Prometheus's own parser checks it in
//! the e2e test `tests/broker_metrics.rs`).

use std::time::Duration;

use mqtt_codec::{ProtocolVersion, QoS, ReasonCode};
use mqtt_core::DisconnectReason;

use super::*;

/// The value of the sample `name` (with its labels, as written) in `text`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

#[test]
fn every_family_has_help_type_and_conventional_names() {
    let text = Metrics::new(vec!["1883".into()]).encode();
    for family in [
        "# TYPE culex_messages_received_total counter",
        "# TYPE culex_messages_sent_total counter",
        "# TYPE culex_messages_dropped_total counter",
        "# TYPE culex_publish_received_total counter",
        "# TYPE culex_publish_sent_total counter",
        "# TYPE culex_received_bytes_total counter",
        "# TYPE culex_sent_bytes_total counter",
        "# TYPE culex_publish_payload_received_bytes_total counter",
        "# TYPE culex_publish_payload_sent_bytes_total counter",
        "# TYPE culex_retained_messages gauge",
        "# TYPE culex_subscriptions gauge",
        "# TYPE culex_sessions gauge",
        "# TYPE culex_stored_messages gauge",
        "# TYPE culex_stored_messages_payload_bytes gauge",
        "# TYPE culex_queued_messages gauge",
        "# TYPE culex_queued_messages_payload_bytes gauge",
        "# TYPE culex_journal_sync_duration_seconds histogram",
        "# TYPE culex_driver_event_batch_duration_seconds histogram",
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_open_fds gauge",
    ] {
        assert!(text.contains(family), "{family} missing from\n{text}");
        let name = family.split(' ').nth(2).expect("a name");
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP");
    }
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    assert_eq!(sample(&text, "culex_messages_received_total{qos=\"2\"}"), Some(0.0));
    assert_eq!(sample(&text, "culex_messages_dropped_total{reason=\"queue_full\"}"), Some(0.0));
    assert!(sample(&text, "process_open_fds").is_some_and(|fds| fds >= 3.0), "{text}");
    assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|b| b > 0.0), "{text}");
}

#[test]
fn values_move_with_events() {
    let metrics = Metrics::new(vec!["1883".into(), "/run/culex.sock".into()]);
    let before = metrics.encode();
    metrics.client_connected(1, ProtocolVersion::V5);
    metrics.client_connected(0, ProtocolVersion::V3_1_1);
    let mut tally = Tally::default();
    tally.connack(ReasonCode::Success);
    tally.connack(ReasonCode::NotAuthorized);
    tally.publish_in(QoS::AtLeastOnce);
    tally.publish_out(QoS::ExactlyOnce);
    tally.publish_out(QoS::ExactlyOnce);
    tally.closed(&DisconnectReason::KeepAliveTimeout);
    tally.driver_step(Duration::from_micros(20));
    tally.driver_step(Duration::from_millis(2));
    metrics.client_disconnected(0, ProtocolVersion::V3_1_1);
    metrics.journal_synced(Duration::from_micros(300));
    let pending = metrics.encode();
    assert_eq!(sample(&pending, "culex_messages_received_total{qos=\"1\"}"), Some(0.0));
    metrics.add(&mut tally);
    let after = metrics.encode();
    // The flush emptied the tally: a second one adds nothing (to culex's own samples: the
    // process_* ones are read from /proc at each scrape and move on their own).
    metrics.add(&mut tally);
    let culex_samples = |text: &str| -> Vec<String> {
        text.lines().filter(|line| line.starts_with("culex_")).map(str::to_owned).collect()
    };
    assert_eq!(culex_samples(&metrics.encode()), culex_samples(&after));
    for family in [
        "# TYPE culex_clients_connected gauge",
        "# TYPE culex_connects_total counter",
        "# TYPE culex_disconnects_total counter",
    ] {
        assert!(after.contains(family), "{family} missing from\n{after}");
    }

    let connected = "culex_clients_connected{listener=\"/run/culex.sock\",protocol=\"5.0\"}";
    for (name, was, is) in [
        (connected, None, Some(1.0)),
        ("culex_clients_connected{listener=\"1883\",protocol=\"3.1.1\"}", None, Some(0.0)),
        ("culex_connects_total{reason=\"success\"}", None, Some(1.0)),
        ("culex_connects_total{reason=\"not_authorized\"}", None, Some(1.0)),
        ("culex_disconnects_total{reason=\"keepalive_timeout\"}", None, Some(1.0)),
        ("culex_messages_received_total{qos=\"1\"}", Some(0.0), Some(1.0)),
        ("culex_messages_sent_total{qos=\"2\"}", Some(0.0), Some(2.0)),
        ("culex_journal_sync_duration_seconds_count", Some(0.0), Some(1.0)),
        ("culex_driver_event_batch_duration_seconds_count", Some(0.0), Some(2.0)),
        ("culex_driver_event_batch_duration_seconds_sum", Some(0.0), Some(0.00202)),
        ("culex_driver_event_batch_duration_seconds_bucket{le=\"0.00002\"}", Some(0.0), Some(1.0)),
        ("culex_driver_event_batch_duration_seconds_bucket{le=\"0.00128\"}", Some(0.0), Some(1.0)),
        ("culex_driver_event_batch_duration_seconds_bucket{le=\"0.00256\"}", Some(0.0), Some(2.0)),
        ("culex_driver_event_batch_duration_seconds_bucket{le=\"+Inf\"}", Some(0.0), Some(2.0)),
    ] {
        assert_eq!((sample(&before, name), sample(&after, name)), (was, is), "{name}\n{after}");
    }
}

#[test]
fn the_tallies_of_several_drivers_add_up() {
    let metrics = Metrics::new(vec!["1883".into()]);
    let mut tallies = [Tally::default(), Tally::default()];
    for (shard, tally) in tallies.iter_mut().enumerate() {
        metrics.client_connected(0, ProtocolVersion::V5);
        tally.connack(ReasonCode::Success);
        tally.publish_in(QoS::AtLeastOnce);
        for _ in 0..=shard {
            tally.publish_out(QoS::AtMostOnce);
        }
        tally.closed(&DisconnectReason::PeerClosed);
        tally.driver_step(Duration::from_micros(20));
    }
    metrics.client_disconnected(0, ProtocolVersion::V5);
    for tally in &mut tallies {
        metrics.add(tally);
    }
    let text = metrics.encode();
    for (name, value) in [
        ("culex_clients_connected{listener=\"1883\",protocol=\"5.0\"}", 1.0),
        ("culex_connects_total{reason=\"success\"}", 2.0),
        ("culex_messages_received_total{qos=\"1\"}", 2.0),
        ("culex_messages_sent_total{qos=\"0\"}", 3.0),
        ("culex_disconnects_total{reason=\"peer_closed\"}", 2.0),
        ("culex_driver_event_batch_duration_seconds_count", 2.0),
    ] {
        assert_eq!(sample(&text, name), Some(value), "{name}\n{text}");
    }
}

#[test]
fn the_copies_of_several_cores_add_up_and_the_retained_replica_counts_once() {
    use std::time::Instant;

    use mqtt_core::{Broker, ShardId};

    let metrics = Metrics::new(vec!["1883".into()]);
    let now = Instant::now();
    let mut shards: Vec<(Broker, Tally)> = (0..2)
        .map(|index| {
            let shard = ShardId { index, count: 2 };
            (Broker::new_shard(mqtt_core::Config::default(), [0; 32], shard), Tally::default())
        })
        .collect();
    let flush = |shards: &mut Vec<(Broker, Tally)>| {
        for (broker, tally) in shards.iter_mut() {
            metrics.mirror(broker, tally);
            metrics.mirror_store(broker, tally);
        }
        metrics.encode()
    };
    // Each replica of the retained store sets (or, empty, clears) the message.
    let retain = |broker: &mut Broker, payload: &'static str| {
        let topic = mqtt_codec::TopicName::new("kept").expect("a valid topic");
        let mut publish = mqtt_codec::Publish::new(topic, payload.into());
        publish.retain = true;
        broker.publish(publish, now);
    };
    for (index, (broker, _)) in shards.iter_mut().enumerate() {
        broker.count_bytes(100 << index, 10);
        retain(broker, "x");
    }
    let first = flush(&mut shards);
    // Nothing moved: the next copies add nothing.
    let again = flush(&mut shards);
    shards[1].0.count_bytes(5, 0);
    let later = flush(&mut shards);
    for (broker, _) in &mut shards {
        retain(broker, "");
    }
    let cleared = flush(&mut shards);
    for (name, values) in [
        ("culex_received_bytes_total", [300.0, 300.0, 305.0, 305.0]),
        ("culex_sent_bytes_total", [20.0, 20.0, 20.0, 20.0]),
        ("culex_retained_messages", [1.0, 1.0, 1.0, 0.0]),
    ] {
        let read =
            [&first, &again, &later, &cleared].map(|text| sample(text, name).unwrap_or(-1.0));
        assert_eq!(read, values, "{name}\n{cleared}");
    }
}

#[test]
fn proc_stat_fields_count_after_the_command_name() {
    // A command name with spaces and a parenthesis; utime 150 and stime 50 ticks, rss 3 pages.
    let stat = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0 100 4096 3 0";
    let stats = parse_stat(stat, Some(100), Some(4096));
    assert_eq!(
        stats,
        ProcessStats { cpu_seconds: Some(2.0), resident_bytes: Some(12288), open_fds: None }
    );
    assert_eq!(parse_stat("garbage", Some(100), Some(4096)), ProcessStats::default());
    assert_eq!(parse_stat(stat, None, None), ProcessStats::default());
}

#[test]
fn openmetrics_text_becomes_the_prometheus_format() {
    let open_metrics = "# HELP a_bytes Bytes.\n# TYPE a_bytes counter\n# UNIT a_bytes bytes\n\
        a_bytes_total 3\n# HELP b Gauge.\n# TYPE b gauge\nb 1\n# EOF\n";
    assert_eq!(
        prometheus_text(open_metrics),
        "# HELP a_bytes_total Bytes.\n# TYPE a_bytes_total counter\na_bytes_total 3\n\
         # HELP b Gauge.\n# TYPE b gauge\nb 1\n"
    );
}

#[test]
fn reason_labels_are_snake_case() {
    assert_eq!(snake_case("NotAuthorized"), "not_authorized");
    assert_eq!(snake_case("BadUserNameOrPassword"), "bad_user_name_or_password");
    assert_eq!(disconnect_label(&DisconnectReason::Io("x".into())), "io_error");
    assert_eq!(drop_label(DropCause::Expired), "expired");
}
