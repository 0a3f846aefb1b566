//! Unit tests of 2.1's plugin lines: which files the built-in plugins give each listener, and
//! the messages of the lines culex refuses (2.1's where it has one).

use super::{Config, ConfigError, EffectiveSecurity, parse};

const PW: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_password_file.so";
const ACL: &str = "/usr/lib/mosquitto_acl_file.so";

fn ok(text: &str) -> Config {
    parse(text, "test.conf").unwrap_or_else(|err| panic!("{text:?} should parse: {err:?}"))
}

/// The security in force on each listener of `text`.
fn security(text: &str) -> Vec<EffectiveSecurity> {
    let config = ok(text);
    config.listeners_in_force().into_iter().map(|listener| config.security_for(listener)).collect()
}

/// The (password file, ACL file) of each listener of `text`.
fn files(text: &str) -> Vec<(Option<String>, Option<String>)> {
    security(text).into_iter().map(|s| (s.password_file, s.acl_file)).collect()
}

fn some(path: &str) -> Option<String> {
    Some(path.to_owned())
}

#[test]
fn the_docker_readme_form_gives_every_listener_both_files() {
    let text = format!(
        "listener 1883\nplugin {PW}\nplugin_opt_password_file /p\nplugin {ACL}\n\
         plugin_opt_acl_file /a\nlistener 1884\n"
    );
    assert_eq!(files(&text), vec![(some("/p"), some("/a")); 2]);
    // The 2.0 names of the same lines, and the last of a repeated option.
    let text = format!(
        "listener 1883\nauth_plugin {PW}\nauth_opt_password_file /old\nauth_opt_password_file /p\n"
    );
    assert_eq!(files(&text), [(some("/p"), None)]);
}

#[test]
fn plugin_use_gives_a_listener_its_own_files_without_per_listener_settings() {
    let text = format!(
        "plugin_load pwA {PW}\nplugin_opt_password_file /a.pw\n\
         plugin_load aclA {ACL}\nplugin_opt_acl_file /a.acl\n\
         plugin_load pwB {PW}\n\
         listener 1883\nplugin_use pwA\nplugin_use aclA\nallow_anonymous true\n\
         listener 8883\n\
         listener 8884\nplugin_use pwB\nplugin_opt_password_file /b.pw\nplugin_use aclA\n"
    );
    assert_eq!(
        files(&text),
        [(some("/a.pw"), some("/a.acl")), (None, None), (some("/b.pw"), some("/a.acl"))]
    );
    // allow_anonymous stays global.
    assert!(security(&text).iter().all(|s| s.allow_anonymous));
}

#[test]
fn per_listener_plugins_follow_the_global_ones_and_the_legacy_options() {
    let text = format!(
        "per_listener_settings true\nglobal_plugin {ACL}\nplugin_opt_acl_file /global.acl\n\
         listener 1883\nplugin {PW}\nplugin_opt_password_file /one.pw\n\
         listener 1884\npassword_file /two.pw\nacl_file /ignored.acl\n"
    );
    // The global ACL plugin decides before a listener's acl_file.
    assert_eq!(
        files(&text),
        [(some("/one.pw"), some("/global.acl")), (some("/two.pw"), some("/global.acl"))]
    );
    // Without per_listener_settings a `plugin` after a listener is global.
    let text = format!("listener 1883\nlistener 1884\nplugin {PW}\nplugin_opt_password_file /p\n");
    assert_eq!(files(&text), vec![(some("/p"), None); 2]);
}

#[test]
fn an_unused_plugin_culex_cannot_load_is_accepted_like_mosquitto_never_opens_it() {
    let config = ok("plugin_load dynsec /usr/lib/mosquitto_dynamic_security.so\n\
                     plugin_opt_config_file /x.json\nlistener 1883\n");
    assert_eq!(config.plugins.len(), 1);
    assert_eq!(config.plugins[0].builtin, None);
}

