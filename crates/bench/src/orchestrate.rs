//! A whole benchmark run: fresh brokers each round, every scenario run against culex and
//! mosquitto back to back (A B in even rounds, B A in odd ones), failures recorded rather than
//! fatal, then the tables on stdout and `results.md` + `throughput.svg` in the output folder.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use mqtt_codec::QoS;

use crate::cores;
use crate::cpus::{self, Placement};
use crate::durable;
use crate::idle;
use crate::load::{self, GENERATOR_WORKERS, LoadOutcome, LoadSpec, Shape};
use crate::machine;
use crate::plan::{self, Plan};
use crate::procfs;
use crate::report;
use crate::results::{Results, Row, Target};
use crate::stats::percentile;
use crate::svg;
use crate::target::{BrokerKind, CONFIG, RunningBroker, RunningSink};
use crate::tools;

const THROUGHPUT: &str = "Throughput: delivered msg/s, end to end";
const CPU: &str = "Broker CPU per delivered message (µs/msg = CPU seconds per million messages)";
const LATENCY: &str = "Latency at a fixed 10k msg/s";
const MEMORY: &str = "Memory and connections";
const START: &str = "One publish from a fresh process (culex_pub vs mosquitto_pub)";
const PEAK: &str = "Broker peak resident memory (VmHWM) in each throughput run";

/// The executables a run uses.
#[derive(Clone, Debug)]
pub(crate) struct Paths {
    pub(crate) culex: PathBuf,
    pub(crate) culex_pub: PathBuf,
    /// `None` when Mosquitto is not installed: culex is measured alone.
    pub(crate) mosquitto: Option<PathBuf>,
    pub(crate) mosquitto_pub: Option<PathBuf>,
}

impl Paths {
    /// The brokers in this round's order.
    fn order(&self, round: usize) -> Vec<BrokerKind> {
        let mut order = vec![BrokerKind::Culex];
        if self.mosquitto.is_some() {
            order.push(BrokerKind::Mosquitto);
        }
        if round % 2 == 1 {
            order.reverse();
        }
        order
    }

    fn broker(&self, kind: BrokerKind) -> Option<&Path> {
        match kind {
            BrokerKind::Culex => Some(&self.culex),
            BrokerKind::Mosquitto => self.mosquitto.as_deref(),
        }
    }

    fn publisher(&self, kind: BrokerKind) -> Option<&Path> {
        match kind {
            BrokerKind::Culex => Some(&self.culex_pub),
            BrokerKind::Mosquitto => self.mosquitto_pub.as_deref(),
        }
    }
}

/// Runs `plan` and writes the results to `out`; `command` is quoted in the results header.
pub(crate) fn run(plan: &Plan, paths: &Paths, out: &Path, command: &str) -> Result<()> {
    check_file_limit(plan.idle_connections)?;
    let mut session = Session::new(plan, paths)?;
    let started_at = machine::utc_now();
    let load_before = machine::load_average();
    for round in 0..plan.rounds {
        eprintln!("culex-bench: round {} of {}", round + 1, plan.rounds);
        session.round(round)?;
    }
    let durable = plan.durable.then(|| {
        let brokers =
            durable::Brokers { culex: &paths.culex, mosquitto: paths.mosquitto.as_deref() };
        let table = durable::run(&session.runtime, plan, brokers, &session.workdir);
        durable::markdown(&table, plan.startup_messages)
    });
    let load_after = machine::load_average();
    let mut tables = report::tables(&session.results);
    tables.push_str(durable.as_deref().unwrap_or_default());
    let header = header(plan, paths, command, &started_at, &load_before, &load_after);
    let results_path = write_results(out, &header, &tables)?;
    let rows: Vec<&Row> =
        session.results.rows.iter().filter(|row| row.section == THROUGHPUT).collect();
    let svg_path = out.join("throughput.svg");
    let title = "Delivered msg/s (median, whisker = min–max over rounds)";
    fs::write(&svg_path, svg::bar_chart(title, &rows))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    eprintln!("culex-bench: wrote {} and {}", results_path.display(), svg_path.display());
    let _ = fs::remove_dir_all(&session.workdir);
    Ok(())
}

