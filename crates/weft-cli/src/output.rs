//! The commands' standard output: every write is checked, so that a closed pipe
//! (`weft search … | head -1`) ends the command quietly and a full or failing output
//! (`weft id > /dev/full`) ends it with one `error:` line, never with a panic.
//!
//! Commands print through [`outln!`] and [`out!`], which return a [`Result`] to pass on with
//! `?`; `main` turns [`OutputError::Closed`] into a quiet exit with status 0 (as ripgrep does:
//! the reader had all it wanted) and any other error into `error: …` and status 1.

use std::fmt;
use std::io::{self, Write};

/// Why the output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader went away (a broken pipe): not an error for the user.
    #[error("the output was closed")]
    Closed,
    /// Any other failure: a full disk, an I/O error.
    #[error("cannot write the output")]
    Failed(#[source] io::Error),
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Self::Closed
        } else {
            Self::Failed(e)
        }
    }
}

/// Writes `args` to standard output and flushes it, so that an error shows at this write and
/// rows appear as they are printed.
///
/// # Errors
///
/// [`OutputError::Closed`] on a broken pipe, [`OutputError::Failed`] on any other failure.
pub fn write(args: fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut stdout = io::stdout().lock();
    stdout.write_fmt(args)?;
    stdout.flush()?;
    Ok(())
}

/// Writes raw bytes to standard output (a DHT value), flushed.
///
/// # Errors
///
/// As [`write`].
pub fn bytes(b: &[u8]) -> Result<(), OutputError> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(b)?;
    stdout.flush()?;
    Ok(())
}

/// Writes one line to standard error, ignoring failure: it is the channel of last resort,
/// used for the final `error:` line and notes, and must not turn a report into a panic.
pub fn note(args: fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_fmt(args);
    let _ = stderr.write_all(b"\n");
}

/// Whether `e` (or one of its causes) is a closed output.
pub fn is_closed(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| matches!(c.downcast_ref::<OutputError>(), Some(OutputError::Closed)))
}

/// `print!` whose failure is returned: `out!("{x}")?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}

/// `println!` whose failure is returned: `outln!("{x}")?`.
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_a_closed_output_and_other_errors_fail() {
        let closed = OutputError::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(matches!(closed, OutputError::Closed));
        let full = OutputError::from(io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(matches!(full, OutputError::Failed(_)));
        assert_eq!(full.to_string(), "cannot write the output");
        assert!(is_closed(
            &anyhow::Error::from(closed).context("printing the results")
        ));
        assert!(!is_closed(&anyhow::Error::from(full)));
    }
}
