//! culex_pub's options: its own (`-t -m -f -s -l -n -q -r --repeat --repeat-delay`) parsed in
//! the same pass as the shared ones, the options file first, then argv, then Mosquitto's
//! checks in Mosquitto's order.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use culex_client::args::{
    ArgCursor, ArgError, ConnectArgs, Tool, atof, atoi, is_valid_mqtt_utf8, is_valid_publish_topic,
    qos_value,
};
use culex_client::cli::CommandLine;

/// Our name and Mosquitto's, for messages and the options file.
pub(crate) const TOOL: Tool = Tool { name: "culex_pub", mosquitto_name: "mosquitto_pub" };

/// Where the payload comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `-m text`.
    Message(Vec<u8>),
    /// `-f path`.
    File(OsString),
    /// `-s`: all of stdin as one message.
    StdinWhole,
    /// `-l`: one message per stdin line.
    StdinLines,
    /// `-n`: an empty message.
    Null,
}

/// Everything culex_pub was asked to do.
#[derive(Clone, Debug)]
pub(crate) struct PubArgs {
    /// The shared connection options.
    pub(crate) shared: ConnectArgs,
    /// `-t` (or the `-L` topic).
    pub(crate) topic: Option<String>,
    /// `-m`/`-f`/`-s`/`-l`/`-n`.
    pub(crate) source: Option<Source>,
    /// `-q`.
    pub(crate) qos: u8,
    /// `-r`.
    pub(crate) retain: bool,
    /// `--repeat` (default 1).
    pub(crate) repeat: u32,
    /// `--repeat-delay` in seconds.
    pub(crate) repeat_delay: f64,
}

impl Default for PubArgs {
    fn default() -> Self {
        Self {
            shared: ConnectArgs::default(),
            topic: None,
            source: None,
            qos: 0,
            retain: false,
            repeat: 1,
            repeat_delay: 0.0,
        }
    }
}

/// Mosquitto checks for a second message source before looking at the option's value.
fn ensure_no_source(args: &PubArgs) -> Result<(), ArgError> {
    if args.source.is_some() {
        return Err(ArgError::usage("Error: Only one type of message can be sent at once.\n\n"));
    }
    Ok(())
}

fn set_source(args: &mut PubArgs, source: Source) -> Result<(), ArgError> {
    ensure_no_source(args)?;
    args.source = Some(source);
    Ok(())
}

fn set_topic(args: &mut PubArgs, topic: &OsStr, option: &str) -> Result<(), ArgError> {
    let Some(topic) = topic.to_str().filter(|topic| is_valid_mqtt_utf8(topic.as_bytes())) else {
        return Err(ArgError::usage(format!("Error: Malformed UTF-8 in {option} argument.\n\n")));
    };
    if !is_valid_publish_topic(topic) && !topic.is_empty() {
        return Err(ArgError::usage(format!(
            "Error: Invalid publish topic '{topic}', does it contain '+' or '#'?\n"
        )));
    }
    args.topic = Some(topic.to_owned());
    Ok(())
}

