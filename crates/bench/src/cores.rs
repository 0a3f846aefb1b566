//! `--cores`' table: the throughput scenarios measured with the broker allowed 1, 2, … CPUs,
//! one row per scenario, broker and number of cores, with the rate against the fewest cores
//! (issue 13's scaling target), the broker's and the load generator's CPU use, and the
//! broker's peak resident memory.

use std::fmt::Write as _;

use crate::cpus::{Placement, format_list};
use crate::load::{GENERATOR_WORKERS, LoadOutcome};
use crate::report::spread;
use crate::results::row_position;
use crate::stats::Spread;
use crate::target::BrokerKind;
use crate::units::value;

/// Issue 13: at 2 cores, pairs and fan-in deliver at least this many times their rate at 1.
const SCALING_TARGET: f64 = 1.8;

/// One scenario on one broker with one number of cores, over the rounds.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    scenario: String,
    broker: BrokerKind,
    cores: usize,
    rate: Vec<f64>,
    cpu_per_message: Vec<f64>,
    broker_cores: Vec<f64>,
    generator_cores: Vec<f64>,
    peak_rss: Vec<f64>,
    lost: u64,
    duplicates: u64,
}

impl Row {
    fn new(scenario: &str, broker: BrokerKind, cores: usize) -> Self {
        Self {
            scenario: scenario.to_owned(),
            broker,
            cores,
            rate: Vec::new(),
            cpu_per_message: Vec::new(),
            broker_cores: Vec::new(),
            generator_cores: Vec::new(),
            peak_rss: Vec::new(),
            lost: 0,
            duplicates: 0,
        }
    }

    fn median(values: &[f64]) -> Option<f64> {
        Spread::of(values).map(|spread| spread.median)
    }
}

/// Everything a `--cores` run measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// Adds one round's `outcome` (and the broker's peak RSS in it) of `scenario` on `broker`
    /// with `cores` CPUs.
    pub(crate) fn record(
        &mut self,
        scenario: &str,
        broker: BrokerKind,
        cores: usize,
        outcome: &LoadOutcome,
        peak_rss: u64,
    ) {
        let position = row_position(
            &mut self.rows,
            |row| row.scenario == scenario && row.broker == broker && row.cores == cores,
            || Row::new(scenario, broker, cores),
        );
        let row = &mut self.rows[position];
        row.rate.push(outcome.delivered_rate);
        row.cpu_per_message.extend(outcome.broker_cpu_per_message());
        row.broker_cores.extend(outcome.broker_cores());
        row.generator_cores.push(outcome.generator_cores());
        row.peak_rss.push(peak_rss as f64);
        row.lost += outcome.lost;
        row.duplicates += outcome.duplicates;
    }

    /// The rows grouped by scenario (in the order first measured), then broker, then cores.
    fn sorted(&self) -> Vec<&Row> {
        let mut scenarios: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !scenarios.contains(&row.scenario.as_str()) {
                scenarios.push(&row.scenario);
            }
        }
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        rows.sort_by_key(|row| {
            let scenario = scenarios.iter().position(|name| *name == row.scenario);
            (scenario, row.broker, row.cores)
        });
        rows
    }

    /// The row of the same scenario and broker with the fewest cores.
    fn base(&self, of: &Row) -> Option<&Row> {
        self.rows
            .iter()
            .filter(|row| row.scenario == of.scenario && row.broker == of.broker)
            .min_by_key(|row| row.cores)
    }

    /// "1.85×" (median rate over the median at the fewest cores) and, where issue 13 sets
    /// one, the target and whether it is met; empty for the fewest cores themselves.
    fn scaling(&self, row: &Row) -> String {
        let Some(base) = self.base(row).filter(|base| base.cores < row.cores) else {
            return String::new();
        };
        let ratio = Row::median(&row.rate)
            .zip(Row::median(&base.rate))
            .filter(|(_, base)| *base > 0.0)
            .map(|(rate, base)| rate / base);
        let Some(ratio) = ratio else { return "—".into() };
        let text = format!("{ratio:.2}×");
        match scaling_target(&row.scenario, row.broker, base.cores, row.cores) {
            Some(target) if ratio >= target => format!("{text} (≥ {target}× met)"),
            Some(target) => format!("{text} (≥ {target}× **missed**)"),
            None => text,
        }
    }
}

