//! Topic rules beyond the codec's syntax checks: filter-to-topic matching (with the `$`-topic
//! rule) and the shared-subscription form `$share/{group}/{filter}`.

/// A subscription filter split into its optional share group and the filter proper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SplitFilter<'a> {
    /// `Some(group)` for `$share/{group}/{filter}`.
    pub(crate) group: Option<&'a str>,
    /// The filter that is matched against topics.
    pub(crate) filter: &'a str,
}

/// Why a filter is not acceptable even though the codec found it well-formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidShare;

pub(crate) const SHARE_PREFIX: &str = "$share/";

/// Splits `$share/{group}/{filter}`; other filters come back with `group: None`.
///
/// The group must be non-empty and contain no wildcard, and a filter must follow it
/// ([v5 MQTT-4.8.2-1], [v5 MQTT-4.8.2-2]).
pub(crate) fn split_shared(filter: &str) -> Result<SplitFilter<'_>, InvalidShare> {
    let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
        if filter == "$share" {
            return Err(InvalidShare);
        }
        return Ok(SplitFilter { group: None, filter });
    };
    let (group, inner) = rest.split_once('/').ok_or(InvalidShare)?;
    if group.is_empty() || group.contains(['+', '#']) || inner.is_empty() {
        return Err(InvalidShare);
    }
    Ok(SplitFilter { group: Some(group), filter: inner })
}

/// Whether `filter` (already validated: `+` whole levels, `#` last) matches `topic`.
///
/// Topics starting with `$` are not matched by a filter starting with a wildcard
/// ([v5 MQTT-4.7.2-1]).
pub(crate) fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match level {
            "#" => return true,
            "+" => {
                if topic_levels.next().is_none() {
                    return false;
                }
            }
            exact => {
                if topic_levels.next() != Some(exact) {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_by_level() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(!matches("a/+/c", "a/b/d"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("#", "a/b"));
        assert!(matches("+", ""));
        assert!(matches("+/+", "/a"));
        assert!(!matches("+", "a/b"));
        assert!(!matches("a/b", "a"));
        assert!(!matches("a", "a/b"));
        assert!(matches("a//b", "a//b"));
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        assert!(!matches("#", "$SYS/broker"));
        assert!(!matches("+/broker", "$SYS/broker"));
        assert!(matches("$SYS/#", "$SYS/broker"));
        assert!(matches("a/#", "a/$b"));
    }

    #[test]
    fn shared_filters_split_into_group_and_filter() {
        assert_eq!(
            split_shared("$share/g/a/#"),
            Ok(SplitFilter { group: Some("g"), filter: "a/#" })
        );
        assert_eq!(split_shared("a/b"), Ok(SplitFilter { group: None, filter: "a/b" }));
        assert_eq!(split_shared("$share/g"), Err(InvalidShare));
        assert_eq!(split_shared("$share//a"), Err(InvalidShare));
        assert_eq!(split_shared("$share/+/a"), Err(InvalidShare));
        assert_eq!(split_shared("$share/g/"), Err(InvalidShare));
        assert_eq!(split_shared("$share"), Err(InvalidShare));
    }
}
