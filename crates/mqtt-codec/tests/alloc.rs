//! Proves the zero-copy claim with a counting global allocator: once the read buffer is shared,
//! decoding a PUBLISH with a 64-byte payload allocates nothing; the packet's topic and payload
//! are `Bytes` handles into the read buffer, and an empty property list is a null pointer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    MAX_PACKET_SIZE, Packet, PacketId, Properties, PropertyValues, ProtocolVersion, Publish, QoS,
    TopicName, decode, encode,
};

/// Counts allocations made by threads that asked to be counted, each thread its own (the
/// tests run in parallel).
struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

#[expect(
    unsafe_code,
    reason = "a GlobalAlloc impl is unsafe by definition; it only forwards to System"
)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees hold; the const-initialised thread-locals never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made on this thread while `f` runs.
fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

fn publish(qos: QoS) -> Packet {
    let mut publish = Publish::new(
        TopicName::from_static("sensors/building-1/temperature"),
        Bytes::from(vec![7; 64]),
    );
    if qos != QoS::AtMostOnce {
        publish.qos = qos;
        publish.packet_id = PacketId::new(1);
    }
    Packet::Publish(publish)
}

#[test]
fn decoding_a_64_byte_publish_allocates_nothing() {
    for version in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let packet = publish(qos);
            let mut wire = BytesMut::new();
            for _ in 0..100 {
                encode(&packet, version, MAX_PACKET_SIZE, &mut wire).expect("valid");
            }
            // The first split turns the read buffer into a shared one: one small allocation per
            // buffer, not per packet.
            let mut first_packet = None;
            let first = allocations_during(|| {
                first_packet = Some(decode(&mut wire, version, MAX_PACKET_SIZE))
            });
            assert_eq!(first_packet, Some(Ok(Some(packet))));
            assert!(first <= 1, "{first} allocations for the first packet");
            let mut decoded = 0;
            let rest = allocations_during(|| {
                while let Ok(Some(Packet::Publish(p))) = decode(&mut wire, version, MAX_PACKET_SIZE)
                {
                    assert_eq!(p.payload.len(), 64);
                    decoded += 1;
                }
            });
            assert_eq!(decoded, 99);
            assert_eq!(
                rest, 0,
                "{version} {qos:?}: {rest} allocations decoding 99 PUBLISH packets"
            );
        }
    }
}

#[test]
fn an_empty_property_list_allocates_only_when_written_to() {
    let mut properties = Properties::default();
    let mut copy = None;
    let reading = allocations_during(|| {
        copy = Some(properties.clone());
        assert!(properties.is_empty() && properties.topic_alias.is_none());
        assert!(properties.get_mut().is_none());
        assert_eq!(Properties::from(PropertyValues::default()), properties);
    });
    assert_eq!(reading, 0, "{reading} allocations making, cloning and reading an empty list");
    let writing = allocations_during(|| properties.topic_alias = Some(1));
    assert_eq!(writing, 1, "the values are allocated on the first write");
    properties.topic_alias = None;
    assert_eq!(Some(properties), copy, "allocated but empty equals absent");
}
