//! The outgoing messages in flight, by packet id. Ids are handed out in order and mostly
//! acknowledged in order, so they are kept in a window of consecutive ids, one slot per id:
//! finding, adding and removing one is an index, not a tree search. A message left behind
//! while the window moves on (its acknowledgement late, or never coming) moves to a small
//! map of stragglers, so the window stays about as long as the number in flight, whatever the
//! peer does.

use std::collections::{BTreeMap, VecDeque};

/// Packet ids 1..=65535, on a circle.
const IDS: u32 = u16::MAX as u32;

/// Empty slots a new id may leave before it, inside the window; one further away goes to the
/// stragglers.
const MAX_GAP: usize = 64;

/// The id `steps` after `id`, skipping 0.
fn advance(id: u16, steps: usize) -> u16 {
    let position = (u32::from(id) - 1 + (steps as u32 % IDS)) % IDS;
    // `position` < 65535, so the id is at most 65535.
    (position + 1) as u16
}

/// How many steps forward from `from` to `to` (both non-zero).
fn distance(from: u16, to: u16) -> usize {
    ((u32::from(to) + IDS - u32::from(from)) % IDS) as usize
}

/// Values by packet id (never 0).
#[derive(Debug)]
pub(crate) struct InFlightMap<V> {
    /// The id of `slots[0]`.
    base: u16,
    /// One slot per id from `base` on; the first is always taken.
    slots: VecDeque<Option<V>>,
    /// Taken slots.
    live: usize,
    /// Ids the window moved past while they were still in flight.
    stragglers: BTreeMap<u16, V>,
}

impl<V> Default for InFlightMap<V> {
    fn default() -> Self {
        Self { base: 1, slots: VecDeque::new(), live: 0, stragglers: BTreeMap::new() }
    }
}

impl<V> InFlightMap<V> {
    /// Number of ids in flight.
    pub(crate) fn len(&self) -> usize {
        self.live + self.stragglers.len()
    }

    /// The slot of `id` in the window, if the window spans it.
    fn index(&self, id: u16) -> Option<usize> {
        let at = distance(self.base, id);
        (at < self.slots.len()).then_some(at)
    }

    /// The value of `id`.
    pub(crate) fn get(&self, id: u16) -> Option<&V> {
        match self.index(id).and_then(|at| self.slots[at].as_ref()) {
            Some(value) => Some(value),
            None => self.stragglers.get(&id),
        }
    }

    /// The value of `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: u16) -> Option<&mut V> {
        match self.index(id) {
            Some(at) if self.slots[at].is_some() => self.slots[at].as_mut(),
            _ => self.stragglers.get_mut(&id),
        }
    }

    /// Whether `id` is in flight.
    pub(crate) fn contains(&self, id: u16) -> bool {
        self.get(id).is_some()
    }

    /// Adds `id`, which must not be in flight (callers check [`Self::contains`]) nor 0.
    pub(crate) fn insert(&mut self, id: u16, value: V) {
        if self.slots.is_empty() {
            self.base = id;
        }
        let at = distance(self.base, id);
        if at < self.slots.len() {
            self.slots[at] = Some(value);
        } else if at == self.slots.len() {
            // The usual case: the id after the newest.
            self.slots.push_back(Some(value));
            self.live += 1;
            return;
        } else if at - self.slots.len() <= MAX_GAP {
            self.slots.resize_with(at, || None);
            self.slots.push_back(Some(value));
        } else {
            self.stragglers.insert(id, value);
            return;
        }
        self.live += 1;
        self.trim();
    }

    /// Removes `id` and returns its value.
    pub(crate) fn remove(&mut self, id: u16) -> Option<V> {
        let taken = match self.index(id) {
            // The usual case: the oldest, acknowledged first.
            Some(0) => {
                self.base = advance(self.base, 1);
                self.slots.pop_front().flatten()
            }
            Some(at) => self.slots[at].take(),
            None => None,
        };
        let Some(value) = taken else { return self.stragglers.remove(&id) };
        self.live -= 1;
        self.trim();
        Some(value)
    }

    /// Keeps the window short: empty slots at its front go, and while it is more than twice as
    /// long as what it holds (plus a gap), its oldest entries move to the stragglers.
    fn trim(&mut self) {
        loop {
            match self.slots.front() {
                Some(None) => {}
                Some(Some(_)) if self.slots.len() > 2 * self.live + MAX_GAP => {
                    if let Some(Some(value)) = self.slots.pop_front() {
                        self.stragglers.insert(self.base, value);
                        self.live -= 1;
                    }
                    self.base = advance(self.base, 1);
                    continue;
                }
                _ => return,
            }
            self.slots.pop_front();
            self.base = advance(self.base, 1);
        }
    }

    /// Every id in flight with its value, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, &V)> {
        let window = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(at, slot)| Some((advance(self.base, at), slot.as_ref()?)));
        window.chain(self.stragglers.iter().map(|(&id, value)| (id, value)))
    }

    /// Every value in flight, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ids_wrap_past_zero() {
        assert_eq!((advance(65_535, 1), advance(1, 65_535), advance(3, 2)), (1, 1, 5));
        assert_eq!((distance(65_535, 2), distance(2, 65_535), distance(7, 7)), (2, 65_533, 0));
    }

    /// One step: a new id after the last (as `Outgoing::start` picks them), an arbitrary id,
    /// or removing the oldest, the newest or an arbitrary id.
    #[derive(Clone, Debug)]
    enum Op {
        Next,
        Insert(u16),
        RemoveOldest,
        RemoveNewest,
        Remove(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => Just(Op::Next),
            1 => (1u16..=u16::MAX).prop_map(Op::Insert),
            4 => Just(Op::RemoveOldest),
            1 => Just(Op::RemoveNewest),
            1 => (1u16..=u16::MAX).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// Agrees with a `BTreeMap` after any steps, and stays short.
        #[test]
        fn behaves_as_a_map(start in 1u16..=u16::MAX, ops in prop::collection::vec(op(), 1..400)) {
            let mut map = InFlightMap::default();
            let mut model = BTreeMap::new();
            let mut order = VecDeque::new();
            let mut last = start;
            for (n, op) in ops.into_iter().enumerate() {
                let id = match op {
                    Op::Next => {
                        let mut id = advance(last, 1);
                        while model.contains_key(&id) {
                            id = advance(id, 1);
                        }
                        last = id;
                        Some((id, true))
                    }
                    Op::Insert(id) => Some((id, !model.contains_key(&id))),
                    Op::RemoveOldest => order.pop_front().map(|id| (id, false)),
                    Op::RemoveNewest => order.pop_back().map(|id| (id, false)),
                    Op::Remove(id) => Some((id, false)),
                };
                let Some((id, insert)) = id else { continue };
                if insert {
                    map.insert(id, n);
                    model.insert(id, n);
                    order.push_back(id);
                } else if !matches!(op, Op::Insert(_)) {
                    order.retain(|&o| o != id);
                    prop_assert_eq!(map.remove(id), model.remove(&id));
                }
                prop_assert_eq!(map.len(), model.len());
                prop_assert_eq!(map.get(id), model.get(&id));
                let mut all: Vec<_> = map.iter().map(|(id, &v)| (id, v)).collect();
                all.sort_unstable();
                prop_assert_eq!(all, model.iter().map(|(&id, &v)| (id, v)).collect::<Vec<_>>());
                prop_assert!(map.slots.is_empty() || map.slots.len() <= 2 * map.live + MAX_GAP);
            }
        }
    }
}
