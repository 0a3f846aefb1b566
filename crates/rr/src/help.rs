//! culex_rr's `--help` text (same layout and flags as mosquitto_rr's, in our own words) and
//! its `--version` line. What culex_pub and culex_sub print word for word too comes from
//! `culex_client::help`.

use culex_client::help::About;

use crate::args::TOOL;

/// culex_rr's names, version and help text.
pub(crate) const ABOUT: About = About {
    tool: TOOL,
    version: env!("CARGO_PKG_VERSION"),
    summary: "culex_rr publishes one request message and prints the first response it receives.",
    synopsis: SYNOPSIS,
    options: OPTIONS,
};

/// The synopsis after `Usage: culex_rr `, line by line, less the shared groups that
/// `About::usage` puts between these.
const SYNOPSIS: [&[&str]; 3] = [
    &[
        "{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL} -e response-topic",
        "{-f file | -s | -n | -m message}",
        "[-c] [-k keepalive] [-q qos] [-R] [--retain-as-published] [-x session-expiry-interval]",
        "[--retain-handling always|new|never]",
        "[-F format] [--pretty]",
        "[-W timeout_secs] [--latency]",
    ],
    &["[-d] [-N] [--quiet] [-v]", "[-M max_inflight]"],
    &["[-D command identifier value]"],
];

/// culex_rr's own option descriptions, in four pieces: `About::usage` follows each with
/// one of the shared ones.
const OPTIONS: [&str; 4] = [
    " -A : local address to bind the connection to, which picks the network interface used.
",
    " -d : print a line for every MQTT packet sent and received.
 -D : add an MQTT v5 property to a packet (see the documentation).
 -e : response topic: subscribed to before the request is sent, and sent with it.
 -f : send the whole contents of a file as the request.
 -F : print the response with this format (see the documentation for % and @ fields).
",
    " -m : the request message.
 -M : most QoS 1 and 2 messages in flight at once. Defaults to 20.
 -n : send an empty request.
 -N : print no newline after the response.
 -p : broker port. Defaults to 1883, or 8883 when TLS is used.
 -P : password.
 -q : quality of service of the request and of the subscription: 0, 1 or 2. Defaults to 0.
 -R : skip stale responses (those with the retain flag set).
 -s : send all of stdin as the request.
 -t : topic the request is published to.
 -u : user name.
 -v : print the topic before the response.
 -V : MQTT protocol version: mqttv5 (or 5), mqttv311 (or 311) or mqttv31 (or 31).
      Defaults to mqttv5; MQTT v3 brokers get no response topic with the request.
 -W : give up (status 27) after this many seconds without a response.
",
    " --help : print this text.
 --latency : after the response, print the time from sending the request to receiving it.
 --nodelay : turn off Nagle's algorithm: lower latency, possibly more packets.
 --pretty : indent the JSON of the %j and %J format fields.
 --quiet : do not print run-time error messages.
 --retain-as-published : ask an MQTT v5 broker to keep the retain flag of forwarded messages.
 --retain-handling : when an MQTT v5 broker sends a retained message on the response topic:
                     always (the default), new (only for a new subscription) or never.
",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lists_every_option_once_in_order() {
        let text = ABOUT.usage();
        assert!(text.starts_with("culex_rr publishes"));
        assert!(text.contains("\n\nUsage: culex_rr "));
        let options = text.lines().filter(|line| line.starts_with(" -"));
        let flags: Vec<&str> = options.filter_map(|line| Some(line.split_once(" : ")?.0)).collect();
        assert_eq!(
            flags.concat(),
            " -A -c -d -D -e -f -F -h -i -I -k -L -m -M -n -N -p -P -q -R -s -t -u -v -V -W -x \
             --help --latency --nodelay --pretty --quiet --retain-as-published --retain-handling \
             --unix --ws --will-payload --will-qos --will-retain --will-topic --no-tls --cafile \
             --capath --cert --key --keyform --ciphers --tls-version --insecure --tls-alpn \
             --tls-engine --tls-engine-kpass-sha1 --tls-use-os-certs --tls-keylog --psk \
             --psk-identity --proxy"
        );
    }
}
