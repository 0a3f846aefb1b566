//! The `culex` binary: flags and configuration, the persistence file, listeners, optional
//! daemonising, signals, and the exit status Mosquitto users expect (0 on SIGINT/SIGTERM, 3
//! for bad flags or configuration, 1 when no listener could be opened, a TLS listener's files
//! cannot be used, or the persistence file cannot be loaded).

mod process;

use std::process::ExitCode;
use std::sync::Arc;

use culex_broker::cli::{self, CliError, Command, EXIT_INVALID};
use culex_broker::config::{self, Config};
use culex_broker::log::Logger;
use culex_broker::notify::Notifier;
use culex_broker::security::{EXIT_SECURITY, Security};
use culex_broker::{Control, listener, log, persist, privileges};

/// glibc's malloc, with tokio's 128-aligned tasks and socket states in a pool of their own
/// (see `culex_broker::alloc`).
#[global_allocator]
static ALLOCATOR: culex_broker::alloc::Allocator = culex_broker::alloc::Allocator::new();

fn main() -> ExitCode {
    let code = match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            return failed_start(format!("Error: {err:#}"), ExitCode::FAILURE);
        }
    };
    match log::first_error() {
        Some(line) if code != ExitCode::SUCCESS => failed_start(line.to_owned(), code),
        _ => code,
    }
}

/// Tells systemd (under `Type=notify`) why the broker stops: `systemctl status` shows it.
fn failed_start(line: String, code: ExitCode) -> ExitCode {
    if let Some(notifier) = Notifier::from_env() {
        notifier.notify(&format!("STATUS={line}"));
    }
    code
}

