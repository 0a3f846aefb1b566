//! The subscriber's life: connect, subscribe, print what arrives (or, with `-w`, each topic
//! on its own line; with `--message-rate`, only how many arrive), reconnect and resubscribe
//! when the connection drops, and stop on `-C`, `-E`, `--retained-only`, `-W`, SIGINT/SIGTERM
//! or a closed stdout — with Mosquitto's messages and exit statuses.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use culex_client::args::{PropertyCommand, PropertyId};
use culex_client::debug::stdout_hook;
use culex_client::print::clock::Timestamp;
use culex_client::print::message::Message;
use culex_client::print::output::Output;
use culex_client::{Client, ClientError, ConnectError, ConnectOptions, Event};
use mqtt_codec::{
    Properties, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions, TopicFilter, TopicName,
    filter_matches,
};
use rand::Rng;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;

use crate::args::SubArgs;
use crate::os;
use crate::rate::MessageRate;
use crate::watch::Screen;

/// Pause between reconnection attempts, as libmosquitto's default reconnect delay.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Exit status after `-W` ran out (Mosquitto's MOSQ_ERR_TIMEOUT).
const TIMED_OUT: u8 = 27;

/// Exit status when interrupted before the broker accepted the connection (`exit(-1)`).
const INTERRUPTED_BEFORE_CONNACK: u8 = 255;

/// `--random-filter` value (tenths of a percent) from which every message is printed.
const PRINT_ALL: u32 = 1000;

/// `--random-filter`: a message is printed when `roll` (uniform in `0..1000`) falls under the
/// chance in tenths of a percent.
fn passes_random_filter(chance: u32, roll: u32) -> bool {
    roll < chance
}

/// SIGINT and SIGTERM, the two signals that end a subscriber cleanly.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What to do after one event.
enum Flow {
    /// Keep going.
    Continue,
    /// Stop: finish outstanding clearing publishes, disconnect, exit 0.
    Finish,
    /// The broker sent DISCONNECT: like mosquitto_sub, end the run with status 0.
    Closed,
}

/// How a run ended.
enum End {
    /// Disconnect with this reason and exit with this status.
    Disconnect(ReasonCode, u8),
    /// The connection dropped.
    Lost,
    /// Exit with this status without sending anything.
    Exit(u8),
}

/// A connected subscriber and everything it counts.
struct Subscriber {
    client: Client,
    args: SubArgs,
    output: Output,
    filters: Vec<(TopicFilter, SubscriptionOptions)>,
    unsubscribe: Vec<TopicFilter>,
    subscribe_properties: Properties,
    unsubscribe_properties: Properties,
    disconnect_properties: Properties,
    /// Messages that passed the filters (for `-C`).
    counted: u32,
    /// After `-C`, `-E` or `--retained-only` decided to stop: later messages are ignored.
    finishing: bool,
    deadline: Option<Instant>,
    /// Tells when nobody reads our output any more.
    stdout: StdoutWatch,
    /// `-w`: the line of each topic.
    screen: Option<Screen>,
    /// `--message-rate`: counts messages instead of printing them.
    rate: Option<MessageRate>,
}

/// Watches stdout for the error condition a pipe's write end gets when its reader has gone,
/// so `culex_sub … | head -1` ends as soon as `head` does rather than at the next message.
struct StdoutWatch {
    /// `None` when stdout cannot be watched (a regular file, /dev/null) or already reported.
    fd: Option<AsyncFd<std::io::Stdout>>,
}

impl StdoutWatch {
    fn new() -> Self {
        Self { fd: os::watch_stdout_errors() }
    }

    /// Resolves once when stdout's reader has gone; never when that cannot be known.
    async fn closed(&mut self) {
        if let Some(fd) = &self.fd {
            if let Ok(guard) = fd.ready(Interest::ERROR).await {
                if guard.ready().is_error() {
                    self.fd = None;
                    return;
                }
            }
            // Watching failed: stop watching rather than spin.
            self.fd = None;
        }
        std::future::pending().await
    }
}