/// `--cores`: the throughput scenarios of `plan` with the brokers allowed each of `counts`
/// CPUs in turn (the load generator moved onto the others), then the table by cores in
/// `results.md`.
pub(crate) fn run_cores(
    plan: &Plan,
    paths: &Paths,
    out: &Path,
    command: &str,
    counts: &[usize],
) -> Result<()> {
    let placements = Placement::for_counts(&cpus::allowed()?, counts)?;
    let mut session = Session::new(plan, paths)?;
    let started_at = machine::utc_now();
    let load_before = machine::load_average();
    let mut table = cores::Table::default();
    for placement in &placements {
        cpus::pin_process(std::process::id(), &placement.generator)?;
        session.broker_cpus = Some(placement.broker.clone());
        for round in 0..plan.rounds {
            eprintln!(
                "culex-bench: brokers on {} of {} CPUs, round {} of {}",
                placement.cores(),
                placements.last().map_or(0, Placement::cores),
                round + 1,
                plan.rounds
            );
            session.cores_round(round, placement.cores(), &mut table)?;
        }
    }
    let load_after = machine::load_average();
    let mut tables = cores::markdown(&table, &placements);
    report::failures_section(&mut tables, "Failed measurements", &session.results.failures);
    let header = header(plan, paths, command, &started_at, &load_before, &load_after);
    let results_path = write_results(out, &header, &tables)?;
    eprintln!("culex-bench: wrote {}", results_path.display());
    let _ = fs::remove_dir_all(&session.workdir);
    Ok(())
}

