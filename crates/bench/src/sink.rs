//! The trivial targets that measure the load generator itself: a *sink* that answers CONNECT
//! and then reads and discards everything, and a *source* that answers CONNECT and SUBSCRIBE
//! and then writes QoS 0 PUBLISH packets as fast as the subscriber takes them. The generator
//! must move several times a broker's rate through them, or it would be measuring itself.
//!
//! `culex-bench sink` runs both in their own process (as a broker would be) and prints
//! `sink PORT source PORT` on stdout once they listen; it stops when its stdin closes.

use anyhow::{Context as _, Result};
use bytes::BytesMut;
use mqtt_codec::{ConnAck, Packet, QoS, ReasonCode, SubAck};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::net::{self, VERSION};
use crate::payload::{PublishTemplate, Stamp};

/// Size of the sink's read buffer and of the source's write batches.
const CHUNK: usize = 256 * 1024;

/// Serves a sink and a source on loopback ports until stdin closes.
pub(crate) async fn serve(payload: usize) -> Result<()> {
    let sink = TcpListener::bind("127.0.0.1:0").await.context("binding the sink")?;
    let source = TcpListener::bind("127.0.0.1:0").await.context("binding the source")?;
    println!("sink {} source {}", sink.local_addr()?.port(), source.local_addr()?.port());
    spawn(sink, source, payload);
    // The orchestrator holds our stdin; when it goes away, so do we.
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while lines.next_line().await.context("reading stdin")?.is_some() {}
    Ok(())
}

/// Serves the sink on `sink` and the source on `source` in background tasks.
pub(crate) fn spawn(sink: TcpListener, source: TcpListener, payload: usize) {
    tokio::spawn(accept(sink, discard));
    tokio::spawn(accept(source, move |stream| stream_publishes(stream, payload)));
}

async fn accept<F, Fut>(listener: TcpListener, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        // A client that goes away simply ends its task.
        tokio::spawn(serve(stream));
    }
}

/// Answers the CONNECT, then reads and throws away every byte.
async fn discard(mut stream: TcpStream) -> Result<()> {
    let mut input = BytesMut::new();
    expect_connect(&mut stream, &mut input).await?;
    let mut buffer = vec![0u8; CHUNK];
    while stream.read(&mut buffer).await? > 0 {}
    Ok(())
}

/// Answers CONNECT and SUBSCRIBE, then writes stamped QoS 0 PUBLISHes to the filter, forever.
async fn stream_publishes(mut stream: TcpStream, payload: usize) -> Result<()> {
    let mut input = BytesMut::new();
    expect_connect(&mut stream, &mut input).await?;
    let Packet::Subscribe(subscribe) = net::read_packet(&mut stream, &mut input).await? else {
        anyhow::bail!("expected SUBSCRIBE");
    };
    let topic = subscribe.filters.first().map(|(filter, _)| filter.to_string()).unwrap_or_default();
    let granted = vec![ReasonCode::granted(QoS::AtMostOnce); subscribe.filters.len()];
    write(&mut stream, &Packet::SubAck(SubAck::new(subscribe.packet_id, granted))).await?;
    let template = PublishTemplate::new(&topic, QoS::AtMostOnce, payload)?;
    let per_batch = (CHUNK / template.len()).max(1);
    let mut out = BytesMut::with_capacity(CHUNK + template.len());
    let mut sequence = 0;
    loop {
        for _ in 0..per_batch {
            template.append(&mut out, 0, Stamp { flow: 0, sequence, sent_ns: 0 });
            sequence += 1;
        }
        stream.write_all(&out).await?;
        out.clear();
    }
}

async fn expect_connect(stream: &mut TcpStream, input: &mut BytesMut) -> Result<()> {
    match net::read_packet(stream, input).await? {
        Packet::Connect(_) => {
            write(stream, &Packet::ConnAck(ConnAck::new(ReasonCode::Success))).await
        }
        other => anyhow::bail!("expected CONNECT, got {:?}", other.packet_type()),
    }
}

async fn write(stream: &mut TcpStream, packet: &Packet) -> Result<()> {
    let mut out = BytesMut::new();
    mqtt_codec::encode(packet, VERSION, u32::MAX, &mut out).context("encoding")?;
    stream.write_all(&out).await.context("writing")
}
