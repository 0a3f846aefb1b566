//! Fuzz target for the client's incoming path (culex-client): the bytes a broker sends,
//! decoded as `Client` decodes them and fed to its `ClientSession`, with the `-d` line
//! written for each packet.
//!
//! The first input byte picks the version (`% 3`), the in-flight window (bits 2..=3) and
//! whether the session first publishes at QoS 1 and 2 and subscribes (bit 4), so that acks
//! have something to match; the rest is the byte stream. Checked: no panic; every packet the
//! session queues in answer encodes; a session error ends the stream, as it ends the
//! connection.
#![no_main]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use culex_client::debug::received_line;
use culex_client::session::{ClientSession, SessionConfig};
use libfuzzer_sys::fuzz_target;
use mqtt_codec::{
    Connect, MAX_PACKET_SIZE, MqttString, Properties, ProtocolVersion, Publish, QoS,
    SubscriptionOptions, TopicFilter, TopicName, decode, encode,
};

/// Encodes every packet the session queued, as the client writes them.
fn drain(session: &mut ClientSession, version: ProtocolVersion) {
    while let Some(transmit) = session.poll_transmit() {
        let mut wire = BytesMut::new();
        if let Err(err) = encode(&transmit.packet, version, MAX_PACKET_SIZE, &mut wire) {
            panic!("the session queued {:?}, which does not encode: {err}", transmit.packet);
        }
    }
    while session.poll_event().is_some() {}
    while session.poll_warning().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else { return };
    let version = [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5]
        [usize::from(selector % 3)];
    let mut now = Instant::now();
    let config = SessionConfig {
        protocol: version,
        keep_alive: 60,
        max_inflight: u16::from((selector >> 2) & 3),
        client_id: Some("fuzz".into()),
    };
    let mut session = ClientSession::new(config, now);
    session.connect(Connect::new(version, MqttString::from_static("fuzz")), now);
    if selector & 0x10 != 0 {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce] {
            let mut publish = Publish::new(TopicName::from_static("a/b"), Bytes::from_static(b"x"));
            publish.qos = qos;
            session.publish(publish, now);
        }
        let filter = (TopicFilter::from_static("a/#"), SubscriptionOptions::default());
        session.subscribe(vec![filter], Properties::default(), now);
        session.unsubscribe(vec![TopicFilter::from_static("a/#")], Properties::default(), now);
    }
    drain(&mut session, version);

    let mut buf = BytesMut::from(stream);
    while let Ok(Some(packet)) = decode(&mut buf, version, MAX_PACKET_SIZE) {
        now += Duration::from_secs(1);
        let _ = received_line(session.client_id(), version, &packet);
        let result = session.handle_packet(packet, now);
        drain(&mut session, version);
        if result.is_err() {
            return;
        }
        if session.poll_timeout().is_some_and(|deadline| deadline <= now)
            && session.handle_timeout(now).is_err()
        {
            return;
        }
        drain(&mut session, version);
    }
});
