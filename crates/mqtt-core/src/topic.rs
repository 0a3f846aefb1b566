//! Topic rules beyond the codec's syntax checks: the shared-subscription form
//! `$share/{group}/{filter}`. Matching a filter against a topic is `mqtt_codec::filter_matches`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
