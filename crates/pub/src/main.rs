//! `culex_pub`: publish MQTT messages from the command line, flag for flag like
//! `mosquitto_pub`. `main` only maps the outcome of `run` to an exit status.
//!
//! - `cli`: options (options file, then argv) and Mosquitto's checks.
//! - `help`: `--help` and `--version` texts.
//! - `publish`: loading the payload, connecting, publishing, disconnecting.

mod cli;
mod help;
mod publish;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use culex_client::ConnectOptions;

use crate::cli::{Outcome, TOOL};
use crate::publish::{Plan, load_payload};

fn main() -> ExitCode {
    ExitCode::from(run())
}

/// Parses, checks, publishes; prints every message itself and returns the exit status.
fn run() -> u8 {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let rc_lines = match culex_client::rcfile::load(&TOOL) {
        Ok(lines) => lines,
        Err(err) => {
            eprintln!("Error: Unable to read options file: {err}.");
            return 1;
        }
    };
    let args = match cli::parse(&argv, &rc_lines) {
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
    let quiet = args.shared.quiet;
    let report = |text: &str| {
        if !quiet {
            eprint!("{text}");
        }
    };
    let payload = match args.source.as_ref().map(load_payload).transpose() {
        Ok(payload) => payload,
        Err(failure) => {
            report(&failure.stderr);
            return failure.code;
        }
    };
    let (Some(topic), Some(payload)) = (args.topic.clone(), payload) else {
        eprintln!("Error: Both topic and message must be supplied.");
        print_stdout(&help::usage());
        return 1;
    };
    let options = match ConnectOptions::resolve(&args.shared) {
        Ok(options) => options,
        Err(err) => {
            report(&err.text);
            return 1;
        }
    };
    let plan = Plan::new(&args, topic);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            report(&format!("Error: {err}\n"));
            return 1;
        }
    };
    match runtime.block_on(publish::run(options, plan, payload)) {
        Ok(code) => code,
        Err(failure) => {
            let _ = std::io::stdout().flush();
            report(&failure.stderr);
            failure.code
        }
    }
}

fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
