//! culex_sub's options: its own (`-t -T -U -q -v -N -F -C -W -R -E -w --pretty --retained-only
//! --remove-retained --retain-as-published --retain-handling --random-filter --message-rate`)
//! parsed in the same pass as the
//! shared connection options, the options file first, then argv, then Mosquitto's checks in
//! Mosquitto's order.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use culex_client::args::{
    ArgCursor, ArgError, ConnectArgs, Tool, atof, atoi, is_valid_subscription_filter, qos_value,
};
use culex_client::cli::CommandLine;

use culex_client::print::ReceiveArgs;

/// Our name and Mosquitto's, for messages and the options file.
pub(crate) const TOOL: Tool = Tool { name: "culex_sub", mosquitto_name: "mosquitto_sub" };

/// `--random-filter` keeps chances in tenths of a percent: 1 (0.1%) to 1000 (100%).
/// Mosquitto accepts up to 10000 (its scale is off by ten); values past 100% print everything.
const RANDOM_FILTER_MAX: u32 = 10_000;

/// Everything culex_sub was asked to do.
#[derive(Clone, Debug)]
pub(crate) struct SubArgs {
    /// The shared connection options.
    pub(crate) shared: ConnectArgs,
    /// `-t` filters (and `-L` topics), subscribed in one SUBSCRIBE.
    pub(crate) topics: Vec<String>,
    /// `-T` filters whose messages are neither printed nor counted.
    pub(crate) filter_out: Vec<String>,
    /// `-U` filters, one UNSUBSCRIBE each after the SUBSCRIBE.
    pub(crate) unsubscribe: Vec<String>,
    /// `-q`: requested QoS for every filter.
    pub(crate) qos: u8,
    /// `-v`, `-N`, `-F`, `--pretty`, `-W`, `-R`, `--retain-as-published`, `--retain-handling`.
    pub(crate) receive: ReceiveArgs,
    /// `-C`: stop after this many messages.
    pub(crate) count: Option<u32>,
    /// `-E`: exit once the SUBACK arrived.
    pub(crate) exit_after_subscribe: bool,
    /// `--retained-only`.
    pub(crate) retained_only: bool,
    /// `--remove-retained`.
    pub(crate) remove_retained: bool,
    /// `--random-filter`, in tenths of a percent (1000 = print everything).
    pub(crate) random_filter: u32,
    /// `-w`/`--watch` (Mosquitto 2.1): one screen line per topic.
    pub(crate) watch: bool,
    /// `--message-rate` (Mosquitto 2.1): print how many messages arrive each second instead of
    /// the messages.
    pub(crate) message_rate: bool,
}

impl Default for SubArgs {
    fn default() -> Self {
        Self {
            shared: ConnectArgs::default(),
            topics: Vec::new(),
            filter_out: Vec::new(),
            unsubscribe: Vec::new(),
            qos: 0,
            receive: ReceiveArgs::default(),
            count: None,
            exit_after_subscribe: false,
            retained_only: false,
            remove_retained: false,
            random_filter: 1000,
            watch: false,
            message_rate: false,
        }
    }
}

/// Validates a `-t`/`-T`/`-U` filter (`kind` names it in the message) and returns it.
fn filter(value: &OsStr, option: &str, kind: &str) -> Result<String, ArgError> {
    let Some(text) = value.to_str() else {
        return Err(ArgError::usage(format!("Error: Malformed UTF-8 in {option} argument.\n\n")));
    };
    // An empty -T filter matches nothing, harmlessly; an empty -t or -U filter would be a
    // protocol violation on the wire (Mosquitto sends it and the broker hangs up).
    let harmless_empty_filter = kind == "filter" && text.is_empty();
    if !(is_valid_subscription_filter(text) || harmless_empty_filter) {
        return Err(ArgError::usage(format!(
            "Error: Invalid {kind} topic '{text}', are all '+' and '#' wildcards correct?\n"
        )));
    }
    Ok(text.to_owned())
}

