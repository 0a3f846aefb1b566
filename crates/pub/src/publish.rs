//! Loading the payload, connecting and publishing: Mosquitto's pub flow (publish on CONNACK,
//! wait for each QoS 1/2 handshake, `--repeat` with `--repeat-delay`, `-l` line by line, then
//! DISCONNECT), with its messages and exit codes.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use culex_client::args::PropertyCommand;
use culex_client::debug::stdout_hook;
use culex_client::{Client, ClientError, ConnectOptions, Event};
use mqtt_codec::{Properties, QoS, ReasonCode, TopicName};

use crate::cli::{PubArgs, Source};

/// With `-l`, stdin is not read further while this many messages wait for acknowledgement.
const MAX_QUEUED_LINES: usize = 10_000;

/// With `-l`, batches of lines (one per stdin read) read ahead of the publisher.
const LINE_BATCHES: usize = 16;

/// `-l` input: the lines of each stdin read, in order.
type LineBatches = tokio::sync::mpsc::Receiver<Vec<Vec<u8>>>;

/// With `-l`, stdin is not read further while this many encoded bytes wait for the socket.
const MAX_BUFFERED_BYTES: usize = 1 << 20;

/// Largest payload MQTT can carry.
const MAX_PAYLOAD: usize = 268_435_455;

/// What to publish, once loaded.
pub(crate) enum Payload {
    /// One message (from -m, -f, -s or -n), published `--repeat` times.
    Fixed(Bytes),
    /// `-l`: one message per stdin line, read by a thread started before connecting (so
    /// lines already waiting on stdin are ready when CONNACK arrives, as with Mosquitto).
    Lines(LineBatches),
}

/// A run-time error line (suppressed by `--quiet`) and the exit status that goes with it.
pub(crate) struct Failure {
    pub(crate) stderr: String,
    pub(crate) code: u8,
}

impl Failure {
    fn new(stderr: impl Into<String>, code: u8) -> Self {
        Self { stderr: stderr.into(), code }
    }
}

/// Loads `-f`/`-s` content (before the topic/message check, as Mosquitto does).
pub(crate) fn load_payload(source: &Source) -> Result<Payload, Failure> {
    match source {
        Source::Message(bytes) => {
            if bytes.len() > MAX_PAYLOAD {
                return Err(Failure::new(
                    "Error: Message length must be less than 268435455 bytes.\n",
                    1,
                ));
            }
            Ok(Payload::Fixed(Bytes::from(bytes.clone())))
        }
        Source::Null => Ok(Payload::Fixed(Bytes::new())),
        Source::StdinLines => Ok(Payload::Lines(spawn_line_reader())),
        Source::File(path) => {
            let shown = path.to_string_lossy();
            let too_big = || {
                Failure::new(
                    format!(
                        "Error: File must be less than 268435455 bytes.\n\nError loading input file \"{shown}\".\n"
                    ),
                    1,
                )
            };
            // A directory opens in C but has no sensible size: Mosquitto reports it as too big.
            if std::path::Path::new(path).is_dir() {
                return Err(too_big());
            }
            let content = std::fs::read(path).map_err(|_| {
                Failure::new(
                    format!(
                        "Error: Unable to open file \"{shown}\".\nError loading input file \"{shown}\".\n"
                    ),
                    1,
                )
            })?;
            if content.len() > MAX_PAYLOAD {
                return Err(too_big());
            }
            Ok(Payload::Fixed(Bytes::from(content)))
        }
        Source::StdinWhole => {
            let mut content = Vec::new();
            let read = std::io::stdin().lock().read_to_end(&mut content);
            if read.is_err() || content.is_empty() {
                return Err(Failure::new(
                    "Error: Zero length input.\nError loading input from stdin.\n",
                    1,
                ));
            }
            Ok(Payload::Fixed(Bytes::from(content)))
        }
    }
}

/// Publishing settings taken from the arguments.
pub(crate) struct Plan {
    pub(crate) topic: String,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) repeat: u32,
    pub(crate) repeat_delay: Duration,
    pub(crate) debug: bool,
    pub(crate) quiet: bool,
}

impl Plan {
    pub(crate) fn new(args: &PubArgs, topic: String) -> Self {
        Self {
            topic,
            qos: QoS::from_u8(args.qos).unwrap_or_default(),
            retain: args.retain,
            repeat: args.repeat,
            repeat_delay: Duration::try_from_secs_f64(args.repeat_delay).unwrap_or_default(),
            debug: args.shared.debug,
            quiet: args.shared.quiet,
        }
    }
}

/// Connects, publishes and disconnects. Returns the exit status, or a failure to report.
pub(crate) async fn run(
    options: ConnectOptions,
    plan: Plan,
    mut payload: Payload,
) -> Result<u8, Failure> {
    // The parser has already checked every -D value, so these cannot fail in practice.
    let properties = |command: PropertyCommand, label: &str| {
        options
            .properties(command)
            .map_err(|reason| Failure::new(format!("Error in {label} properties: {reason}\n"), 1))
    };
    let publish_properties = properties(PropertyCommand::Publish, "PUBLISH")?;
    let disconnect_properties = properties(PropertyCommand::Disconnect, "DISCONNECT")?;
    let hook = plan.debug.then(stdout_hook);
    let (mut client, _connected) = match Client::connect(options, hook).await {
        Ok(connected) => connected,
        Err(err) => {
            if plan.debug {
                let mut out = std::io::stdout().lock();
                for line in err.debug_lines() {
                    let _ = writeln!(out, "{line}");
                }
            }
            return Err(Failure::new(err.pub_stderr(), err.exit_code()));
        }
    };
    let Ok(topic) = TopicName::new(&plan.topic) else {
        // Mosquitto reports the refused publish, disconnects and still exits 0.
        disconnect(&mut client, disconnect_properties).await;
        return Err(Failure::new("Error: Invalid input. Does your topic contain '+' or '#'?\n", 0));
    };
    let mut publisher = Publisher {
        client: &mut client,
        topic,
        properties: publish_properties,
        plan: &plan,
        first: true,
    };
    let outcome = match &mut payload {
        Payload::Fixed(payload) => publisher.repeat(payload.clone()).await,
        Payload::Lines(lines) => publisher.lines(lines).await,
    };
    match outcome {
        Ok(()) => {
            disconnect(&mut client, disconnect_properties).await;
            Ok(0)
        }
        Err(err) => Err(Failure::new(format!("{err}\n"), err.exit_code())),
    }
}