fn run() -> anyhow::Result<ExitCode> {
    // A signal that arrives once the port is open but before `serve` listens for it would
    // otherwise kill the process (or, for SIGUSR1, be lost): hold them until then.
    process::signals::hold()?;
    // Before the configuration is read, errors are printed with a timestamp, as Mosquitto does.
    let early = Logger::new(config::LogTypes::ALL, true, true);
    let args = match cli::parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{}", cli::usage());
            return Ok(ExitCode::from(EXIT_INVALID));
        }
        Ok(Command::Version) => {
            println!("{}", cli::version());
            return Ok(ExitCode::SUCCESS);
        }
        Err(err @ CliError::UnknownOption(_)) => {
            eprintln!("Error: {err}");
            print!("{}", cli::usage());
            return Ok(ExitCode::from(EXIT_INVALID));
        }
        Err(err) => {
            early.always(format_args!("Error: {err}"));
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    if args.test_config && args.config_file.is_none() {
        early.always(format_args!("Please provide a configuration file to test."));
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let config = match load_config(&args.config_file) {
        Ok(config) => config,
        Err(err) => {
            for line in err.log_lines() {
                early.always(format_args!("{line}"));
            }
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    for notice in &config.notices {
        early.always(format_args!("{notice}"));
    }
    if args.test_config {
        // As Mosquitto 2.1: the file's syntax and checks only; no password, ACL or TLS file is
        // read and no socket is opened.
        early.always(format_args!("Configuration file is OK."));
        return Ok(ExitCode::SUCCESS);
    }
    let logger = Arc::new(Logger::from_config(&config, args.forced_log_types()));
    if logger.open_destinations(&config).is_err() {
        let path =
            config.log_dest.as_ref().and_then(|dest| dest.file.as_deref()).unwrap_or_default();
        early.always(format_args!("Error: Unable to open log file {path} for writing."));
        return Ok(ExitCode::FAILURE);
    }
    log!(logger, INFORMATION, "{} starting", cli::version());
    match &args.config_file {
        Some(path) => log!(logger, INFORMATION, "Config loaded from {}.", path.display()),
        None => log!(logger, INFORMATION, "Using default config."),
    }
    // Mosquitto reads the security files before opening listeners and exits 13 if it cannot.
    let Ok(security) = Security::load(&config, config.listeners_in_force(), &logger) else {
        return Ok(ExitCode::from(EXIT_SECURITY));
    };
    // Mosquitto opens its database before the listeners, and stops if it cannot.
    let restored = match persist::load(&config, &logger) {
        Ok(restored) => restored,
        Err(err) => {
            for line in err.log_lines() {
                log!(logger, ERROR, "{line}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    if config.local_only() {
        log!(
            logger,
            WARNING,
            "Starting in local only mode. Connections will only be possible from clients running on this machine."
        );
        log!(
            logger,
            WARNING,
            "Create a configuration file which defines a listener to allow remote access."
        );
        log!(logger, WARNING, "For more details see docs/configuration.md in the culex sources.");
    }
    let mut listeners = Vec::new();
    for spec in config.listen_specs(&args.ports) {
        match listener::open(&spec, &logger) {
            Ok(opened) => listeners.extend(opened),
            // Already logged; Mosquitto stops when a TLS listener cannot be set up.
            Err(_) => return Ok(ExitCode::FAILURE),
        }
    }
    // As in Mosquitto 2.1, HTTP API listeners alone do not make a broker.
    if !listeners.iter().any(listener::Listener::serves_mqtt) {
        log!(logger, ERROR, "Error: Unable to start any listening sockets, exiting.");
        return Ok(ExitCode::FAILURE);
    }
    // Ports below 1024 and root-only files are open by now; Mosquitto switches earlier.
    if privileges::drop_privileges(&config, &logger).is_err() {
        return Ok(ExitCode::FAILURE);
    }
    if args.daemon {
        process::daemon::detach()?;
    }
    // Written by the process that keeps running (the daemon's child), removed when it exits.
    let _pid_file = match &config.pid_file {
        Some(path) => match PidFile::write(path) {
            Ok(pid_file) => Some(pid_file),
            Err(_) => {
                log!(logger, ERROR, "Error: Unable to write pid file.");
                return Ok(ExitCode::FAILURE);
            }
        },
        None => None,
    };
    process::keep_freed_memory();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(listeners, config, security, restored, logger, args))?;
    Ok(ExitCode::SUCCESS)
}

fn load_config(path: &Option<std::path::PathBuf>) -> Result<Config, config::ConfigError> {
    match path {
        Some(path) => config::load(path),
        None => Ok(Config::default()),
    }
}

/// Runs the broker until SIGINT or SIGTERM; SIGHUP re-reads the configuration file; SIGUSR1
/// saves the persistence file.
async fn serve(
    listeners: Vec<listener::Listener>,
    config: Config,
    security: Security,
    restored: Option<mqtt_core::snapshot::Snapshot>,
    logger: Arc<Logger>,
    args: cli::Args,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut user1 = signal(SignalKind::user_defined1())?;
    // This runs on the main thread (`block_on`), the one thread that takes them from now on.
    process::signals::release()?;
    let (control, controls) = tokio::sync::mpsc::unbounded_channel();
    let broker = tokio::spawn(culex_broker::run_controlled(
        listeners,
        config,
        security,
        restored,
        Arc::clone(&logger),
        controls,
    ));
    log!(logger, INFORMATION, "{} running", cli::version());
    // Every listener is open (and the privileges dropped): systemd may start what needs us.
    let notifier = Notifier::from_env();
    if let Some(notifier) = &notifier {
        notifier.notify(&format!("READY=1\nSTATUS={} running", cli::version()));
    }
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = user1.recv() => {
                let _ = control.send(Control::Save);
            }
            _ = hangup.recv() => {
                log!(logger, INFORMATION, "Reloading config.");
                match load_config(&args.config_file) {
                    Ok(config) => {
                        logger.reconfigure(&config, args.forced_log_types());
                        if let Err(err) = logger.open_destinations(&config) {
                            log!(logger, ERROR, "Error: Unable to open log file: {err}.");
                        }
                        let _ = control.send(Control::Reload(Box::new(config)));
                    }
                    Err(err) => {
                        for line in err.log_lines() {
                            log!(logger, ERROR, "{line}");
                        }
                    }
                }
            }
        }
    }
    log!(logger, INFORMATION, "{} terminating", cli::version());
    if let Some(notifier) = &notifier {
        notifier.notify("STOPPING=1");
    }
    let _ = control.send(Control::Shutdown);
    broker.await??;
    Ok(())
}

/// The `pid_file`, removed on drop (clean exit).
struct PidFile(std::path::PathBuf);

impl PidFile {
    fn write(path: &str) -> std::io::Result<Self> {
        std::fs::write(path, format!("{}\n", std::process::id()))?;
        Ok(Self(path.into()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
