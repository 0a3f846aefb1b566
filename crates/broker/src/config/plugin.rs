//! Mosquitto 2.1's plugin lines (`plugin`, `auth_plugin`, `global_plugin`, `plugin_load`,
//! `plugin_use`, `plugin_opt_*` / `auth_opt_*`) for the two plugins culex has built in:
//! `mosquitto_password_file.so` and `mosquitto_acl_file.so` name the password and ACL files of
//! the scope they are attached to, which culex reads as it reads `password_file` and
//! `acl_file`. Any other plugin is refused where Mosquitto would load it: culex cannot load C
//! plugins.
//!
//! Scopes follow 2.1: `global_plugin` (and `plugin` without `per_listener_settings`) attaches
//! to the whole broker, `plugin` under `per_listener_settings true` to the current listener,
//! `plugin_use` to the current listener whatever `per_listener_settings` says. 2.1 asks the
//! global plugins first and the first password-file or acl-file plugin that has a file decides
//! (neither defers to the next one), so one file of each kind per scope is all that can matter;
//! culex refuses a second one in the same scope rather than guess 2.1's order.

use super::{Config, ConfigError, EffectiveSecurity, ListenerConfig};

/// A plugin culex has built in, recognised by the file name of the path a configuration
/// gives for it (`/usr/lib/x86_64-linux-gnu/mosquitto_password_file.so`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinPlugin {
    /// `mosquitto_password_file.so` (2.1's `password-file` plugin).
    PasswordFile,
    /// `mosquitto_acl_file.so` (2.1's `acl-file` plugin).
    AclFile,
}

impl BuiltinPlugin {
    /// The built-in plugin whose library `path` names, if any.
    fn from_path(path: &str) -> Option<Self> {
        match path.rsplit('/').next() {
            Some("mosquitto_password_file.so") => Some(Self::PasswordFile),
            Some("mosquitto_acl_file.so") => Some(Self::AclFile),
            _ => None,
        }
    }

    /// The plugin's name in 2.1's messages.
    fn name(self) -> &'static str {
        match self {
            Self::PasswordFile => "password-file",
            Self::AclFile => "acl-file",
        }
    }

    /// The one `plugin_opt_` key the plugin takes.
    fn option(self) -> &'static str {
        match self {
            Self::PasswordFile => "password_file",
            Self::AclFile => "acl_file",
        }
    }
}

/// One plugin instance a configuration declares (a `plugin`, `auth_plugin`, `global_plugin`
/// or `plugin_load` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInstance {
    /// The `plugin_load` name; `None` for the other forms.
    pub name: Option<String>,
    /// The library path as given.
    pub path: String,
    /// Which built-in plugin the path names; `None` for a plugin culex cannot load, which is
    /// accepted only while nothing uses it (Mosquitto never opens such an instance either).
    pub builtin: Option<BuiltinPlugin>,
    /// Its `plugin_opt_password_file` / `plugin_opt_acl_file` (the last one given).
    pub file: Option<String>,
    /// Whether it is attached to the global security options.
    pub global: bool,
    /// The file and line that declared it.
    pub declared: (String, usize),
}

/// Which plugin `plugin_opt_*` lines of the file being read go to: the one the last plugin
/// line declared or used (per file, as in Mosquitto).
pub(super) type Cursor = Option<usize>;

/// Applies `name value` if it is a plugin line (`None` otherwise), at `place` (file, line).
pub(super) fn apply(
    config: &mut Config,
    cursor: &mut Cursor,
    name: &str,
    value: &str,
    place: (&str, usize),
) -> Option<Result<(), String>> {
    let result = match name {
        "plugin" | "auth_plugin" | "global_plugin" => declare(config, cursor, name, value, place),
        "plugin_load" => load(config, cursor, value, place),
        "plugin_use" => use_instance(config, cursor, value),
        _ => {
            let key =
                name.strip_prefix("plugin_opt_").or_else(|| name.strip_prefix("auth_opt_"))?;
            option(config, *cursor, name, key, value)
        }
    };
    Some(result)
}

