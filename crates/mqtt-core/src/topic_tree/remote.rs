//! The other shards' subscriptions in this shard's trie: the plain subscriptions per filter
//! and shard, and the members per shard of each `$share` group. Enough to say which shards a
//! message must go to, whether anyone anywhere matches (v5's "No matching subscribers"), and
//! to pick a group's member on any shard.

use super::{Matched, Node, SessionKey, SharedGroup, TopicTree};
use crate::shard_id::{ShardSet, shard_bit};

/// The other shards' plain subscriptions to one filter. Nothing is allocated while no other
/// shard subscribes to it (a thin pointer keeps a trie node at its unsharded size).
#[derive(Debug, Default)]
pub(super) struct RemoteCounts(Option<Box<Counts>>);

/// [`RemoteCounts`] once some shard subscribes.
#[derive(Debug)]
struct Counts {
    /// The shards whose count is above 0, read by every walk that reaches the node.
    shards: ShardSet,
    /// Subscriptions per shard, indexed by shard.
    per_shard: Vec<u32>,
}

impl RemoteCounts {
    /// Whether no other shard subscribes.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The shards that subscribe.
    pub(super) fn shards(&self) -> ShardSet {
        self.0.as_ref().map_or(0, |counts| counts.shards)
    }

    /// One more subscription on `shard` (of `count`).
    fn add(&mut self, shard: usize, count: usize) {
        let counts = self.0.get_or_insert_with(|| {
            Box::new(Counts { shards: 0, per_shard: vec![0; count.max(shard + 1)] })
        });
        if let Some(subscriptions) = counts.per_shard.get_mut(shard) {
            *subscriptions += 1;
            counts.shards |= shard_bit(shard);
        }
    }

    /// One subscription fewer on `shard`; whether it had one.
    fn remove(&mut self, shard: usize) -> bool {
        let Some(counts) = self.0.as_deref_mut() else { return false };
        let Some(subscriptions) = counts.per_shard.get_mut(shard).filter(|n| **n > 0) else {
            return false;
        };
        *subscriptions -= 1;
        if *subscriptions == 0 {
            counts.shards &= !shard_bit(shard);
            if counts.shards == 0 {
                self.0 = None;
            }
        }
        true
    }
}

/// The shard of the `index`-th member elsewhere, counting members shard by shard.
pub(super) fn shard_at(remote: &[u32], index: usize) -> usize {
    let mut left = index;
    for (shard, &members) in remote.iter().enumerate() {
        match left.checked_sub(members as usize) {
            Some(rest) => left = rest,
            None => return shard,
        }
    }
    // `index` is below the sum of `remote` (the caller picked it so): not reached.
    remote.len().saturating_sub(1)
}

impl TopicTree {
    /// Shard `shard` (of `count`) gained (`added`) or lost a subscription to `filter`, in
    /// `group` if shared.
    pub(crate) fn change_remote(
        &mut self,
        group: Option<&str>,
        filter: &str,
        shard: usize,
        count: usize,
        added: bool,
    ) {
        if added {
            let node = self.node_or_insert(filter);
            match group {
                None => node.remote.add(shard, count),
                Some(name) => {
                    let group = node
                        .groups
                        .entry(name.into())
                        .or_insert_with(|| SharedGroup::new(name, filter));
                    group.remote.resize(count.max(group.remote.len()), 0);
                    if let Some(members) = group.remote.get_mut(shard) {
                        *members += 1;
                    }
                }
            }
            return;
        }
        self.change_at(filter, |node| remove_remote(node, group, shard));
    }

    /// A member of `group` on `filter` here, for a message another shard picked this shard
    /// for: round robin among this shard's members (a round of its own), preferring online
    /// ones.
    pub(crate) fn pick_member(
        &mut self,
        group: &str,
        filter: &str,
        is_online: &dyn Fn(SessionKey) -> bool,
    ) -> Option<Matched> {
        let group = self.group_mut(group, filter)?;
        let len = group.members.len();
        if len == 0 {
            return None;
        }
        let start = group.next_for_others % len;
        let pick = (0..len)
            .map(|offset| (start + offset) % len)
            .find(|&i| is_online(group.members[i].0))
            .unwrap_or(start);
        group.next_for_others = pick + 1;
        let (session, opts) = group.members[pick];
        Some(Matched { session, opts, shared: true })
    }

    /// The first shard after `after` (in a circle of `count`) that has a member of `group` on
    /// `filter`, as far as this shard knows.
    pub(crate) fn next_shard_with_members(
        &mut self,
        group: &str,
        filter: &str,
        after: usize,
        count: usize,
    ) -> Option<usize> {
        let group = self.group_mut(group, filter)?;
        (1..count)
            .map(|step| (after + step) % count)
            .find(|&shard| group.remote.get(shard).is_some_and(|&members| members > 0))
    }

