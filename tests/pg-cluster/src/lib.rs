//! Throwaway, real PostgreSQL clusters for the tests, examples and benchmarks of
//! tasks-recorder.
//!
//! [`PgCluster::start`] runs `initdb` in a fresh temporary directory and starts `postgres` on a
//! free port of 127.0.0.1, and waits until it accepts connections. Nothing is mocked: it is the
//! machine's PostgreSQL server, with `fsync` and `synchronous_commit` on, so a commit is a real,
//! durable commit. [`PgCluster::kill_server`] crashes the server with SIGKILL and
//! [`PgCluster::restart`] starts it again on the same data directory and port (PostgreSQL runs
//! crash recovery). Dropping the handle stops the server and deletes the directory, also when the
//! test panics.
//!
//! ```
//! use tasks_recorder_pg_cluster::{is_process_alive, PgCluster};
//!
//! let mut cluster = PgCluster::start()?;
//! assert!(cluster.url().starts_with("postgres://postgres@127.0.0.1:"));
//! let first = cluster.server_pid().unwrap();
//!
//! cluster.kill_server()?; // SIGKILL: a crash, not a shutdown
//! assert!(!is_process_alive(first));
//! cluster.restart()?; // same port and data, after crash recovery
//! assert_ne!(cluster.server_pid(), Some(first));
//!
//! let dir = cluster.data_dir().unwrap().to_path_buf();
//! drop(cluster);
//! assert!(!dir.exists());
//! # Ok::<(), tasks_recorder_pg_cluster::ClusterError>(())
//! ```
//!
//! # Requirements
//!
//! The PostgreSQL server binaries: `initdb` and `postgres` in one directory, found on `PATH`,
//! else in `pg_config --bindir`, else in the newest `/usr/lib/postgresql/<version>/bin` (where
//! Debian's `apt-get install postgresql` puts them). Without them [`PgCluster::start`] fails
//! with [`ClusterError::BinariesNotFound`], whose message says how to install them.
//!
//! PostgreSQL refuses to run as root. When the process runs as root (`id -u` prints 0),
//! `initdb` and `postgres` run as the `postgres` OS user, through `setpriv` (which execs, so the
//! spawned child is the postmaster) or else `runuser`; the temporary directory is given to that
//! user with `chown`. The crate has no `unsafe` code: ids, ownership and signals go through the
//! `id`, `chown` and `kill` programs.
//!
//! # `DATABASE_URL`
//!
//! [`PgCluster::from_env_or_start`] uses the server named by `DATABASE_URL` when it is set,
//! instead of starting one. Such a handle cannot kill or restart its server (those return
//! [`ClusterError::External`]) and its database is shared by every test that uses it.
//!
//! # Leftovers
//!
//! Each cluster lives in its own directory `<std::env::temp_dir()>/`[`TEMP_DIR_PREFIX`]`<pid>-…`
//! (the PID is the test process's): the data directory `data/`, the server's log
//! `postgres.log` and the Unix socket. [`Drop`] removes it. When the process dies without
//! dropping the handle (SIGKILL, `std::process::exit`, an abort), a small watchdog shell
//! started with each cluster notices (its standard input, a pipe from the test process, reaches
//! end of file), stops that cluster's server and removes the directory. Only if the watchdog
//! itself is killed too (e.g. a SIGKILL of the whole process group) do a directory and possibly
//! a server remain: they are recognisable by the prefix, and the server's PID is the first line
//! of `data/postmaster.pid`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod os;

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use error::io_error;
pub use error::ClusterError;
use os::{Binaries, RunAs};

/// The prefix of the name of every cluster's temporary directory, directly under
/// [`std::env::temp_dir`]. The rest of the name is the creating process's PID, a per-process
/// counter and a time stamp.
pub const TEMP_DIR_PREFIX: &str = "tasks-recorder-pg-";

