//! Topic filters as ACL rules use them: validity. Matching a filter against a topic name is
//! `mqtt_codec::filter_matches`, with MQTT's rules: `+` matches exactly one level (possibly
//! empty), `#` matches the rest including the parent level (`a/#` matches `a`), and a topic
//! starting with `$` is not matched by a filter starting with a wildcard.

/// Whether `filter` is a valid topic filter: non-empty, at most 65535 bytes, `+` and `#` only
/// as whole levels, `#` only as the last level.
#[must_use]
pub fn is_valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > 65_535 {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let is_last = levels.peek().is_none();
        match level {
            "+" => {}
            "#" if is_last => {}
            _ if level.contains(['+', '#']) => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_matches_mqtt_rules() {
        for good in ["a", "#", "+", "a/+/b", "a/#", "/", "+/+", "$SYS/#", "a b/c"] {
            assert!(is_valid_filter(good), "{good}");
        }
        for bad in ["", "a#", "a/#/b", "a+/b", "a/b+", "##", "#/"] {
            assert!(!is_valid_filter(bad), "{bad}");
        }
    }
}
