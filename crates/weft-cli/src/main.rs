//! `weft`: the command-line front of a weft node.

mod cli;
mod commands;
mod output;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Commands};

/// The system allocator, counting heap bytes once `weft sim` switches counting on, so each
/// simulated run reports its own peak (`weft_sim::memory`); until then one relaxed load per
/// allocation.
#[global_allocator]
static ALLOC: weft_sim::memory::CountingAlloc = weft_sim::memory::CountingAlloc;

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Commands::Up(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            output::note(format_args!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`weft search … | head -1`): it had what it
        // wanted, so, like ripgrep, end quietly with success.
        Err(e) if output::is_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the outermost context, then its causes.
            let causes: Vec<String> = e.chain().map(ToString::to_string).collect();
            output::note(format_args!("error: {}", causes.join(": ")));
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr. `RUST_LOG` overrides the default: `info` for weft itself when running a
/// node, `warn` otherwise; libp2p's own logs only from `warn` up, and none of the `yamux`
/// crate's: every line it writes is about what the remote peer did, one per offence and
/// unthrottled, so weft's muxer logs those itself (`weft_net::mux`, once per peer a minute)
/// and the `yamux` crate's error lines are counted instead, whatever `RUST_LOG` says
/// ([`YamuxErrors`]). Colour only when stderr is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>): a log file holds plain text.
fn init_logging(node: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, fmt};
    let default = if node {
        "info,libp2p=warn,libp2p_mdns=error,yamux=off"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let lines = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(log_colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_target(false)
        .with_filter(filter);
    let yamux_errors =
        YamuxErrors.with_filter(Targets::new().with_target("yamux", LevelFilter::ERROR));
    let _ = tracing_subscriber::registry()
        .with(lines)
        .with(yamux_errors)
        .try_init();
}

/// Counts the `yamux` crate's error lines in `weft_muxer_errors_total`
/// ([`weft_net::peer_log::muxer_error`]): each is a remote peer's offence.
struct YamuxErrors;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for YamuxErrors {
    fn on_event(
        &self,
        _event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        weft_net::peer_log::muxer_error();
    }
}

/// Whether logs are coloured: on a terminal, unless `NO_COLOR` holds anything.
fn log_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Tunes glibc's malloc for transfers, which pass 1 MiB buffers between the runtime's threads:
/// two arenas, so freed buffers are not spread over one arena per thread (peak RSS), and
/// buffers up to 4 MiB from a heap that keeps 32 MiB when freed, so a piece buffer is not a
/// fresh `mmap` each time (CPU). The figures: `docs/measurements.md`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_malloc() {
    // SAFETY: mallopt only tunes the allocator; it is called first thing in main, before any
    // other thread exists, and its result (0 if refused) needs no handling.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(super::log_colour(true, None));
        assert!(super::log_colour(true, Some(OsStr::new(""))));
        assert!(!super::log_colour(true, Some(OsStr::new("1"))));
        assert!(!super::log_colour(false, None));
    }
}