/// How long a start (or restart, including crash recovery) may take before it is abandoned.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopped server gets to exit after SIGQUIT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the processes of a stopped or killed server get to exit on their own.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long processes get to disappear after a SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// The interval of all polling.
const POLL: Duration = Duration::from_millis(10);
/// How many free ports a start tries, should another process take the chosen one first.
const PORT_ATTEMPTS: usize = 5;
/// The longest Unix socket directory: `sun_path` holds 108 bytes, including the file name
/// `/.s.PGSQL.<port>` (at most 15 bytes) and a terminating NUL.
const MAX_SOCKET_DIR: usize = 90;

/// The name of the PostgreSQL superuser and of the database in [`PgCluster::url`].
const SUPERUSER: &str = "postgres";

/// Stops the process `pid` with SIGSTOP (it cannot be caught or ignored), via the `kill`
/// program. The process stays frozen, its connections and locks held, until
/// [`continue_process`] or a kill.
///
/// # Errors
///
/// [`ClusterError::InvalidPid`] for PID 0 or above `i32::MAX` (which `kill` would read as
/// process groups), and [`ClusterError::Failed`] when `kill` fails (e.g. no such process, or
/// no permission).
pub fn stop_process(pid: u32) -> Result<(), ClusterError> {
    os::signal(pid, "STOP")
}

/// Continues the process `pid`, stopped by [`stop_process`], with SIGCONT via the `kill`
/// program.
///
/// # Errors
///
/// As [`stop_process`].
pub fn continue_process(pid: u32) -> Result<(), ClusterError> {
    os::signal(pid, "CONT")
}

/// Kills the process `pid`, and only it (not its children), with SIGKILL via the `kill`
/// program, and waits (at most 5 s) until it is no longer alive in the sense of
/// [`is_process_alive`]: on `Ok` it has exited and released everything it held, though if it
/// is your child it remains a zombie until you reap it. A stopped process is killed too.
///
/// # Errors
///
/// As [`stop_process`], and [`ClusterError::ProcessesAlive`] if the process is still alive
/// after the bound (e.g. stuck in an uninterruptible system call).
pub fn kill_process(pid: u32) -> Result<(), ClusterError> {
    os::signal(pid, "KILL")?;
    if wait_for(KILL_TIMEOUT, || !os::is_alive(pid)) {
        Ok(())
    } else {
        Err(ClusterError::ProcessesAlive {
            pids: vec![pid],
            waited: KILL_TIMEOUT,
        })
    }
}

/// Whether the process `pid` exists and is neither a zombie nor dead, read from
/// `/proc/<pid>/stat`. A zombie has exited and released everything it held (memory, shared
/// memory, sockets, locks); it only waits for its parent to reap it, which for orphans is PID 1,
/// and not every container's PID 1 reaps. Note that a PID is reused once the process is
/// reaped, so ask only about processes you know are yours.
pub fn is_process_alive(pid: u32) -> bool {
    os::is_alive(pid)
}

/// A PostgreSQL server for one test, benchmark or example: either a throwaway cluster this crate
/// started (see [`start`](Self::start)) or an existing server (see
/// [`from_url`](Self::from_url)).
///
/// Dropping a started cluster stops its server (immediate shutdown: SIGQUIT, then SIGKILL if it
/// has not exited after 15 s), waits until none of its processes is alive, and removes its
/// directory. Drop runs on unwind too, so a panicking test cleans up; it never panics itself
/// (a failure is reported on standard error). Dropping an external handle does nothing. See
/// [Leftovers](crate#leftovers) for processes that die without dropping.
///
/// The handle is `Send` and `Sync`; its methods are blocking (no async runtime is needed), so
/// call them outside async code or in `spawn_blocking`.
#[derive(Debug)]
pub struct PgCluster {
    /// The connection URL.
    url: String,
    /// The cluster this crate started; `None` for an existing server.
    local: Option<Local>,
}