/// Connects, subscribes and prints until something ends the run; returns the exit status.
pub(crate) async fn run(args: SubArgs, mut options: ConnectOptions) -> u8 {
    let deadline =
        args.receive.timeout.map(|seconds| Instant::now() + Duration::from_secs(seconds.into()));
    let quiet = args.shared.quiet;
    let report = |text: &str| {
        if !quiet {
            eprint!("{text}");
        }
    };
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(err) => {
            report(&format!("Error: {err}\n"));
            return 1;
        }
    };
    let v5 = options.protocol == ProtocolVersion::V5;
    // mosquitto_sub answers a refused CONNACK with DISCONNECT (and `-d` shows it).
    options.disconnect_on_refusal = true;
    if let Some(count) = args.count.filter(|count| v5 && *count < 20) {
        // Mosquitto asks for no more in-flight messages than it will print, unless `-D`
        // asked for a number.
        let given =
            options.raw_properties.number(PropertyCommand::Connect, PropertyId::ReceiveMaximum);
        if given.is_none() {
            options.connect_properties.receive_maximum = u16::try_from(count).ok();
        }
    }
    let subscription = args.receive.subscription(QoS::from_u8(args.qos).unwrap_or_default(), v5);
    let (Ok(filters), Ok(unsubscribe)) = (
        args.topics
            .iter()
            .map(|topic| TopicFilter::new(topic).map(|f| (f, subscription)))
            .collect(),
        args.unsubscribe.iter().map(|topic| TopicFilter::new(topic)).collect(),
    ) else {
        // The arguments were validated already; the codec's rules are the same.
        report("Error: Invalid subscription topic.\n");
        return 1;
    };
    let subscribe_properties = options.properties(PropertyCommand::Subscribe).unwrap_or_default();
    let unsubscribe_properties =
        options.properties(PropertyCommand::Unsubscribe).unwrap_or_default();
    let disconnect_properties = options.properties(PropertyCommand::Disconnect).unwrap_or_default();
    let debug = args.shared.debug;
    // --message-rate turns --watch off.
    let watch = args.watch && !args.message_rate;
    if watch {
        let host = args.shared.host.as_deref().unwrap_or("localhost");
        culex_client::cli::print_stdout(&Screen::header(host));
    }
    let connected = tokio::select! {
        connected = Client::connect(options, debug.then(stdout_hook)) => connected,
        () = signals.recv() => return INTERRUPTED_BEFORE_CONNACK,
        () = until(deadline) => return INTERRUPTED_BEFORE_CONNACK,
    };
    let client = match connected {
        Ok((client, _)) => client,
        Err(err) => return connect_failure(&err, debug, quiet),
    };
    let rate = args.message_rate.then(MessageRate::start);
    let mut subscriber = Subscriber {
        client,
        output: args.receive.output(),
        args,
        filters,
        unsubscribe,
        subscribe_properties,
        unsubscribe_properties,
        disconnect_properties,
        counted: 0,
        finishing: false,
        deadline,
        stdout: StdoutWatch::new(),
        screen: watch.then(Screen::default),
        rate,
    };
    subscriber.serve(&mut signals).await
}

