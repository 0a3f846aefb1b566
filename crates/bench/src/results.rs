//! The figures collected across rounds, keyed by section and scenario, with one list of values
//! per broker, and the targets to judge the medians against.

use crate::stats::Spread;
use crate::target::BrokerKind;

/// What a row's Culex median must do against Mosquitto's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Target {
    /// At least this many times Mosquitto's.
    MinRatio(f64),
    /// At most this many times Mosquitto's.
    MaxRatio(f64),
    /// At most Mosquitto's plus this much.
    MaxExtra(f64),
}

impl Target {
    /// Whether `culex` meets the target against `mosquitto`.
    pub(crate) fn met(self, culex: f64, mosquitto: f64) -> bool {
        match self {
            Self::MinRatio(times) => culex >= times * mosquitto,
            Self::MaxRatio(times) => culex <= times * mosquitto,
            Self::MaxExtra(plus) => culex <= mosquitto + plus,
        }
    }

    /// How the target reads in a table.
    pub(crate) fn describe(self, unit: &str) -> String {
        match self {
            Self::MinRatio(times) => format!("≥ {times}×"),
            Self::MaxRatio(1.0) => "≤ mosquitto".into(),
            Self::MaxRatio(times) => format!("≤ {times}×"),
            Self::MaxExtra(plus) => format!("≤ mosquitto + {}", crate::units::value(plus, unit)),
        }
    }
}

/// One figure (a scenario's metric) measured for both brokers in every round.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    pub(crate) section: &'static str,
    pub(crate) scenario: String,
    pub(crate) unit: &'static str,
    pub(crate) target: Option<Target>,
    /// Values per round, culex first, mosquitto second.
    pub(crate) values: [Vec<f64>; 2],
    /// Messages lost and duplicated over every round (throughput rows).
    pub(crate) lost: [u64; 2],
    pub(crate) duplicates: [u64; 2],
}

impl Row {
    /// Median, min and max for `broker`.
    pub(crate) fn spread(&self, broker: BrokerKind) -> Option<Spread> {
        Spread::of(&self.values[index(broker)])
    }

    /// Culex's median over Mosquitto's.
    pub(crate) fn ratio(&self) -> Option<f64> {
        let culex = self.spread(BrokerKind::Culex)?.median;
        let mosquitto = self.spread(BrokerKind::Mosquitto)?.median;
        (mosquitto != 0.0).then(|| culex / mosquitto)
    }

    /// Whether the target is met by the medians; `None` without a target or a figure.
    pub(crate) fn verdict(&self) -> Option<bool> {
        let culex = self.spread(BrokerKind::Culex)?.median;
        let mosquitto = self.spread(BrokerKind::Mosquitto)?.median;
        Some(self.target?.met(culex, mosquitto))
    }
}

fn index(broker: BrokerKind) -> usize {
    match broker {
        BrokerKind::Culex => 0,
        BrokerKind::Mosquitto => 1,
    }
}

/// The position of the row `is_it` finds in `rows`, appending `new()` first when there is
/// none: tables keep their rows in the order they were first measured.
pub(crate) fn row_position<R>(
    rows: &mut Vec<R>,
    is_it: impl Fn(&R) -> bool,
    new: impl FnOnce() -> R,
) -> usize {
    rows.iter().position(is_it).unwrap_or_else(|| {
        rows.push(new());
        rows.len() - 1
    })
}

/// Everything one benchmark run collected.
#[derive(Clone, Debug, Default)]
pub(crate) struct Results {
    pub(crate) rows: Vec<Row>,
    /// The load generator's own rates against the sink: scenario and values per round.
    pub(crate) capacity: Vec<(String, Vec<f64>)>,
    /// Measurements that failed, as "round N, broker, scenario: error".
    pub(crate) failures: Vec<String>,
}

impl Results {
    /// Adds one round's `value` for `broker` to the row (created on first use, in order).
    pub(crate) fn record(
        &mut self,
        key: (&'static str, &str, &'static str),
        target: Option<Target>,
        broker: BrokerKind,
        value: f64,
    ) -> &mut Row {
        let (section, scenario, unit) = key;
        let position = row_position(
            &mut self.rows,
            |row| (row.section, row.scenario.as_str(), row.unit) == key,
            || Row {
                section,
                scenario: scenario.to_owned(),
                unit,
                target,
                values: [Vec::new(), Vec::new()],
                lost: [0; 2],
                duplicates: [0; 2],
            },
        );
        let row = &mut self.rows[position];
        row.values[index(broker)].push(value);
        row
    }

    /// Adds one round's generator rate for `scenario`.
    pub(crate) fn record_capacity(&mut self, scenario: &str, value: f64) {
        match self.capacity.iter_mut().find(|(name, _)| name == scenario) {
            Some((_, values)) => values.push(value),
            None => self.capacity.push((scenario.to_owned(), vec![value])),
        }
    }

    /// Adds a lost/duplicate count to a row.
    pub(crate) fn add_loss(row: &mut Row, broker: BrokerKind, lost: u64, duplicates: u64) {
        row.lost[index(broker)] += lost;
        row.duplicates[index(broker)] += duplicates;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_collect_rounds_per_broker_and_judge_medians() {
        let mut results = Results::default();
        let key = ("Throughput", "fan-in", "msg/s");
        for (culex, mosquitto) in [(300.0, 100.0), (200.0, 120.0), (260.0, 90.0)] {
            results.record(key, Some(Target::MinRatio(2.0)), BrokerKind::Culex, culex);
            results.record(key, None, BrokerKind::Mosquitto, mosquitto);
        }
        assert_eq!(results.rows.len(), 1);
        let row = &results.rows[0];
        assert_eq!(row.spread(BrokerKind::Culex).unwrap().median, 260.0);
        assert_eq!(row.ratio(), Some(2.6));
        assert_eq!(row.verdict(), Some(true));
        results.record(("Throughput", "fan-out", "msg/s"), None, BrokerKind::Culex, 1.0);
        assert_eq!(results.rows.len(), 2);
        assert_eq!(results.rows[1].verdict(), None);
    }

    #[test]
    fn targets_compare_the_right_way() {
        assert!(Target::MaxRatio(1.0).met(2.0, 2.5));
        assert!(!Target::MaxRatio(1.0).met(2.6, 2.5));
        assert!(Target::MaxExtra(1024.0).met(1700.0, 735.0));
        assert!(!Target::MaxExtra(1024.0).met(1800.0, 735.0));
        assert!(!Target::MinRatio(2.0).met(199.0, 100.0));
    }
}
