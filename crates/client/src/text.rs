//! The human-readable texts Mosquitto's tools print for return codes: v3 CONNACK codes, MQTT 5
//! reason codes and libmosquitto error numbers.

/// The text for a v3.x CONNACK return code, as in `Connection error: <text>`.
pub fn connack_v3(code: u8) -> &'static str {
    match code {
        0 => "Connection Accepted.",
        1 => "Connection Refused: unacceptable protocol version.",
        2 => "Connection Refused: identifier rejected.",
        3 => "Connection Refused: broker unavailable.",
        4 => "Connection Refused: bad user name or password.",
        5 => "Connection Refused: not authorised.",
        _ => "Connection Refused: unknown reason.",
    }
}

/// The text for an MQTT 5 reason code (CONNACK, PUBACK, DISCONNECT …).
pub fn reason(code: u8) -> &'static str {
    match code {
        0 => "Success",
        1 => "Granted QoS 1",
        2 => "Granted QoS 2",
        4 => "Disconnect with Will Message",
        16 => "No matching subscribers",
        17 => "No subscription existed",
        24 => "Continue authentication",
        25 => "Re-authenticate",
        128 => "Unspecified error",
        129 => "Malformed Packet",
        130 => "Protocol Error",
        131 => "Implementation specific error",
        132 => "Unsupported Protocol Version",
        133 => "Client Identifier not valid",
        134 => "Bad User Name or Password",
        135 => "Not authorized",
        136 => "Server unavailable",
        137 => "Server busy",
        138 => "Banned",
        139 => "Server shutting down",
        140 => "Bad authentication method",
        141 => "Keep Alive timeout",
        142 => "Session taken over",
        143 => "Topic Filter invalid",
        144 => "Topic Name invalid",
        145 => "Packet Identifier in use",
        146 => "Packet Identifier not found",
        147 => "Receive Maximum exceeded",
        148 => "Topic Alias invalid",
        149 => "Packet too large",
        150 => "Message rate too high",
        151 => "Quota exceeded",
        152 => "Administrative action",
        153 => "Payload format invalid",
        154 => "Retain not supported",
        155 => "QoS not supported",
        156 => "Use another server",
        157 => "Server moved",
        158 => "Shared Subscriptions not supported",
        159 => "Connection rate exceeded",
        160 => "Maximum connect time",
        161 => "Subscription identifiers not supported",
        162 => "Wildcard Subscriptions not supported",
        _ => "Unknown reason",
    }
}

/// The `Connection error: …` text for a refused CONNACK: v3 texts for v3 clients, reason
/// strings for v5 (with Mosquitto's extra advice for 132).
pub fn connack_refusal(code: u8, v5: bool) -> String {
    if !v5 {
        return connack_v3(code).to_owned();
    }
    if code == 132 {
        return "Unsupported Protocol Version. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode."
            .to_owned();
    }
    reason(code).to_owned()
}

/// libmosquitto's error-number names that the tools print as `Error: <text>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MosqError {
    /// 2: protocol error.
    Protocol,
    /// 4: not connected.
    NoConn,
    /// 5: connection refused by CONNACK.
    ConnRefused,
    /// 7: connection lost.
    ConnLost,
    /// 8: TLS error.
    Tls,
    /// 9: payload too large.
    PayloadSize,
    /// 15: DNS lookup failed.
    Lookup,
    /// 16: proxy error.
    Proxy,
    /// 23: TLS handshake failed.
    TlsHandshake,
    /// 24: QoS not supported.
    QosNotSupported,
    /// 25: packet too large for the server.
    OversizePacket,
    /// 19: keepalive timeout.
    Keepalive,
}

impl MosqError {
    /// libmosquitto's numeric value (what the tools may use as exit status).
    pub fn code(self) -> u8 {
        match self {
            Self::Protocol => 2,
            Self::NoConn => 4,
            Self::ConnRefused => 5,
            Self::ConnLost => 7,
            Self::Tls => 8,
            Self::PayloadSize => 9,
            Self::Lookup => 15,
            Self::Proxy => 16,
            Self::Keepalive => 19,
            Self::TlsHandshake => 23,
            Self::QosNotSupported => 24,
            Self::OversizePacket => 25,
        }
    }

    /// `mosquitto_strerror`'s text.
    pub fn text(self) -> &'static str {
        match self {
            Self::Protocol => {
                "A network protocol error occurred when communicating with the broker."
            }
            Self::NoConn => "The client is not currently connected.",
            Self::ConnRefused => "The connection was refused.",
            Self::ConnLost => "The connection was lost.",
            Self::Tls => "A TLS error occurred.",
            Self::PayloadSize => "Payload too large.",
            Self::Lookup => "Lookup error.",
            Self::Proxy => "Proxy error.",
            Self::Keepalive => "Unknown error.",
            Self::TlsHandshake => "TLS handshake failed.",
            Self::QosNotSupported => "Requested QoS not supported on server.",
            Self::OversizePacket => "Packet larger than supported by the server.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_texts() {
        assert_eq!(connack_refusal(5, false), "Connection Refused: not authorised.");
        assert_eq!(connack_refusal(135, true), "Not authorized");
        assert!(connack_refusal(132, true).starts_with("Unsupported Protocol Version. Try"));
        assert_eq!(reason(200), "Unknown reason");
    }
}
