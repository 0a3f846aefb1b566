//! `culex_sub`: subscribe to MQTT topics and print the messages that arrive, flag for flag like
//! `mosquitto_sub`. `main` hands the parsed options to `run`,
//! whose result is the exit status.
//!
//! - `args`: options (options file, then argv) and Mosquitto's checks.
//! - `help`: `--help` and `--version` texts.
//! - `subscribe`: connecting, subscribing, reconnecting, stopping.
//! - `watch`: `-w`, one terminal line per topic.
//! - `rate`: `--message-rate`, messages per second instead of messages.
//!
//! How a received message is printed is `culex_client::print`, shared with culex_rr.

mod args;
mod help;
mod os;
mod rate;
mod subscribe;
mod watch;

use std::process::ExitCode;

use culex_client::ConnectOptions;
use culex_client::cli::{block_on, run_tool};

use crate::args::SubArgs;

fn main() -> ExitCode {
    run_tool(&help::ABOUT, run)
}

/// Given the parsed options: checks, subscribes; prints every message itself and returns
/// the exit status.
fn run(args: Box<SubArgs>) -> u8 {
    let options = match ConnectOptions::resolve(&args.shared) {
        Ok(options) => options,
        Err(err) => {
            if !args.shared.quiet {
                eprint!("{}", err.text);
            }
            return 1;
        }
    };
    block_on(subscribe::run(*args, options))
}
