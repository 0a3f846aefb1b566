//! `culex-bench`: the load generator and the orchestrator behind `cargo xtask bench`.
//!
//! # Layout
//! - `plan`: which scenarios, how long, and the target for each figure.
//! - `orchestrate`: rounds of fresh brokers, A/B alternation, failures, output files.
//! - `target`: starting `culex`, `mosquitto` (one shared config) and the sink process.
//! - `load`: publishers and subscribers on tokio + mqtt-codec; `net`: handshakes;
//!   `payload`: stamped messages and the PUBLISH template; `accounting`: loss/duplicates/latency.
//! - `cpus`, `cores`: `--cores`, the throughput scenarios with the broker pinned to 1, 2, …
//!   CPUs (issue 13's scaling), and their table.
//! - `durable`: issue 15's rows, persistence on against off and against Mosquitto's.
//! - `hardening`: `--hardening`, half-finished handshakes (slowloris) on TCP, TLS and
//!   WebSocket listeners: memory per stalled connection, and when the broker closes them;
//!   then `floods`: a slow consumer and a bad-login storm.
//! - `idle`: idle connections (memory, connect rate); `tools`: `*_pub` wall time;
//!   `sink`: the trivial target that measures the generator itself.
//! - `procfs`, `stats`, `results`, `report`, `svg`, `machine`: measuring and presenting.
#![forbid(unsafe_code)]

mod accounting;
mod cores;
mod cpus;
mod durable;
mod floods;
mod hardening;
mod idle;
mod load;
mod machine;
mod net;
mod orchestrate;
mod payload;
mod plan;
mod procfs;
mod report;
mod results;
mod sink;
mod stats;
mod svg;
mod target;
mod tools;
mod units;

#[cfg(test)]
mod smoke;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};

/// Benchmarks culex against Mosquitto on loopback, side by side.
#[derive(Debug, Parser)]
#[command(name = "culex-bench", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the trivial sink and source that measure the load generator (used by the
    /// orchestrator; prints `sink PORT source PORT`, stops when stdin closes).
    Sink {
        /// Payload size of the messages the source writes.
        #[arg(long, default_value_t = 64)]
        payload: usize,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// A few minutes: QoS 0 and 1 with 64 B, 1 s per run, 2,000 idle connections, the
    /// persistence rows with 100,000 queued messages at startup.
    #[arg(long)]
    quick: bool,
    /// Rounds (each broker measured once per round; at least 3 for medians worth the name).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds of publishing per throughput or latency run.
    #[arg(long)]
    duration: Option<f64>,
    /// Messages queued for the persistence startup row (default 1,000,000, 100,000 with
    /// --quick; 0 skips it).
    #[arg(long)]
    startup_messages: Option<u64>,
    /// Instead of the other scenarios: half-finished handshakes (slowloris), 10,000 of each
    /// kind (1,000 with --quick) against a fresh broker each, then a slow consumer and a
    /// bad-login storm; writes hardening.md.
    #[arg(long)]
    hardening: bool,
    /// Instead of the other scenarios: the throughput scenarios (filtered by --only) with the
    /// brokers allowed only the first N CPUs, for each N in this list (e.g. `1,2`; under
    /// `taskset`, the load generator on the other CPUs where there are any); writes the
    /// table by cores to results.md.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "hardening")]
    cores: Option<Vec<usize>>,
    /// Number of connections in the idle-connection scenario.
    #[arg(long)]
    idle_connections: Option<usize>,
    /// Only scenarios whose name contains this text (e.g. "QoS 1, 64 B", "fan-in", "idle").
    #[arg(long)]
    only: Option<String>,
    /// The culex broker (default: `culex` next to this executable).
    #[arg(long)]
    culex: Option<PathBuf>,
    /// culex_pub (default: next to this executable).
    #[arg(long)]
    culex_pub: Option<PathBuf>,
    /// Mosquitto (default: /usr/sbin/mosquitto; culex is measured alone if it is missing).
    #[arg(long, conflicts_with = "without_mosquitto")]
    mosquitto: Option<PathBuf>,
    /// Measure culex alone, even where Mosquitto is installed (for comparing culex builds).
    #[arg(long)]
    without_mosquitto: bool,
    /// mosquitto_pub (default: /usr/bin/mosquitto_pub).
    #[arg(long)]
    mosquitto_pub: Option<PathBuf>,
    /// Folder for results.md and throughput.svg.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("culex-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Sink { payload }) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            runtime.block_on(sink::serve(payload))
        }
        None => benchmark(&cli.run),
    }
}

