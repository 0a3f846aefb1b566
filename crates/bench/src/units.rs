//! Numbers with their units, short, as the tables print them: 1.23M msg/s, 845k, 12.3 µs,
//! 735 B, 4.2 MiB.

/// `v` in `unit`, short: 1.23M msg/s, 845k, 12.3 µs, 735 B, 4.2 MiB.
pub(crate) fn value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    match unit {
        "B" => bytes(v),
        "msg/s" | "conn/s" => si(v),
        _ => significant(v),
    }
}

/// Three significant digits with k/M suffixes.
fn si(v: f64) -> String {
    let magnitude = v.abs();
    if magnitude >= 1e6 {
        format!("{}M", significant(v / 1e6))
    } else if magnitude >= 1e3 {
        format!("{}k", significant(v / 1e3))
    } else {
        significant(v)
    }
}

/// Three significant digits, no exponent (1.23, 12.3, 123, 1234).
fn significant(v: f64) -> String {
    let magnitude = v.abs();
    if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{v:.0}")
    } else if magnitude >= 10.0 {
        format!("{v:.1}")
    } else if magnitude >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn bytes(v: f64) -> String {
    let magnitude = v.abs();
    if magnitude >= 1024.0 * 1024.0 {
        format!("{} MiB", significant(v / (1024.0 * 1024.0)))
    } else if magnitude >= 10.0 * 1024.0 {
        format!("{} KiB", significant(v / 1024.0))
    } else {
        format!("{v:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_short_and_carry_their_scale() {
        assert_eq!(value(1_234_567.0, "msg/s"), "1.23M");
        assert_eq!(value(845_300.0, "msg/s"), "845k");
        assert_eq!(value(71_020.0, "msg/s"), "71.0k");
        assert_eq!(value(12.345, "µs"), "12.3");
        assert_eq!(value(0.2812, "ms"), "0.281");
        assert_eq!(value(735.4, "B"), "735 B");
        assert_eq!(value(5.0 * 1024.0 * 1024.0, "B"), "5.00 MiB");
        assert_eq!(value(f64::NAN, "B"), "—");
    }
}
