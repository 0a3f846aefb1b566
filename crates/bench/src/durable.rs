//! Issue 15's rows: durable persistence measured against culex without persistence and
//! against Mosquitto with `persistence true`, every broker started afresh in a folder of its
//! own for each measurement, the three alternated round by round.
//!
//! - QoS 1 fan-in 16→1 and 16 pairs into persistent sessions (subscribers with clean session
//!   false, connected and acknowledging): msg/s, broker CPU µs and bytes written per message
//!   (`write_bytes` of `/proc/PID/io` over the whole run, divided by messages published).
//! - One pair at a fixed 1,000 msg/s into a persistent session: PUBACK and delivery latency.
//! - Startup with a million queued messages: an offline persistent session filled by several
//!   publishers, a clean stop (SIGTERM), then spawn to the `running` line; for culex also the
//!   start after SIGKILL right after the last PUBACK (a journal replay). The session is then
//!   drained to check that every message was still there.

mod broker;
mod probe;
mod table;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use mqtt_codec::QoS;

use crate::load::{self, Shape};
use crate::plan::{Case, Plan};
use crate::procfs;
use crate::stats::percentile;

use self::broker::{Broker, Variant, fresh_dir};
use self::table::{Goal, Table};

pub(crate) use self::broker::DURABLE_CONFIG;

const THROUGHPUT: &str = "Persistent sessions: QoS 1 throughput, broker CPU and disk writes";
const LATENCY: &str = "Persistent session: latency at a fixed 1,000 msg/s, QoS 1";
const STARTUP: &str = "Startup with queued messages in an offline persistent session";

/// How long a broker may take to start with the full queue, or to save it and stop.
const SLOW_DEADLINE: Duration = Duration::from_secs(300);
/// Publishers that fill the queue of the startup scenario.
const FILL_PUBLISHERS: usize = 8;
/// Rate of the latency scenario.
const LATENCY_RATE: u64 = 1_000;

/// The broker executables: culex, and Mosquitto when it is installed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Brokers<'a> {
    pub(crate) culex: &'a Path,
    pub(crate) mosquitto: Option<&'a Path>,
}

/// Measures every durable row `plan.rounds` times; `workdir` holds the brokers' folders.
pub(crate) fn run(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    brokers: Brokers<'_>,
    workdir: &Path,
) -> Table {
    let mut run = Run { runtime, plan, brokers, workdir, table: Table::default() };
    for round in 0..plan.rounds {
        eprintln!("culex-bench: persistence round {} of {}", round + 1, plan.rounds);
        run.round(round);
    }
    run.table
}

/// The text for results.md: the configuration, then the tables.
pub(crate) fn markdown(table: &Table, messages: u64) -> String {
    format!(
        "## Durable persistence (issue 15)\n\n\
         Every measurement starts its broker afresh in an empty folder of its own; the order of \
         the three alternates round by round. Configuration (culex persistence off: the same \
         without the two `persistence` lines; Mosquitto 2.0.11 started as root drops to the \
         `mosquitto` user, so the folder is open to every user):\n\n```conf\n{}```\n\n\
         Startup scenario: {} QoS 1 messages of {} B queued in one offline persistent \
         session by {FILL_PUBLISHERS} publishers. Bytes written per message: `write_bytes` of \
         `/proc/PID/io` over the whole run divided by the messages published (the kernel counts \
         a page each time the broker dirties one, so a small append after a sync counts a whole \
         page).\n\n{}",
        DURABLE_CONFIG.replace("PORT", "<free port>").replace("DIR", "<fresh folder>"),
        thousands(messages),
        probe::PAYLOAD,
        table.markdown()
    )
}

struct Run<'a> {
    runtime: &'a tokio::runtime::Runtime,
    plan: &'a Plan,
    brokers: Brokers<'a>,
    workdir: &'a Path,
    table: Table,
}

