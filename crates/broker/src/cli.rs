//! Mosquitto's command line: `-c/--config-file`, `-d/--daemon`, `-p/--port` (up to ten),
//! `-v/--verbose`, `-h/--help`, plus `--version`, and Mosquitto 2.1's `-q/--quiet` and
//! `--test-config`; the same messages and exit status 3.
//!
//! Parsed by hand rather than with clap because the error lines, the usage text on stdout and
//! the exit code for `-h` are part of the compatibility surface.

use std::path::PathBuf;

use crate::config::LogTypes;

/// Exit status for bad arguments, a bad configuration and `-h` (Mosquitto's `MOSQ_ERR_INVAL`).
pub const EXIT_INVALID: u8 = 3;

/// The most `-p` flags Mosquitto accepts.
pub const MAX_CLI_PORTS: usize = 10;

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the broker.
    Run(Args),
    /// `-h` / `--help`: print [`usage`] on stdout and exit 3.
    Help,
    /// `--version`: print the version on stdout and exit 0.
    Version,
}

/// Flags for running the broker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `-c FILE`: the configuration file (the last one given wins).
    pub config_file: Option<PathBuf>,
    /// `-d`: fork into the background once the listeners are open.
    pub daemon: bool,
    /// `-p PORT` values, in order; used only when the configuration defines no listener.
    pub ports: Vec<u16>,
    /// `-v`: log every message type.
    pub verbose: bool,
    /// `-q` (Mosquitto 2.1): log nothing once the configuration is read; wins over `-v`.
    pub quiet: bool,
    /// `--test-config` (Mosquitto 2.1): read and check the configuration, then exit.
    pub test_config: bool,
}

impl Args {
    /// The log types the command line forces over the configuration file's: none for `-q`,
    /// all for `-v`.
    pub fn forced_log_types(&self) -> Option<LogTypes> {
        if self.quiet { Some(LogTypes::NONE) } else { self.verbose.then_some(LogTypes::ALL) }
    }
}

/// A command-line error. The binary prints its `Display` text prefixed by `Error: `.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// `-c` was the last argument.
    #[error("-c argument given, but no config file specified.")]
    MissingConfigFile,
    /// `-p` was the last argument.
    #[error("-p argument given, but no port specified.")]
    MissingPort,
    /// `-p` with something that is not 1..=65535 (read like `atoi`).
    #[error("Invalid port specified ({0}).")]
    InvalidPort(i64),
    /// An eleventh `-p`.
    #[error("Only {MAX_CLI_PORTS} ports can be specified on the command line.")]
    TooManyPorts,
    /// Anything else. Mosquitto prints this one without a timestamp and follows it with the
    /// usage text on stdout.
    #[error("Unknown option '{0}'.")]
    UnknownOption(String),
}

/// Parses the arguments after the program name.
///
/// # Errors
/// The first bad argument, as Mosquitto reports it.
pub fn parse_args<I>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = String>,
{
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" | "--config-file" => {
                let file = args.next().ok_or(CliError::MissingConfigFile)?;
                parsed.config_file = Some(PathBuf::from(file));
            }
            "-d" | "--daemon" => parsed.daemon = true,
            "-p" | "--port" => {
                let text = args.next().ok_or(CliError::MissingPort)?;
                let port = crate::config::atoi(&text);
                let port = u16::try_from(port)
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or(CliError::InvalidPort(port))?;
                if parsed.ports.len() == MAX_CLI_PORTS {
                    return Err(CliError::TooManyPorts);
                }
                parsed.ports.push(port);
            }
            "-v" | "--verbose" => parsed.verbose = true,
            "-q" | "--quiet" => parsed.quiet = true,
            "--test-config" => parsed.test_config = true,
            "-h" | "--help" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            other => return Err(CliError::UnknownOption(other.to_owned())),
        }
    }
    Ok(Command::Run(parsed))
}

/// The version line, also the first line of [`usage`].
pub fn version() -> String {
    format!("culex version {}", env!("CARGO_PKG_VERSION"))
}

