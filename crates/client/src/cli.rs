//! The front half both tools run before their own work: read the options file, parse it and
//! then argv into the tool's options in one pass (its own flags first, the shared ones from
//! [`ConnectArgs::parse_option`] after), run the tool's checks, and answer `--help`,
//! `--version` and argument errors itself with exit status 1, as Mosquitto's tools do.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::process::ExitCode;

use crate::args::{ArgCursor, ArgError, ConnectArgs, Parsed, lossy};
use crate::help::About;

/// What parsing decided.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Go on with these options.
    Run(Box<T>),
    /// `--help`: print the usage, exit 1.
    Help,
    /// `--version`: print the version, exit 1.
    Version,
}

/// One tool's options: its own flags next to the shared ones. `Default` gives the options
/// before anything was read.
pub trait CommandLine: Default {
    /// Parses `option` when it is one of the tool's own, consuming its values from `cursor`;
    /// `Ok(false)` leaves it to the shared parser.
    ///
    /// # Errors
    /// Mosquitto's message for a missing or invalid value.
    fn parse_own(&mut self, option: &OsStr, cursor: &mut ArgCursor<'_>) -> Result<bool, ArgError>;

    /// Takes the topic of a `-L` URL.
    ///
    /// # Errors
    /// The topic is not valid for this tool.
    fn url_topic(&mut self, topic: &str) -> Result<(), ArgError>;

    /// Mosquitto's checks once every source has been read, in Mosquitto's order.
    ///
    /// # Errors
    /// The first failing check's message.
    fn check(&mut self) -> Result<(), ArgError>;

    /// The shared connection options inside.
    fn shared(&mut self) -> &mut ConnectArgs;
}

/// Parses one list of tokens (an options-file line or argv) into `args`.
fn parse_tokens<T: CommandLine>(
    tokens: &[OsString],
    args: &mut T,
) -> Result<Option<Outcome<T>>, ArgError> {
    let mut cursor = ArgCursor::new(tokens);
    while let Some(option) = cursor.next_option() {
        if args.parse_own(option, &mut cursor)? {
            continue;
        }
        match args.shared().parse_option(option, &mut cursor)? {
            Parsed::Done => {}
            Parsed::UrlTopic(topic) => args.url_topic(&topic)?,
            Parsed::Help => return Ok(Some(Outcome::Help)),
            Parsed::Version => return Ok(Some(Outcome::Version)),
            Parsed::NotShared => {
                return Err(ArgError::usage(format!(
                    "Error: Unknown option '{}'.\n",
                    lossy(option)
                )));
            }
        }
    }
    Ok(None)
}

/// Reads the options file lines, then argv (without the program name), then runs the tool's
/// checks. `--help` or `--version` anywhere ends parsing there.
///
/// # Errors
/// The first problem, as Mosquitto reports it.
pub fn parse<T: CommandLine>(
    argv: &[OsString],
    rc_lines: &[Vec<OsString>],
) -> Result<Outcome<T>, ArgError> {
    let mut args = T::default();
    for tokens in rc_lines.iter().map(Vec::as_slice).chain([argv]) {
        if let Some(outcome) = parse_tokens(tokens, &mut args)? {
            return Ok(outcome);
        }
    }
    args.check()?;
    Ok(Outcome::Run(Box::new(args)))
}

/// A tool's whole `main`: reads the options file of `about.tool`, parses it and then argv, and
/// answers `--help`, `--version` and argument errors itself (exit status 1); otherwise hands
/// the options to `work`, whose return value is the exit status.
pub fn run_tool<T: CommandLine>(about: &About, work: impl FnOnce(Box<T>) -> u8) -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let rc_lines = match crate::rcfile::load(&about.tool) {
        Ok(lines) => lines,
        Err(err) => {
            eprintln!("Error: Unable to read options file: {err}.");
            return ExitCode::from(1);
        }
    };
    let code = match parse::<T>(&argv, &rc_lines) {
        Ok(Outcome::Run(args)) => work(args),
        Ok(Outcome::Help) => {
            print_stdout(&about.usage());
            1
        }
        Ok(Outcome::Version) => {
            print_stdout(&about.version_line());
            1
        }
        Err(err) => {
            eprint!("{}", err.render(&about.tool));
            1
        }
    };
    ExitCode::from(code)
}

/// Runs a tool's async work on a current-thread tokio runtime and returns its exit status;
/// a runtime that cannot start is reported as `Error: …`, status 1.
pub fn block_on(work: impl Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(work),
        Err(err) => {
            eprintln!("Error: {err}");
            1
        }
    }
}

/// Writes `text` to stdout and flushes, ignoring errors (a closed stdout is not worth a panic).
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
