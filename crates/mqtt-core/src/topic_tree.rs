//! The subscription trie: one node per topic level, `+`/`#` as ordinary child keys, plain
//! subscribers and `$share` groups on the node where their filter ends.
//!
//! Children live in `BTreeMap`s so that matching visits nodes in the same order on every run:
//! the order of delivered messages must not depend on a hasher's random seed.
//!
//! A shard's tree also holds how many subscriptions each other shard has per filter (`remote`,
//! kept up to date by their `Interest` items): enough to say which shards a message must go
//! to, whether it matches anyone anywhere, and to pick a `$share` group's member among every
//! shard's.

mod cache;
mod remote;

use std::collections::BTreeMap;
use std::sync::Arc;

use mqtt_codec::QoS;

use crate::conn::SessionKey;
use crate::shard_id::ShardSet;
use cache::MatchCache;
use remote::RemoteCounts;

/// The per-subscription options the router needs at delivery time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SubOpts {
    /// Granted QoS.
    pub(crate) qos: QoS,
    /// v5 No Local: do not deliver the subscriber's own messages.
    pub(crate) no_local: bool,
    /// v5 Retain As Published: keep the retain flag on live delivery.
    pub(crate) retain_as_published: bool,
    /// v5 Subscription Identifier.
    pub(crate) id: Option<u32>,
}

/// One subscriber picked by a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Matched {
    /// The subscribing session.
    pub(crate) session: SessionKey,
    /// Its options for the filter that matched.
    pub(crate) opts: SubOpts,
    /// Picked from a `$share` group (delivered as its own copy, never merged).
    pub(crate) shared: bool,
}

/// A `$share` group's member picked on another shard: the origin forwards the message to
/// that shard naming the group, and that shard delivers to one of its own members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Away {
    /// The shard whose member was picked.
    pub(crate) shard: usize,
    /// The group's full filter, `$share/{group}/{filter}`.
    pub(crate) group: Arc<str>,
}

/// What a walk found besides this shard's subscribers.
#[derive(Debug, Default)]
pub(crate) struct Elsewhere {
    /// The other shards with a plain subscription matching the topic.
    pub(crate) remote: ShardSet,
    /// `$share` picks that fell on other shards' members.
    pub(crate) away: Vec<Away>,
}

#[derive(Debug)]
struct SharedGroup {
    /// Members in subscription order; round robin walks this list.
    members: Vec<(SessionKey, SubOpts)>,
    /// The round robin's position among this shard's members and then the other shards'.
    next: usize,
    /// The round robin's position among this shard's members for the picks other shards
    /// made here.
    next_for_others: usize,
    /// Members on each other shard, indexed by shard (empty when unsharded).
    remote: Vec<u32>,
    /// `$share/{group}/{filter}`, to name the group to another shard.
    full: Arc<str>,
}

impl SharedGroup {
    fn new(group: &str, filter: &str) -> Self {
        let full = format!("{}{group}/{filter}", crate::topic::SHARE_PREFIX).into();
        Self { members: Vec::new(), next: 0, next_for_others: 0, remote: Vec::new(), full }
    }

    /// Members on other shards.
    fn remote_len(&self) -> usize {
        self.remote.iter().map(|&n| n as usize).sum()
    }

    /// No member on any shard.
    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.remote_len() == 0
    }
}