/// Prints `tables` and writes them under `header` to `results.md` in `out`; returns its path.
fn write_results(out: &Path, header: &str, tables: &str) -> Result<PathBuf> {
    println!("{tables}");
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("results.md");
    fs::write(&path, format!("{header}\n{tables}"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// State carried through the rounds.
struct Session<'a> {
    runtime: tokio::runtime::Runtime,
    plan: &'a Plan,
    paths: &'a Paths,
    workdir: PathBuf,
    results: Results,
    /// The CPUs brokers are started on (`--cores`); `None`: every CPU.
    broker_cpus: Option<Vec<usize>>,
}

impl<'a> Session<'a> {
    /// The tokio runtime of the load generator and a fresh work folder.
    fn new(plan: &'a Plan, paths: &'a Paths) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(GENERATOR_WORKERS)
            .enable_all()
            .build()
            .context("starting the tokio runtime")?;
        let workdir = std::env::temp_dir().join(format!("culex-bench-{}", std::process::id()));
        fs::create_dir_all(&workdir).with_context(|| format!("creating {}", workdir.display()))?;
        Ok(Self { runtime, plan, paths, workdir, results: Results::default(), broker_cpus: None })
    }

    /// Starts a fresh `kind` broker, on `broker_cpus` if set.
    fn start(&self, kind: BrokerKind) -> Result<RunningBroker> {
        let exe = self.paths.broker(kind).context("broker path")?;
        match &self.broker_cpus {
            Some(cpus) => RunningBroker::start_on(kind, exe, &self.workdir, cpus),
            None => RunningBroker::start(kind, exe, &self.workdir),
        }
    }

    fn round(&mut self, round: usize) -> Result<()> {
        let order = self.paths.order(round);
        let mut brokers = Vec::new();
        for &kind in &order {
            let broker = self.start(kind)?;
            // "Right after start": once the port answers and the process has settled.
            std::thread::sleep(Duration::from_millis(200));
            let rss = broker.rss()?;
            let target = Some(Target::MaxRatio(1.0));
            self.results.record(
                (MEMORY, "idle RSS right after start", "B"),
                target,
                kind,
                rss as f64,
            );
            brokers.push(broker);
        }
        for &payload in &self.plan.sink_payloads {
            self.sink_capacity(round, payload);
        }
        if self.plan.idle_connections > 0 {
            for broker in &mut brokers {
                self.idle(round, broker);
            }
        }
        if self.plan.pub_runs > 0 {
            for broker in &mut brokers {
                self.pub_wall(round, broker);
            }
        }
        for &qos in &self.plan.latency {
            for broker in &mut brokers {
                self.latency(round, broker, qos);
            }
        }
        for case in &self.plan.throughput {
            for broker in &mut brokers {
                self.throughput(round, broker, case);
            }
        }
        Ok(())
    }

    /// One round of `--cores`: fresh brokers on `broker_cpus`, every throughput scenario.
    fn cores_round(&mut self, round: usize, cores: usize, table: &mut cores::Table) -> Result<()> {
        let mut brokers = Vec::new();
        for kind in self.paths.order(round) {
            brokers.push(self.start(kind)?);
        }
        for case in &self.plan.throughput {
            for broker in &mut brokers {
                if let Some((outcome, peak_rss)) = self.measure_throughput(round, broker, case) {
                    table.record(&case.name(), broker.kind, cores, &outcome, peak_rss);
                }
            }
        }
        Ok(())
    }

    /// Runs `measure`; on failure records it, and restarts the broker if it died.
    fn attempt<T>(
        &mut self,
        round: usize,
        broker: &mut RunningBroker,
        scenario: &str,
        measure: impl FnOnce(&mut Self, &RunningBroker) -> Result<T>,
    ) -> Option<T> {
        let result = measure(self, broker);
        let result = result.and_then(|value| broker.check_alive().map(|()| value));
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                let line =
                    format!("round {}, {}, {scenario}: {err:#}", round + 1, broker.kind.name());
                eprintln!("culex-bench: FAILED {line}");
                self.results.failures.push(line);
                if broker.check_alive().is_err() {
                    if let Ok(fresh) = self.start(broker.kind) {
                        *broker = fresh;
                    }
                }
                None
            }
        }
    }

    fn sink_capacity(&mut self, round: usize, payload: usize) {
        let size = plan::payload_name(payload);
        let result = (|| -> Result<(f64, f64)> {
            let sink = RunningSink::start(payload)?;
            let mut spec = LoadSpec {
                shape: Shape::Pairs,
                publishers: 16,
                subscribers: 0,
                qos: QoS::AtMostOnce,
                payload,
                duration: self.plan.duration,
                warmup: self.plan.warmup,
                rate: None,
                window: None,
                record_latency: false,
                persistent_subscribers: false,
                topic_prefix: "sink".into(),
                drain: self.plan.drain,
            };
            let published = self.runtime.block_on(load::run_load(sink.sink, None, &spec))?;
            spec.publishers = 0;
            spec.subscribers = 1;
            spec.shape = Shape::OneTopic;
            let received = self.runtime.block_on(load::run_load(sink.source, None, &spec))?;
            Ok((published.published_rate, received.delivered_rate))
        })();
        match result {
            Ok((published, received)) => {
                eprintln!(
                    "  sink {size}: publish {published:.0} msg/s, receive {received:.0} msg/s"
                );
                self.results
                    .record_capacity(&format!("16 publishers → sink, QoS 0, {size}"), published);
                self.results
                    .record_capacity(&format!("source → 1 subscriber, QoS 0, {size}"), received);
            }
            Err(err) => {
                self.results.failures.push(format!("round {}, sink {size}: {err:#}", round + 1));
            }
        }
    }

    fn idle(&mut self, round: usize, broker: &mut RunningBroker) {
        let count = self.plan.idle_connections;
        let scenario = format!("{count} idle connections");
        let kind = broker.kind;
        let outcome = self.attempt(round, broker, &scenario, |session, broker| {
            session.runtime.block_on(idle::run_idle(broker.address, broker.pid, count))
        });
        if let Some(outcome) = outcome {
            eprintln!(
                "  {:9} {scenario}: {:.0} B each, {:.0} conn/s",
                kind.name(),
                outcome.rss_per_connection,
                outcome.connect_rate
            );
            let per = format!("RSS per idle connection ({count} open)");
            self.results.record(
                (MEMORY, &per, "B"),
                Some(Target::MaxExtra(1024.0)),
                kind,
                outcome.rss_per_connection,
            );
            let rate = format!("connect rate ({count} clients, CONNECT→CONNACK)");
            self.results.record((MEMORY, &rate, "conn/s"), None, kind, outcome.connect_rate);
        }
    }

    fn pub_wall(&mut self, round: usize, broker: &mut RunningBroker) {
        let kind = broker.kind;
        let Some(exe) = self.paths.publisher(kind).map(Path::to_path_buf) else { return };
        let runs = self.plan.pub_runs;
        let tool =
            exe.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let times = self.attempt(round, broker, "pub wall time", |_, broker| {
            tools::pub_wall_times(&exe, broker.address, runs)
        });
        if let Some(mut times) = times {
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            eprintln!(
                "  {:9} {tool} -t bench/pub -m m: median {median:.2} ms of {runs}",
                kind.name()
            );
            let scenario = format!("`*_pub -t bench/pub -m m` wall time, median of {runs} runs");
            self.results.record(
                (START, &scenario, "ms"),
                Some(Target::MaxRatio(1.0)),
                kind,
                median,
            );
        }
    }

    fn latency(&mut self, round: usize, broker: &mut RunningBroker, qos: QoS) {
        let kind = broker.kind;
        let name = plan::latency_name(qos);
        let spec = LoadSpec {
            shape: Shape::Pairs,
            publishers: 1,
            subscribers: 1,
            qos,
            payload: 64,
            duration: self.plan.duration,
            warmup: self.plan.warmup,
            rate: Some(self.plan.latency_rate),
            window: Some(2000),
            record_latency: true,
            persistent_subscribers: false,
            topic_prefix: format!("lat/{round}"),
            drain: self.plan.drain,
        };
        let outcome = self.attempt(round, broker, &name, |session, broker| {
            session.runtime.block_on(load::run_load(broker.address, Some(broker.pid), &spec))
        });
        let Some(outcome) = outcome else { return };
        let micros = |p: f64| percentile(&outcome.latencies_ns, p).map(|ns| ns as f64 / 1e3);
        let (Some(p50), Some(p99), Some(max)) = (micros(50.0), micros(99.0), micros(100.0)) else {
            self.results.failures.push(format!(
                "round {}, {}, {name}: no samples",
                round + 1,
                kind.name()
            ));
            return;
        };
        eprintln!("  {:9} {name}: p50 {p50:.0} µs, p99 {p99:.0} µs, max {max:.0} µs", kind.name());
        self.results.record((LATENCY, &format!("{name}: p50"), "µs"), None, kind, p50);
        let p99_row = format!("{name}: p99");
        self.results.record((LATENCY, &p99_row, "µs"), Some(Target::MaxRatio(1.0)), kind, p99);
        self.results.record((LATENCY, &format!("{name}: max"), "µs"), None, kind, max);
    }

    /// Runs `case` against `broker`, prints it and notes lost, duplicated or unacknowledged
    /// messages as failures; returns the outcome and the broker's peak resident memory in
    /// the run.
    fn measure_throughput(
        &mut self,
        round: usize,
        broker: &mut RunningBroker,
        case: &plan::Case,
    ) -> Option<(LoadOutcome, u64)> {
        let kind = broker.kind;
        let name = case.name();
        let spec = case.spec(self.plan, format!("tp/{round}/{}", kind.name()));
        let (outcome, peak_rss) = self.attempt(round, broker, &name, |session, broker| {
            procfs::reset_peak_rss(broker.pid)?;
            let outcome = session.runtime.block_on(load::run_load(
                broker.address,
                Some(broker.pid),
                &spec,
            ))?;
            Ok((outcome, procfs::peak_rss(broker.pid)?))
        })?;
        let lost = outcome.lost;
        eprintln!(
            "  {:9} {name}: {:.0} msg/s; {} sent, {} of {} deliveries made, lost {lost}, dup {}; \
             broker {:.2} cores, generator {:.2}, peak RSS {}",
            kind.name(),
            outcome.delivered_rate,
            outcome.sent,
            outcome.received,
            outcome.expected,
            outcome.duplicates,
            outcome.broker_cores().unwrap_or(f64::NAN),
            outcome.generator_cores(),
            crate::units::value(peak_rss as f64, "B"),
        );
        if outcome.unacknowledged > 0 {
            self.results.failures.push(format!(
                "round {}, {}, {name}: {} QoS {} messages never acknowledged to the publishers \
                 within {} s after publishing stopped (rate still recorded)",
                round + 1,
                kind.name(),
                outcome.unacknowledged,
                case.qos.as_u8(),
                self.plan.drain.as_secs()
            ));
        }
        if case.qos != QoS::AtMostOnce && (lost > 0 || outcome.duplicates > 0) {
            self.results.failures.push(format!(
                "round {}, {}, {name}: {lost} messages not delivered within {} s after \
                 publishing stopped and {} duplicated at QoS {} (rate still recorded)",
                round + 1,
                kind.name(),
                self.plan.drain.as_secs(),
                outcome.duplicates,
                case.qos.as_u8()
            ));
        }
        Some((outcome, peak_rss))
    }

    fn throughput(&mut self, round: usize, broker: &mut RunningBroker, case: &plan::Case) {
        let kind = broker.kind;
        let Some((outcome, peak_rss)) = self.measure_throughput(round, broker, case) else {
            return;
        };
        let name = case.name();
        let row = self.results.record(
            (THROUGHPUT, &name, "msg/s"),
            case.target(),
            kind,
            outcome.delivered_rate,
        );
        Results::add_loss(row, kind, outcome.lost, outcome.duplicates);
        if let Some(per_message) = outcome.broker_cpu_per_message() {
            self.results.record((CPU, &name, "µs/msg"), None, kind, per_message);
        }
        self.results.record((PEAK, &name, "B"), None, kind, peak_rss as f64);
    }
}

