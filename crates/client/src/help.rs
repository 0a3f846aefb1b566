//! What both tools' `--help` and `--version` texts share: Mosquitto's layout (summary, version
//! line, synopsis padded under `Usage: mosquitto_pub `, option list, closing note) and the
//! synopsis lines and option descriptions that culex_pub and culex_sub print word for word.

use crate::args::Tool;

/// Column the synopsis continues at: the width of `Usage: mosquitto_pub `.
const SYNOPSIS_INDENT: usize = 21;

/// The note after the option list.
const CLOSING_NOTE: &str = "\nCulex documentation: docs/cli.md in the source tree.\n\n";

/// The synopsis lines every tool prints: the bind address, WebSockets and the client id; the
/// will, TLS and the SOCKS proxy. [`usage`] puts each group after a group of the tool's own lines.
const SHARED_SYNOPSIS: [&[&str]; 2] = [
    &["[-A bind_address] [--nodelay] [--ws]", "[-i id] [-I id_prefix]"],
    &[
        "[--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]",
        "[{--cafile file | --capath dir} [--cert file] [--key file]",
        "  [--ciphers ciphers] [--insecure]",
        "  [--tls-alpn protocol]",
        "  [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]",
        "  [--tls-use-os-certs] [--tls-keylog file]",
        "[--no-tls]",
        "[--psk hex-key --psk-identity identity [--ciphers ciphers]]",
        "[--proxy socks-url]",
    ],
];

/// The option descriptions both tools print word for word, in list order: `-c`; `-h`, `-i`,
/// `-I`, `-k` and `-L`; `-x`; `--unix`, `--ws`, the will, TLS and `--proxy`. [`About::usage`] puts each after
/// a piece of the tool's own list.
pub const SHARED_OPTIONS: [&str; 4] = [
    " -c : ask for a persistent session (clean session off): the broker keeps the session
      after disconnecting and it never expires. MQTT v5 clients can give it a lifetime
      with -x instead.
",
    " -h : broker host name or address. Defaults to localhost.
 -i : client id. When absent, MQTT v3.1.1 and v5 clients let the broker assign one and
      MQTT v3.1 clients make up a random one.
 -I : client id made of this prefix followed by the process id; handy with brokers that
      use the clientid_prefixes option.
 -k : keepalive interval in seconds. Defaults to 60.
 -L : user, password, host, port and topic in one URL:
      mqtt(s)://[username[:password]@]host[:port]/topic
      ws(s)://[username[:password]@]host[:port]/topic (MQTT over WebSockets)
",
    " -x : MQTT v5 session expiry interval in seconds sent in CONNECT: 0-4294967294, or -1,
      4294967295 or ∞ for a session that never expires. Defaults to -1 with -c and to
      0 without it.
",
    " --unix : connect through a Unix domain socket instead of TCP, e.g. /tmp/mosquitto.sock
 --ws : use MQTT over WebSockets (path /mqtt), on top of TLS when TLS is on.
 --will-payload : payload of the will message, which the broker publishes if the client
                  disconnects unexpectedly. Empty if not given.
 --will-qos : QoS of the will message.
 --will-retain : retain the will message.
 --will-topic : topic of the will message.
 --no-tls : no TLS, whatever the other TLS options (say, from the options file) ask for.
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
 --tls-keylog : append the TLS session secrets to this file (NSS key log format).
 --psk : TLS pre-shared key in hex; not supported (rustls has no TLS-PSK).
 --psk-identity : TLS-PSK identity; not supported.
 --proxy : SOCKS5 proxy URL: socks5h://[username[:password]@]hostname[:port]
           Supports no authentication and username/password authentication.
",
];

