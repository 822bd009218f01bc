//! The error of every fallible operation of the crate.

use std::fmt;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;

/// Why starting, killing, restarting or signalling failed.
///
/// Every message names what was attempted: the binary or command line that failed, its exit
/// status and standard error, or the tail of the server's log, so a failing test explains
/// itself without re-running it.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterError {
    /// No directory holding both `initdb` and `postgres` was found on `PATH`, in
    /// `pg_config --bindir`, or under `/usr/lib/postgresql/*/bin`.
    BinariesNotFound {
        /// Every place that was looked at, in order.
        searched: Vec<String>,
    },
    /// The process runs as root (PostgreSQL refuses to) and there is no way to run the
    /// server as the `postgres` OS user: the user or both `setpriv` and `runuser` are missing.
    NoUnprivilegedUser {
        /// What exactly is missing.
        reason: String,
    },
    /// A command could not be started at all (typically: the program does not exist).
    Spawn {
        /// The command line.
        command: String,
        /// The error of the spawn.
        source: io::Error,
    },
    /// A command ran and exited unsuccessfully.
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its standard error (and standard output, if standard error was empty).
        stderr: String,
    },
    /// A file operation on the cluster's directory failed.
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The server process exited while starting.
    ServerExited {
        /// The server's exit status.
        status: ExitStatus,
        /// The last lines the server wrote to its log during this start.
        log: String,
    },
    /// The server did not report `ready` in `postmaster.pid` within the bound.
    StartTimeout {
        /// How long the start was waited for.
        waited: Duration,
        /// The last lines the server wrote to its log during this start.
        log: String,
    },
    /// Processes of the cluster were still alive after the server was stopped and the
    /// bounded wait (and a SIGKILL of each) had passed.
    ProcessesAlive {
        /// The PIDs still alive.
        pids: Vec<u32>,
        /// How long their exit was waited for.
        waited: Duration,
    },
    /// The handle points at an existing server given by `DATABASE_URL` (or
    /// [`PgCluster::from_url`](crate::PgCluster::from_url)): the operation needs a server this
    /// crate started.
    External {
        /// The refused operation.
        operation: &'static str,
    },
    /// The operation does not fit the server's current state (a kill of a killed server, a
    /// restart of a running one).
    State {
        /// The refused operation.
        operation: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A PID that cannot be signalled safely: 0 (it would signal the whole process group) or
    /// above `i32::MAX` (it would be read as a negative process group).
    InvalidPid {
        /// The refused PID.
        pid: u32,
    },
    /// An environment variable is set but not valid Unicode.
    InvalidEnv {
        /// The variable's name.
        name: &'static str,
    },
}

/// What to tell someone whose machine lacks the PostgreSQL server binaries.
const INSTALL_HINT: &str = "install the PostgreSQL server binaries (Debian/Ubuntu: \
`apt-get install postgresql`, which puts them in /usr/lib/postgresql/<version>/bin; Fedora: \
`dnf install postgresql-server`; macOS: `brew install postgresql`) or put their directory on \
PATH, or set DATABASE_URL to an existing server (tests that kill or restart the server then \
fail)";

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BinariesNotFound { searched } => write!(
                f,
                "no PostgreSQL server binaries (`initdb` and `postgres` in one directory) found; \
                 searched: {}; {INSTALL_HINT}",
                searched.join(", ")
            ),
            Self::NoUnprivilegedUser { reason } => write!(
                f,
                "running as root, and PostgreSQL refuses to run as root, so the server must run \
                 as the `postgres` OS user, but {reason}; run the tests as a non-root user, or \
                 install PostgreSQL (Debian: `apt-get install postgresql` creates the user) and \
                 util-linux (`setpriv`/`runuser`), or set DATABASE_URL to an existing server"
            ),
            Self::Spawn { command, source } => {
                write!(f, "could not run `{command}`: {source}")?;
                if source.kind() == io::ErrorKind::NotFound {
                    write!(f, " (the program is not installed or not on PATH)")?;
                }
                Ok(())
            }
            Self::Failed {
                command,
                status,
                stderr,
            } => write!(
                f,
                "`{command}` failed ({status}); its output:\n{}",
                stderr.trim_end()
            ),
            Self::Io { context, source } => write!(f, "{context}: {source}"),
            Self::ServerExited { status, log } => write!(
                f,
                "the PostgreSQL server exited during start-up ({status}); its log:\n{}",
                log.trim_end()
            ),
            Self::StartTimeout { waited, log } => write!(
                f,
                "the PostgreSQL server was not ready after {waited:?}; its log:\n{}",
                log.trim_end()
            ),
            Self::ProcessesAlive { pids, waited } => write!(
                f,
                "processes of the PostgreSQL cluster are still alive after {waited:?} and a \
                 SIGKILL: {pids:?}"
            ),
            Self::External { operation } => write!(
                f,
                "`{operation}` needs a server started by this crate, but the handle points at an \
                 existing server (DATABASE_URL); unset DATABASE_URL to run this test"
            ),
            Self::State { operation, reason } => write!(f, "`{operation}` refused: {reason}"),
            Self::InvalidPid { pid } => write!(
                f,
                "refusing to signal PID {pid}: 0 means the whole process group and values above \
                 i32::MAX mean process groups"
            ),
            Self::InvalidEnv { name } => {
                write!(f, "the environment variable {name} is not valid Unicode")
            }
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn { source, .. } | Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Builds a [`ClusterError::Io`] naming `path`.
pub(crate) fn io_error(what: &str, path: &std::path::Path, source: io::Error) -> ClusterError {
    ClusterError::Io {
        context: format!("{what} {}", path.display()),
        source,
    }
}
