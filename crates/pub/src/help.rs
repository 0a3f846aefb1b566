//! culex_pub's `--help` text (same layout and flags as mosquitto_pub's, in our own words) and
//! its `--version` line. What culex_sub prints word for word too comes from
//! `culex_client::help`.

use culex_client::help::About;

use crate::cli::TOOL;

/// culex_pub's names, version and help text.
pub(crate) const ABOUT: About = About {
    tool: TOOL,
    version: env!("CARGO_PKG_VERSION"),
    summary: "culex_pub publishes one message (or a stream of them) to an MQTT broker and exits.",
    synopsis: SYNOPSIS,
    options: OPTIONS,
};

/// The synopsis after `Usage: culex_pub `, line by line, less the shared groups that
/// `About::usage` puts between these.
const SYNOPSIS: [&[&str]; 3] = [
    &[
        "{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}",
        "{-f file | -l | -n | -m message}",
        "[-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] [-x session-expiry]",
    ],
    &["[-d] [--quiet]", "[-M max_inflight]", "[-u username [-P password]]"],
    &["[--property command identifier value]", "[-D command identifier value]"],
];

/// culex_pub's own option descriptions, in four pieces: `About::usage` follows each with
/// one of the shared ones.
const OPTIONS: [&str; 4] = [
    " -A : local address to bind the connection to, which picks the network interface used.
 -d : print a line for every MQTT packet sent and received.
",
    " -D : add an MQTT v5 property to a packet (see the documentation).
 -f : publish the whole contents of a file as the message.
",
    " -l : read stdin and publish each line as its own message.
 -m : the message to publish.
 -M : most QoS 1 and 2 messages in flight at once. Defaults to 20.
 -n : publish an empty (zero length) message.
 -p : broker port. Defaults to 1883, or 8883 when TLS is used.
 -P : password.
 -q : quality of service for every message: 0, 1 or 2. Defaults to 0.
 -r : ask the broker to retain the message.
 -s : read all of stdin and publish it as one message.
 -t : topic to publish to.
 -u : user name.
 -V : MQTT protocol version: mqttv5 (or 5), mqttv311 (or 311) or mqttv31 (or 31).
      Defaults to mqttv311.
",
    " --help : print this text.
 --nodelay : turn off Nagle's algorithm: lower latency, possibly more packets.
 --quiet : do not print run-time error messages.
 --repeat : with -f, -m, -n or -s, publish the message N times.
 --repeat-delay : with --repeat, wait this many seconds (fractions allowed) after each
                  publish completes. Defaults to 0.
",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lists_every_option_once_in_order() {
        let text = ABOUT.usage();
        assert!(text.starts_with("culex_pub publishes"));
        assert!(text.contains("\n\nUsage: culex_pub "));
        let options = text.lines().filter(|line| line.starts_with(" -"));
        let flags: Vec<&str> = options.filter_map(|line| Some(line.split_once(" : ")?.0)).collect();
        assert_eq!(
            flags.concat(),
            " -A -d -c -D -f -h -i -I -k -L -l -m -M -n -p -P -q -r -s -t -u -V -x --help \
             --nodelay --quiet --repeat --repeat-delay --unix --ws --will-payload --will-qos \
             --will-retain --will-topic --no-tls --cafile --capath --cert --key --keyform \
             --ciphers --tls-version --insecure --tls-alpn --tls-engine --tls-engine-kpass-sha1 \
             --tls-use-os-certs --tls-keylog --psk --psk-identity --proxy"
        );
    }
}
