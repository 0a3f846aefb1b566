//! The fields several packets share, each read, sized and written in one place: the packet
//! identifier, the `packet identifier | [v5: properties]` head of SUBSCRIBE, SUBACK,
//! UNSUBSCRIBE and UNSUBACK, and v5 reason codes (one per filter in SUBACK / UNSUBACK, or the
//! optional `[reason code [properties]]` tail of PUBACK…PUBCOMP, DISCONNECT and AUTH), and the
//! error for a topic name (PUBLISH, the will of CONNECT) that is not one.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError, Violation, violation};
use crate::properties::{Context, Properties};
use crate::reader::Reader;
use crate::reason::ReasonCode;
use crate::topic::TopicError;
use crate::types::{PacketId, PacketType, ProtocolVersion};

/// A rule that both the decoder and the encoder enforce, written once: its number in 3.1.1 and
/// in 5.0, and the words of its violation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpecRule {
    /// The 3.1.1 statement (quoted for 3.1 too).
    pub(crate) rule3: &'static str,
    /// The 5.0 statement.
    pub(crate) rule5: &'static str,
    /// What is wrong when the rule is broken.
    pub(crate) detail: &'static str,
}

impl SpecRule {
    /// The violation of this rule under `version`.
    pub(crate) fn violation(&self, version: ProtocolVersion) -> Violation {
        violation(version, self.rule3, self.rule5, self.detail)
    }
}

/// The error for the topic name `field` (e.g. `PUBLISH: topic name`) that `err` refuses: a
/// wildcard breaks `wildcard_rule` and is a protocol error (as Mosquitto treats it); anything
/// else (an empty name in 3.x, a bad character) is malformed under MQTT-4.7.3-1.
pub(crate) fn topic_name_error(
    version: ProtocolVersion,
    err: TopicError,
    field: &str,
    wildcard_rule: &'static str,
) -> DecodeError {
    let detail = format!("{field}: {err}");
    match err {
        TopicError::WildcardInName => {
            DecodeError::protocol(version, wildcard_rule, wildcard_rule, detail)
        }
        _ => DecodeError::malformed(version, "MQTT-4.7.3-1", "MQTT-4.7.3-1", detail),
    }
}

/// Reads a packet identifier, refusing 0.
pub(crate) fn read_packet_id(r: &mut Reader) -> Result<PacketId, DecodeError> {
    let id = r.u16("packet identifier")?;
    PacketId::new(id).ok_or_else(|| {
        DecodeError::protocol(
            r.version,
            "MQTT-2.3.1-1",
            "MQTT-2.2.1-3",
            format!("{}: packet identifier is 0", r.packet),
        )
    })
}

/// Reads `packet identifier | [v5: properties]`; 3.x packets get empty properties.
pub(crate) fn read_id_and_properties(
    r: &mut Reader,
    context: Context,
) -> Result<(PacketId, Properties), DecodeError> {
    let packet_id = read_packet_id(r)?;
    let properties =
        if r.version.is_v5() { Properties::decode(r, context)? } else { Properties::default() };
    Ok((packet_id, properties))
}

/// The length of `packet identifier | [v5: properties]`.
pub(crate) fn id_and_properties_len(
    v: ProtocolVersion,
    properties: &Properties,
    context: Context,
) -> Result<usize, EncodeError> {
    Ok(2 + if v.is_v5() { properties.encoded_len_prefixed(context)? } else { 0 })
}

/// Writes `packet identifier | [v5: properties]`.
pub(crate) fn write_id_and_properties(
    v: ProtocolVersion,
    packet_id: PacketId,
    properties: &Properties,
    out: &mut BytesMut,
) {
    out.put_u16(packet_id.get());
    if v.is_v5() {
        properties.write(out);
    }
}