#[derive(Debug, Default)]
struct Node {
    /// Children by literal level.
    children: BTreeMap<Box<str>, Self>,
    /// The `+` child, kept apart: every match at this level visits it, so it costs a field
    /// read rather than a map search.
    plus: Option<Box<Self>>,
    /// The `#` child, likewise.
    hash: Option<Box<Self>>,
    subscribers: BTreeMap<SessionKey, SubOpts>,
    /// Plain subscriptions to this filter on the other shards.
    remote: RemoteCounts,
    groups: BTreeMap<Box<str>, SharedGroup>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.child_count() == 0 && !self.holds_subscriptions()
    }

    /// Whether a subscription of any shard ends here.
    fn holds_subscriptions(&self) -> bool {
        !self.subscribers.is_empty() || !self.remote.is_empty() || !self.groups.is_empty()
    }

    /// Number of children, wildcards included.
    fn child_count(&self) -> usize {
        self.children.len() + usize::from(self.plus.is_some()) + usize::from(self.hash.is_some())
    }

    /// The child for filter level `level` (`+`, `#` or a literal), if there is one.
    fn child_mut(&mut self, level: &str) -> Option<&mut Self> {
        match level {
            "+" => self.plus.as_deref_mut(),
            "#" => self.hash.as_deref_mut(),
            literal => self.children.get_mut(literal),
        }
    }

    /// The child for filter level `level`, created if missing.
    fn child_or_insert(&mut self, level: &str) -> &mut Self {
        match level {
            "+" => self.plus.get_or_insert_with(Box::default),
            "#" => self.hash.get_or_insert_with(Box::default),
            literal => self.children.entry(literal.into()).or_default(),
        }
    }

    /// Removes the child for filter level `level`.
    fn remove_child(&mut self, level: &str) {
        match level {
            "+" => self.plus = None,
            "#" => self.hash = None,
            literal => {
                self.children.remove(literal);
            }
        }
    }

    /// Takes every child out, wildcards included.
    fn take_children(&mut self) -> impl Iterator<Item = Self> {
        let wildcards = [self.plus.take(), self.hash.take()].into_iter().flatten().map(|b| *b);
        std::mem::take(&mut self.children).into_values().chain(wildcards)
    }
}

/// Dropped level by level from a list rather than by the recursive drop of the maps: a branch
/// of thousands of levels (a filter restored from a file has no depth limit) must not exhaust
/// the stack.
impl Drop for Node {
    fn drop(&mut self) {
        let mut below: Vec<Self> = self.take_children().collect();
        while let Some(mut node) = below.pop() {
            below.extend(node.take_children());
        }
    }
}

/// Subscriptions of every session, indexed by filter level.
#[derive(Debug, Default)]
pub(crate) struct TopicTree {
    root: Node,
    count: usize,
    shared_count: usize,
    /// The last walk of each publisher, made stale by every change.
    cache: MatchCache,
}

impl TopicTree {
    /// Adds or replaces `session`'s subscription to `filter` (in `group` if shared).
    /// Returns true if it replaced an existing one.
    pub(crate) fn insert(
        &mut self,
        group: Option<&str>,
        filter: &str,
        session: SessionKey,
        opts: SubOpts,
    ) -> bool {
        let node = self.node_or_insert(filter);
        let existed = match group {
            None => node.subscribers.insert(session, opts).is_some(),
            Some(name) => {
                let group = node
                    .groups
                    .entry(name.into())
                    .or_insert_with(|| SharedGroup::new(name, filter));
                match group.members.iter_mut().find(|(s, _)| *s == session) {
                    Some(member) => {
                        member.1 = opts;
                        true
                    }
                    None => {
                        group.members.push((session, opts));
                        false
                    }
                }
            }
        };
        if !existed {
            match group {
                None => self.count += 1,
                Some(_) => self.shared_count += 1,
            }
        }
        existed
    }

