//! Smoke tests: tiny, bounded scenarios against a culex broker started in this process (from
//! the same configuration text the benchmark gives the real binary) and against the sink, so
//! CI proves the tool works end to end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use culex_broker::config;
use culex_broker::listener::Listener;
use culex_broker::log::Logger;
use mqtt_codec::QoS;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::timeout;

use crate::cores;
use crate::cpus::Placement;
use crate::idle;
use crate::load::{LoadSpec, Shape, run_load};
use crate::plan::{Case, Plan};
use crate::procfs;
use crate::sink;
use crate::target::{BrokerKind, CONFIG};

const DEADLINE: Duration = Duration::from_secs(20);

/// Starts culex in this process with the benchmark's configuration; dropping the sender stops it.
pub(crate) fn start_broker() -> (SocketAddr, oneshot::Sender<()>) {
    let config = config::parse(CONFIG.replace("PORT", "1"), "bench.conf")
        .expect("the benchmark's own configuration parses");
    let settings = config.listeners[0].clone();
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap().with_settings(settings);
    let address = listener.local_addr().unwrap();
    let logger = Arc::new(Logger::from_config(&config, None));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(culex_broker::run(vec![listener], config, logger, async move {
        let _ = stopped.await;
    }));
    (address, stop)
}

fn tiny(case: &Case) -> LoadSpec {
    let plan = Plan {
        duration: Duration::from_millis(400),
        warmup: Duration::from_millis(100),
        drain: Duration::from_secs(3),
        ..Plan::quick()
    };
    case.spec(&plan, format!("smoke/{}", crate::payload::now_ns()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_qos_and_shape_delivers_everything_through_culex() {
    let (broker, _stop) = start_broker();
    for (shape, publishers, subscribers, qos) in [
        (Shape::Pairs, 2, 2, QoS::AtLeastOnce),
        (Shape::OneTopic, 3, 1, QoS::ExactlyOnce),
        (Shape::OneTopic, 1, 3, QoS::AtMostOnce),
    ] {
        let case = Case { shape, publishers, subscribers, qos, payload: 64 };
        let outcome =
            timeout(DEADLINE, run_load(broker, None, &tiny(&case))).await.unwrap().unwrap();
        assert!(outcome.sent > 0 && outcome.delivered_rate > 0.0, "{}: {outcome:?}", case.name());
        assert_eq!(outcome.received, outcome.expected, "{}: {outcome:?}", case.name());
        assert_eq!((outcome.lost, outcome.duplicates), (0, 0), "{}: {outcome:?}", case.name());
        assert_eq!(outcome.unacknowledged, 0, "{}: {outcome:?}", case.name());
        assert!(outcome.window_seconds > 0.0, "{}: {outcome:?}", case.name());
        assert!(outcome.generator_cores() > 0.0, "{}: {outcome:?}", case.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_fills_a_row_of_the_cores_table() {
    let (broker, _stop) = start_broker();
    // The broker runs in this process, so its CPU time and memory are this process's.
    let pid = std::process::id();
    let case = Case {
        shape: Shape::Pairs,
        publishers: 2,
        subscribers: 2,
        qos: QoS::AtLeastOnce,
        payload: 64,
    };
    procfs::reset_peak_rss(pid).unwrap();
    let outcome =
        timeout(DEADLINE, run_load(broker, Some(pid), &tiny(&case))).await.unwrap().unwrap();
    let rss_now = procfs::rss(pid).unwrap();
    let peak_rss = procfs::peak_rss(pid).unwrap();
    let mut table = cores::Table::default();
    table.record(&case.name(), BrokerKind::Culex, 1, &outcome, peak_rss);
    let placements = Placement::for_counts(&[0, 1], &[1]).unwrap();
    let text = cores::markdown(&table, &placements);
    let row = text.lines().find(|line| line.starts_with("| 2 pairs, QoS 1, 64 B | culex | 1 |"));
    let cells: Vec<&str> = row.expect(&text).split(" | ").collect();
    assert!(cells.iter().all(|cell| !cell.contains('—')), "{text}");
    assert!(outcome.broker_cpu_per_message().is_some_and(|us| us > 0.0), "{outcome:?}");
    assert!(peak_rss >= rss_now, "{peak_rss} < {rss_now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_latency_run_keeps_its_rate_and_samples_every_message() {
    let (broker, _stop) = start_broker();
    let case = Case {
        shape: Shape::Pairs,
        publishers: 1,
        subscribers: 1,
        qos: QoS::AtLeastOnce,
        payload: 64,
    };
    let spec = LoadSpec { rate: Some(2_000), record_latency: true, ..tiny(&case) };
    let outcome = timeout(DEADLINE, run_load(broker, None, &spec)).await.unwrap().unwrap();
    assert!((1_000.0..3_000.0).contains(&outcome.published_rate), "{outcome:?}");
    assert!(!outcome.latencies_ns.is_empty());
    assert!(outcome.latencies_ns.is_sorted());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_opened_and_measured() {
    let (broker, _stop) = start_broker();
    // The broker runs in this process, so its memory is this process's.
    let outcome =
        timeout(DEADLINE, idle::run_idle(broker, std::process::id(), 50)).await.unwrap().unwrap();
    assert!(outcome.connect_rate > 0.0);
    assert!(outcome.rss_per_connection.is_finite());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_publishes_into_the_sink_and_reads_from_the_source() {
    let sink_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let source_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (sink_address, source_address) =
        (sink_listener.local_addr().unwrap(), source_listener.local_addr().unwrap());
    sink::spawn(sink_listener, source_listener, 64);
    let case = Case {
        shape: Shape::Pairs,
        publishers: 2,
        subscribers: 0,
        qos: QoS::AtMostOnce,
        payload: 64,
    };
    let spec = LoadSpec { window: None, ..tiny(&case) };
    let published = timeout(DEADLINE, run_load(sink_address, None, &spec)).await.unwrap().unwrap();
    assert!(published.published_rate > 0.0, "{published:?}");
    let spec = LoadSpec { publishers: 0, subscribers: 1, shape: Shape::OneTopic, ..spec };
    let received = timeout(DEADLINE, run_load(source_address, None, &spec)).await.unwrap().unwrap();
    assert!(received.delivered_rate > 0.0, "{received:?}");
    assert_eq!((received.lost, received.duplicates), (0, 0));
}
