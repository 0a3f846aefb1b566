//! Mosquitto's `-v` lines for packets and core log events: the text of each line lives here so
//! the driver stays about routing. Formats are Mosquitto 2.0.11's (reference §6).

use std::fmt::Write as _;

use mqtt_codec::{Packet, ProtocolVersion, Publish, QoS};
use mqtt_core::{DisconnectReason, DropReason, LogEvent, PeerInfo};

use crate::config::LogTypes;
use crate::log;
use crate::log::Logger;

/// `(d0, q1, r0, m1, 'topic', ... (7 bytes))`, the tail of every PUBLISH line.
fn publish_tail(publish: &Publish) -> String {
    mounted_publish_tail(publish, "")
}

/// [`publish_tail`] with the topic under `mount` (a listener's `mount_point`).
fn mounted_publish_tail(publish: &Publish, mount: &str) -> String {
    format!(
        "(d{}, q{}, r{}, m{}, '{mount}{}', ... ({} bytes))",
        u8::from(publish.dup),
        publish.qos.as_u8(),
        u8::from(publish.retain),
        publish.packet_id.map_or(0, |id| id.get()),
        publish.topic.as_str(),
        publish.payload.len()
    )
}

/// The `Received PUBLISH` line, with the topic under the listener's `mount_point` as
/// Mosquitto shows it. The driver logs it only once the core has not dropped the message:
/// Mosquitto logs `Denied PUBLISH` / `Dropped too large PUBLISH` instead of it.
pub(crate) fn received_publish(id: &str, publish: &Publish, mount_point: Option<&str>) -> String {
    let tail = mounted_publish_tail(publish, mount_point.unwrap_or(""));
    format!("Received PUBLISH from {id} {tail}")
}

/// The `(Mid: 7, RC:0)` (received) or `(m7, rc0)` (sent) of a PUBACK, PUBREC, PUBREL or
/// PUBCOMP line; `None` for other packets. Mosquitto shows the reason code of the PUBACK and
/// PUBCOMP it receives and of the PUBACK and PUBREC it sends only.
fn ack_detail(packet: &Packet, received: bool) -> Option<String> {
    let (ack, with_reason) = match packet {
        Packet::PubAck(ack) => (ack, true),
        Packet::PubRec(ack) => (ack, !received),
        Packet::PubRel(ack) => (ack, false),
        Packet::PubComp(ack) => (ack, received),
        _ => return None,
    };
    let (mid, rc) = (ack.packet_id.get(), ack.reason.as_u8());
    Some(match (received, with_reason) {
        (true, true) => format!("(Mid: {mid}, RC:{rc})"),
        (true, false) => format!("(Mid: {mid})"),
        (false, true) => format!("(m{mid}, rc{rc})"),
        (false, false) => format!("(m{mid})"),
    })
}

/// Lines for a packet received from `id` (CONNECT is reported through `LogEvent`s instead,
/// PUBLISH through [`received_publish`]). SUBSCRIBE shows the QoS granted under the
/// listener's `max_qos`, as Mosquitto does.
pub(crate) fn received(logger: &Logger, id: &str, packet: &Packet, max_qos: QoS) {
    match packet {
        Packet::Subscribe(subscribe) => {
            log!(logger, DEBUG, "Received SUBSCRIBE from {id}");
            for (filter, options) in &subscribe.filters {
                let qos = options.qos.min(max_qos).as_u8();
                log!(logger, DEBUG, "\t{} (QoS {qos})", filter.as_str());
                log!(logger, SUBSCRIBE, "{id} {qos} {}", filter.as_str());
            }
        }
        Packet::Unsubscribe(unsubscribe) => {
            log!(logger, DEBUG, "Received UNSUBSCRIBE from {id}");
            for filter in &unsubscribe.filters {
                log!(logger, DEBUG, "\t{}", filter.as_str());
                log!(logger, UNSUBSCRIBE, "{id} {}", filter.as_str());
            }
        }
        Packet::PingReq => log!(logger, DEBUG, "Received PINGREQ from {id}"),
        Packet::Disconnect(_) => log!(logger, DEBUG, "Received DISCONNECT from {id}"),
        Packet::Auth(auth) => {
            let method = auth.properties.authentication_method.as_ref().map_or("", |m| m.as_str());
            log!(logger, DEBUG, "Received AUTH from {id} (rc{}, {method})", auth.reason.as_u8());
        }
        _ => {
            if let Some(detail) = ack_detail(packet, true) {
                log!(logger, DEBUG, "Received {} from {id} {detail}", packet.packet_type());
            }
        }
    }
}

