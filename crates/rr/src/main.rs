//! `culex_rr`: publish one MQTT v5 request with a response topic and print the response, flag
//! for flag like `mosquitto_rr`. `main` hands the parsed options to `run`, whose result is the
//! exit status.
//!
//! - `args`: options (options file, then argv) and Mosquitto's checks.
//! - `help`: `--help` and `--version` texts.
//! - `payload`: loading the request from `-m`, `-f`, `-s` or `-n`.
//! - `request`: connecting, subscribing, publishing, printing the response.
//!
//! How the response is printed is `culex_client::print`, shared with culex_sub.
#![forbid(unsafe_code)]

mod args;
mod help;
mod payload;
mod request;

use std::process::ExitCode;

use culex_client::ConnectOptions;
use culex_client::args::PropertyCommand;
use culex_client::cli::{block_on, run_tool};
use mqtt_codec::{ProtocolVersion, TopicFilter, TopicName};

use crate::args::RrArgs;
use crate::request::Request;

fn main() -> ExitCode {
    run_tool(&help::ABOUT, run)
}

/// Given the parsed options: loads the request, checks it, sends it; prints every message
/// itself and returns the exit status.
fn run(args: Box<RrArgs>) -> u8 {
    match prepare(&args) {
        Ok((options, request)) => block_on(request::run(&args, options, request)),
        Err(text) => {
            if !args.shared.quiet {
                eprint!("{text}");
            }
            1
        }
    }
}

/// The connection options and the request, or the lines for stderr.
fn prepare(args: &RrArgs) -> Result<(ConnectOptions, Request), String> {
    let payload = args.source.as_ref().map(payload::load).transpose()?.unwrap_or_default();
    let options = ConnectOptions::resolve(&args.shared).map_err(|err| err.text)?;
    let request = request(args, &options, payload)?;
    Ok((options, request))
}

/// The request to send: topics checked by the codec, and in MQTT v5 the response topic added
/// to the `-D publish` properties, which must not name one already.
fn request(
    args: &RrArgs,
    options: &ConnectOptions,
    payload: bytes::Bytes,
) -> Result<Request, String> {
    let topic = args.topic.as_deref().unwrap_or_default();
    let response = args.response_topic.as_deref().unwrap_or_default();
    let (Ok(topic), Ok(response_topic), Ok(response_name)) =
        (TopicName::new(topic), TopicFilter::new(response), TopicName::new(response))
    else {
        return Err("Error: Invalid topic.\n".to_owned());
    };
    let mut properties = options
        .properties(PropertyCommand::Publish)
        .map_err(|message| format!("Error in PUBLISH properties: {message}\n"))?;
    if options.protocol == ProtocolVersion::V5 {
        if properties.response_topic.is_some() {
            return Err("Error in PUBLISH properties: Duplicate response topic.\n".to_owned());
        }
        properties.response_topic = Some(response_name);
    } else {
        properties = mqtt_codec::Properties::default();
    }
    Ok(Request { topic, response_topic, payload, properties })
}