impl PgCluster {
    /// Starts a new cluster: finds the server binaries, runs `initdb` in a new directory under
    /// [`std::env::temp_dir`] (named [`TEMP_DIR_PREFIX`]`…`), starts `postgres` on a free port
    /// of 127.0.0.1 and returns once the server accepts connections (`postmaster.pid` says
    /// `ready` and a TCP connection to the port succeeds).
    ///
    /// The cluster's superuser is `postgres`, authenticated by `trust` (no password), so
    /// [`url`](Self::url) is `postgres://postgres@127.0.0.1:<port>/postgres`. The server
    /// listens on 127.0.0.1 only (and on a Unix socket in the cluster's directory), allows 200
    /// connections, and keeps `fsync` and `synchronous_commit` on: a committed transaction
    /// survives [`kill_server`](Self::kill_server). `initdb` runs with `--no-sync` (it would
    /// otherwise spend seconds flushing a directory that only has to survive process crashes,
    /// not operating system crashes).
    ///
    /// On an error everything started so far is stopped and the directory removed.
    ///
    /// # Errors
    ///
    /// [`ClusterError::BinariesNotFound`] when there are no server binaries;
    /// [`ClusterError::NoUnprivilegedUser`] when running as root without a `postgres` user or
    /// without `setpriv`/`runuser`; [`ClusterError::Failed`] with `initdb`'s output when it
    /// fails; [`ClusterError::ServerExited`] or [`ClusterError::StartTimeout`] (60 s) with the
    /// server's log when the server does not come up; [`ClusterError::Io`] on file errors.
    pub fn start() -> Result<Self, ClusterError> {
        let binaries = Binaries::find()?;
        let run_as = RunAs::detect()?;
        let mut local = Local::create(binaries, run_as)?;
        local.initdb()?;
        local.start_on_free_port()?;
        Ok(Self {
            url: local.url(),
            local: Some(local),
        })
    }