/// culex_sub's own options, parsed in the same pass as the shared ones; then Mosquitto's checks
/// in its order: shared checks, "must specify a topic", properties, `-R` with `--retained-only`.
impl CommandLine for SubArgs {
    fn parse_own(&mut self, option: &OsStr, cursor: &mut ArgCursor<'_>) -> Result<bool, ArgError> {
        match option.as_bytes() {
            b"-t" | b"--topic" => {
                let value = cursor.value("-t", "topic")?;
                self.topics.push(filter(value, "-t", "subscription")?);
            }
            b"-T" | b"--filter-out" => {
                let value = cursor.value("-T", "topic filter")?;
                self.filter_out.push(filter(value, "-T", "filter")?);
            }
            b"-U" | b"--unsubscribe" => {
                let value = cursor.value("-U", "unsubscribe topic")?;
                self.unsubscribe.push(filter(value, "-U", "unsubscribe")?);
            }
            b"-q" | b"--qos" => self.qos = qos_value(cursor)?,
            b"-C" => {
                let count = atoi(cursor.value("-C", "count")?);
                self.count = Some(
                    u32::try_from(count).ok().filter(|count| *count > 0).ok_or_else(|| {
                        ArgError::usage(format!("Error: Invalid message count \"{count}\".\n\n"))
                    })?,
                );
            }
            b"--random-filter" => {
                let chance = atof(cursor.value("--random-filter", "chance")?);
                let tenths = (10.0 * chance).trunc();
                if !(1.0..=f64::from(RANDOM_FILTER_MAX)).contains(&tenths) {
                    return Err(ArgError::usage(
                        "Error: --random-filter chance must be between 0.1-100.0\n\n",
                    ));
                }
                // In range, so the conversion is exact.
                self.random_filter = tenths as u32;
            }
            b"-E" => self.exit_after_subscribe = true,
            b"--retained-only" => self.retained_only = true,
            b"--remove-retained" => self.remove_retained = true,
            b"-w" | b"--watch" => self.watch = true,
            b"--message-rate" => self.message_rate = true,
            _ => return self.receive.parse_option(option, cursor),
        }
        Ok(true)
    }

    fn url_topic(&mut self, topic: &str) -> Result<(), ArgError> {
        self.topics.push(filter(OsStr::new(topic), "-L", "subscription")?);
        Ok(())
    }

