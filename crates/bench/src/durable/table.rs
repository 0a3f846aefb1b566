//! The durable rows' figures, one list of values per variant (culex with persistence, culex
//! without, Mosquitto with persistence), and their markdown: three columns, two ratios and
//! issue 15's targets judged on the medians.

use std::fmt::Write as _;

use crate::report::{failures_section, sections, spread};
use crate::results::row_position;
use crate::stats::Spread;
use crate::units::value;

use super::broker::Variant;

/// Issue 15's target for a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Goal {
    /// Throughput: at least 3× Mosquitto's and at least half of culex's own without persistence.
    Throughput,
    /// At most Mosquitto's plus about one fdatasync (this many of the row's unit).
    AtMostMosquittoPlus(f64),
    /// Below this value (in the row's unit).
    Below(f64),
}

/// One figure for the three variants over the rounds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    pub(crate) section: &'static str,
    pub(crate) scenario: String,
    pub(crate) unit: &'static str,
    pub(crate) goal: Option<Goal>,
    pub(crate) values: [Vec<f64>; 3],
}

impl Row {
    fn median(&self, variant: Variant) -> Option<f64> {
        Spread::of(&self.values[variant.index()]).map(|s| s.median)
    }

    /// "durable ÷ other" of the medians.
    fn ratio(&self, other: Variant) -> Option<f64> {
        let durable = self.median(Variant::Durable)?;
        let other = self.median(other)?;
        (other != 0.0).then(|| durable / other)
    }

    /// The targets column: each part with met / **missed**, or what is missing to judge.
    fn verdict(&self) -> String {
        let Some(goal) = self.goal else { return String::new() };
        let judge = |text: String, met: Option<bool>| match met {
            Some(true) => format!("{text} met"),
            Some(false) => format!("{text} **missed**"),
            None => text,
        };
        match goal {
            Goal::Throughput => {
                let vs_mosquitto = judge(
                    "≥ 3× mosquitto".into(),
                    self.ratio(Variant::Mosquitto).map(|r| r >= 3.0),
                );
                let vs_off =
                    judge("≥ ½ culex off".into(), self.ratio(Variant::Off).map(|r| r >= 0.5));
                format!("{vs_mosquitto}; {vs_off}")
            }
            Goal::AtMostMosquittoPlus(extra) => judge(
                format!("≤ mosquitto + {} {}", value(extra, self.unit), self.unit),
                self.median(Variant::Durable)
                    .zip(self.median(Variant::Mosquitto))
                    .map(|(culex, mosquitto)| culex <= mosquitto + extra),
            ),
            Goal::Below(limit) => judge(
                format!("< {} {}", value(limit, self.unit), self.unit),
                self.median(Variant::Durable).map(|culex| culex < limit),
            ),
        }
    }
}

/// Everything the durable rows collected.
#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<Row>,
    pub(crate) failures: Vec<String>,
}

impl Table {
    /// Adds one round's `value` for `variant` (the row is created on first use, in order).
    pub(crate) fn record(
        &mut self,
        key: (&'static str, &str, &'static str),
        goal: Option<Goal>,
        variant: Variant,
        value: f64,
    ) {
        let (section, scenario, unit) = key;
        let position = row_position(
            &mut self.rows,
            |row| (row.section, row.scenario.as_str(), row.unit) == key,
            || Row {
                section,
                scenario: scenario.to_owned(),
                unit,
                goal,
                values: [Vec::new(), Vec::new(), Vec::new()],
            },
        );
        self.rows[position].values[variant.index()].push(value);
    }

    /// One markdown table per section, then the failures.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        for section in sections(self.rows.iter().map(|row| row.section)) {
            let _ = writeln!(out, "### {section}\n");
            let _ = writeln!(
                out,
                "| scenario | unit | culex persistence true | culex persistence off | \
                 mosquitto persistence true | culex true/off | culex true/mosquitto | target |\n\
                 |---|---|---:|---:|---:|---:|---:|---|"
            );
            for row in self.rows.iter().filter(|row| row.section == section) {
                let column =
                    |variant: Variant| spread(Spread::of(&row.values[variant.index()]), row.unit);
                let ratio =
                    |other| row.ratio(other).map_or_else(|| "—".into(), |r| format!("{r:.2}×"));
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    row.scenario,
                    row.unit,
                    column(Variant::Durable),
                    column(Variant::Off),
                    column(Variant::Mosquitto),
                    ratio(Variant::Off),
                    ratio(Variant::Mosquitto),
                    row.verdict()
                );
            }
            out.push('\n');
        }
        failures_section(&mut out, "Failed durable measurements", &self.failures);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_rows_judge_both_targets_on_medians() {
        let mut table = Table::default();
        let key = ("Throughput", "fan-in 16→1", "msg/s");
        for (durable, off, mosquitto) in [(300e3, 500e3, 90e3), (320e3, 700e3, 100e3)] {
            table.record(key, Some(Goal::Throughput), Variant::Durable, durable);
            table.record(key, None, Variant::Off, off);
            table.record(key, None, Variant::Mosquitto, mosquitto);
        }
        let text = table.markdown();
        assert!(
            text.contains(
                "| fan-in 16→1 | msg/s | 310k (300k–320k) | 600k (500k–700k) | 95.0k (90.0k–100k) \
                 | 0.52× | 3.26× | ≥ 3× mosquitto met; ≥ ½ culex off met |"
            ),
            "{text}"
        );
    }

    #[test]
    fn latency_and_startup_goals_and_missing_figures() {
        let mut table = Table::default();
        let p50 = ("Latency", "p50", "µs");
        table.record(p50, Some(Goal::AtMostMosquittoPlus(300.0)), Variant::Durable, 700.0);
        table.record(p50, None, Variant::Mosquitto, 300.0);
        let start = ("Startup", "start", "s");
        table.record(start, Some(Goal::Below(5.0)), Variant::Durable, 2.5);
        table.record(("Startup", "kill", "s"), Some(Goal::Throughput), Variant::Durable, 1.0);
        table.failures.push("round 1: boom".into());
        let text = table.markdown();
        assert!(text.contains("| — | 2.33× | ≤ mosquitto + 300 µs **missed** |"), "{text}");
        assert!(text.contains("| start | s | 2.50 | — | — | — | — | < 5.00 s met |"), "{text}");
        assert!(text.contains("| ≥ 3× mosquitto; ≥ ½ culex off |"), "{text}");
        assert!(text.contains("- round 1: boom"), "{text}");
    }
}
