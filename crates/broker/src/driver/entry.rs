//! [`Connection`]: what the driver keeps per open connection, packed into 24 bytes (every
//! open connection has an entry in the driver's map, whose buckets are this plus the id).

use mqtt_codec::ProtocolVersion;

use crate::outbox::OutboxSender;

/// `staged` when nothing is staged.
const NOT_STAGED: u32 = u32::MAX;
/// The bits of `flags` that hold the protocol of the CONNECT.
const PROTOCOL: u8 = 0b0011;
/// The bits of `flags` that hold the protocol counted on the gauge (0: not counted).
const CONNECTED_SHIFT: u8 = 2;
/// The bit of `flags` set while QoS 0 messages to it are being dropped.
const DROPPING: u8 = 0b1_0000;

/// What the driver keeps per open connection.
#[derive(Debug)]
pub(super) struct Connection {
    /// Where its packets go.
    pub(super) outbox: OutboxSender,
    /// Where its batch of packets staged since its task was last woken is in
    /// `Driver::staged`; [`NOT_STAGED`] while nothing is staged.
    staged: u32,
    /// The listener it was accepted on, while connected (an index beyond `u16`, never seen in
    /// practice, counts as "internal" on the gauge, as one beyond the listeners does).
    listener: u16,
    /// Packed (see [`Self::protocol`], [`Self::connected`], [`Self::set_dropping`]): the
    /// protocol of its CONNECT, the protocol it is counted under on the gauge once accepted,
    /// and whether its QoS 0 messages are being dropped.
    flags: u8,
}

/// `version` as two bits, never 0.
fn bits(version: ProtocolVersion) -> u8 {
    match version {
        ProtocolVersion::V3_1 => 1,
        ProtocolVersion::V3_1_1 => 2,
        ProtocolVersion::V5 => 3,
    }
}

/// The version of two bits made by [`bits`]; `None` for 0.
fn version(bits: u8) -> Option<ProtocolVersion> {
    match bits & PROTOCOL {
        1 => Some(ProtocolVersion::V3_1),
        2 => Some(ProtocolVersion::V3_1_1),
        3 => Some(ProtocolVersion::V5),
        _ => None,
    }
}

impl Connection {
    /// A connection just opened: MQTT 3.1.1 until its CONNECT says otherwise, nothing
    /// staged, not counted.
    pub(super) fn new(outbox: OutboxSender) -> Self {
        Self { outbox, staged: NOT_STAGED, listener: 0, flags: bits(ProtocolVersion::V3_1_1) }
    }

    /// Protocol of the CONNECT: how packets to it are encoded.
    pub(super) fn protocol(&self) -> ProtocolVersion {
        version(self.flags).unwrap_or(ProtocolVersion::V3_1_1)
    }

    /// Its CONNECT arrived.
    pub(super) fn set_protocol(&mut self, protocol: ProtocolVersion) {
        self.flags = (self.flags & !PROTOCOL) | bits(protocol);
    }

    /// Where its staged batch is in `Driver::staged`, if it has one.
    pub(super) fn staged(&self) -> Option<u32> {
        (self.staged != NOT_STAGED).then_some(self.staged)
    }

    /// Its batch is at `index` of `Driver::staged` (`None`: it was handed over). An index
    /// beyond what fits (never: fewer connections are open) reads as nothing staged.
    pub(super) fn set_staged(&mut self, index: Option<u32>) {
        self.staged = index.unwrap_or(NOT_STAGED);
    }

    /// Records whether QoS 0 messages to it are being dropped (logged once per episode, as
    /// Mosquitto does for its queue); returns whether they were.
    pub(super) fn set_dropping(&mut self, dropping: bool) -> bool {
        let was = self.flags & DROPPING != 0;
        self.flags = if dropping { self.flags | DROPPING } else { self.flags & !DROPPING };
        was
    }

    /// Once its CONNACK accepted it: the listener and protocol under which it is counted on
    /// the `culex_clients_connected` gauge, decremented when the connection is forgotten.
    /// (The labels, not the gauge's handle: every open connection has an entry.)
    pub(super) fn connected(&self) -> Option<(usize, ProtocolVersion)> {
        version(self.flags >> CONNECTED_SHIFT)
            .map(|protocol| (usize::from(self.listener), protocol))
    }

    /// Its CONNACK accepted it on `listener`: it is counted under its protocol from now on.
    /// Returns the labels it was counted under before, if it was, and the listener as counted
    /// now.
    pub(super) fn accept(&mut self, listener: usize) -> (usize, Option<(usize, ProtocolVersion)>) {
        let previous = self.connected();
        self.listener = u16::try_from(listener).unwrap_or(u16::MAX);
        let connected = bits(self.protocol()) << CONNECTED_SHIFT;
        self.flags = (self.flags & !(PROTOCOL << CONNECTED_SHIFT)) | connected;
        (usize::from(self.listener), previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::outbox;

    #[test]
    fn an_entry_is_24_bytes() {
        // With its 8-byte id, a bucket of the driver's map is 32 bytes.
        assert_eq!(size_of::<Connection>(), 24);
    }

    #[test]
    fn the_packed_fields_read_back_as_set() {
        let (sender, _receiver) = outbox();
        let mut entry = Connection::new(sender);
        assert_eq!(
            (entry.protocol(), entry.staged(), entry.connected()),
            (ProtocolVersion::V3_1_1, None, None)
        );
        entry.set_staged(Some(7));
        assert_eq!(entry.staged(), Some(7));
        entry.set_staged(None);
        assert_eq!(entry.staged(), None);
        assert!(!entry.set_dropping(true));
        assert!(entry.set_dropping(true));
        for protocol in [ProtocolVersion::V3_1, ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
            entry.set_protocol(protocol);
            assert_eq!(entry.protocol(), protocol);
        }
        assert_eq!(entry.accept(3), (3, None));
        entry.set_protocol(ProtocolVersion::V5);
        // Counted under the protocol it had when accepted, whatever comes later.
        assert_eq!(entry.connected(), Some((3, ProtocolVersion::V3_1_1)));
        assert_eq!(
            entry.accept(1 << 20),
            (usize::from(u16::MAX), Some((3, ProtocolVersion::V3_1_1)))
        );
        assert_eq!(entry.connected(), Some((usize::from(u16::MAX), ProtocolVersion::V5)));
        assert!(entry.set_dropping(false));
        assert_eq!(entry.protocol(), ProtocolVersion::V5);
    }
}