/// Reads a v5 reason code, refusing unknown codes (malformed) and codes `allowed` does not
/// list for this packet (protocol error, quoting `section`).
pub(crate) fn read_reason(
    r: &mut Reader,
    allowed: &[u8],
    section: &'static str,
) -> Result<ReasonCode, DecodeError> {
    let byte = r.u8("reason code")?;
    let Some(code) = ReasonCode::from_u8(byte) else {
        return Err(DecodeError::malformed(
            r.version,
            section,
            section,
            format!("{}: unknown reason code 0x{byte:02X}", r.packet),
        ));
    };
    if !allowed.contains(&byte) {
        return Err(DecodeError::protocol(
            r.version,
            section,
            section,
            format!("{}: reason code 0x{byte:02X} ({code}) is not allowed here", r.packet),
        ));
    }
    Ok(code)
}

/// Refuses to encode a reason code `allowed` does not list for `packet`.
pub(crate) fn check_reason(
    version: ProtocolVersion,
    packet: PacketType,
    code: ReasonCode,
    allowed: &[u8],
    section: &'static str,
) -> Result<(), EncodeError> {
    if allowed.contains(&code.as_u8()) {
        return Ok(());
    }
    Err(EncodeError::invalid(
        version,
        section,
        section,
        format!("{packet}: reason code 0x{:02X} ({code}) is not allowed here", code.as_u8()),
    ))
}

/// What one packet type allows in its v5 reason codes and properties.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReasonRule {
    /// The packet, for encode errors.
    pub(crate) packet: PacketType,
    /// The reason codes the packet may carry.
    pub(crate) allowed: &'static [u8],
    /// The section that lists them, quoted in errors.
    pub(crate) section: &'static str,
    /// The packet's property context.
    pub(crate) context: Context,
}

impl ReasonRule {
    /// Reads a v5 reason code allowed by this rule (see [`read_reason`]).
    pub(crate) fn read(&self, r: &mut Reader) -> Result<ReasonCode, DecodeError> {
        read_reason(r, self.allowed, self.section)
    }

    /// Refuses to encode a reason code this rule does not allow (see [`check_reason`]).
    pub(crate) fn check(&self, v: ProtocolVersion, code: ReasonCode) -> Result<(), EncodeError> {
        check_reason(v, self.packet, code, self.allowed, self.section)
    }

    /// Reads the v5 tail `[reason code [properties]]`: Success and no properties where the
    /// packet ends first.
    pub(crate) fn read_tail(
        &self,
        r: &mut Reader,
    ) -> Result<(ReasonCode, Properties), DecodeError> {
        if r.is_empty() {
            return Ok((ReasonCode::Success, Properties::default()));
        }
        let reason = self.read(r)?;
        let properties =
            if r.is_empty() { Properties::default() } else { Properties::decode(r, self.context)? };
        Ok((reason, properties))
    }

    /// The length of the v5 tail as [`write_tail`] writes it, leaving out what it can.
    pub(crate) fn tail_len(
        &self,
        v: ProtocolVersion,
        reason: ReasonCode,
        properties: &Properties,
    ) -> Result<usize, EncodeError> {
        self.check(v, reason)?;
        if !properties.is_empty() {
            return Ok(1 + properties.encoded_len_prefixed(self.context)?);
        }
        Ok(usize::from(reason != ReasonCode::Success))
    }

    /// Reads the v5 reason codes that fill the rest of the packet, one per filter.
    pub(crate) fn read_list(&self, r: &mut Reader) -> Result<Vec<ReasonCode>, DecodeError> {
        let mut reasons = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            reasons.push(self.read(r)?);
        }
        Ok(reasons)
    }

    /// The length of the v5 `packet identifier | properties | { reason code }*` body,
    /// refusing codes this rule does not allow.
    pub(crate) fn list_body_len(
        &self,
        v: ProtocolVersion,
        reasons: &[ReasonCode],
        properties: &Properties,
    ) -> Result<usize, EncodeError> {
        for &reason in reasons {
            self.check(v, reason)?;
        }
        Ok(2 + properties.encoded_len_prefixed(self.context)? + reasons.len())
    }
}

/// Writes the v5 tail `[reason code [properties]]`, leaving out what it can: the properties
/// when there are none, and then the reason code when it is Success.
pub(crate) fn write_tail(reason: ReasonCode, properties: &Properties, out: &mut BytesMut) {
    if !properties.is_empty() {
        out.put_u8(reason.as_u8());
        properties.write(out);
    } else if reason != ReasonCode::Success {
        out.put_u8(reason.as_u8());
    }
}
