//! The throughput plot: a hand-written SVG of horizontal bars, culex and mosquitto side by side
//! per scenario, each bar the median with a whisker from min to max. Written by hand because
//! it is a hundred lines and needs no font handling or extra dependency tree (plotters' SVG
//! backend would bring one) on machines where every build competes for two cores.

use std::fmt::Write as _;

use crate::report;
use crate::results::Row;
use crate::target::BrokerKind;
use crate::units;

const LABEL_WIDTH: f64 = 250.0;
const PLOT_WIDTH: f64 = 560.0;
const RIGHT_MARGIN: f64 = 70.0;
const TOP: f64 = 60.0;
const BAR: f64 = 11.0;
const GROUP: f64 = 2.0 * BAR + 10.0;
const COLORS: [(&str, BrokerKind); 2] =
    [("#d9541e", BrokerKind::Culex), ("#3b6ea8", BrokerKind::Mosquitto)];

/// The plot of `rows` (all in one unit) titled `title`.
pub(crate) fn bar_chart(title: &str, rows: &[&Row]) -> String {
    let unit = rows.first().map_or("", |row| row.unit);
    let top_value = rows
        .iter()
        .flat_map(|row| [BrokerKind::Culex, BrokerKind::Mosquitto].map(|b| row.spread(b)))
        .flatten()
        .map(|spread| spread.max)
        .fold(0.0, f64::max);
    let scale_max = nice_ceiling(top_value);
    let x = |v: f64| LABEL_WIDTH + v / scale_max * PLOT_WIDTH;
    let height = TOP + GROUP * rows.len() as f64 + 30.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + RIGHT_MARGIN;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        LABEL_WIDTH,
        escape(title)
    );
    for (i, (color, broker)) in COLORS.iter().enumerate() {
        let lx = LABEL_WIDTH + i as f64 * 110.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{lx}" y="30" width="12" height="10" fill="{color}"/><text x="{}" y="39">{}</text>"#,
            lx + 16.0,
            broker.name()
        );
    }
    for step in 0..=5 {
        let v = scale_max * f64::from(step) / 5.0;
        let gx = x(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{}" x2="{gx:.1}" y2="{}" stroke="#ddd"/><text x="{gx:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            TOP - 6.0,
            height - 24.0,
            height - 10.0,
            units::value(v, unit)
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let gy = TOP + GROUP * i as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8.0,
            gy + BAR + 3.0,
            escape(&row.scenario)
        );
        for (j, (color, broker)) in COLORS.iter().enumerate() {
            let Some(spread) = row.spread(*broker) else { continue };
            let by = gy + BAR * j as f64;
            let _ = writeln!(
                svg,
                r#"<rect x="{LABEL_WIDTH}" y="{by:.1}" width="{:.1}" height="{}" fill="{color}"><title>{} {}: {}</title></rect>"#,
                x(spread.median) - LABEL_WIDTH,
                BAR - 1.0,
                broker.name(),
                escape(&row.scenario),
                report::spread(Some(spread), unit)
            );
            let wy = by + (BAR - 1.0) / 2.0;
            let _ = writeln!(
                svg,
                r##"<line x1="{:.1}" y1="{wy:.1}" x2="{:.1}" y2="{wy:.1}" stroke="#222"/><text x="{:.1}" y="{:.1}" font-size="9" fill="#333">{}</text>"##,
                x(spread.min),
                x(spread.max),
                x(spread.max) + 4.0,
                by + BAR - 2.0,
                units::value(spread.median, unit)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// The smallest of 1, 2, 2.5, 5 × 10^k that is at least `v` (1 for nothing).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * power).find(|c| *c >= v).unwrap_or(v)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Results;

    #[test]
    fn scale_ends_on_a_round_number() {
        assert_eq!(nice_ceiling(130_000.0), 200_000.0);
        assert_eq!(nice_ceiling(210_000.0), 250_000.0);
        assert_eq!(nice_ceiling(1_000_000.0), 1_000_000.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }

    #[test]
    fn chart_has_a_bar_per_broker_and_scenario() {
        let mut results = Results::default();
        for broker in [BrokerKind::Culex, BrokerKind::Mosquitto] {
            for value in [100e3, 120e3, 90e3] {
                results.record(("T", "fan-in <16>", "msg/s"), None, broker, value);
            }
        }
        results.record(("T", "pairs", "msg/s"), None, BrokerKind::Culex, 50e3);
        let rows: Vec<&Row> = results.rows.iter().collect();
        let svg = bar_chart("Throughput & more", &rows);
        assert!(svg.starts_with("<svg xmlns"));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<title>").count(), 3);
        assert!(svg.contains("fan-in &lt;16&gt;"));
        assert!(svg.contains("Throughput &amp; more"));
    }
}
