//! culex_sub's `--help` text (same layout and flags as mosquitto_sub's, in our own words) and
//! its `--version` line. What culex_pub prints word for word too comes from
//! `culex_client::help`.

use culex_client::help::About;

use crate::args::TOOL;

/// culex_sub's names, version and help text.
pub(crate) const ABOUT: About = About {
    tool: TOOL,
    version: env!("CARGO_PKG_VERSION"),
    summary: "culex_sub subscribes to MQTT topics and prints every message it receives.",
    synopsis: SYNOPSIS,
    options: OPTIONS,
};

/// The synopsis after `Usage: culex_sub `, line by line, less the shared groups that
/// `About::usage` puts between these.
const SYNOPSIS: [&[&str]; 3] = [
    &[
        "{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}",
        "[-c] [-k keepalive] [-q qos] [-x session-expiry-interval]",
        "[-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]",
        "[--retain-as-published] [--retain-handling always|new|never]",
        "[-F format] [-w | --message-rate]",
        "[-W timeout_secs]",
    ],
    &["[-d] [-N] [--quiet] [-v]"],
    &["[-D command identifier value]"],
];

/// culex_sub's own option descriptions, in four pieces: `About::usage` follows each with
/// one of the shared ones.
const OPTIONS: [&str; 4] = [
    " -A : local address to bind the connection to, which picks the network interface used.
",
    " -C : disconnect and exit after this many messages have been received.
 -d : print a line for every MQTT packet sent and received.
 -D : add an MQTT v5 property to a packet (see the documentation).
 -E : exit as soon as the broker has acknowledged the subscriptions.
 -F : print each message with this format (see the documentation for % and @ fields).
",
    " -M : most QoS 1 and 2 messages in flight at once. Defaults to 20.
 -N : print no newline after each message.
 -p : broker port. Defaults to 1883, or 8883 when TLS is used.
 -P : password.
 -q : quality of service to subscribe with: 0, 1 or 2. Defaults to 0.
 -R : skip stale messages (those with the retain flag set).
 -t : topic filter to subscribe to. May be given several times.
 -T : topic filter whose messages are not printed. May be given several times.
 -u : user name.
 -U : topic filter to unsubscribe from. May be given several times.
 -v : print the topic before each payload.
 -V : MQTT protocol version: mqttv5 (or 5), mqttv311 (or 311) or mqttv31 (or 31).
      Defaults to mqttv311.
 -w : watch: give each topic a line of the terminal and print its messages over it.
 -W : exit (status 27) after this many seconds.
",
    " --help : print this text.
 --message-rate : print how many messages arrive each second instead of the messages.
 --nodelay : turn off Nagle's algorithm: lower latency, possibly more packets.
 --pretty : indent the JSON of the %j and %J format fields.
 --quiet : do not print run-time error messages.
 --random-filter : print only this percentage of the messages received, chosen at
                   random: 100 prints all, 50.0 about half, and so on.
 --remove-retained : clear every retained message received by publishing an empty
                     retained message to its topic; -T keeps messages from being cleared.
 --retain-as-published : ask an MQTT v5 broker to keep the retain flag of forwarded messages.
 --retain-handling : when an MQTT v5 broker sends the retained messages of a subscription:
                     always (the default), new (only for a new subscription) or never.
 --retained-only : print only retained messages and exit at the first one that is not.
",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lists_every_option_once_in_order() {
        let text = ABOUT.usage();
        assert!(text.starts_with("culex_sub subscribes"));
        assert!(text.contains("\n\nUsage: culex_sub "));
        let options = text.lines().filter(|line| line.starts_with(" -"));
        let flags: Vec<&str> = options.filter_map(|line| Some(line.split_once(" : ")?.0)).collect();
        assert_eq!(
            flags.concat(),
            " -A -c -C -d -D -E -F -h -i -I -k -L -M -N -p -P -q -R -t -T -u -U -v -V -w -W -x \
             --help --message-rate --nodelay --pretty --quiet --random-filter --remove-retained \
             --retain-as-published --retain-handling --retained-only --unix --ws --will-payload \
             --will-qos --will-retain --will-topic --no-tls --cafile --capath --cert --key \
             --keyform --ciphers --tls-version --insecure --tls-alpn --tls-engine \
             --tls-engine-kpass-sha1 --tls-use-os-certs --tls-keylog --psk --psk-identity --proxy"
        );
    }
}