/// Lines for a packet sent to `id`. `protocol` is the connection's, for the v3 CONNACK code.
pub(crate) fn sending(logger: &Logger, id: &str, packet: &Packet, protocol: ProtocolVersion) {
    match packet {
        Packet::ConnAck(connack) => {
            let code = match protocol {
                ProtocolVersion::V5 => connack.reason.as_u8(),
                _ => connack.reason.to_v3_connack(),
            };
            log!(
                logger,
                DEBUG,
                "Sending CONNACK to {id} ({}, {code})",
                u8::from(connack.session_present)
            );
        }
        Packet::Publish(publish) => {
            log!(logger, DEBUG, "Sending PUBLISH to {id} {}", publish_tail(publish))
        }
        Packet::SubAck(_) => log!(logger, DEBUG, "Sending SUBACK to {id}"),
        Packet::UnsubAck(_) => log!(logger, DEBUG, "Sending UNSUBACK to {id}"),
        Packet::PingResp => log!(logger, DEBUG, "Sending PINGRESP to {id}"),
        _ => {
            if let Some(detail) = ack_detail(packet, false) {
                log!(logger, DEBUG, "Sending {} to {id} {detail}", packet.packet_type());
            }
        }
    }
}

/// `New connection from 127.0.0.1:40986 on port 1883.`
pub(crate) fn new_connection(logger: &Logger, peer: &PeerInfo, listener_port: u16) {
    logger.connection(
        LogTypes::NOTICE,
        format_args!("New connection from {}:{} on port {listener_port}.", peer.address, peer.port),
    );
}

/// `Client connection from 127.0.0.1 denied: max_connections exceeded.`
pub(crate) fn max_connections(logger: &Logger, address: &str) {
    log!(logger, NOTICE, "Client connection from {address} denied: max_connections exceeded.");
}

/// The line(s) for one core log event.
pub(crate) fn event(logger: &Logger, event: &LogEvent) {
    match event {
        LogEvent::ClientConnected {
            peer,
            client_id,
            protocol,
            clean_start,
            keep_alive,
            username,
            bridge,
            ..
        } => {
            if !logger.connection_enabled(LogTypes::NOTICE) {
                return;
            }
            let p = match protocol {
                ProtocolVersion::V3_1 => 1,
                ProtocolVersion::V3_1_1 => 2,
                ProtocolVersion::V5 => 5,
            };
            let mut line = format!(
                "New {} connected from {}:{} as {client_id} (p{p}, c{}, k{keep_alive}",
                if *bridge { "bridge" } else { "client" },
                peer.address,
                peer.port,
                u8::from(*clean_start)
            );
            if let Some(username) = username {
                let _ = write!(line, ", u'{username}'");
            }
            line.push_str(").");
            logger.connection(LogTypes::NOTICE, format_args!("{line}"));
        }
        LogEvent::WillSpecified { will: Some(will), .. } => {
            log!(
                logger,
                DEBUG,
                "Will message specified ({} bytes) (r{}, q{}).",
                will.payload_len,
                u8::from(will.retain),
                will.qos.as_u8()
            );
            log!(logger, DEBUG, "\t{}", will.topic);
        }
        LogEvent::WillSpecified { will: None, .. } => {
            log!(logger, DEBUG, "No will message specified.")
        }
        LogEvent::SessionTakenOver { client_id, .. } => {
            log!(logger, ERROR, "Client {client_id} already connected, closing old connection.");
        }
        LogEvent::ClientDisconnected { client_id, reason, .. } => {
            let id = client_id.as_deref().unwrap_or("<unknown>");
            disconnected(logger, id, reason);
        }
        LogEvent::MultipleConnect { client_id, .. } => {
            log!(logger, NOTICE, "Bad client {client_id} sending multiple CONNECT messages.");
        }
        LogEvent::SessionExpired { client_id } => {
            log!(logger, NOTICE, "Expiring client {client_id} due to timeout.");
        }
        LogEvent::QueueFull { client_id } => {
            log!(logger, NOTICE, "Outgoing messages are being dropped for client {client_id}.");
        }
        LogEvent::QosTooHigh { client_id } => {
            log!(logger, INFORMATION, "Too high QoS in PUBLISH from {client_id}, disconnecting.");
        }
        LogEvent::PublishDropped {
            client_id,
            why,
            dup,
            qos,
            retain,
            packet_id,
            topic,
            payload_len,
            ..
        } => {
            let what = match why {
                DropReason::TooLarge => "Dropped too large",
                _ => "Denied",
            };
            log!(
                logger,
                DEBUG,
                "{what} PUBLISH from {client_id} (d{}, q{}, r{}, m{packet_id}, '{topic}', ... ({payload_len} bytes))",
                u8::from(*dup),
                qos.as_u8(),
                u8::from(*retain)
            );
        }
        LogEvent::OutgoingTooLarge { client_id, size } => {
            log!(
                logger,
                DEBUG,
                "Dropping too large outgoing PUBLISH for {client_id} ({size} bytes)"
            );
        }
        LogEvent::UnknownPacketId { client_id, packet, packet_id } => {
            log!(
                logger,
                WARNING,
                "Warning: Received {packet} from {client_id} for an unknown packet identifier {packet_id}."
            );
        }
        _ => {}
    }
}