/// `plugin PATH`, `auth_plugin PATH`, `global_plugin PATH`.
fn declare(
    config: &mut Config,
    cursor: &mut Cursor,
    name: &str,
    value: &str,
    place: (&str, usize),
) -> Result<(), String> {
    let global = name == "global_plugin" || !config.per_listener_settings;
    if !global && config.listeners.is_empty() {
        return Err(format!("The '{name}' option requires a listener to be defined first."));
    }
    let path = value.trim_matches([' ', '\t']);
    if path.is_empty() {
        // 2.1 formats the missing name (a null pointer) as glibc does.
        return Err("Missing plugin path for plugin name '(null)'.".to_owned());
    }
    let builtin = Some(BuiltinPlugin::from_path(path).ok_or_else(|| refusal(path))?);
    config.security_options_given = true;
    let index = push(config, None, path, builtin, global, place);
    if let (false, Some(listener)) = (global, config.listeners.last_mut()) {
        listener.plugins.push(index);
    }
    *cursor = Some(index);
    Ok(())
}

/// `plugin_load NAME PATH`: a named instance, attached nowhere yet.
fn load(
    config: &mut Config,
    cursor: &mut Cursor,
    value: &str,
    place: (&str, usize),
) -> Result<(), String> {
    let value = value.trim_start_matches(' ');
    let (name, path) = value.split_once(' ').unwrap_or((value, ""));
    if name.is_empty() {
        return Err("Empty 'plugin_load' value in configuration.".to_owned());
    }
    if config.plugins.iter().any(|plugin| plugin.name.as_deref() == Some(name)) {
        return Err(format!("Duplicate plugin name '{name}'."));
    }
    let path = path.trim_matches([' ', '\t']);
    if path.is_empty() {
        return Err(format!("Missing plugin path for plugin name '{name}'."));
    }
    let builtin = BuiltinPlugin::from_path(path);
    *cursor = Some(push(config, Some(name), path, builtin, false, place));
    Ok(())
}

/// `plugin_use NAME`: attaches a loaded instance to the current listener.
fn use_instance(config: &mut Config, cursor: &mut Cursor, value: &str) -> Result<(), String> {
    if config.listeners.is_empty() {
        return Err("The 'plugin_use' option requires a listener to be defined first.".to_owned());
    }
    let name = value.trim_matches([' ', '\t']);
    if name.is_empty() {
        return Err("Empty 'plugin_use' value in configuration.".to_owned());
    }
    let index = config
        .plugins
        .iter()
        .position(|plugin| plugin.name.as_deref() == Some(name))
        .ok_or_else(|| format!("Plugin '{name}' not previously loaded."))?;
    if config.plugins[index].builtin.is_none() {
        return Err(refusal(&config.plugins[index].path));
    }
    if let Some(listener) = config.listeners.last_mut() {
        listener.plugins.push(index);
    }
    *cursor = Some(index);
    Ok(())
}

/// `plugin_opt_KEY VALUE` (or `auth_opt_KEY VALUE`) for the instance under the cursor.
fn option(
    config: &mut Config,
    cursor: Cursor,
    name: &str,
    key: &str,
    value: &str,
) -> Result<(), String> {
    let Some(index) = cursor else {
        return Err(format!(
            "The '{name}' option requires plugin/global_plugin/plugin_load to be defined first."
        ));
    };
    if key.len() <= 1 {
        return Err("Invalid 'plugin_opt_' config option.".to_owned());
    }
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err(format!("Empty '{key}' value in configuration."));
    }
    let plugin = &mut config.plugins[index];
    // The options of a plugin culex cannot load go nowhere: nothing uses that instance.
    if let Some(builtin) = plugin.builtin {
        if key != builtin.option() {
            return Err(format!("{}: Unknown option '{key}'.", builtin.name()));
        }
        plugin.file = Some(value.to_owned());
    }
    Ok(())
}