fn benchmark(args: &RunArgs) -> Result<()> {
    let mut plan = if args.quick { plan::Plan::quick() } else { plan::Plan::full() };
    if let Some(rounds) = args.rounds {
        if rounds == 0 {
            bail!("--rounds must be at least 1");
        }
        plan.rounds = rounds;
    }
    if let Some(seconds) = args.duration {
        if !(0.2..=600.0).contains(&seconds) {
            bail!("--duration must be between 0.2 and 600 seconds");
        }
        plan.duration = Duration::from_secs_f64(seconds);
        plan.warmup = plan.duration.mul_f64(0.2);
    }
    if let Some(count) = args.idle_connections {
        plan.idle_connections = count;
    }
    if let Some(messages) = args.startup_messages {
        plan.startup_messages = messages;
    }
    if let Some(filter) = &args.only {
        plan.only(filter);
    }
    let here = std::env::current_exe().context("finding culex-bench itself")?;
    let dir = here.parent().context("culex-bench has no folder")?;
    let paths = orchestrate::Paths {
        culex: existing(args.culex.clone().unwrap_or_else(|| dir.join("culex")))?,
        culex_pub: existing(args.culex_pub.clone().unwrap_or_else(|| dir.join("culex_pub")))?,
        mosquitto: if args.without_mosquitto {
            None
        } else {
            optional(args.mosquitto.as_deref(), "/usr/sbin/mosquitto")?
        },
        mosquitto_pub: optional(args.mosquitto_pub.as_deref(), "/usr/bin/mosquitto_pub")?,
    };
    if paths.mosquitto.is_none() && !args.without_mosquitto {
        eprintln!(
            "culex-bench: /usr/sbin/mosquitto not found (apt-get install mosquitto); measuring culex alone"
        );
    }
    if args.hardening {
        return hardening(args, &paths);
    }
    let command = std::env::var("CULEX_BENCH_COMMAND").unwrap_or_else(|_| {
        std::iter::once("culex-bench".to_owned())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" ")
    });
    match &args.cores {
        Some(counts) => orchestrate::run_cores(&plan, &paths, &args.out, &command, counts),
        None => orchestrate::run(&plan, &paths, &args.out, &command),
    }
}

/// `--hardening`: the slowloris and flood tables, printed and written to `hardening.md` in
/// `--out`.
fn hardening(args: &RunArgs, paths: &orchestrate::Paths) -> Result<()> {
    let count = if args.quick { 1_000 } else { 10_000 };
    let workdir = std::env::temp_dir().join(format!("culex-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let brokers = hardening::Brokers { culex: &paths.culex, mosquitto: paths.mosquitto.as_deref() };
    let table = hardening::run(&brokers, count, &workdir)
        .and_then(|slowloris| Ok(format!("{slowloris}\n{}", floods::run(&brokers, &workdir)?)));
    let _ = std::fs::remove_dir_all(&workdir);
    let table = table?;
    println!("{table}");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("hardening.md");
    std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("culex-bench: wrote {}", path.display());
    Ok(())
}

fn existing(path: PathBuf) -> Result<PathBuf> {
    if !path.is_file() {
        bail!("{} not found (build it with `cargo build --release`)", path.display());
    }
    Ok(path)
}

/// An explicitly given path must exist; the default may be missing.
fn optional(given: Option<&Path>, default: &str) -> Result<Option<PathBuf>> {
    match given {
        Some(path) => existing(path.to_path_buf()).map(Some),
        None => Ok(Path::new(default).is_file().then(|| PathBuf::from(default))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_take_a_comma_separated_list_and_exclude_hardening() {
        let cli =
            Cli::try_parse_from(["culex-bench", "--cores", "1,2", "--only", "QoS 1"]).unwrap();
        assert_eq!(cli.run.cores, Some(vec![1, 2]));
        let cli = Cli::try_parse_from(["culex-bench", "--cores", "2"]).unwrap();
        assert_eq!(cli.run.cores, Some(vec![2]));
        assert_eq!(Cli::try_parse_from(["culex-bench"]).unwrap().run.cores, None);
        for bad in [&["--cores", "1,x"][..], &["--cores"], &["--cores", "1", "--hardening"]] {
            let args = std::iter::once("culex-bench").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }
}