/// The disconnect line for `reason`. Mosquitto 2.0.11 prints none for the connection that
/// loses a takeover (the `already connected` line says it) nor for clients closed at shutdown.
fn disconnected(logger: &Logger, id: &str, reason: &DisconnectReason) {
    let line = match reason {
        DisconnectReason::TakenOver | DisconnectReason::ServerShutdown => return,
        DisconnectReason::PeerClosed => format!("Client {id} closed its connection."),
        DisconnectReason::Io(error) => format!("Client {id} disconnected: {error}."),
        DisconnectReason::KeepAliveTimeout => {
            format!("Client {id} has exceeded timeout, disconnecting.")
        }
        DisconnectReason::NotAuthorized => format!("Client {id} disconnected, not authorised."),
        DisconnectReason::MalformedPacket => {
            format!("Client {id} disconnected due to malformed packet.")
        }
        // Mosquitto reports every refused CONNECT other than authentication this way.
        DisconnectReason::ProtocolError | DisconnectReason::ConnectRefused(_) => {
            format!("Client {id} disconnected due to protocol error.")
        }
        DisconnectReason::PacketTooLarge => {
            format!("Client {id} disconnected due to oversize packet.")
        }
        DisconnectReason::QosOrRetainNotSupported => {
            format!("Client {id} disconnected due to QoS too high or retain not supported.")
        }
        DisconnectReason::QosNotSupported => {
            format!("Bad socket read/write on client {id}: Requested QoS not supported on server.")
        }
        DisconnectReason::OutOfMemory => {
            format!("Client {id} disconnected due to out of memory.")
        }
        DisconnectReason::Administrative => {
            format!("Client {id} been disconnected by administrative action.")
        }
        DisconnectReason::MaxConnections => {
            format!("Client connection from {id} denied: max_connections exceeded.")
        }
        _ => format!("Client {id} disconnected."),
    };
    logger.connection(LogTypes::NOTICE, format_args!("{line}"));
}

#[cfg(test)]
mod tests {
    use mqtt_codec::{Ack, PacketId};

    use super::*;

    #[test]
    fn acknowledgements_show_the_reason_code_where_mosquitto_does() {
        let ack = Ack::new(PacketId::new(7).expect("non-zero"));
        let cases = [
            (Packet::PubAck(ack.clone()), "(Mid: 7, RC:0)", "(m7, rc0)"),
            (Packet::PubRec(ack.clone()), "(Mid: 7)", "(m7, rc0)"),
            (Packet::PubRel(ack.clone()), "(Mid: 7)", "(m7)"),
            (Packet::PubComp(ack), "(Mid: 7, RC:0)", "(m7)"),
        ];
        for (packet, received, sent) in cases {
            assert_eq!(ack_detail(&packet, true).as_deref(), Some(received), "{packet:?}");
            assert_eq!(ack_detail(&packet, false).as_deref(), Some(sent), "{packet:?}");
        }
        assert_eq!(ack_detail(&Packet::PingReq, true), None);
    }
}