    /// The node where `filter` ends, made if missing; every match is stale from now on.
    fn node_or_insert(&mut self, filter: &str) -> &mut Node {
        self.cache.clear();
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.child_or_insert(level);
        }
        node
    }

    /// Removes `session`'s subscription to `filter`; returns whether it existed.
    pub(crate) fn remove(
        &mut self,
        group: Option<&str>,
        filter: &str,
        session: SessionKey,
    ) -> bool {
        if !self.change_at(filter, |node| remove_at(node, group, session)) {
            return false;
        }
        match group {
            None => self.count -= 1,
            Some(_) => self.shared_count -= 1,
        }
        true
    }

    /// Applies `change` to the node where `filter` ends, if there is one, then prunes the
    /// branch that no longer leads to any subscription; returns what `change` returned.
    fn change_at(&mut self, filter: &str, change: impl FnOnce(&mut Node) -> bool) -> bool {
        self.cache.clear();
        let levels: Vec<&str> = filter.split('/').collect();
        // Down to the node where `filter` ends, noting the deepest node on the way that holds
        // more than the branch toward it: if the removal empties the end node, the branch
        // below that one goes. A loop, not recursion: a filter may have thousands of levels.
        let mut node = &mut self.root;
        let mut keep = 0;
        for (depth, level) in levels.iter().enumerate() {
            if node.child_count() > 1 || node.holds_subscriptions() {
                keep = depth;
            }
            let Some(child) = node.child_mut(level) else { return false };
            node = child;
        }
        if !change(node) {
            return false;
        }
        if node.is_empty() {
            // The path was walked just now: every level up to `keep` exists.
            let parent =
                levels[..keep].iter().try_fold(&mut self.root, |node, level| node.child_mut(level));
            if let Some(parent) = parent {
                parent.remove_child(levels[keep]);
            }
        }
        true
    }

    /// Number of plain and shared subscriptions.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.count, self.shared_count)
    }

    /// Appends every subscription matching `topic` to `out`: all plain subscribers, and one
    /// member per `$share` group, picked round robin among the members of every shard,
    /// preferring members here for which `is_online` is true (members elsewhere count as
    /// online). Picks on other shards go to `elsewhere.away`, which must be empty, and a plain
    /// match on another shard adds that shard to `elsewhere.remote`. `publisher`, the session publishing,
    /// if any, finds the result of its last walk (see `cache`).
    pub(crate) fn matches(
        &mut self,
        topic: &str,
        publisher: Option<SessionKey>,
        is_online: &dyn Fn(SessionKey) -> bool,
        out: &mut Vec<Matched>,
        elsewhere: &mut Elsewhere,
    ) {
        let mut walk = Walk { is_online, out, elsewhere, groups: true, skipped_groups: false };
        let Some(SessionKey(slot)) = publisher else {
            collect(&mut self.root, Some(topic), true, &mut walk);
            return;
        };
        let slot = slot as usize;
        if self.cache.extend(slot, topic, walk.out, walk.elsewhere) {
            return;
        }
        let start = walk.out.len();
        collect(&mut self.root, Some(topic), true, &mut walk);
        self.cache.keep(slot, topic, &walk.out[start..], walk.elsewhere);
    }

    /// Appends the plain subscriptions matching `topic` to `out`, and no `$share` member: the
    /// walk for a message another shard routed, which picked for the groups itself. `slot`,
    /// standing for the origin's publisher, if any, finds the result of its last walk (an
    /// entry is kept only if the walk met no group, so it serves any walk of the topic).
    pub(crate) fn plain_matches(
        &mut self,
        topic: &str,
        slot: Option<usize>,
        out: &mut Vec<Matched>,
    ) {
        let mut elsewhere = Elsewhere::default();
        if slot.is_some_and(|slot| self.cache.extend(slot, topic, out, &mut elsewhere)) {
            return;
        }
        let start = out.len();
        let mut walk = Walk {
            is_online: &|_| true,
            out,
            elsewhere: &mut elsewhere,
            groups: false,
            skipped_groups: false,
        };
        collect(&mut self.root, Some(topic), true, &mut walk);
        if let (Some(slot), false) = (slot, walk.skipped_groups) {
            self.cache.keep(slot, topic, &walk.out[start..], walk.elsewhere);
        }
    }
}

/// What a walk of the trie carries along.
struct Walk<'a> {
    is_online: &'a dyn Fn(SessionKey) -> bool,
    out: &'a mut Vec<Matched>,
    elsewhere: &'a mut Elsewhere,
    /// Pick a member of each `$share` group met.
    groups: bool,
    /// A group was met and not picked for (`groups` false).
    skipped_groups: bool,
}

/// Removes `session`'s subscription (in `group` if shared) from `node`, where its filter ends.
fn remove_at(node: &mut Node, group: Option<&str>, session: SessionKey) -> bool {
    match group {
        None => node.subscribers.remove(&session).is_some(),
        Some(name) => {
            let Some(shared) = node.groups.get_mut(name) else { return false };
            let Some(at) = shared.members.iter().position(|(s, _)| *s == session) else {
                return false;
            };
            shared.members.remove(at);
            if shared.is_empty() {
                node.groups.remove(name);
            } else if shared.next > at {
                shared.next -= 1;
            }
            true
        }
    }
}