    fn check(&mut self) -> Result<(), ArgError> {
        self.shared.check()?;
        if self.topics.is_empty() {
            return Err(ArgError::usage("Error: You must specify a topic to subscribe to.\n"));
        }
        self.shared.check_properties()?;
        if self.receive.no_retained && self.retained_only {
            return Err(ArgError::plain(
                "\nError: Combining '-R' and '--retained-only' makes no sense.\n",
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
    use std::ffi::OsString;

    use culex_client::cli::Outcome;

    use culex_client::print::output::Style;

    use super::*;

    fn parse(argv: &[OsString], rc_lines: &[Vec<OsString>]) -> Result<Outcome<SubArgs>, ArgError> {
        culex_client::cli::parse(argv, rc_lines)
    }

    fn tokens(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn run(list: &[&str]) -> Result<SubArgs, ArgError> {
        match parse(&tokens(list), &[])? {
            Outcome::Run(args) => Ok(*args),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn error(list: &[&str]) -> String {
        run(list).expect_err("arguments are rejected").render(&TOOL)
    }

    const HINT: &str = "\nUse 'culex_sub --help' to see usage.\n";

    #[test]
    fn missing_values_name_what_is_missing() {
        for (option, what) in [
            ("-t", "topic"),
            ("-T", "topic filter"),
            ("-U", "unsubscribe topic"),
            ("-q", "QoS"),
            ("-C", "count"),
            ("-W", "timeout"),
            ("-F", "format"),
            ("--random-filter", "chance"),
        ] {
            assert_eq!(
                error(&[option]),
                format!("Error: {option} argument given but no {what} specified.\n\n{HINT}")
            );
        }
    }

    #[test]
    fn numbers_are_checked_with_c_parsing() {
        assert_eq!(
            error(&["-t", "a", "-C", "0"]),
            format!("Error: Invalid message count \"0\".\n\n{HINT}")
        );
        assert_eq!(
            error(&["-t", "a", "-C", "x"]),
            format!("Error: Invalid message count \"0\".\n\n{HINT}")
        );
        assert_eq!(
            error(&["-t", "a", "-W", "-3"]),
            format!("Error: Invalid timeout \"-3\".\n\n{HINT}")
        );
        assert_eq!(error(&["-t", "a", "-q", "3"]), format!("Error: Invalid QoS given: 3\n{HINT}"));
        assert_eq!(
            error(&["-t", "a", "-q", "-1"]),
            format!("Error: Invalid QoS given: -1\n{HINT}")
        );
        let args = run(&["-t", "a", "-C", "5x", "-W", "7", "-q", "2"]).expect("valid");
        assert_eq!((args.count, args.receive.timeout, args.qos), (Some(5), Some(7), 2));
    }

    #[test]
    fn filters_are_validated_per_kind() {
        assert_eq!(
            error(&["-t", "a/#/b"]),
            format!(
                "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?\n{HINT}"
            )
        );
        assert_eq!(
            error(&["-t", "a", "-T", "a/#/b"]),
            format!(
                "Error: Invalid filter topic 'a/#/b', are all '+' and '#' wildcards correct?\n{HINT}"
            )
        );
        assert_eq!(
            error(&["-t", "a", "-U", "+a"]),
            format!(
                "Error: Invalid unsubscribe topic '+a', are all '+' and '#' wildcards correct?\n{HINT}"
            )
        );
        let args = run(&["-t", "a/+", "-t", "#", "-T", "a/b", "-U", "c"]).expect("valid");
        assert_eq!(args.topics, ["a/+", "#"]);
        assert_eq!(args.filter_out, ["a/b"]);
        assert_eq!(args.unsubscribe, ["c"]);
    }

    #[test]
    fn an_empty_filter_is_rejected_rather_than_sent() {
        assert!(error(&["-t", ""]).starts_with("Error: Invalid subscription topic ''"));
        assert!(error(&["-t", "a", "-U", ""]).starts_with("Error: Invalid unsubscribe topic ''"));
        assert_eq!(run(&["-t", "a", "-T", ""]).expect("valid").filter_out, [""]);
    }

    #[test]
    fn checks_run_in_mosquittos_order() {
        assert_eq!(error(&[]), format!("Error: You must specify a topic to subscribe to.\n{HINT}"));
        assert_eq!(
            error(&["-T", "a", "-U", "b"]),
            format!("Error: You must specify a topic to subscribe to.\n{HINT}")
        );
        assert_eq!(
            error(&["-R", "--retained-only", "-c"]),
            format!("Error: You must provide a client id if you are using the -c option.\n{HINT}")
        );
        assert_eq!(
            error(&["-t", "a", "--retained-only", "-R"]),
            "\nError: Combining '-R' and '--retained-only' makes no sense.\n"
        );
        assert_eq!(
            error(&["-t", "a", "-R", "--retained-only", "--will-retain"]),
            format!("Error: Will retain given, but no will topic given.\n{HINT}")
        );
    }

    #[test]
    fn formats_are_validated_while_parsing() {
        assert_eq!(error(&["-F", "%z"]), format!("Error: Invalid format specifier 'z'.\n{HINT}"));
        assert_eq!(
            error(&["-t", "a", "-F", "@"]),
            format!("Error: Incomplete format specifier.\n{HINT}")
        );
    }

    #[test]
    fn random_filter_takes_tenths_of_a_percent() {
        assert_eq!(
            error(&["-t", "a", "--random-filter", "0"]),
            format!("Error: --random-filter chance must be between 0.1-100.0\n\n{HINT}")
        );
        assert!(
            error(&["-t", "a", "--random-filter", "1000.1"]).starts_with("Error: --random-filter")
        );
        assert_eq!(run(&["-t", "a", "--random-filter", "0.1"]).expect("valid").random_filter, 1);
        assert_eq!(run(&["-t", "a", "--random-filter", "50"]).expect("valid").random_filter, 500);
        assert_eq!(
            run(&["-t", "a", "--random-filter", "1000"]).expect("valid").random_filter,
            10_000
        );
        assert_eq!(run(&["-t", "a"]).expect("valid").random_filter, 1000);
    }

    #[test]
    fn unknown_options_help_and_version() {
        assert_eq!(error(&["-t", "a", "-e", "x"]), format!("Error: Unknown option '-e'.\n{HINT}"));
        assert!(matches!(parse(&tokens(&["--help", "-t"]), &[]), Ok(Outcome::Help)));
        assert!(matches!(parse(&tokens(&["--version"]), &[]), Ok(Outcome::Version)));
    }

    #[test]
    fn watch_and_message_rate_are_plain_flags() {
        let args = run(&["-t", "a", "-w", "--message-rate"]).expect("valid");
        assert!(args.watch && args.message_rate);
        assert!(run(&["-t", "a", "--watch"]).expect("valid").watch);
        let args = run(&["-t", "a", "-R", "--retain-handling", "new"]).expect("valid");
        assert_eq!(args.receive.retain_handling, mqtt_codec::RetainHandling::SendIfNew);
        assert!(args.receive.no_retained);
    }

    #[test]
    fn url_topics_add_a_subscription_and_the_options_file_adds_to_argv() {
        let args = run(&["-t", "a", "-L", "mqtt://localhost:1884/x/y"]).expect("valid");
        assert_eq!(args.topics, ["a", "x/y"]);
        let rc = vec![tokens(&["-t", "from/file"]), tokens(&["-v"])];
        let Ok(Outcome::Run(args)) = parse(&tokens(&["-t", "from/argv"]), &rc) else {
            panic!("valid arguments")
        };
        assert_eq!(args.topics, ["from/file", "from/argv"]);
        assert!(args.receive.verbose);
    }

    #[test]
    fn format_wins_over_verbose() {
        let args = run(&["-t", "a", "-v", "-F", "%t", "-N", "--pretty"]).expect("valid");
        let output = args.receive.output();
        assert!(matches!(output.style, Style::Custom(_)));
        assert!(!output.end_of_line);
        assert!(output.pretty);
        assert_eq!(run(&["-t", "a", "-v"]).expect("valid").receive.output().style, Style::Verbose);
        assert_eq!(run(&["-t", "a"]).expect("valid").receive.output().style, Style::Payload);
    }
}