/// Records a new instance and returns its index.
fn push(
    config: &mut Config,
    name: Option<&str>,
    path: &str,
    builtin: Option<BuiltinPlugin>,
    global: bool,
    (file, line): (&str, usize),
) -> usize {
    config.plugins.push(PluginInstance {
        name: name.map(str::to_owned),
        path: path.to_owned(),
        builtin,
        file: None,
        global,
        declared: (file.to_owned(), line),
    });
    config.plugins.len() - 1
}

/// Why the plugin at `path` is refused.
fn refusal(path: &str) -> String {
    format!(
        "The plugin \"{path}\" is a C plugin for Mosquitto's plugin API, which culex cannot load; \
         culex has only mosquitto_password_file.so and mosquitto_acl_file.so built in."
    )
}

/// Checks the instances in use once the whole file is read: each has its file, and no scope
/// gets two files of one kind (counting `password_file` / `acl_file` of that scope).
///
/// # Errors
/// The first problem, at the line that declared the instance.
pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    let fail = |plugin: &PluginInstance, message: String| ConfigError {
        file: plugin.declared.0.clone(),
        line: plugin.declared.1,
        message,
        notices: config.notices.clone(),
    };
    let global: Vec<usize> =
        (0..config.plugins.len()).filter(|&i| config.plugins[i].global).collect();
    let (legacy_password, legacy_acl) = if config.per_listener_settings {
        (None, None)
    } else {
        (config.password_file.as_ref(), config.acl_file.as_ref())
    };
    let mut scopes = vec![(global, legacy_password, legacy_acl)];
    for listener in std::iter::once(&config.default_listener).chain(&config.listeners) {
        let security = &listener.security;
        scopes.push((
            listener.plugins.clone(),
            security.password_file.as_ref(),
            security.acl_file.as_ref(),
        ));
    }
    for (attached, legacy_password, legacy_acl) in scopes {
        for (kind, legacy) in
            [(BuiltinPlugin::PasswordFile, legacy_password), (BuiltinPlugin::AclFile, legacy_acl)]
        {
            let mut given = usize::from(legacy.is_some());
            for plugin in attached.iter().map(|&i| &config.plugins[i]) {
                if plugin.builtin != Some(kind) {
                    continue;
                }
                if plugin.file.is_none() {
                    return Err(fail(
                        plugin,
                        format!(
                            "The plugin \"{}\" has no plugin_opt_{}: culex's built-in {} plugin \
                             needs the file to read.",
                            plugin.path,
                            kind.option(),
                            kind.name()
                        ),
                    ));
                }
                given += 1;
                if given > 1 {
                    return Err(fail(
                        plugin,
                        format!(
                            "The plugin \"{}\" gives a second {} for the same listener: the \
                             first one decides every check, so culex takes one per scope.",
                            plugin.path,
                            kind.option()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Adds the files of the built-in plugins to `security`, the options in force on `own` (the
/// listener, when the configuration has it) without plugins: the global plugins are asked
/// first, then the scope's own options, then the listener's plugins.
pub(super) fn add_files(
    config: &Config,
    own: Option<&ListenerConfig>,
    security: &mut EffectiveSecurity,
) {
    let file = |kind: BuiltinPlugin, global: bool| -> Option<String> {
        let attached = own.map_or(&[][..], |listener| listener.plugins.as_slice());
        let mut candidates: Box<dyn Iterator<Item = &PluginInstance>> = if global {
            Box::new(config.plugins.iter().filter(|plugin| plugin.global))
        } else {
            Box::new(attached.iter().map(|&i| &config.plugins[i]))
        };
        candidates
            .find(|plugin| plugin.builtin == Some(kind))
            .and_then(|plugin| plugin.file.clone())
    };
    security.password_file = file(BuiltinPlugin::PasswordFile, true)
        .or(security.password_file.take())
        .or_else(|| file(BuiltinPlugin::PasswordFile, false));
    security.acl_file = file(BuiltinPlugin::AclFile, true)
        .or(security.acl_file.take())
        .or_else(|| file(BuiltinPlugin::AclFile, false));
}
