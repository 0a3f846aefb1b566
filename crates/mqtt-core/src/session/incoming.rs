//! [`Incoming`]: a session's QoS 2 PUBLISHes received and not yet released, in a box that
//! exists only once the client has sent one (most sessions never do, and every session is
//! kept small: 8 bytes where the map is 24).

use std::collections::BTreeMap;

use crate::message::SharedMessage;

/// Incoming QoS 2 packet ids waiting for PUBREL, with the message to route on PUBREL (`None`
/// when it was dropped but the flow must still complete). Reads as the map it holds.
#[derive(Debug, Default)]
#[expect(
    clippy::box_collection,
    reason = "the box is the point: 8 bytes in every session where the map takes 24"
)]
pub(crate) struct Incoming(Option<Box<BTreeMap<u16, Option<SharedMessage>>>>);

impl Incoming {
    /// Whether `packet_id` waits for its PUBREL.
    pub(crate) fn contains_key(&self, packet_id: &u16) -> bool {
        self.0.as_ref().is_some_and(|map| map.contains_key(packet_id))
    }

    /// How many wait.
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |map| map.len())
    }

    /// Records `packet_id` (the map is made on the first); returns what it replaced.
    pub(crate) fn insert(
        &mut self,
        packet_id: u16,
        message: Option<SharedMessage>,
    ) -> Option<Option<SharedMessage>> {
        self.0.get_or_insert_with(Box::default).insert(packet_id, message)
    }

    /// Takes `packet_id` out, if it waited.
    pub(crate) fn remove(&mut self, packet_id: &u16) -> Option<Option<SharedMessage>> {
        self.0.as_mut()?.remove(packet_id)
    }

    /// The waiting messages, by packet id.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Option<SharedMessage>> {
        self.iter().map(|(_, message)| message)
    }

    /// Every waiting packet id with its message, by packet id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u16, &Option<SharedMessage>)> {
        self.0.iter().flat_map(|map| map.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_the_map_it_holds() {
        let mut incoming = Incoming::default();
        assert!(incoming.0.is_none(), "nothing is allocated before the first");
        assert_eq!(
            (incoming.len(), incoming.contains_key(&7), incoming.remove(&7)),
            (0, false, None)
        );
        assert_eq!(incoming.insert(9, None), None);
        assert_eq!(incoming.insert(7, None), None);
        assert_eq!(incoming.insert(7, None), Some(None));
        assert!(incoming.contains_key(&7));
        assert_eq!(incoming.iter().map(|(&id, _)| id).collect::<Vec<_>>(), [7, 9]);
        assert_eq!(incoming.values().count(), 2);
        assert_eq!(incoming.remove(&7), Some(None));
        assert_eq!((incoming.len(), incoming.contains_key(&7)), (1, false));
        assert_eq!(size_of::<Incoming>(), 8);
    }
}
