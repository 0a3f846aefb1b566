//! `culex_pub`: publish MQTT messages from the command line, flag for flag like
//! `mosquitto_pub`. `main` hands the parsed options to `run`,
//! whose result is the exit status.
//!
//! - `cli`: options (options file, then argv) and Mosquitto's checks.
//! - `help`: `--help` and `--version` texts.
//! - `publish`: loading the payload, connecting, publishing, disconnecting.
#![forbid(unsafe_code)]

mod cli;
mod help;
mod publish;

use std::io::Write;
use std::process::ExitCode;

use culex_client::ConnectOptions;
use culex_client::cli::{print_stdout, run_tool};

use crate::cli::PubArgs;
use crate::publish::{Plan, load_payload};

fn main() -> ExitCode {
    run_tool(&help::ABOUT, run)
}

/// Given the parsed options: checks, publishes; prints every message itself and returns
/// the exit status.
fn run(args: Box<PubArgs>) -> u8 {
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
        print_stdout(&help::ABOUT.usage());
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