    /// The group `group` on `filter` exactly (the filter's levels, not matched as a topic).
    fn group_mut(&mut self, group: &str, filter: &str) -> Option<&mut SharedGroup> {
        let node =
            filter.split('/').try_fold(&mut self.root, |node, level| node.child_mut(level))?;
        node.groups.get_mut(group)
    }
}

/// Takes one of `shard`'s subscriptions (in `group` if shared) off `node`; whether there was
/// one.
fn remove_remote(node: &mut Node, group: Option<&str>, shard: usize) -> bool {
    match group {
        None => node.remote.remove(shard),
        Some(name) => {
            let Some(shared) = node.groups.get_mut(name) else { return false };
            let Some(members) = shared.remote.get_mut(shard).filter(|members| **members > 0) else {
                return false;
            };
            *members -= 1;
            if shared.is_empty() {
                node.groups.remove(name);
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use mqtt_codec::QoS;

    use super::super::{Elsewhere, SubOpts};
    use super::*;

    fn opts() -> SubOpts {
        SubOpts { qos: QoS::AtMostOnce, no_local: false, retain_as_published: false, id: None }
    }

    fn walk(tree: &mut TopicTree, topic: &str) -> (Vec<u32>, Elsewhere) {
        let mut out = Vec::new();
        let mut elsewhere = Elsewhere::default();
        tree.matches(topic, Some(SessionKey(0)), &|_| true, &mut out, &mut elsewhere);
        (out.iter().map(|m| m.session.0).collect(), elsewhere)
    }

    #[test]
    fn other_shards_plain_subscriptions_are_counted_and_pruned() {
        let mut tree = TopicTree::default();
        tree.change_remote(None, "a/+", 1, 3, true);
        tree.change_remote(None, "a/+", 2, 3, true);
        tree.change_remote(None, "a/#", 2, 3, true);
        assert_eq!(walk(&mut tree, "a/b").1.remote, 0b110);
        assert_eq!(walk(&mut tree, "a/b").1.remote, 0b110, "from the cache");
        assert_eq!(walk(&mut tree, "b").1.remote, 0);
        tree.change_remote(None, "a/+", 1, 3, false);
        assert_eq!(walk(&mut tree, "a/b").1.remote, 0b100);
        tree.change_remote(None, "a/+", 2, 3, false);
        assert_eq!(walk(&mut tree, "a/b").1.remote, 0b100, "a/# still");
        assert_eq!(walk(&mut tree, "a/b/c").1.remote, 0b100);
        tree.change_remote(None, "a/#", 2, 3, false);
        assert_eq!(walk(&mut tree, "a/b").1.remote, 0);
        assert!(tree.root.is_empty());
        assert_eq!(tree.counts(), (0, 0), "only this shard's subscriptions count");
    }

    #[test]
    fn a_walk_that_skipped_a_group_is_not_kept_for_the_next_publisher_in_its_slot() {
        let mut tree = TopicTree::default();
        tree.insert(None, "t", SessionKey(1), opts());
        tree.insert(Some("g"), "t", SessionKey(2), opts());
        let mut plain = Vec::new();
        tree.plain_matches("t", Some(0), &mut plain);
        assert_eq!(plain.iter().map(|m| m.session.0).collect::<Vec<_>>(), [1]);
        assert_eq!(walk(&mut tree, "t").0, [1, 2], "slot 0 still walks and picks the member");
        tree.remove(Some("g"), "t", SessionKey(2));
        assert_eq!(walk(&mut tree, "t").0, [1]);
        let mut plain = Vec::new();
        tree.plain_matches("t", Some(0), &mut plain);
        assert_eq!(plain.len(), 1, "served from the entry the walk above kept");
    }

    #[test]
    fn a_group_picks_round_robin_over_the_members_of_every_shard() {
        let mut tree = TopicTree::default();
        tree.insert(Some("g"), "t", SessionKey(7), opts());
        tree.change_remote(Some("g"), "t", 2, 3, true);
        tree.change_remote(Some("g"), "t", 2, 3, true);
        tree.change_remote(Some("g"), "t", 1, 3, true);
        let picks: Vec<_> = (0..5)
            .map(|_| {
                let (here, elsewhere) = walk(&mut tree, "t");
                match elsewhere.away.as_slice() {
                    [away] => {
                        assert_eq!(&*away.group, "$share/g/t");
                        format!("shard {}", away.shard)
                    }
                    _ => format!("here {here:?}"),
                }
            })
            .collect();
        assert_eq!(picks, ["here [7]", "shard 1", "shard 2", "shard 2", "here [7]"]);
        assert!(tree.remove(Some("g"), "t", SessionKey(7)));
        assert_eq!(tree.next_shard_with_members("g", "t", 0, 3), Some(1));
        assert_eq!(tree.next_shard_with_members("g", "t", 1, 3), Some(2));
        assert_eq!(tree.pick_member("g", "t", &|_| true), None);
        for shard in [1, 2, 2] {
            tree.change_remote(Some("g"), "t", shard, 3, false);
        }
        assert!(tree.root.is_empty());
    }
}