#[test]
fn plugin_lines_are_refused_with_2_1s_messages_or_a_reason() {
    let dynsec = "The plugin \"/usr/lib/mosquitto_dynamic_security.so\" is a C plugin for \
                  Mosquitto's plugin API, which culex cannot load; culex has only \
                  mosquitto_password_file.so and mosquitto_acl_file.so built in.";
    let rows: &[(&str, usize, &str)] = &[
        (
            "plugin_opt_inval string\n",
            1,
            "The 'plugin_opt_inval' option requires plugin/global_plugin/plugin_load to be \
             defined first.",
        ),
        (&format!("plugin {PW}\nplugin_opt_ string\n"), 2, "Invalid 'plugin_opt_' config option."),
        (
            &format!("plugin {PW}\nplugin_opt_password_file\n"),
            2,
            "Empty 'password_file' value in configuration.",
        ),
        (
            &format!("plugin {PW}\nplugin_opt_acl_file /a\n"),
            2,
            "password-file: Unknown option 'acl_file'.",
        ),
        ("plugin\n", 1, "Missing plugin path for plugin name '(null)'."),
        ("plugin_load\n", 1, "Empty 'plugin_load' value in configuration."),
        ("plugin_load pw\n", 1, "Missing plugin path for plugin name 'pw'."),
        (&format!("plugin_load pw {PW}\nplugin_load pw {PW}\n"), 2, "Duplicate plugin name 'pw'."),
        (
            &format!("plugin_load pw {PW}\nplugin_use pw\n"),
            2,
            "The 'plugin_use' option requires a listener to be defined first.",
        ),
        ("listener 1883\nplugin_use nope\n", 2, "Plugin 'nope' not previously loaded."),
        (
            &format!("per_listener_settings true\nplugin {PW}\n"),
            2,
            "The 'plugin' option requires a listener to be defined first.",
        ),
        ("plugin /usr/lib/mosquitto_dynamic_security.so\n", 1, dynsec),
        ("global_plugin /usr/lib/mosquitto_dynamic_security.so\n", 1, dynsec),
        (
            "plugin_load d /usr/lib/mosquitto_dynamic_security.so\nlistener 1883\nplugin_use d\n",
            3,
            dynsec,
        ),
        (
            &format!("listener 1883\nplugin {PW}\n"),
            2,
            "The plugin \"/usr/lib/x86_64-linux-gnu/mosquitto_password_file.so\" has no \
             plugin_opt_password_file: culex's built-in password-file plugin needs the file to \
             read.",
        ),
        (
            &format!("password_file /p\nplugin {PW}\nplugin_opt_password_file /q\n"),
            2,
            "The plugin \"/usr/lib/x86_64-linux-gnu/mosquitto_password_file.so\" gives a second \
             password_file for the same listener: the first one decides every check, so culex \
             takes one per scope.",
        ),
        (
            &format!(
                "plugin_load a {ACL}\nplugin_opt_acl_file /a\nplugin_load b {ACL}\n\
                 plugin_opt_acl_file /b\nlistener 1883\nplugin_use a\nplugin_use b\n"
            ),
            3,
            "The plugin \"/usr/lib/mosquitto_acl_file.so\" gives a second acl_file for the same \
             listener: the first one decides every check, so culex takes one per scope.",
        ),
        (
            &format!("plugin {PW}\nplugin_opt_password_file /p\nper_listener_settings true\n"),
            3,
            "per_listener_settings must be set before any other security settings.",
        ),
    ];
    for (text, line, message) in rows {
        match parse(text, "test.conf") {
            Ok(config) => panic!("{text:?} should fail, got {config:?}"),
            Err(ConfigError { file, line: at, message: got, .. }) => {
                assert_eq!(
                    (file.as_str(), at, got.as_str()),
                    ("test.conf", *line, *message),
                    "{text:?}"
                );
            }
        }
    }
}

#[test]
fn plugin_opt_lines_go_to_the_instance_of_their_own_file() {
    // An included file starts with no current plugin, as in Mosquitto.
    let mut config = Config::default();
    let mut include = |_: &str| -> Result<Vec<(String, Vec<u8>)>, String> {
        Ok(vec![("inc.conf".to_owned(), b"plugin_opt_password_file /p\n".to_vec())])
    };
    let text = format!("plugin {PW}\ninclude_dir /d\n");
    let err = parse::parse_into(&mut config, text.as_bytes(), "main.conf", Some(&mut include))
        .unwrap_err();
    assert_eq!((err.file.as_str(), err.line), ("inc.conf", 1));
}