/// Who a tool is and what its `--help` says beyond the shared parts.
#[derive(Clone, Copy, Debug)]
pub struct About {
    /// Our name and Mosquitto's.
    pub tool: Tool,
    /// The tool's own version (`env!("CARGO_PKG_VERSION")` of its crate).
    pub version: &'static str,
    /// The first line of `--help`.
    pub summary: &'static str,
    /// The synopsis after `Usage: <tool> `, line by line, in three groups: the shared groups
    /// go between them.
    pub synopsis: [&'static [&'static str]; 3],
    /// The tool's own option descriptions in four pieces, each followed by one of
    /// [`SHARED_OPTIONS`].
    pub options: [&'static str; 4],
}

impl About {
    /// The `--version` line.
    pub fn version_line(&self) -> String {
        let library = env!("CARGO_PKG_VERSION");
        format!("{} version {} running on culex-client {library}.\n", self.tool.name, self.version)
    }

    /// The whole `--help` text: the summary, the version line, the synopsis (its first line
    /// after `Usage: <tool> `, the others padded under it), the `--help` line, a blank line,
    /// the option list and the closing note.
    pub fn usage(&self) -> String {
        let name = self.tool.name;
        let mut text = format!("{}\n{}\nUsage: {name} ", self.summary, self.version_line());
        let [first, middle, last] = self.synopsis;
        let [bind_and_id, will_tls_proxy] = SHARED_SYNOPSIS;
        let lines = [first, bind_and_id, middle, will_tls_proxy, last].into_iter().flatten();
        for (index, line) in lines.enumerate() {
            if index > 0 {
                text.push_str(&" ".repeat(SYNOPSIS_INDENT));
            }
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&format!("       {name} --help\n\n"));
        for (own, shared) in self.options.into_iter().zip(SHARED_OPTIONS) {
            text.push_str(own);
            text.push_str(shared);
        }
        text.push_str(CLOSING_NOTE);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_descriptions_list_their_options_once_each() {
        let shared = SHARED_OPTIONS.concat();
        let flags: Vec<&str> = shared
            .lines()
            .filter(|line| line.starts_with(" -"))
            .filter_map(|line| line.split_once(" : ").map(|(flag, _)| flag))
            .collect();
        assert_eq!(
            flags,
            [
                " -c",
                " -h",
                " -i",
                " -I",
                " -k",
                " -L",
                " -x",
                " --unix",
                " --ws",
                " --will-payload",
                " --will-qos",
                " --will-retain",
                " --will-topic",
                " --no-tls",
                " --cafile",
                " --capath",
                " --cert",
                " --key",
                " --keyform",
                " --ciphers",
                " --tls-version",
                " --insecure",
                " --tls-alpn",
                " --tls-engine",
                " --tls-engine-kpass-sha1",
                " --tls-use-os-certs",
                " --tls-keylog",
                " --psk",
                " --psk-identity",
                " --proxy",
            ]
        );
    }

    #[test]
    fn usage_lays_out_like_mosquitto() {
        let about = About {
            tool: Tool { name: "culex_x", mosquitto_name: "mosquitto_x" },
            version: "1.2",
            summary: "Sum.",
            synopsis: [&["a", "b"], &[], &["c"]],
            options: ["1\n", "2\n", "3\n", "4\n"],
        };
        let library = env!("CARGO_PKG_VERSION");
        let version = format!("culex_x version 1.2 running on culex-client {library}.\n");
        assert_eq!(about.version_line(), version);
        let pad = " ".repeat(21);
        let [bind_and_id, will_tls_proxy] =
            SHARED_SYNOPSIS.map(|group| group.join(&format!("\n{pad}")));
        let [o1, o2, o3, o4] = SHARED_OPTIONS;
        assert_eq!(
            about.usage(),
            format!(
                "Sum.\n{version}\nUsage: culex_x a\n{pad}b\n{pad}{bind_and_id}\n{pad}{will_tls_proxy}\n\
                 {pad}c\n       culex_x --help\n\n1\n{o1}2\n{o2}3\n{o3}4\n{o4}\n\
                 Culex documentation: docs/cli.md in the source tree.\n\n"
            )
        );
    }
}