/// Issue 13's target for culex from 1 to 2 cores, in pairs and fan-in (not fan-out).
fn scaling_target(scenario: &str, broker: BrokerKind, from: usize, to: usize) -> Option<f64> {
    let applies =
        broker == BrokerKind::Culex && (from, to) == (1, 2) && !scenario.starts_with("fan-out");
    applies.then_some(SCALING_TARGET)
}

/// The section: how it was measured (with where each side ran) and the table.
pub(crate) fn markdown(table: &Table, placements: &[Placement]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Throughput and broker CPU by cores\n");
    let where_ = |describe: fn(&Placement) -> String| {
        placements
            .iter()
            .map(|placement| {
                let plural = if placement.cores() == 1 { "" } else { "s" };
                format!("{} core{plural}: {}", placement.cores(), describe(placement))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let _ = writeln!(
        out,
        "Each broker runs under `taskset -c` on the first N CPUs this process may use ({}); \
         culex sizes its runtime by the CPUs it may use, Mosquitto is single-threaded at any \
         N. The load generator (culex-bench, one process with {GENERATOR_WORKERS} tokio \
         worker threads) is moved with `taskset -a -p` onto the CPUs the broker does not \
         have, or onto all of them when the broker has every one, where the two share the \
         CPUs ({}). Fresh brokers for every \
         N and round. msg/s: delivered per second in the measured window, median (min–max) \
         over the rounds; × fewest: its median over the median at the fewest cores (issue 13: \
         culex at least {SCALING_TARGET}× from 1 to 2 cores in pairs and fan-in); CPU use: CPU \
         seconds per second of the window (the broker's from `/proc/PID/stat`, the \
         generator's from its own), so a generator near the number of its CPUs, or a broker \
         well below N, means the broker was not the limit; peak RSS: the broker's `VmHWM`, \
         reset through `/proc/PID/clear_refs` at the start of each run. Medians except msg/s.\n",
        where_(|p| format!("broker on {}", cpu_words(&p.broker))),
        where_(|p| format!("generator on {}", cpu_words(&p.generator))),
    );
    let _ = writeln!(
        out,
        "| scenario | broker | cores | msg/s | × fewest | broker CPU µs/msg | broker CPU use (cores) | \
         generator CPU use (cores) | broker peak RSS | lost/dup |\n\
         |---|---|---:|---:|---|---:|---:|---:|---:|---|"
    );
    let median = |values: &[f64], unit: &str| {
        Row::median(values).map_or_else(|| "—".into(), |v| value(v, unit))
    };
    let cores =
        |values: &[f64]| Row::median(values).map_or_else(|| "—".into(), |v| format!("{v:.2}"));
    for row in table.sorted() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
            row.scenario,
            row.broker.name(),
            row.cores,
            spread(Spread::of(&row.rate), "msg/s"),
            table.scaling(row),
            median(&row.cpu_per_message, "µs/msg"),
            cores(&row.broker_cores),
            cores(&row.generator_cores),
            median(&row.peak_rss, "B"),
            row.lost,
            row.duplicates,
        );
    }
    out.push('\n');
    out
}

/// "CPU 0" or "CPUs 0-1".
fn cpu_words(cpus: &[usize]) -> String {
    let plural = if cpus.len() == 1 { "" } else { "s" };
    format!("CPU{plural} {}", format_list(cpus))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(rate: f64, broker_cpu: f64, generator_cpu: f64) -> LoadOutcome {
        LoadOutcome {
            delivered_rate: rate,
            window_delivered: (rate * 2.0) as u64,
            window_seconds: 2.0,
            broker_cpu_seconds: Some(broker_cpu),
            generator_cpu_seconds: generator_cpu,
            ..LoadOutcome::default()
        }
    }

    #[test]
    fn rows_group_by_scenario_and_compare_with_the_fewest_cores() {
        let placements = Placement::for_counts(&[0, 1], &[1, 2]).unwrap();
        let mut table = Table::default();
        let (fan_in, fan_out) = ("fan-in 16→1, QoS 1, 64 B", "fan-out 1→64, QoS 1, 64 B");
        for (cores, culex, mosquitto) in [(1, 500e3, 60e3), (2, 950e3, 61e3)] {
            for (scenario, factor) in [(fan_in, 1.0), (fan_out, 2.0)] {
                let rate = culex * factor;
                let run = outcome(rate, rate * 2.0 * 1e-6, 1.5);
                table.record(scenario, BrokerKind::Culex, cores, &run, 8 << 20);
                let run = outcome(mosquitto, 2.0, 0.5);
                table.record(scenario, BrokerKind::Mosquitto, cores, &run, 9 << 20);
            }
        }
        let mut second = outcome(1e6, 1.0, 1.0);
        second.lost = 3;
        table.record(fan_in, BrokerKind::Culex, 2, &second, 8 << 20);
        let text = markdown(&table, &placements);
        assert!(text.contains("(1 core: broker on CPU 0; 2 cores: broker on CPUs 0-1)"), "{text}");
        assert!(
            text.contains("1 core: generator on CPU 1; 2 cores: generator on CPUs 0-1"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().filter(|line| line.starts_with("| fan")).collect();
        assert_eq!(
            lines,
            [
                "| fan-in 16→1, QoS 1, 64 B | culex | 1 | 500k |  | 1.00 | 0.50 | 0.75 | 8.00 MiB | 0/0 |",
                "| fan-in 16→1, QoS 1, 64 B | culex | 2 | 975k (950k–1.00M) | 1.95× (≥ 1.8× met) | 0.750 | 0.72 | 0.62 | 8.00 MiB | 3/0 |",
                "| fan-in 16→1, QoS 1, 64 B | mosquitto | 1 | 60.0k |  | 16.7 | 1.00 | 0.25 | 9.00 MiB | 0/0 |",
                "| fan-in 16→1, QoS 1, 64 B | mosquitto | 2 | 61.0k | 1.02× | 16.4 | 1.00 | 0.25 | 9.00 MiB | 0/0 |",
                "| fan-out 1→64, QoS 1, 64 B | culex | 1 | 1.00M |  | 1.00 | 1.00 | 0.75 | 8.00 MiB | 0/0 |",
                "| fan-out 1→64, QoS 1, 64 B | culex | 2 | 1.90M | 1.90× | 1.00 | 1.90 | 0.75 | 8.00 MiB | 0/0 |",
                "| fan-out 1→64, QoS 1, 64 B | mosquitto | 1 | 60.0k |  | 16.7 | 1.00 | 0.25 | 9.00 MiB | 0/0 |",
                "| fan-out 1→64, QoS 1, 64 B | mosquitto | 2 | 61.0k | 1.02× | 16.4 | 1.00 | 0.25 | 9.00 MiB | 0/0 |",
            ]
        );
    }

    #[test]
    fn the_scaling_target_is_culex_from_one_to_two_cores_without_fan_out() {
        let culex = BrokerKind::Culex;
        assert_eq!(scaling_target("16 pairs, QoS 0, 64 B", culex, 1, 2), Some(1.8));
        assert_eq!(scaling_target("fan-in 16→1, QoS 1, 64 B", culex, 1, 2), Some(1.8));
        assert_eq!(scaling_target("fan-out 1→64, QoS 1, 64 B", culex, 1, 2), None);
        assert_eq!(scaling_target("16 pairs, QoS 0, 64 B", BrokerKind::Mosquitto, 1, 2), None);
        assert_eq!(scaling_target("16 pairs, QoS 0, 64 B", culex, 2, 4), None);
    }
}