/// Walks the trie for `topic` (the levels not consumed yet; `None` once all are), splitting
/// as it goes so that matching allocates nothing. Recursive, one call per level of `topic`:
/// topics the core routes have at most 200 levels (the codec refuses deeper ones) plus a
/// `mount_point`'s.
fn collect(node: &mut Node, topic: Option<&str>, first: bool, walk: &mut Walk<'_>) {
    let Some(topic) = topic else {
        take_all(node, walk);
        // `a/#` also matches `a` itself.
        if let Some(hash) = node.hash.as_deref_mut() {
            take_all(hash, walk);
        }
        return;
    };
    // A byte search: `/` is ASCII, and `str::split_once` costs a char searcher per level.
    let (level, rest) = match topic.bytes().position(|b| b == b'/') {
        Some(at) => (&topic[..at], Some(&topic[at + 1..])),
        None => (topic, None),
    };
    // [v5 MQTT-4.7.2-1] a leading wildcard does not match a `$` topic.
    let wildcards_apply = !(first && level.starts_with('$'));
    if wildcards_apply {
        if let Some(hash) = node.hash.as_deref_mut() {
            take_all(hash, walk);
        }
        if let Some(plus) = node.plus.as_deref_mut() {
            collect(plus, rest, false, walk);
        }
    }
    if level != "+" && level != "#" {
        if let Some(child) = node.children.get_mut(level) {
            collect(child, rest, false, walk);
        }
    }
}

