//! The request/response flow, as mosquitto_rr runs it: connect, subscribe to the response
//! topic, publish the request once the SUBACK grants it, print the first message that
//! arrives, and close the socket without a DISCONNECT. Also the `--latency` line.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use culex_client::args::{PropertyCommand, PropertyId};
use culex_client::debug::stdout_hook;
use culex_client::print::clock::Timestamp;
use culex_client::print::message::Message;
use culex_client::text::reason;
use culex_client::{Client, ConnectError, ConnectOptions, Event};
use mqtt_codec::{Properties, ProtocolVersion, QoS, ReasonCode, TopicFilter, TopicName};
use tokio::time::Instant;

use crate::args::{RrArgs, TOOL};

/// Exit status after `-W` (libmosquitto's `MOSQ_ERR_TIMEOUT`).
const TIMED_OUT: u8 = 27;

/// CONNACK reason code 132, Unsupported Protocol Version: what an MQTT v3 broker's refusal
/// of a v5 CONNECT reads as.
const UNSUPPORTED_PROTOCOL_VERSION: u8 = 132;

/// What one request needs besides the connection options.
pub(crate) struct Request {
    /// Where the request goes.
    pub(crate) topic: TopicName,
    /// Where the response is expected (subscribed to).
    pub(crate) response_topic: TopicFilter,
    /// The request's payload.
    pub(crate) payload: Bytes,
    /// The PUBLISH properties (`-D publish …` and, in MQTT v5, the response topic).
    pub(crate) properties: Properties,
}

/// The line culex_rr prints for a refused CONNACK: the MQTT 5 reason text even for an MQTT v3
/// return code, as mosquitto_rr does, with a hint for a broker that does not speak MQTT v5.
fn refusal_line(code: u8) -> String {
    let hint = if code == UNSUPPORTED_PROTOCOL_VERSION {
        format!(". {} only supports connecting to an MQTT v5 broker", TOOL.name)
    } else {
        String::new()
    };
    format!("Connection error: {}{hint}\n", reason(code))
}

/// Mosquitto 2.1's `--latency` line for the time from sending the request to receiving the
/// response: seconds with nine decimals from one second up, else nanoseconds, microseconds or
/// milliseconds.
pub(crate) fn latency_line(elapsed: Duration) -> String {
    let nanos = elapsed.as_nanos();
    if elapsed.as_secs() >= 1 {
        format!("Latency: {}.{:09}\n", elapsed.as_secs(), elapsed.subsec_nanos())
    } else if nanos < 1_000 {
        format!("Latency: {nanos}ns\n")
    } else if nanos < 1_000_000 {
        format!("Latency: {:.6}µs\n", elapsed.as_secs_f64() * 1e6)
    } else {
        format!("Latency: {:.6}ms\n", elapsed.as_secs_f64() * 1e3)
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Writes `bytes` to stdout and flushes, ignoring a closed stdout.
fn write_stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

/// Sends the request and prints the response; returns the exit status.
pub(crate) async fn run(args: &RrArgs, mut options: ConnectOptions, request: Request) -> u8 {
    // mosquitto_rr's alarm starts once the connection has been started.
    let deadline =
        args.receive.timeout.map(|seconds| Instant::now() + Duration::from_secs(seconds.into()));
    let report = |text: &str| {
        if !args.shared.quiet {
            eprint!("{text}");
        }
    };
    let v5 = options.protocol == ProtocolVersion::V5;
    // One response is all it waits for, so it takes one message in flight at a time.
    let given = options.raw_properties.number(PropertyCommand::Connect, PropertyId::ReceiveMaximum);
    if v5 && given.is_none() {
        options.connect_properties.receive_maximum = Some(1);
    }
    options.nodelay |= args.latency;
    // mosquitto_rr answers a refused CONNACK with DISCONNECT (and `-d` shows it).
    options.disconnect_on_refusal = true;
    let qos = QoS::from_u8(args.qos).unwrap_or_default();
    let subscription = args.receive.subscription(qos, v5);
    let subscribe_properties = options.properties(PropertyCommand::Subscribe).unwrap_or_default();
    let disconnect_properties = options.properties(PropertyCommand::Disconnect).unwrap_or_default();
    let debug = args.shared.debug;
    let connected = tokio::select! {
        connected = Client::connect(options, debug.then(stdout_hook)) => connected,
        () = until(deadline) => {
            report("Timed out\n");
            return TIMED_OUT;
        }
    };
    let mut client = match connected {
        Ok((client, _)) => client,
        Err(err) => {
            if debug {
                for line in err.debug_lines() {
                    write_stdout(format!("{line}\n").as_bytes());
                }
            }
            report(&match &err {
                ConnectError::Refused { code, .. } => refusal_line(*code),
                other => other.pub_stderr(),
            });
            return err.exit_code();
        }
    };
    let output = args.receive.output();
    let mut sent_at = None;
    let end = async {
        client.subscribe(
            vec![(request.response_topic.clone(), subscription)],
            subscribe_properties,
        )?;
        loop {
            match client.next_event().await? {
                Event::SubAck { granted, .. } => {
                    if let Some(&code) = granted.first().filter(|code| **code >= 128) {
                        report(&format!("{}\n", reason(code)));
                        return Ok(0);
                    }
                    sent_at = Some(Instant::now());
                    client.publish(
                        request.topic.clone(),
                        request.payload.clone(),
                        qos,
                        false,
                        request.properties.clone(),
                    )?;
                }
                Event::Message(received) if !(args.receive.no_retained && received.retain) => {
                    let time = Timestamp::now();
                    let rendered = output.render(&Message::from_received(received), time);
                    for line in &rendered.errors {
                        report(&format!("{line}\n"));
                    }
                    write_stdout(&rendered.stdout);
                    // The acknowledgement of a QoS 1 or 2 response still goes out.
                    client.flush().await?;
                    return Ok(0);
                }
                Event::ServerDisconnect { .. } => {
                    return Err(culex_client::ClientError::ConnectionLost);
                }
                _ => {}
            }
        }
    };
    let status = tokio::select! {
        status = end => match status {
            Ok(status) => status,
            Err(err) => {
                report(&format!("{err}\n"));
                err.exit_code()
            }
        },
        () = until(deadline) => {
            let _ = client.disconnect(ReasonCode::DisconnectWithWillMessage, disconnect_properties).await;
            report("Timed out\n");
            TIMED_OUT
        }
    };
    if args.latency {
        let elapsed = sent_at.map(|sent| sent.elapsed()).unwrap_or_default();
        write_stdout(latency_line(elapsed).as_bytes());
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_picks_its_unit_by_size() {
        let cases = [
            (Duration::from_nanos(999), "Latency: 999ns\n"),
            (Duration::from_nanos(1_500), "Latency: 1.500000µs\n"),
            (Duration::from_micros(2_345), "Latency: 2.345000ms\n"),
            (Duration::new(3, 4_000), "Latency: 3.000004000\n"),
        ];
        for (elapsed, line) in cases {
            assert_eq!(latency_line(elapsed), line);
        }
    }

    #[test]
    fn refusals_use_mqtt5_reason_texts_even_for_mqtt3_codes() {
        assert_eq!(refusal_line(135), "Connection error: Not authorized\n");
        assert_eq!(
            refusal_line(132),
            "Connection error: Unsupported Protocol Version. culex_rr only supports connecting to an MQTT v5 broker\n"
        );
    }
}