/// The help text printed on stdout for `-h` and after an unknown option.
pub fn usage() -> String {
    format!(
        "{}\n\n\
         culex is an MQTT v5.0/v3.1.1/v3.1 broker that runs Mosquitto 2.0 configurations.\n\n\
         Usage: culex [-c config_file] [-d] [-h] [-p port] [-v]\n\n \
         -c : read the broker configuration from this file (mosquitto.conf syntax).\n \
         -d : run in the background once the listeners are open.\n \
         -h : show this help and exit.\n \
         -p : listen on this port on 127.0.0.1 and ::1 (up to 10 times).\n      \
         Used only when the configuration defines no listener.\n \
         -q : quiet mode: log nothing, overriding log_type and -v.\n \
         -v : verbose mode: log every message type, overriding log_type.\n \
         --test-config : check the configuration file given with -c, then exit.\n \
         --version : print the version and exit.\n\n",
        version()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, CliError> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn no_arguments_runs_with_defaults() {
        assert_eq!(parse(&[]), Ok(Command::Run(Args::default())));
    }

    #[test]
    fn short_and_long_flags() {
        let expected = Args {
            config_file: Some("b.conf".into()),
            daemon: true,
            ports: vec![1884, 1885],
            verbose: true,
            ..Args::default()
        };
        assert_eq!(
            parse(&["-c", "a.conf", "-c", "b.conf", "-d", "-p", "1884", "-p", "1885", "-v"]),
            Ok(Command::Run(expected.clone()))
        );
        assert_eq!(
            parse(&[
                "--config-file",
                "b.conf",
                "--daemon",
                "--port",
                "1884",
                "--port",
                "1885",
                "--verbose"
            ]),
            Ok(Command::Run(expected))
        );
    }

    #[test]
    fn quiet_wins_over_verbose_and_test_config_is_a_flag() {
        let Ok(Command::Run(args)) = parse(&["-v", "--quiet", "--test-config", "-c", "a.conf"])
        else {
            panic!("runs");
        };
        assert!(args.quiet && args.verbose && args.test_config);
        assert_eq!(args.forced_log_types(), Some(LogTypes::NONE));
        let Ok(Command::Run(args)) = parse(&["-q"]) else { panic!("runs") };
        assert_eq!(args.forced_log_types(), Some(LogTypes::NONE));
        let Ok(Command::Run(args)) = parse(&["-v"]) else { panic!("runs") };
        assert_eq!(args.forced_log_types(), Some(LogTypes::ALL));
        assert_eq!(Args::default().forced_log_types(), None);
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        assert_eq!(parse(&["-v", "--help"]), Ok(Command::Help));
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
        assert!(usage().starts_with("culex version "));
        assert!(usage().ends_with("\n\n"));
    }

    #[test]
    fn errors_use_mosquittos_messages() {
        assert_eq!(
            parse(&["-c"]).unwrap_err().to_string(),
            "-c argument given, but no config file specified."
        );
        assert_eq!(
            parse(&["-p"]).unwrap_err().to_string(),
            "-p argument given, but no port specified."
        );
        assert_eq!(parse(&["-p", "0"]).unwrap_err().to_string(), "Invalid port specified (0).");
        assert_eq!(parse(&["-p", "abc"]).unwrap_err().to_string(), "Invalid port specified (0).");
        assert_eq!(
            parse(&["-p", "70000"]).unwrap_err().to_string(),
            "Invalid port specified (70000)."
        );
        assert_eq!(parse(&["-x"]).unwrap_err().to_string(), "Unknown option '-x'.");
    }

    #[test]
    fn at_most_ten_ports() {
        let mut args = Vec::new();
        for port in 2000..2010 {
            args.extend(["-p".to_owned(), port.to_string()]);
        }
        assert!(parse_args(args.clone()).is_ok());
        args.extend(["-p".to_owned(), "2010".to_owned()]);
        assert_eq!(parse_args(args), Err(CliError::TooManyPorts));
    }
}
