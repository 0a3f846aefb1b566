//! culex_rr's options: its own (`-t -e -m -f -s -n -q --latency`, and the receiving options
//! it shares with culex_sub) parsed in the same pass as the shared
//! connection options, the options file first, then argv, then Mosquitto's checks in
//! Mosquitto's order.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use culex_client::args::{
    ArgCursor, ArgError, ConnectArgs, Protocol, Tool, is_valid_mqtt_utf8, is_valid_publish_topic,
    qos_value,
};
use culex_client::cli::CommandLine;
use culex_client::print::ReceiveArgs;

/// Our name and Mosquitto's, for messages and the options file.
pub(crate) const TOOL: Tool = Tool { name: "culex_rr", mosquitto_name: "mosquitto_rr" };

/// Where the request's payload comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `-m text`.
    Message(Vec<u8>),
    /// `-f path`.
    File(OsString),
    /// `-s`: all of stdin.
    Stdin,
    /// `-n`: an empty request.
    Null,
}

/// Everything culex_rr was asked to do.
#[derive(Clone, Debug)]
pub(crate) struct RrArgs {
    /// The shared connection options (MQTT v5 unless `-V` says otherwise).
    pub(crate) shared: ConnectArgs,
    /// `-t` (or the `-L` topic): where the request goes.
    pub(crate) topic: Option<String>,
    /// `-e`: where the response is expected.
    pub(crate) response_topic: Option<String>,
    /// `-m`/`-f`/`-s`/`-n`.
    pub(crate) source: Option<Source>,
    /// `-q`: QoS of the request and of the subscription.
    pub(crate) qos: u8,
    /// `-v`, `-N`, `-F`, `--pretty`, `-W`, `-R`, `--retain-as-published`, `--retain-handling`.
    pub(crate) receive: ReceiveArgs,
    /// `--latency` (Mosquitto 2.1).
    pub(crate) latency: bool,
}

impl Default for RrArgs {
    fn default() -> Self {
        Self {
            shared: ConnectArgs { protocol: Protocol::V5, ..ConnectArgs::default() },
            topic: None,
            response_topic: None,
            source: None,
            qos: 0,
            receive: ReceiveArgs::default(),
            latency: false,
        }
    }
}

/// A topic to publish to, checked as Mosquitto checks `-t` and `-e` (`kind` names it in the
/// message). Like Mosquitto, an empty topic passes here.
fn publish_topic(value: &OsStr, option: &str, kind: &str) -> Result<String, ArgError> {
    let Some(topic) = value.to_str().filter(|topic| is_valid_mqtt_utf8(topic.as_bytes())) else {
        return Err(ArgError::usage(format!("Error: Malformed UTF-8 in {option} argument.\n\n")));
    };
    if !is_valid_publish_topic(topic) && !topic.is_empty() {
        return Err(ArgError::usage(format!(
            "Error: Invalid {kind} topic '{topic}', does it contain '+' or '#'?\n"
        )));
    }
    Ok(topic.to_owned())
}

impl RrArgs {
    /// Takes a message source; Mosquitto refuses a second one before reading its value.
    fn set_source(
        &mut self,
        source: impl FnOnce(&mut ArgCursor<'_>) -> Result<Source, ArgError>,
        cursor: &mut ArgCursor<'_>,
    ) -> Result<(), ArgError> {
        if self.source.is_some() {
            return Err(ArgError::usage(
                "Error: Only one type of message can be sent at once.\n\n",
            ));
        }
        self.source = Some(source(cursor)?);
        Ok(())
    }
}

/// culex_rr's own options, parsed in the same pass as the shared ones; then Mosquitto's
/// checks in its order: shared checks, properties, then "all of topic, message and response
/// topic".
impl CommandLine for RrArgs {
    fn parse_own(&mut self, option: &OsStr, cursor: &mut ArgCursor<'_>) -> Result<bool, ArgError> {
        match option.as_bytes() {
            b"-t" | b"--topic" => {
                self.topic = Some(publish_topic(cursor.value("-t", "topic")?, "-t", "publish")?);
            }
            b"-e" | b"--response-topic" => {
                let value = cursor.value("-e", "response topic")?;
                self.response_topic = Some(publish_topic(value, "-e", "response")?);
            }
            b"-m" | b"--message" => self.set_source(
                |cursor| Ok(Source::Message(cursor.value("-m", "message")?.as_bytes().to_vec())),
                cursor,
            )?,
            b"-f" | b"--file" => self.set_source(
                |cursor| Ok(Source::File(cursor.value("-f", "file")?.to_owned())),
                cursor,
            )?,
            b"-s" | b"--stdin-file" => self.set_source(|_| Ok(Source::Stdin), cursor)?,
            b"-n" | b"--null-message" => self.set_source(|_| Ok(Source::Null), cursor)?,
            b"-q" | b"--qos" => self.qos = qos_value(cursor)?,
            b"--latency" => self.latency = true,
            _ => return self.receive.parse_option(option, cursor),
        }
        Ok(true)
    }