    /// A handle on the server named by `DATABASE_URL` if that variable is set and not empty
    /// (see [`from_url`](Self::from_url)), else a new cluster from [`start`](Self::start).
    ///
    /// # Errors
    ///
    /// [`ClusterError::InvalidEnv`] when `DATABASE_URL` is not Unicode; else those of
    /// [`start`](Self::start).
    pub fn from_env_or_start() -> Result<Self, ClusterError> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Ok(Self::from_url(url)),
            Ok(_) | Err(std::env::VarError::NotPresent) => Self::start(),
            Err(std::env::VarError::NotUnicode(_)) => Err(ClusterError::InvalidEnv {
                name: "DATABASE_URL",
            }),
        }
    }

    /// A handle on an existing server at `url`, which is returned unchanged by
    /// [`url`](Self::url). Nothing is started, checked or connected to; dropping the handle does
    /// nothing. [`kill_server`](Self::kill_server) and [`restart`](Self::restart) return
    /// [`ClusterError::External`], [`server_pid`](Self::server_pid), [`port`](Self::port),
    /// [`data_dir`](Self::data_dir) and [`log_file`](Self::log_file) return `None`.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            local: None,
        }
    }

    /// The URL to connect to, for `tokio-postgres`, `sqlx`, `psql` and the like. For a started
    /// cluster it is `postgres://postgres@127.0.0.1:<port>/postgres`, the same across
    /// [`restart`](Self::restart)s.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this handle points at an existing server ([`from_url`](Self::from_url), or
    /// `DATABASE_URL` in [`from_env_or_start`](Self::from_env_or_start)) rather than at a
    /// cluster it started.
    pub fn is_external(&self) -> bool {
        self.local.is_none()
    }

    /// The PID of the running postmaster (the server's main process, the first line of
    /// `postmaster.pid`), also when it runs as the `postgres` user under `runuser`. `None`
    /// after [`kill_server`](Self::kill_server) until [`restart`](Self::restart), and for an
    /// external server. If something else killed the postmaster, this is still its (dead) PID
    /// until `kill_server` or `restart` notices.
    pub fn server_pid(&self) -> Option<u32> {
        self.local
            .as_ref()?
            .server
            .as_ref()
            .map(|server| server.pid)
    }

    /// The TCP port on 127.0.0.1, fixed for the cluster's life; `None` for an external server.
    pub fn port(&self) -> Option<u16> {
        self.local.as_ref().map(|local| local.port)
    }

    /// The data directory (`PGDATA`); `None` for an external server. It is removed on drop.
    pub fn data_dir(&self) -> Option<&Path> {
        self.local.as_ref().map(|local| local.data.as_path())
    }

    /// The server's log file (its standard output and error, appended across restarts);
    /// `None` for an external server. It is removed on drop: read it before.
    pub fn log_file(&self) -> Option<&Path> {
        self.local.as_ref().map(|local| local.log.as_path())
    }

    /// Crashes the server: SIGKILL to the postmaster only, by its PID, as a machine failure or
    /// the OOM killer would. Its backends and auxiliary processes notice the postmaster's death
    /// and exit on their own; this waits (at most 30 s, then SIGKILLs the stragglers, by PID)
    /// until no process of the cluster is alive, so that [`restart`](Self::restart) can start.
    /// Clients see their connections fail; what was committed before stays committed.
    ///
    /// On `Ok`, no process of the cluster is alive and [`server_pid`](Self::server_pid) is
    /// `None`. Killing a killed server, or one whose postmaster something else killed, is `Ok`.
    ///
    /// # Errors
    ///
    /// [`ClusterError::External`] for an external server; [`ClusterError::Failed`] if the
    /// signal cannot be sent (the server is then left as it was); [`ClusterError::ProcessesAlive`]
    /// if processes of the cluster survive.
    pub fn kill_server(&mut self) -> Result<(), ClusterError> {
        let local = self.local.as_mut().ok_or(ClusterError::External {
            operation: "kill_server",
        })?;
        if let Some(mut server) = local.server.take() {
            if let Err(err) = server.kill() {
                local.server = Some(server);
                return Err(err);
            }
        }
        local.wait_until_gone()
    }

    /// Starts the server again on the same data directory and port, after
    /// [`kill_server`](Self::kill_server) (or after something else killed the postmaster), and
    /// waits (at most 60 s) until it accepts connections again, crash recovery included. On
    /// `Ok`, [`server_pid`](Self::server_pid) is the new postmaster's PID and
    /// [`url`](Self::url) is unchanged.
    ///
    /// # Errors
    ///
    /// [`ClusterError::External`] for an external server; [`ClusterError::State`] if the server
    /// is running; [`ClusterError::ServerExited`] (e.g. the port was taken meanwhile) or
    /// [`ClusterError::StartTimeout`] with the server's log.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        let local = self.local.as_mut().ok_or(ClusterError::External {
            operation: "restart",
        })?;
        match local.server.as_mut().map(Server::postmaster_alive) {
            Some(true) => {
                return Err(ClusterError::State {
                    operation: "restart",
                    reason: "the server is running; crash it with kill_server first",
                })
            }
            // Killed behind the handle's back: reap it and wait for its processes.
            Some(false) => {
                if let Some(mut server) = local.server.take() {
                    server.kill()?;
                }
                local.wait_until_gone()?;
            }
            None => {}
        }
        let server = local.spawn_server(local.port)?;
        local.server = Some(server);
        Ok(())
    }
}

/// A running server: the spawned child and the postmaster's PID.
#[derive(Debug)]
struct Server {
    /// What was spawned: the postmaster itself, or `runuser` with the postmaster as its child.
    child: Child,
    /// The postmaster's PID, from `postmaster.pid`.
    pid: u32,
}

impl Server {
    /// Whether the child is the postmaster (no `runuser` in between).
    fn direct(&self) -> bool {
        self.child.id() == self.pid
    }