/// culex_pub's own options, parsed in the same pass as the shared ones; the shared checks
/// then the property checks run once everything was read.
impl CommandLine for PubArgs {
    fn parse_own(&mut self, option: &OsStr, cursor: &mut ArgCursor<'_>) -> Result<bool, ArgError> {
        match option.as_bytes() {
            b"-t" | b"--topic" => {
                let topic = cursor.value("-t", "topic")?;
                set_topic(self, topic, "-t")?;
            }
            b"-m" | b"--message" => {
                ensure_no_source(self)?;
                let message = cursor.value("-m", "message")?;
                self.source = Some(Source::Message(message.as_bytes().to_vec()));
            }
            b"-f" | b"--file" => {
                ensure_no_source(self)?;
                let path = cursor.value("-f", "file")?;
                self.source = Some(Source::File(path.to_owned()));
            }
            b"-s" | b"--stdin-file" => set_source(self, Source::StdinWhole)?,
            b"-l" | b"--stdin-line" => set_source(self, Source::StdinLines)?,
            b"-n" | b"--null-message" => set_source(self, Source::Null)?,
            b"-q" | b"--qos" => self.qos = qos_value(cursor)?,
            b"-r" | b"--retain" => self.retain = true,
            b"--repeat" => {
                let repeat = atoi(cursor.value("--repeat", "count")?);
                self.repeat = u32::try_from(repeat)
                    .ok()
                    .filter(|repeat| *repeat > 0)
                    .ok_or_else(|| ArgError::usage("Error: --repeat argument must be >0.\n\n"))?;
            }
            b"--repeat-delay" => {
                let delay = atof(cursor.value("--repeat-delay", "time")?);
                if delay < 0.0 {
                    return Err(ArgError::usage(
                        "Error: --repeat-delay argument must be >=0.0.\n\n",
                    ));
                }
                self.repeat_delay = delay;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn url_topic(&mut self, topic: &str) -> Result<(), ArgError> {
        set_topic(self, OsStr::new(topic), "-L topic")
    }

    fn check(&mut self) -> Result<(), ArgError> {
        self.shared.check()?;
        self.shared.check_properties()
    }

    fn shared(&mut self) -> &mut ConnectArgs {
        &mut self.shared
    }
}

#[cfg(test)]
mod tests {
    use culex_client::cli::Outcome;

    use super::*;

    fn parse(argv: &[OsString], rc_lines: &[Vec<OsString>]) -> Result<Outcome<PubArgs>, ArgError> {
        culex_client::cli::parse(argv, rc_lines)
    }

    fn run(list: &[&str]) -> Result<PubArgs, ArgError> {
        let argv: Vec<OsString> = list.iter().map(OsString::from).collect();
        match parse(&argv, &[])? {
            Outcome::Run(args) => Ok(*args),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn message_modes_exclude_each_other() {
        let err = run(&["-m", "a", "-l"]).unwrap_err();
        assert_eq!(err.text, "Error: Only one type of message can be sent at once.\n\n");
        assert!(run(&["-n", "-m"]).unwrap_err().text.starts_with("Error: Only one type"));
        assert_eq!(run(&["-m", "x"]).unwrap().source, Some(Source::Message(b"x".to_vec())));
    }

    #[test]
    fn topic_is_validated() {
        assert_eq!(
            run(&["-t", "a/#"]).unwrap_err().text,
            "Error: Invalid publish topic 'a/#', does it contain '+' or '#'?\n"
        );
        assert_eq!(run(&["-t", "a", "-t", "b"]).unwrap().topic.as_deref(), Some("b"));
        assert_eq!(run(&["-L", "mqtt://h/x/y"]).unwrap().topic.as_deref(), Some("x/y"));
    }

    #[test]
    fn numbers_use_c_parsing() {
        assert_eq!(run(&["-q", "1x"]).unwrap().qos, 1);
        assert_eq!(run(&["-q", "3"]).unwrap_err().text, "Error: Invalid QoS given: 3\n");
        assert_eq!(
            run(&["--repeat", "0"]).unwrap_err().text,
            "Error: --repeat argument must be >0.\n\n"
        );
        assert!((run(&["--repeat-delay", "0.5s"]).unwrap().repeat_delay - 0.5).abs() < 1e-9);
        assert!(run(&["--repeat-delay", "-1"]).is_err());
    }

    #[test]
    fn options_file_comes_first_and_argv_overrides() {
        let rc = vec![vec![OsString::from("-q"), OsString::from("2")], vec![OsString::from("-d")]];
        let argv: Vec<OsString> = ["-q", "1"].iter().map(OsString::from).collect();
        let Outcome::Run(args) = parse(&argv, &rc).unwrap() else { panic!() };
        assert_eq!(args.qos, 1);
        assert!(args.shared.debug);
    }

    #[test]
    fn unknown_options_and_help() {
        assert_eq!(run(&["--foo"]).unwrap_err().text, "Error: Unknown option '--foo'.\n");
        let argv: Vec<OsString> = ["--help", "-t"].iter().map(OsString::from).collect();
        assert!(matches!(parse(&argv, &[]).unwrap(), Outcome::Help));
    }
}