/// Reports a failed first connection as Mosquitto does and returns its exit status.
fn connect_failure(err: &ConnectError, debug: bool, quiet: bool) -> u8 {
    if debug {
        let mut out = std::io::stdout().lock();
        for line in err.debug_lines() {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
    if !quiet {
        eprint!("{}", err.sub_stderr());
    }
    err.exit_code()
}

impl Subscriber {
    /// Runs connection after connection until the run ends.
    async fn serve(&mut self, signals: &mut Signals) -> u8 {
        loop {
            let end = match self.subscribe() {
                Ok(()) => self.receive(signals).await,
                // Our arguments cannot be put on the wire (e.g. `-D subscribe
                // subscription-identifier 0`): sending them anyway would only make the broker
                // hang up, and reconnecting would repeat that forever.
                Err(ClientError::Encode(detail)) => {
                    self.report(&format!("Error: {detail}\n"));
                    End::Disconnect(ReasonCode::Success, 1)
                }
                Err(_) => End::Lost,
            };
            match end {
                End::Disconnect(reason, status) => {
                    let properties = self.disconnect_properties.clone();
                    let _ = self.client.disconnect(reason, properties).await;
                    return status;
                }
                End::Exit(status) => return status,
                End::Lost => {
                    if let Some(status) = self.reconnect(signals).await {
                        return status;
                    }
                }
            }
        }
    }

    /// Sends the SUBSCRIBE with every `-t` filter, then one UNSUBSCRIBE per `-U`.
    fn subscribe(&mut self) -> Result<(), ClientError> {
        self.client.subscribe(self.filters.clone(), self.subscribe_properties.clone())?;
        for filter in self.unsubscribe.clone() {
            self.client.unsubscribe(vec![filter], self.unsubscribe_properties.clone())?;
        }
        Ok(())
    }

    /// Handles events on the current connection until the run ends or the connection drops.
    async fn receive(&mut self, signals: &mut Signals) -> End {
        loop {
            if self.finishing && self.client.pending_publishes() == 0 {
                return End::Disconnect(ReasonCode::Success, 0);
            }
            let event = tokio::select! {
                () = signals.recv() => return End::Disconnect(ReasonCode::DisconnectWithWillMessage, 0),
                () = until(self.deadline) => {
                    self.report("Timed out\n");
                    return End::Disconnect(ReasonCode::DisconnectWithWillMessage, TIMED_OUT);
                }
                () = self.stdout.closed() => {
                    // Nobody reads our output: stop, as after a failed write.
                    self.finishing = true;
                    continue;
                }
                event = self.client.next_event() => event,
            };
            let Ok(event) = event else {
                return if self.finishing { End::Exit(0) } else { End::Lost };
            };
            match self.handle(event) {
                Flow::Continue => {}
                Flow::Finish => self.finishing = true,
                Flow::Closed => return End::Exit(0),
            }
        }
    }

    /// Waits and reconnects until it works; `Some(status)` when the run ends meanwhile.
    async fn reconnect(&mut self, signals: &mut Signals) -> Option<u8> {
        loop {
            tokio::select! {
                () = signals.recv() => return Some(0),
                () = until(self.deadline) => {
                    self.report("Timed out\n");
                    return Some(TIMED_OUT);
                }
                () = self.stdout.closed() => return Some(0),
                () = tokio::time::sleep(RECONNECT_DELAY) => {}
            }
            let attempt = tokio::select! {
                () = signals.recv() => return Some(0),
                () = until(self.deadline) => {
                    self.report("Timed out\n");
                    return Some(TIMED_OUT);
                }
                attempt = self.client.reconnect() => attempt,
            };
            match attempt {
                Ok(_) => return None,
                Err(err @ ConnectError::Refused { .. }) => {
                    self.report(&err.sub_stderr());
                    return Some(err.exit_code());
                }
                Err(_) => {}
            }
        }
    }

    fn report(&self, text: &str) {
        if !self.args.shared.quiet {
            eprint!("{text}");
        }
    }

    fn handle(&mut self, event: Event) -> Flow {
        match event {
            Event::Message(message) => self.on_message(message),
            Event::SubAck { mid, granted, .. } => self.on_suback(mid, &granted),
            Event::ServerDisconnect { .. } => Flow::Closed,
            Event::UnsubAck { .. } | Event::PublishDone { .. } | Event::ConnAck { .. } => {
                Flow::Continue
            }
        }
    }

    fn on_suback(&mut self, mid: u16, granted: &[u8]) -> Flow {
        if self.args.shared.debug && !self.args.shared.quiet {
            let codes: Vec<String> = granted.iter().map(u8::to_string).collect();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "Subscribed (mid: {mid}): {}", codes.join(", "));
            let _ = out.flush();
        }
        if !granted.is_empty() && granted.iter().all(|code| *code >= 128) {
            self.report("All subscription requests were denied.\n");
            return Flow::Finish;
        }
        if self.args.exit_after_subscribe {
            return Flow::Finish;
        }
        Flow::Continue
    }

    /// Mosquitto's order: `--retained-only`, `-R`, `-T`, `--remove-retained`, print, `-C`;
    /// with `--message-rate`, only counting.
    fn on_message(&mut self, received: culex_client::Message) -> Flow {
        if let Some(rate) = &self.rate {
            rate.count();
            return Flow::Continue;
        }
        if self.finishing {
            return Flow::Continue;
        }
        let time = Timestamp::now();
        let args = &self.args;
        if args.retained_only && !received.retain {
            return Flow::Finish;
        }
        if args.receive.no_retained && received.retain {
            return Flow::Continue;
        }
        if args.filter_out.iter().any(|filter| filter_matches(filter, &received.topic)) {
            return Flow::Continue;
        }
        if args.remove_retained && received.retain {
            if let Ok(topic) = TopicName::new(&received.topic) {
                // A clear that cannot be encoded (larger than the broker's maximum packet size)
                // is skipped, as Mosquitto ignores a failed publish here; the message still prints.
                let _ = self.client.publish(
                    topic,
                    Bytes::new(),
                    QoS::AtLeastOnce,
                    true,
                    Properties::default(),
                );
            }
        }
        let mut printed = Vec::new();
        // -w moves the cursor even for a message --random-filter then hides, as Mosquitto does.
        if let Some(screen) = &mut self.screen {
            printed.extend_from_slice(screen.before(&received.topic).as_bytes());
        }
        let chance = self.args.random_filter;
        if chance >= PRINT_ALL
            || passes_random_filter(chance, rand::thread_rng().gen_range(0..PRINT_ALL))
        {
            let message = Message::from_received(received);
            let rendered = self.output.render(&message, time);
            for line in &rendered.errors {
                self.report(&format!("{line}\n"));
            }
            printed.extend_from_slice(&rendered.stdout);
            if let Some(screen) = &self.screen {
                printed.extend_from_slice(screen.after().as_bytes());
            }
        }
        if !printed.is_empty() {
            let mut out = std::io::stdout().lock();
            if out.write_all(&printed).and_then(|()| out.flush()).is_err() {
                // Nobody reads our output any more (`culex_sub … | head -1`): stop quietly.
                return Flow::Finish;
            }
        }
        self.counted += 1;
        if self.args.count.is_some_and(|count| self.counted >= count) {
            return Flow::Finish;
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_filter_prints_the_given_share_of_messages() {
        let printed =
            |chance| (0..PRINT_ALL).filter(|&roll| passes_random_filter(chance, roll)).count();
        assert_eq!(printed(1000), 1000);
        assert_eq!(printed(10_000), 1000);
        assert_eq!(printed(500), 500);
        assert_eq!(printed(1), 1);
    }
}