/// Fails early if this process may not open enough sockets for the idle-connection scenario.
pub(crate) fn check_file_limit(connections: usize) -> Result<()> {
    let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    if let Some(soft) = parse_open_files_limit(&limits) {
        let needed = connections as u64 + 200;
        if soft < needed {
            bail!(
                "the open-file limit is {soft}, the idle-connection scenario needs {needed}: \
                 raise it (`ulimit -n {needed}`) or pass --idle-connections"
            );
        }
    }
    Ok(())
}

/// The soft "Max open files" limit from the text of `/proc/self/limits`.
fn parse_open_files_limit(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// The top of results.md: when, where, what and how.
fn header(
    plan: &Plan,
    paths: &Paths,
    command: &str,
    started_at: &str,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "## Results of {started_at}\n");
    let _ = writeln!(text, "- Machine: {}", machine::describe());
    let _ =
        writeln!(text, "- Load average (1/5/15 min) before: {load_before}; after: {load_after}");
    let _ = writeln!(text, "- Command: `{command}`");
    let mosquitto =
        paths.mosquitto.as_ref().map_or("not installed".into(), |p| p.display().to_string());
    let _ = writeln!(text, "- Brokers: culex `{}`, mosquitto `{mosquitto}`", paths.culex.display());
    let _ = writeln!(
        text,
        "- Method: {} rounds, each with freshly started brokers, every scenario run against both \
         back to back (culex first in odd rounds, mosquitto first in even ones); {} s per \
         throughput/latency run of which the first {} s are not counted; medians with min–max.",
        plan.rounds,
        plan.duration.as_secs_f64(),
        plan.warmup.as_secs_f64()
    );
    let _ = writeln!(
        text,
        "- Broker configuration (both brokers, same file):\n\n```conf\n{}```",
        CONFIG.replace("PORT", "<free port>")
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_limit_is_the_soft_one() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max processes             94000                94000                processes\n\
                    Max open files            1024                 20000                files\n";
        assert_eq!(parse_open_files_limit(text), Some(1024));
        assert_eq!(parse_open_files_limit("Max open files unlimited unlimited files"), None);
    }

    #[test]
    fn rounds_alternate_which_broker_goes_first() {
        let paths = Paths {
            culex: "culex".into(),
            culex_pub: "culex_pub".into(),
            mosquitto: Some("mosquitto".into()),
            mosquitto_pub: None,
        };
        assert_eq!(paths.order(0), [BrokerKind::Culex, BrokerKind::Mosquitto]);
        assert_eq!(paths.order(1), [BrokerKind::Mosquitto, BrokerKind::Culex]);
        let alone = Paths { mosquitto: None, ..paths };
        assert_eq!(alone.order(1), [BrokerKind::Culex]);
    }
}
