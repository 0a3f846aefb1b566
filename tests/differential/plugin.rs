//! Mosquitto 2.1's plugin lines for its password-file and acl-file plugins: culex given them
//! answers byte for byte as Debian's Mosquitto 2.0.11 given the `password_file` and `acl_file`
//! they stand for (2.0.11 has no such plugins), on connect, publish and an ACL reload.

use super::auth::{ACL, login};
use super::harness::{A, B, Scenario, scenarios};
use super::wire::{V3_1_1, V5, publish, subscribe};
use mqtt_codec::ProtocolVersion;

/// The 2.0 options Mosquitto gets.
const LEGACY: &str = "password_file {dir}/passwords\nacl_file {dir}/acl";

/// 2.1's global form, as the official Docker image's README writes it.
const GLOBAL: &str = "plugin /usr/lib/mosquitto_password_file.so\n\
                      plugin_opt_password_file {dir}/passwords\n\
                      plugin /usr/lib/mosquitto_acl_file.so\n\
                      plugin_opt_acl_file {dir}/acl";

/// 2.1's named form, used by the (only) listener.
const NAMED: &str = "plugin_load pw /usr/lib/x86_64-linux-gnu/mosquitto_password_file.so\n\
                     plugin_opt_password_file {dir}/passwords\n\
                     plugin_load acl /usr/lib/x86_64-linux-gnu/mosquitto_acl_file.so\n\
                     plugin_opt_acl_file {dir}/acl\n\
                     plugin_use pw\nplugin_use acl";

/// The ACL after a reload: alice may only read `data/#`, bob nothing.
const READ_ONLY: &str = "user alice\ntopic read data/#\n";

/// alice/secret and bob/hunter2 with the ACL of `auth.rs`, no anonymous access; culex reads
/// the files through the plugin lines `form`.
fn secured(form: &str) -> Scenario {
    Scenario::new()
        .passwords("passwords", &[("alice", "secret"), ("bob", "hunter2")])
        .file("acl", ACL)
        .config_each(LEGACY, form)
        .config("allow_anonymous false")
}

/// One connection attempt: the CONNACK and whether the broker closes.
fn attempt(form: &str, version: ProtocolVersion, user: &str, password: &'static str) -> Scenario {
    secured(form).connect(A, version, login(version, "plugin-try", user, password)).quiet(A)
}

/// bob (B) reads `#`; alice (A) publishes to `topic` at QoS 1; the ACL is then replaced by
/// `reloaded` (when given) and alice publishes to `data/1` again.
fn alice_publishes(form: &str, version: ProtocolVersion, topic: &str, reloaded: &str) -> Scenario {
    let scenario = secured(form)
        .connect(B, version, login(version, "bob-c", "bob", "hunter2"))
        .send(B, subscribe(version, 1, &[("#", 2)]))
        .recv(B)
        .connect(A, version, login(version, "alice-c", "alice", "secret"))
        .send(A, publish(version, topic, b"plugin", 1, 4))
        .recv(A)
        .quiet(B);
    if reloaded.is_empty() {
        return scenario;
    }
    scenario
        .rewrite("acl", reloaded)
        .reload()
        .send(A, publish(version, "data/1", b"after reload", 1, 5))
        .recv(A)
        .quiet(B)
}

scenarios! {
    global_form_v3_1_1_good_password => attempt(GLOBAL, V3_1_1, "alice", "secret");
    global_form_v3_1_1_bad_password => attempt(GLOBAL, V3_1_1, "alice", "wrong");
    global_form_v5_bad_password => attempt(GLOBAL, V5, "alice", "wrong");
    global_form_v5_unknown_user => attempt(GLOBAL, V5, "mallory", "secret");
    global_form_v5_anonymous_refused => attempt(GLOBAL, V5, "", "");
    named_form_v5_good_password => attempt(NAMED, V5, "bob", "hunter2");
    named_form_v3_1_1_bad_password => attempt(NAMED, V3_1_1, "bob", "secret");
    named_form_v5_bad_password => attempt(NAMED, V5, "bob", "secret");
    global_form_v5_allowed_publish_is_forwarded => alice_publishes(GLOBAL, V5, "data/1", "");
    global_form_v5_denied_publish_gets_0x87 => alice_publishes(GLOBAL, V5, "public/1", "");
    named_form_v3_1_1_denied_publish_is_dropped => alice_publishes(NAMED, V3_1_1, "secret/1", "");

    named_form_v5_acl_reload_applies => alice_publishes(NAMED, V5, "data/1", READ_ONLY);
    global_form_v3_1_1_acl_reload_applies => alice_publishes(GLOBAL, V3_1_1, "data/1", READ_ONLY);
}
