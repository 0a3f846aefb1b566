//! culex_sub's `--help` text (same layout and flags as mosquitto_sub's, in our own words) and
//! its `--version` line.

/// The `--version` line.
pub(crate) fn version_line() -> String {
    let version = env!("CARGO_PKG_VERSION");
    format!("culex_sub version {version} running on culex-client {version}.\n")
}

/// The full usage text printed by `--help` (stdout, exit status 1).
pub(crate) fn usage() -> String {
    format!(
        "culex_sub subscribes to MQTT topics and prints every message it receives.\n\
         {version}\n\
         Usage: culex_sub {{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}}\n\
         {pad}[-c] [-k keepalive] [-q qos] [-x session-expiry-interval]\n\
         {pad}[-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]\n\
         {pad}[-F format]\n\
         {pad}[-W timeout_secs]\n\
         {pad}[-A bind_address] [--nodelay]\n\
         {pad}[-i id] [-I id_prefix]\n\
         {pad}[-d] [-N] [--quiet] [-v]\n\
         {pad}[--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]\n\
         {pad}[{{--cafile file | --capath dir}} [--cert file] [--key file]\n\
         {pad}  [--ciphers ciphers] [--insecure]\n\
         {pad}  [--tls-alpn protocol]\n\
         {pad}  [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]\n\
         {pad}  [--tls-use-os-certs]\n\
         {pad}[--psk hex-key --psk-identity identity [--ciphers ciphers]]\n\
         {pad}[--proxy socks-url]\n\
         {pad}[-D command identifier value]\n\
         \x20      culex_sub --help\n\
         \n{OPTIONS}",
        version = version_line(),
        pad = " ".repeat(21),
    )
}

const OPTIONS: &str =
    " -A : local address to bind the connection to, which picks the network interface used.
 -c : ask for a persistent session (clean session off): the broker keeps the session
      after disconnecting and it never expires. MQTT v5 clients can give it a lifetime
      with -x instead.
 -C : disconnect and exit after this many messages have been received.
 -d : print a line for every MQTT packet sent and received.
 -D : add an MQTT v5 property to a packet (see the documentation).
 -E : exit as soon as the broker has acknowledged the subscriptions.
 -F : print each message with this format (see the documentation for % and @ fields).
 -h : broker host name or address. Defaults to localhost.
 -i : client id. When absent, MQTT v3.1.1 and v5 clients let the broker assign one and
      MQTT v3.1 clients make up a random one.
 -I : client id made of this prefix followed by the process id; handy with brokers that
      use the clientid_prefixes option.
 -k : keepalive interval in seconds. Defaults to 60.
 -L : user, password, host, port and topic in one URL:
      mqtt(s)://[username[:password]@]host[:port]/topic
 -M : most QoS 1 and 2 messages in flight at once. Defaults to 20.
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
 -W : exit (status 27) after this many seconds.
 -x : MQTT v5 session expiry interval in seconds sent in CONNECT: 0-4294967294, or -1,
      4294967295 or ∞ for a session that never expires. Defaults to -1 with -c and to
      0 without it.
 --help : print this text.
 --nodelay : turn off Nagle's algorithm: lower latency, possibly more packets.
 --pretty : indent the JSON of the %j and %J format fields.
 --quiet : do not print run-time error messages.
 --random-filter : print only this percentage of the messages received, chosen at
                   random: 100 prints all, 50.0 about half, and so on.
 --remove-retained : clear every retained message received by publishing an empty
                     retained message to its topic; -T keeps messages from being cleared.
 --retain-as-published : ask an MQTT v5 broker to keep the retain flag of forwarded messages.
 --retained-only : print only retained messages and exit at the first one that is not.
 --unix : connect through a Unix domain socket instead of TCP, e.g. /tmp/mosquitto.sock
 --will-payload : payload of the will message, which the broker publishes if the client
                  disconnects unexpectedly. Empty if not given.
 --will-qos : QoS of the will message.
 --will-retain : retain the will message.
 --will-topic : topic of the will message.
 --cafile : file of trusted CA certificates (PEM); turns TLS on.
 --capath : directory of trusted CA certificates (PEM files); turns TLS on.
 --cert : client certificate (PEM), when the broker asks for one.
 --key : client private key (PEM) for --cert.
 --keyform : key format; only \"pem\" is supported (no OpenSSL engines).
 --ciphers : TLS 1.2 cipher suites to allow, OpenSSL names separated by ':'.
 --tls-version : lowest TLS version: tlsv1.3, tlsv1.2 or tlsv1.1 (1.2 and 1.3 are what
                 is available). Defaults to tlsv1.2.
 --insecure : skip the check that the server certificate matches the host name. The
              certificate chain is still verified. Never use this in production.
 --tls-alpn : ALPN protocol to offer during the TLS handshake.
 --tls-engine : OpenSSL engine; not supported (culex uses rustls).
 --tls-engine-kpass-sha1 : SHA1 of an engine key password; not supported.
 --tls-use-os-certs : trust the operating system's CA certificates.
 --psk : TLS pre-shared key in hex; not supported (rustls has no TLS-PSK).
 --psk-identity : TLS-PSK identity; not supported.
 --proxy : SOCKS5 proxy URL: socks5h://[username[:password]@]hostname[:port]
           Supports no authentication and username/password authentication.

Culex documentation: docs/cli.md in the source tree.

";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lists_every_option_once() {
        let text = usage();
        for flag in [
            " -A :",
            " -c :",
            " -C :",
            " -d :",
            " -D :",
            " -E :",
            " -F :",
            " -h :",
            " -i :",
            " -I :",
            " -k :",
            " -L :",
            " -M :",
            " -N :",
            " -p :",
            " -P :",
            " -q :",
            " -R :",
            " -t :",
            " -T :",
            " -u :",
            " -U :",
            " -v :",
            " -V :",
            " -W :",
            " -x :",
            " --help :",
            " --nodelay :",
            " --pretty :",
            " --quiet :",
            " --random-filter :",
            " --remove-retained :",
            " --retain-as-published :",
            " --retained-only :",
            " --unix :",
            " --will-payload :",
            " --will-qos :",
            " --will-retain :",
            " --will-topic :",
            " --cafile :",
            " --capath :",
            " --cert :",
            " --key :",
            " --keyform :",
            " --ciphers :",
            " --tls-version :",
            " --insecure :",
            " --tls-alpn :",
            " --tls-engine :",
            " --tls-engine-kpass-sha1 :",
            " --tls-use-os-certs :",
            " --psk :",
            " --psk-identity :",
            " --proxy :",
        ] {
            assert_eq!(text.matches(&format!("\n{flag}")).count(), 1, "{flag}");
        }
        assert!(text.starts_with("culex_sub subscribes"));
        assert!(text.contains("\n\nUsage: culex_sub "));
    }
}
