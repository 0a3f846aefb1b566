//! Turning results into text: the markdown tables printed at the end of a run, and the
//! `results.md` document ready to paste into docs/benchmarks.md.

use std::fmt::Write as _;

use crate::results::{Results, Row};
use crate::stats::Spread;
use crate::target::BrokerKind;
use crate::units::value;

/// "median (min–max)", or just the value when there is one round, or "—".
pub(crate) fn spread(spread: Option<Spread>, unit: &str) -> String {
    match spread {
        None => "—".into(),
        Some(s) if s.min == s.max => value(s.median, unit),
        Some(s) => {
            format!("{} ({}–{})", value(s.median, unit), value(s.min, unit), value(s.max, unit))
        }
    }
}

/// Each distinct section once, in the order of first appearance.
pub(crate) fn sections<'a>(of_rows: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut sections: Vec<&str> = Vec::new();
    for section in of_rows {
        if !sections.contains(&section) {
            sections.push(section);
        }
    }
    sections
}

/// One markdown table per section, in the order rows were first recorded.
pub(crate) fn tables(results: &Results) -> String {
    let mut out = String::new();
    for section in sections(results.rows.iter().map(|row| row.section)) {
        let rows: Vec<&Row> = results.rows.iter().filter(|row| row.section == section).collect();
        let with_loss = rows.iter().any(|row| row.lost != [0; 2] || row.duplicates != [0; 2]);
        let _ = writeln!(out, "### {section}\n");
        let mut header =
            "| scenario | unit | culex median (min–max) | mosquitto median (min–max) | culex/mosquitto | target |"
                .to_owned();
        let mut rule = "|---|---|---:|---:|---:|---|".to_owned();
        if with_loss {
            header.push_str(" lost/dup culex · mosquitto |");
            rule.push_str("---|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for row in rows {
            let ratio = row.ratio().map_or_else(|| "—".into(), |r| format!("{r:.2}×"));
            let target = match (row.target, row.verdict()) {
                (Some(t), Some(true)) => format!("{} met", t.describe(row.unit)),
                (Some(t), Some(false)) => format!("{} **missed**", t.describe(row.unit)),
                (Some(t), None) => t.describe(row.unit),
                (None, _) => String::new(),
            };
            let _ = write!(
                out,
                "| {} | {} | {} | {} | {ratio} | {target} |",
                row.scenario,
                row.unit,
                spread(row.spread(BrokerKind::Culex), row.unit),
                spread(row.spread(BrokerKind::Mosquitto), row.unit),
            );
            if with_loss {
                let _ = write!(
                    out,
                    " {}/{} · {}/{} |",
                    row.lost[0], row.duplicates[0], row.lost[1], row.duplicates[1]
                );
            }
            out.push('\n');
        }
        out.push('\n');
    }
    if !results.capacity.is_empty() {
        let _ = writeln!(out, "### Load generator against the trivial sink\n");
        let _ = writeln!(out, "| scenario | msg/s median (min–max) |\n|---|---:|");
        for (scenario, values) in &results.capacity {
            let _ = writeln!(out, "| {scenario} | {} |", spread(Spread::of(values), "msg/s"));
        }
        out.push('\n');
    }
    failures_section(&mut out, "Failed measurements", &results.failures);
    out
}

/// A `### heading` and one list item per failure; nothing when there is none.
pub(crate) fn failures_section(out: &mut String, heading: &str, failures: &[String]) {
    if failures.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {heading}\n");
    for failure in failures {
        let _ = writeln!(out, "- {failure}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Target;

    #[test]
    fn tables_show_spread_ratio_target_and_loss() {
        let mut results = Results::default();
        let key = ("Throughput", "fan-in 16→1, QoS 0, 64 B", "msg/s");
        for (culex, mosquitto) in [(300e3, 100e3), (200e3, 120e3), (260e3, 90e3)] {
            results.record(key, Some(Target::MinRatio(2.0)), BrokerKind::Culex, culex);
            let row = results.record(key, None, BrokerKind::Mosquitto, mosquitto);
            Results::add_loss(row, BrokerKind::Mosquitto, 1, 0);
        }
        results.record(("Memory", "idle", "B"), None, BrokerKind::Culex, 2048.0);
        results.record_capacity("16 publishers → sink", 2e6);
        results.failures.push("round 1, culex, x: boom".into());
        let text = tables(&results);
        assert!(text.contains("### Throughput\n"), "{text}");
        assert!(
            text.contains(
                "| fan-in 16→1, QoS 0, 64 B | msg/s | 260k (200k–300k) | 100k (90.0k–120k) | 2.60× | ≥ 2× met | 0/0 · 3/0 |"
            ),
            "{text}"
        );
        assert!(text.contains("| idle | B | 2048 B | — | — |  |"), "{text}");
        assert!(text.contains("| 16 publishers → sink | 2.00M |"), "{text}");
        assert!(text.contains("- round 1, culex, x: boom"), "{text}");
    }
}