fn take_all(node: &mut Node, walk: &mut Walk<'_>) {
    walk.out.extend(node.subscribers.iter().map(|(&session, &opts)| Matched {
        session,
        opts,
        shared: false,
    }));
    walk.elsewhere.remote |= node.remote.shards();
    if !walk.groups {
        walk.skipped_groups |= !node.groups.is_empty();
        return;
    }
    for group in node.groups.values_mut() {
        let here = group.members.len();
        // Members here come first, then those of each other shard, in shard order.
        let len = here + group.remote_len();
        if len == 0 {
            continue;
        }
        let start = group.next % len;
        let pick = (0..len)
            .map(|offset| (start + offset) % len)
            .find(|&i| i >= here || (walk.is_online)(group.members[i].0))
            .unwrap_or(start);
        group.next = (pick + 1) % len;
        match group.members.get(pick) {
            Some(&(session, opts)) => walk.out.push(Matched { session, opts, shared: true }),
            None => {
                let shard = remote::shard_at(&group.remote, pick - here);
                walk.elsewhere.away.push(Away { shard, group: group.full.clone() });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(qos: QoS) -> SubOpts {
        SubOpts { qos, no_local: false, retain_as_published: false, id: None }
    }

    fn matched(tree: &mut TopicTree, topic: &str) -> Vec<(u32, bool)> {
        let mut out = Vec::new();
        tree.matches(topic, Some(SessionKey(0)), &|_| true, &mut out, &mut Elsewhere::default());
        out.iter().map(|m| (m.session.0, m.shared)).collect()
    }

    #[test]
    fn exact_plus_and_hash_filters_match() {
        let mut tree = TopicTree::default();
        tree.insert(None, "a/b", SessionKey(1), opts(QoS::AtMostOnce));
        tree.insert(None, "a/+", SessionKey(2), opts(QoS::AtMostOnce));
        tree.insert(None, "a/#", SessionKey(3), opts(QoS::AtMostOnce));
        tree.insert(None, "#", SessionKey(4), opts(QoS::AtMostOnce));
        let mut got = matched(&mut tree, "a/b");
        got.sort_unstable();
        assert_eq!(got, [(1, false), (2, false), (3, false), (4, false)]);
        let mut got = matched(&mut tree, "a");
        got.sort_unstable();
        assert_eq!(got, [(3, false), (4, false)]);
        assert_eq!(matched(&mut tree, "$SYS/x"), []);
    }

    #[test]
    fn a_topic_routed_again_sees_every_change_of_subscriptions() {
        let mut tree = TopicTree::default();
        tree.insert(None, "a/b", SessionKey(1), opts(QoS::AtMostOnce));
        assert_eq!(matched(&mut tree, "a/b"), [(1, false)]);
        assert_eq!(matched(&mut tree, "a/b"), [(1, false)], "from the cache");
        tree.insert(None, "a/+", SessionKey(2), opts(QoS::AtLeastOnce));
        assert_eq!(matched(&mut tree, "a/b"), [(2, false), (1, false)]);
        tree.insert(None, "a/+", SessionKey(2), opts(QoS::ExactlyOnce));
        let mut out = Vec::new();
        tree.matches("a/b", Some(SessionKey(0)), &|_| true, &mut out, &mut Elsewhere::default());
        assert_eq!(out[0].opts.qos, QoS::ExactlyOnce, "changed options are seen");
        assert!(tree.remove(None, "a/b", SessionKey(1)));
        assert_eq!(matched(&mut tree, "a/b"), [(2, false)]);
        // A shared pick moves on every message, cached or not.
        tree.insert(Some("g"), "a/b", SessionKey(3), opts(QoS::AtMostOnce));
        tree.insert(Some("g"), "a/b", SessionKey(4), opts(QoS::AtMostOnce));
        assert_eq!(matched(&mut tree, "a/b"), [(2, false), (3, true)]);
        assert_eq!(matched(&mut tree, "a/b"), [(2, false), (4, true)]);
    }

    #[test]
    fn removing_the_last_subscription_prunes_the_branch() {
        let mut tree = TopicTree::default();
        tree.insert(None, "a/b/c", SessionKey(1), opts(QoS::AtMostOnce));
        assert!(tree.remove(None, "a/b/c", SessionKey(1)));
        assert!(!tree.remove(None, "a/b/c", SessionKey(1)));
        assert!(tree.root.is_empty());
        assert_eq!(tree.counts(), (0, 0));
        // Only the branch nothing else needs goes.
        for (session, filter) in [(1, "a/b/c/d"), (2, "a/b"), (3, "a/x"), (4, "a/b/c/d/e")] {
            tree.insert(None, filter, SessionKey(session), opts(QoS::AtMostOnce));
        }
        assert!(tree.remove(None, "a/b/c/d/e", SessionKey(4)));
        assert!(tree.remove(None, "a/b/c/d", SessionKey(1)));
        assert_eq!(matched(&mut tree, "a/b"), [(2, false)]);
        assert!(tree.root.children["a"].children["b"].children.is_empty());
        assert!(tree.remove(None, "a/b", SessionKey(2)));
        assert_eq!(tree.root.children["a"].children.keys().collect::<Vec<_>>(), [&"x".into()]);
    }

    #[test]
    fn a_filter_of_32768_levels_needs_no_deep_stack() {
        // Inserting, removing and dropping walk levels in loops: a 64 KiB stack is plenty.
        let deep = "a/".repeat(32_767) + "#";
        let run = move || {
            let mut tree = TopicTree::default();
            tree.insert(None, &deep, SessionKey(1), opts(QoS::AtMostOnce));
            tree.insert(None, &deep.replace('#', "b"), SessionKey(2), opts(QoS::AtMostOnce));
            assert_eq!(matched(&mut tree, &"a/".repeat(100)), []);
            assert!(tree.remove(None, &deep, SessionKey(1)));
            assert_eq!(tree.counts(), (1, 0));
            drop(tree);
        };
        let thread = std::thread::Builder::new().stack_size(64 * 1024).spawn(run).unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn shared_groups_deliver_round_robin_to_online_members() {
        let mut tree = TopicTree::default();
        tree.insert(Some("g"), "t", SessionKey(1), opts(QoS::AtMostOnce));
        tree.insert(Some("g"), "t", SessionKey(2), opts(QoS::AtMostOnce));
        tree.insert(Some("g"), "t", SessionKey(3), opts(QoS::AtMostOnce));
        let picks: Vec<_> = (0..4).map(|_| matched(&mut tree, "t")[0].0).collect();
        assert_eq!(picks, [1, 2, 3, 1]);
        let mut out = Vec::new();
        tree.matches("t", None, &|s| s == SessionKey(3), &mut out, &mut Elsewhere::default());
        assert_eq!(out[0].session, SessionKey(3));
        assert_eq!(tree.counts(), (0, 3));
    }
}