    fn url_topic(&mut self, topic: &str) -> Result<(), ArgError> {
        self.topic = Some(publish_topic(OsStr::new(topic), "-L topic", "publish")?);
        Ok(())
    }

    fn check(&mut self) -> Result<(), ArgError> {
        self.shared.check()?;
        self.shared.check_properties()?;
        if self.topic.is_none() || self.source.is_none() || self.response_topic.is_none() {
            return Err(ArgError::usage(
                "Error: All of topic, message, and response topic must be supplied.\n",
            ));
        }
        Ok(())
    }

    fn shared(&mut self) -> &mut ConnectArgs {
        &mut self.shared
    }
}

#[cfg(test)]
mod tests {
    use culex_client::cli::Outcome;

    use super::*;

    fn run(list: &[&str]) -> Result<RrArgs, ArgError> {
        let argv: Vec<OsString> = list.iter().map(OsString::from).collect();
        match culex_client::cli::parse(&argv, &[])? {
            Outcome::Run(args) => Ok(*args),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn error(list: &[&str]) -> String {
        run(list).expect_err("arguments are rejected").render(&TOOL)
    }

    const HINT: &str = "\nUse 'culex_rr --help' to see usage.\n";
    const ALL_OF: &str = "Error: All of topic, message, and response topic must be supplied.\n";

    #[test]
    fn topic_message_and_response_topic_are_all_required() {
        for list in [&[][..], &["-t", "a"], &["-t", "a", "-e", "b"], &["-e", "b", "-n"]] {
            assert_eq!(error(list), format!("{ALL_OF}{HINT}"), "{list:?}");
        }
        let args = run(&["-t", "a", "-e", "b", "-m", "hi"]).expect("valid");
        assert_eq!(args.source, Some(Source::Message(b"hi".to_vec())));
        assert_eq!(args.shared.protocol, Protocol::V5);
    }

    #[test]
    fn topics_are_checked_as_publish_topics() {
        assert_eq!(
            error(&["-e", "a/#"]),
            format!("Error: Invalid response topic 'a/#', does it contain '+' or '#'?\n{HINT}")
        );
        assert_eq!(
            error(&["-t", "a/+"]),
            format!("Error: Invalid publish topic 'a/+', does it contain '+' or '#'?\n{HINT}")
        );
        assert_eq!(
            error(&["-e"]),
            format!("Error: -e argument given but no response topic specified.\n\n{HINT}")
        );
        let args = run(&["-L", "mqtt://h/x/y", "-e", "r", "-n"]).expect("valid");
        assert_eq!(args.topic.as_deref(), Some("x/y"));
    }

    #[test]
    fn checks_run_in_mosquittos_order() {
        assert_eq!(
            error(&["-c"]),
            format!(
                "Error: You must provide a client id if you are using an infinite session expiry interval.\n{HINT}"
            )
        );
        assert_eq!(
            error(&["-V", "311", "-c"]),
            format!("Error: You must provide a client id if you are using the -c option.\n{HINT}")
        );
        assert_eq!(
            error(&["-t", "a", "-m", "x", "-n"]),
            format!("Error: Only one type of message can be sent at once.\n\n{HINT}")
        );
        assert_eq!(error(&["-W", "0"]), format!("Error: Invalid timeout \"0\".\n\n{HINT}"));
    }

    #[test]
    fn pub_and_sub_only_options_are_unknown() {
        let sub_only = ["-C", "-E", "-T", "-U", "--remove-retained", "-w", "--message-rate"];
        for option in ["-l", "-r", "--repeat"].into_iter().chain(sub_only) {
            assert_eq!(error(&[option]), format!("Error: Unknown option '{option}'.\n{HINT}"));
        }
    }

    #[test]
    fn printing_options_are_the_subscribers() {
        let args =
            run(&["-t", "a", "-e", "b", "-n", "-v", "-N", "--pretty", "--latency"]).expect("valid");
        assert!(args.receive.verbose && args.receive.no_eol && args.receive.pretty && args.latency);
        let args = run(&["-t", "a", "-e", "b", "-n", "--retain-handling", "new"]).expect("valid");
        assert_eq!(args.receive.retain_handling, mqtt_codec::RetainHandling::SendIfNew);
        assert_eq!(error(&["-F", "%z"]), format!("Error: Invalid format specifier 'z'.\n{HINT}"));
    }
}
