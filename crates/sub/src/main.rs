//! `culex_sub`: subscribe to MQTT topics and print the messages that arrive, flag for flag like
//! `mosquitto_sub`. `main` only maps the outcome of `run` to an exit status.
//!
//! - `args`: options (options file, then argv) and Mosquitto's checks.
//! - `help`: `--help` and `--version` texts.
//! - `subscribe`: connecting, subscribing, reconnecting, stopping.
//! - `output`, `format`, `json`, `clock`, `message`: how a received message is printed (pure).
//! - `topic_match`: `-T` filters.

mod args;
mod clock;
mod format;
mod help;
mod json;
mod message;
mod output;
mod subscribe;
mod topic_match;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use culex_client::ConnectOptions;

use crate::args::{Outcome, TOOL};

fn main() -> ExitCode {
    ExitCode::from(run())
}

/// Parses, checks, subscribes; prints every message itself and returns the exit status.
fn run() -> u8 {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let rc_lines = match culex_client::rcfile::load(&TOOL) {
        Ok(lines) => lines,
        Err(err) => {
            eprintln!("Error: Unable to read options file: {err}.");
            return 1;
        }
    };
    let args = match args::parse(&argv, &rc_lines) {
        Ok(Outcome::Run(args)) => args,
        Ok(Outcome::Help) => {
            print_stdout(&help::usage());
            return 1;
        }
        Ok(Outcome::Version) => {
            print_stdout(&help::version_line());
            return 1;
        }
        Err(err) => {
            eprint!("{}", err.render(&TOOL));
            return 1;
        }
    };
    let options = match ConnectOptions::resolve(&args.shared) {
        Ok(options) => options,
        Err(err) => {
            if !args.shared.quiet {
                eprint!("{}", err.text);
            }
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error: {err}");
            return 1;
        }
    };
    runtime.block_on(subscribe::run(*args, options))
}

fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