    /// Whether `pid` still is this server's postmaster and alive. While the child is not
    /// reaped its PID cannot be reused, so the postmaster is identified safely: it is the
    /// child, or the child's child.
    fn postmaster_alive(&mut self) -> bool {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return false;
        }
        os::is_alive(self.pid)
            && (self.direct() || os::parent_pid(self.pid) == Some(self.child.id()))
    }

    /// Sends `signal` to the postmaster if it is alive; `Ok(false)` if it was not.
    fn signal(&mut self, signal: &str) -> Result<bool, ClusterError> {
        if !self.postmaster_alive() {
            return Ok(false);
        }
        os::signal(self.pid, signal).map(|()| true)
    }

    /// SIGKILLs the postmaster and reaps the child.
    fn kill(&mut self) -> Result<(), ClusterError> {
        if self.direct() {
            // `Child::kill` is SIGKILL by PID, and Ok if the child has already exited.
            self.child.kill().map_err(|source| ClusterError::Io {
                context: format!("SIGKILL of the postmaster {}", self.pid),
                source,
            })?;
        } else {
            self.signal("KILL")?;
        }
        self.reap();
        Ok(())
    }

    /// Waits for the child to exit (which a SIGKILLed postmaster, or `runuser` whose
    /// postmaster died, does at once).
    fn reap(&mut self) {
        if let Err(err) = self.child.wait() {
            eprintln!("tasks-recorder-pg-cluster: waiting for {}: {err}", self.pid);
        }
    }

    /// Stops the server for good: immediate shutdown (SIGQUIT: the postmaster stops its
    /// children, no checkpoint; the data is thrown away anyway), SIGKILL if it has not exited
    /// after [`STOP_TIMEOUT`].
    fn stop(&mut self) {
        if let Err(err) = self.signal("QUIT") {
            eprintln!("tasks-recorder-pg-cluster: {err}");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            sleep(POLL);
        }
        if let Err(err) = self.kill() {
            eprintln!("tasks-recorder-pg-cluster: {err}");
        }
    }
}

/// A cluster this crate started: its directory, and its server while it runs.
#[derive(Debug)]
struct Local {
    /// The temporary directory, canonical; removed on drop.
    root: PathBuf,
    /// `root/data`, the data directory, canonical: every server process's working directory.
    data: PathBuf,
    /// `root/postgres.log`, the server's standard output and error.
    log: PathBuf,
    /// The TCP port (0 until the first start).
    port: u16,
    /// The server binaries.
    binaries: Binaries,
    /// The user `initdb` and `postgres` run as.
    run_as: RunAs,
    /// The running server; `None` before the start and after a kill.
    server: Option<Server>,
    /// The shell that cleans up if this process dies without dropping the cluster, and the
    /// pipe to its standard input.
    watchdog: Option<(Child, ChildStdin)>,
}

