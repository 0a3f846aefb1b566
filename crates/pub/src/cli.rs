//! culex_pub's options: its own (`-t -m -f -s -l -n -q -r --repeat --repeat-delay`) parsed in
//! the same pass as the shared ones, the options file first, then argv, then Mosquitto's
//! checks in Mosquitto's order.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use culex_client::args::{
    ArgCursor, ArgError, ConnectArgs, Parsed, Tool, atoi, is_valid_mqtt_utf8,
    is_valid_publish_topic, lossy,
};

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
#[derive(Clone, Debug, Default)]
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

/// What parsing decided.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Go on and publish.
    Run(Box<PubArgs>),
    /// `--help`: print the usage, exit 1.
    Help,
    /// `--version`: print the version, exit 1.
    Version,
}

/// C's `atof` for `--repeat-delay`: the longest leading decimal number, else 0.
fn atof(text: &OsStr) -> f64 {
    let text = lossy(text);
    let trimmed = text.trim_start();
    let mut end = 0;
    let mut seen_dot = false;
    let mut seen_exp = false;
    let bytes = trimmed.as_bytes();
    while end < bytes.len() {
        let b = bytes[end];
        let ok = b.is_ascii_digit()
            || ((b == b'-' || b == b'+') && (end == 0 || matches!(bytes[end - 1], b'e' | b'E')))
            || (b == b'.' && !seen_dot && !seen_exp)
            || ((b == b'e' || b == b'E') && !seen_exp && end > 0);
        if !ok {
            break;
        }
        seen_dot |= b == b'.';
        seen_exp |= b == b'e' || b == b'E';
        end += 1;
    }
    // Back off over a dangling exponent or sign that does not form a number.
    (0..=end).rev().find_map(|len| trimmed[..len].parse::<f64>().ok()).unwrap_or(0.0)
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

/// Parses one list of tokens (an options-file line or argv) into `args`.
fn parse_tokens(tokens: &[OsString], args: &mut PubArgs) -> Result<Option<Outcome>, ArgError> {
    let mut cursor = ArgCursor::new(tokens);
    while let Some(option) = cursor.next_option() {
        match option.as_bytes() {
            b"-t" | b"--topic" => {
                let topic = cursor.value("-t", "topic")?;
                set_topic(args, topic, "-t")?;
            }
            b"-m" | b"--message" => {
                ensure_no_source(args)?;
                let message = cursor.value("-m", "message")?;
                args.source = Some(Source::Message(message.as_bytes().to_vec()));
            }
            b"-f" | b"--file" => {
                ensure_no_source(args)?;
                let path = cursor.value("-f", "file")?;
                args.source = Some(Source::File(path.to_owned()));
            }
            b"-s" | b"--stdin-file" => set_source(args, Source::StdinWhole)?,
            b"-l" | b"--stdin-line" => set_source(args, Source::StdinLines)?,
            b"-n" | b"--null-message" => set_source(args, Source::Null)?,
            b"-q" | b"--qos" => {
                let qos = atoi(cursor.value("-q", "QoS")?);
                args.qos = u8::try_from(qos)
                    .ok()
                    .filter(|qos| *qos <= 2)
                    .ok_or_else(|| ArgError::usage(format!("Error: Invalid QoS given: {qos}\n")))?;
            }
            b"-r" | b"--retain" => args.retain = true,
            b"--repeat" => {
                let repeat = atoi(cursor.value("--repeat", "count")?);
                args.repeat = u32::try_from(repeat)
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
                args.repeat_delay = delay;
            }
            _ => match args.shared.parse_option(option, &mut cursor)? {
                Parsed::Done => {}
                Parsed::UrlTopic(topic) => set_topic(args, OsStr::new(&topic), "-L topic")?,
                Parsed::Help => return Ok(Some(Outcome::Help)),
                Parsed::Version => return Ok(Some(Outcome::Version)),
                Parsed::NotShared => {
                    return Err(ArgError::usage(format!(
                        "Error: Unknown option '{}'.\n",
                        lossy(option)
                    )));
                }
            },
        }
    }
    Ok(None)
}

/// Reads the options file, then argv (without the program name), then runs the shared
/// cross-checks and property checks.
///
/// # Errors
/// The first problem, as Mosquitto reports it.
pub(crate) fn parse(argv: &[OsString], rc_lines: &[Vec<OsString>]) -> Result<Outcome, ArgError> {
    let mut args = PubArgs { repeat: 1, ..PubArgs::default() };
    for line in rc_lines {
        if let Some(outcome) = parse_tokens(line, &mut args)? {
            return Ok(outcome);
        }
    }
    if let Some(outcome) = parse_tokens(argv, &mut args)? {
        return Ok(outcome);
    }
    args.shared.check()?;
    args.shared.check_properties()?;
    Ok(Outcome::Run(Box::new(args)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(atof(OsStr::new("x")), 0.0);
        assert_eq!(atof(OsStr::new("1e")), 1.0);
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