impl Run<'_> {
    fn round(&mut self, round: usize) {
        let mut order = vec![Variant::Durable, Variant::Off];
        if self.brokers.mosquitto.is_some() {
            order.push(Variant::Mosquitto);
        }
        if round % 2 == 1 {
            order.reverse();
        }
        for case in cases() {
            for &variant in &order {
                let result = self.throughput(round, variant, &case);
                self.check(round, variant, &case.name(), result);
            }
        }
        for &variant in &order {
            let result = self.latency(round, variant);
            self.check(round, variant, "latency", result);
        }
        if self.plan.startup_messages > 0 {
            for &variant in order.iter().filter(|&&variant| variant != Variant::Off) {
                let result = self.startup(round, variant, false);
                self.check(round, variant, "startup after a clean stop", result);
                if variant == Variant::Durable {
                    let result = self.startup(round, variant, true);
                    self.check(round, variant, "startup after kill -9", result);
                }
            }
        }
    }

    fn check(&mut self, round: usize, variant: Variant, scenario: &str, result: Result<()>) {
        if let Err(err) = result {
            let line = format!("round {}, {}, {scenario}: {err:#}", round + 1, variant.name());
            eprintln!("culex-bench: FAILED {line}");
            self.table.failures.push(line);
        }
    }

    fn exe(&self, variant: Variant) -> Result<&Path> {
        match variant {
            Variant::Durable | Variant::Off => Ok(self.brokers.culex),
            Variant::Mosquitto => self.brokers.mosquitto.context("no mosquitto"),
        }
    }

    fn start(&self, variant: Variant, dir: &Path) -> Result<Broker> {
        Broker::start(variant, self.exe(variant)?, dir, SLOW_DEADLINE)
    }

    fn throughput(&mut self, round: usize, variant: Variant, case: &Case) -> Result<()> {
        let dir = fresh_dir(self.workdir, &format!("tp-{round}-{}", variant.index()))?;
        let mut broker = self.start(variant, &dir)?;
        let mut spec = case.spec(self.plan, format!("durable/{round}"));
        spec.persistent_subscribers = true;
        let written0 = procfs::write_bytes(broker.pid)?;
        let outcome =
            self.runtime.block_on(load::run_load(broker.address, Some(broker.pid), &spec))?;
        let written = procfs::write_bytes(broker.pid)?.saturating_sub(written0);
        broker.check_alive()?;
        let name = format!("{}, persistent sessions", case.name());
        eprintln!(
            "  {:27} {name}: {:.0} msg/s, {:.0} B written per message; lost {}, dup {}",
            variant.name(),
            outcome.delivered_rate,
            written as f64 / outcome.sent.max(1) as f64,
            outcome.lost,
            outcome.duplicates
        );
        let goal = Some(Goal::Throughput);
        self.table.record((THROUGHPUT, &name, "msg/s"), goal, variant, outcome.delivered_rate);
        if let Some(per_message) = outcome.broker_cpu_per_message() {
            let row = format!("{name}: broker CPU");
            self.table.record((THROUGHPUT, &row, "µs/msg"), None, variant, per_message);
        }
        let row = format!("{name}: written to disk");
        let per_message = written as f64 / outcome.sent.max(1) as f64;
        self.table.record((THROUGHPUT, &row, "B/msg"), None, variant, per_message);
        ensure!(
            outcome.lost == 0 && outcome.duplicates == 0 && outcome.unacknowledged == 0,
            "{} lost, {} duplicated, {} unacknowledged (rate still recorded)",
            outcome.lost,
            outcome.duplicates,
            outcome.unacknowledged
        );
        Ok(())
    }

    fn latency(&mut self, round: usize, variant: Variant) -> Result<()> {
        let dir = fresh_dir(self.workdir, &format!("lat-{round}-{}", variant.index()))?;
        let mut broker = self.start(variant, &dir)?;
        let plan = self.plan;
        let latencies = self.runtime.block_on(probe::latency(
            broker.address,
            LATENCY_RATE,
            plan.duration,
            plan.warmup,
            plan.drain,
        ))?;
        broker.check_alive()?;
        for (what, samples) in
            [("PUBACK", &latencies.acknowledged), ("delivery", &latencies.delivered)]
        {
            let micros = |p: f64| percentile(samples, p).map(|ns| ns as f64 / 1e3);
            let (Some(p50), Some(p99)) = (micros(50.0), micros(99.0)) else {
                anyhow::bail!("no {what} samples");
            };
            eprintln!("  {:27} {what} latency: p50 {p50:.0} µs, p99 {p99:.0} µs", variant.name());
            let scenario = format!("1 pair at 1,000 msg/s, QoS 1, {what} latency");
            let goal = Some(Goal::AtMostMosquittoPlus(300.0));
            self.table.record((LATENCY, &format!("{scenario}: p50"), "µs"), goal, variant, p50);
            self.table.record((LATENCY, &format!("{scenario}: p99"), "µs"), None, variant, p99);
        }
        Ok(())
    }

    /// Fills a queue, stops the broker (cleanly, or with SIGKILL when `killed`), times the
    /// next start and checks that the queue is complete.
    fn startup(&mut self, round: usize, variant: Variant, killed: bool) -> Result<()> {
        let messages = self.plan.startup_messages;
        let queued = thousands(messages);
        let dir = fresh_dir(self.workdir, &format!("start-{round}-{}", variant.index()))?;
        let broker = self.start(variant, &dir)?;
        let client = format!("bench-queue-{round}");
        let topic = format!("durable/queue/{round}");
        let filled = std::time::Instant::now();
        self.runtime.block_on(probe::fill(
            broker.address,
            &client,
            &topic,
            messages,
            FILL_PUBLISHERS,
            SLOW_DEADLINE,
        ))?;
        let fill_rate = messages as f64 / filled.elapsed().as_secs_f64();
        let how = if killed { "kill -9" } else { "a clean stop" };
        if killed {
            broker.kill()?;
        } else {
            let stop = broker.stop_cleanly(SLOW_DEADLINE)?;
            let row = format!("{queued} queued: clean stop (SIGTERM to exit)");
            self.table.record((STARTUP, &row, "s"), None, variant, stop.as_secs_f64());
        }
        let files = dir_size(&dir);
        let mut broker = self.start(variant, &dir)?;
        let startup = broker.startup.as_secs_f64();
        let found = self.runtime.block_on(probe::count_queued(
            broker.address,
            &client,
            messages,
            Duration::from_secs(5),
        ))?;
        broker.check_alive()?;
        eprintln!(
            "  {:27} filled {messages} at {fill_rate:.0} msg/s; after {how}: {} B on disk, \
             start {startup:.3} s, {found} messages found",
            variant.name(),
            files
        );
        let row = format!("{queued} queued: start after {how} (spawn to `running`)");
        self.table.record((STARTUP, &row, "s"), Some(Goal::Below(5.0)), variant, startup);
        let row = format!("{queued} queued: files on disk after {how}");
        self.table.record((STARTUP, &row, "B"), None, variant, files as f64);
        if !killed {
            let row = format!("{queued} queued: filling rate (8 publishers, QoS 1)");
            self.table.record((STARTUP, &row, "msg/s"), None, variant, fill_rate);
        }
        ensure!(found >= messages, "only {found} of {messages} queued messages after the restart");
        Ok(())
    }
}

/// The throughput scenarios of issue 15: QoS 1, 64 B, fan-in 16→1 and 16 pairs.
fn cases() -> [Case; 2] {
    let fan_in = Case {
        shape: Shape::OneTopic,
        publishers: 16,
        subscribers: 1,
        qos: QoS::AtLeastOnce,
        payload: 64,
    };
    [fan_in.clone(), Case { shape: Shape::Pairs, subscribers: 16, ..fan_in }]
}

/// `1000000` as `1,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Bytes in the files of `dir` (the broker's config and log included; they are small).
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_asks_for_qos1_fan_in_and_pairs() {
        let names: Vec<String> = cases().iter().map(Case::name).collect();
        assert_eq!(names, ["fan-in 16→1, QoS 1, 64 B", "16 pairs, QoS 1, 64 B"]);
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
    }
}