/// The watchdog shell: `$1` is the cluster's directory, `$2` its data directory. A line on
/// standard input means "cleaned up, exit"; end of file without one means the owning process
/// died: stop the server (if `postmaster.pid` names a live process in the data directory) and
/// remove the directory. It ignores the signals a terminal or a test runner sends to the
/// process group, so that it outlives the test process.
const WATCHDOG: &str = r#"
trap '' HUP INT QUIT TERM PIPE
root=$1
data=$2
if read -r _line; then exit 0; fi
pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
ours() { [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$data" ]; }
if ours; then
    kill -QUIT "$pid" 2>/dev/null
    n=0
    while [ "$n" -lt 15 ] && ours; do sleep 1; n=$((n + 1)); done
    if ours; then kill -KILL "$pid" 2>/dev/null; sleep 1; fi
fi
rm -rf "$root"
"#;

impl Local {
    /// Creates the cluster's directory, private to the server's user, and its watchdog.
    fn create(binaries: Binaries, run_as: RunAs) -> Result<Self, ClusterError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir();
        let root = loop {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.subsec_nanos());
            let name = format!(
                "{TEMP_DIR_PREFIX}{}-{}-{nanos:08x}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let candidate = base.join(name);
            match fs::create_dir(&candidate) {
                Ok(()) => break candidate,
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(io_error("creating", &candidate, err)),
            }
        };
        // From here on, dropping `local` removes the directory.
        let canonical = fs::canonicalize(&root);
        let mut local = Self {
            data: PathBuf::new(),
            log: PathBuf::new(),
            root,
            port: 0,
            binaries,
            run_as,
            server: None,
            watchdog: None,
        };
        local.root = canonical.map_err(|err| io_error("resolving", &local.root, err))?;
        local.data = local.root.join("data");
        local.log = local.root.join("postgres.log");
        fs::set_permissions(&local.root, fs::Permissions::from_mode(0o700))
            .map_err(|err| io_error("setting the permissions of", &local.root, err))?;
        local.run_as.take_ownership(&local.root)?;
        local.watchdog = Some(local.spawn_watchdog()?);
        Ok(local)
    }

    /// Starts the watchdog shell (see [`WATCHDOG`]).
    fn spawn_watchdog(&self) -> Result<(Child, ChildStdin), ClusterError> {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", WATCHDOG, "tasks-recorder-pg-watchdog"])
            .arg(&self.root)
            .arg(&self.data)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(|source| ClusterError::Spawn {
            command: "sh -c <watchdog>".to_string(),
            source,
        })?;
        match child.stdin.take() {
            Some(stdin) => Ok((child, stdin)),
            None => unreachable!("the watchdog's standard input is piped"),
        }
    }

    /// The URL of the cluster's `postgres` database as its superuser.
    fn url(&self) -> String {
        format!(
            "postgres://{SUPERUSER}@{}:{}/{SUPERUSER}",
            Ipv4Addr::LOCALHOST,
            self.port
        )
    }

    /// Runs `initdb`.
    fn initdb(&self) -> Result<(), ClusterError> {
        let mut cmd = self.run_as.command(&self.binaries.initdb);
        cmd.arg("--pgdata")
            .arg(&self.data)
            .arg("--auth=trust")
            .arg(format!("--username={SUPERUSER}"))
            .args(["--encoding=UTF8", "--no-locale", "--no-sync"])
            .current_dir(&self.root);
        os::run(&mut cmd).map(drop)
    }

    /// Starts the server on a free port, trying another one should the chosen port be taken
    /// between its choice and the server's bind.
    fn start_on_free_port(&mut self) -> Result<(), ClusterError> {
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            match self.spawn_server(port) {
                Ok(server) => {
                    self.port = port;
                    self.server = Some(server);
                    return Ok(());
                }
                Err(ClusterError::ServerExited { log, .. })
                    if attempt < PORT_ATTEMPTS && port_was_taken(&log) =>
                {
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Starts `postgres` on `port` and waits until it is ready; on failure nothing of it is
    /// left running.
    fn spawn_server(&mut self, port: u16) -> Result<Server, ClusterError> {
        let log_start = fs::metadata(&self.log).map_or(0, |meta| meta.len());
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|err| io_error("opening", &self.log, err))?;
        let log_err = log
            .try_clone()
            .map_err(|err| io_error("duplicating the handle of", &self.log, err))?;
        // A socket path that does not fit in `sun_path` would fail the start: no socket then
        // (clients use TCP anyway).
        let socket_dir = if self.root.as_os_str().len() <= MAX_SOCKET_DIR
            && !self.root.to_string_lossy().contains(',')
        {
            self.root.as_os_str()
        } else {
            OsStr::new("")
        };
        let mut cmd = self.run_as.command(&self.binaries.postgres);
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(socket_dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=200"])
            .args(["-c", "fsync=on", "-c", "synchronous_commit=on"])
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = cmd.spawn().map_err(|source| ClusterError::Spawn {
            command: os::describe(&cmd),
            source,
        })?;
        // Stopped on every early return below.
        let mut pending = PendingServer(Some(child));
        let started = Instant::now();
        loop {
            let Some(child) = pending.0.as_mut() else {
                unreachable!("taken only on success")
            };
            match child.try_wait() {
                Ok(Some(status)) => {
                    pending.0 = None;
                    return Err(ClusterError::ServerExited {
                        status,
                        log: log_tail(&self.log, log_start),
                    });
                }
                Ok(None) => {}
                Err(err) => return Err(io_error("waiting for the server in", &self.data, err)),
            }
            if let Some(pid) = self.ready_postmaster(child.id(), port) {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    let Some(child) = pending.0.take() else {
                        unreachable!("checked above")
                    };
                    return Ok(Server { child, pid });
                }
            }
            if started.elapsed() > START_TIMEOUT {
                drop(pending);
                // The processes are gone: the log is complete.
                let _ = self.wait_until_gone();
                return Err(ClusterError::StartTimeout {
                    waited: START_TIMEOUT,
                    log: log_tail(&self.log, log_start),
                });
            }
            sleep(POLL);
        }
    }

    /// The postmaster's PID if `postmaster.pid` says the server spawned as `child` is ready on
    /// `port`. A `postmaster.pid` left by a killed server names a dead process, or one that is
    /// not `child` nor its child: it is ignored.
    fn ready_postmaster(&self, child: u32, port: u16) -> Option<u32> {
        let text = fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let pid: u32 = lines.first()?.parse().ok()?;
        let ours = pid == child || os::parent_pid(pid) == Some(child);
        let ready = *lines.get(3)? == port.to_string() && *lines.get(7)? == "ready";
        (ours && ready && os::is_alive(pid)).then_some(pid)
    }

    /// Waits until no process of the cluster is alive: [`EXIT_TIMEOUT`] for them to exit on
    /// their own, then SIGKILL each (by PID) and [`KILL_TIMEOUT`] more.
    fn wait_until_gone(&self) -> Result<(), ClusterError> {
        if wait_for(EXIT_TIMEOUT, || os::processes_in(&self.data).is_empty()) {
            return Ok(());
        }
        for pid in os::processes_in(&self.data) {
            let _ = os::signal(pid, "KILL");
        }
        if wait_for(KILL_TIMEOUT, || os::processes_in(&self.data).is_empty()) {
            return Ok(());
        }
        Err(ClusterError::ProcessesAlive {
            pids: os::processes_in(&self.data),
            waited: EXIT_TIMEOUT + KILL_TIMEOUT,
        })
    }
}

impl Drop for Local {
    /// Stops the server (immediate shutdown, SIGKILL after a bound), waits until no process of
    /// the cluster is alive, removes the directory and dismisses the watchdog. Runs on unwind
    /// too; never panics.
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        if let Err(err) = self.wait_until_gone() {
            eprintln!("tasks-recorder-pg-cluster: {err}");
        }
        if let Err(err) = fs::remove_dir_all(&self.root) {
            if err.kind() != io::ErrorKind::NotFound {
                eprintln!(
                    "tasks-recorder-pg-cluster: removing {}: {err}",
                    self.root.display()
                );
            }
        }
        if let Some((mut watchdog, mut stdin)) = self.watchdog.take() {
            // A line means "done"; an error means the watchdog is gone already.
            let _ = stdin.write_all(b"done\n");
            drop(stdin);
            let _ = watchdog.wait();
        }
    }
}

/// A server being started: SIGKILLed and reaped (with its child, under `runuser`) if dropped
/// before it is ready.
struct PendingServer(Option<Child>);

impl Drop for PendingServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            for pid in os::children_of(child.id()) {
                let _ = os::signal(pid, "KILL");
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP port of 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, ClusterError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| ClusterError::Io {
            context: "binding 127.0.0.1:0 to choose a port".to_string(),
            source,
        })?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|source| ClusterError::Io {
            context: "reading the chosen port".to_string(),
            source,
        })
}

/// Whether a server's log says it could not bind its port.
fn port_was_taken(log: &str) -> bool {
    log.contains("could not bind") || log.contains("Address already in use")
}

/// The last lines of `log` from byte `start` on.
fn log_tail(log: &Path, start: u64) -> String {
    const LINES: usize = 40;
    let mut text = String::new();
    let read = File::open(log).and_then(|mut file| {
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(())
    });
    if let Err(err) = read {
        return format!("(could not read {}: {err})", log.display());
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LINES)..].join("\n");
    if tail.is_empty() {
        "(empty)".to_string()
    } else {
        tail
    }
}

/// Polls `done` every [`POLL`] until it holds (`true`) or `limit` has passed (`false`).
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(POLL);
    }
}