async fn disconnect(client: &mut Client, properties: Properties) {
    let _ = client.disconnect(ReasonCode::Success, properties).await;
}

/// Reads stdin on its own thread (stdin reads block) and hands over the complete lines of
/// each read, without their `\n`, as one batch (one wake-up per read, not per line); a last
/// line without `\n` is sent at end of input, then the channel closes. The bounded channel
/// stops the reader while the publisher is busy.
fn spawn_line_reader() -> LineBatches {
    let (sender, receiver) = tokio::sync::mpsc::channel(LINE_BATCHES);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let read = match stdin.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let mut batch = Vec::new();
            let mut rest = &chunk[..read];
            while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
                partial.extend_from_slice(&rest[..newline]);
                batch.push(std::mem::take(&mut partial));
                rest = &rest[newline + 1..];
            }
            partial.extend_from_slice(rest);
            if !batch.is_empty() && sender.blocking_send(batch).is_err() {
                return;
            }
        }
        if !partial.is_empty() {
            let _ = sender.blocking_send(vec![partial]);
        }
    });
    receiver
}

/// The next event; or, with `until_drained`, `None` as soon as all queued bytes are written.
async fn next_progress(
    client: &mut Client,
    until_drained: bool,
) -> Result<Option<Event>, ClientError> {
    if until_drained {
        client.next_event_or_drained().await
    } else {
        client.next_event().await.map(Some)
    }
}

/// Publishes one message after another on a connected client.
struct Publisher<'a> {
    client: &'a mut Client,
    topic: TopicName,
    properties: Properties,
    plan: &'a Plan,
    first: bool,
}

impl Publisher<'_> {
    /// The topic for the next publish: with a v5 topic alias, only the first carries the name.
    fn next_topic(&mut self) -> TopicName {
        let aliased = self.properties.topic_alias.is_some() && !self.first;
        self.first = false;
        if aliased { TopicName::empty() } else { self.topic.clone() }
    }

    fn publish(&mut self, payload: Bytes) -> Result<u16, ClientError> {
        let topic = self.next_topic();
        self.client.publish(
            topic,
            payload,
            self.plan.qos,
            self.plan.retain,
            self.properties.clone(),
        )
    }

    /// `-m`/`-f`/`-s`/`-n`: publish `--repeat` times, each after the previous one completed.
    async fn repeat(&mut self, payload: Bytes) -> Result<(), ClientError> {
        for round in 0..self.plan.repeat {
            let mid = self.publish(payload.clone())?;
            self.wait_done(mid).await?;
            if round + 1 < self.plan.repeat && !self.plan.repeat_delay.is_zero() {
                self.sleep_serving(self.plan.repeat_delay).await?;
            }
        }
        Ok(())
    }

    /// `-l`: a message per line of stdin; DISCONNECT once the last one completed.
    async fn lines(&mut self, lines: &mut LineBatches) -> Result<(), ClientError> {
        loop {
            // Like Mosquitto's reader thread, lines are taken as fast as stdin gives them (so
            // -d shows the PUBLISHes before their acks); the QoS window queues what it cannot
            // send yet, and taking lines pauses while that queue or the write buffer is long,
            // so an endless fast stdin still gets written out with bounded memory.
            let write_backlog = self.client.buffered_bytes() >= MAX_BUFFERED_BYTES;
            let room = self.client.pending_publishes() < MAX_QUEUED_LINES && !write_backlog;
            tokio::select! {
                biased;
                batch = lines.recv(), if room => match batch {
                    Some(batch) => {
                        for line in batch {
                            self.publish(Bytes::from(line))?;
                        }
                    }
                    None => break,
                },
                // Behind on writing, come back as soon as the write buffer has drained (QoS 0
                // publishes produce no event to wake us); otherwise wait for the next event.
                progress = next_progress(self.client, write_backlog) => {
                    if let Some(event) = progress? {
                        self.note(event);
                    }
                }
            }
        }
        while self.client.pending_publishes() > 0 {
            let event = self.client.next_event().await?;
            self.note(event);
        }
        Ok(())
    }

    /// Prints Mosquitto's warning for a publish the broker refused (v5 reason >= 128).
    fn note(&self, event: Event) {
        if let Event::PublishDone { mid, reason, reason_string } = event {
            if reason >= 128 && !self.plan.quiet {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "Warning: Publish {mid} failed: {}.",
                    culex_client::text::reason(reason)
                );
                if let Some(text) = reason_string {
                    let _ = writeln!(err, "{text}");
                }
            }
        }
    }

    async fn wait_done(&mut self, mid: u16) -> Result<(), ClientError> {
        loop {
            let event = self.client.next_event().await?;
            let done = matches!(event, Event::PublishDone { mid: done, .. } if done == mid);
            self.note(event);
            if done {
                return Ok(());
            }
        }
    }

    /// Waits `delay` while still answering the broker (pings, acks).
    async fn sleep_serving(&mut self, delay: Duration) -> Result<(), ClientError> {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return Ok(()),
                event = self.client.next_event() => self.note(event?),
            }
        }
    }
}
