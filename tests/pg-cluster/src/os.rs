//! Everything that talks to the operating system: finding programs, running commands,
//! switching to the `postgres` user, signalling by PID and reading `/proc`.
//!
//! No `unsafe`: signals are sent by the `kill` program, ids come from the `id` program,
//! ownership is changed by the `chown` program.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::ClusterError;

/// The OS user the server runs as when the tests run as root.
pub(crate) const POSTGRES_USER: &str = "postgres";

/// Whether `path` is a regular file (after following links) with an execute bit set.
pub(crate) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The directories of `PATH`, in order.
pub(crate) fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default()
}

/// The first executable `name` on `PATH`, then in the usual system directories (a root shell's
/// `PATH` does not always hold the `sbin` ones).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let system = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from);
    path_dirs()
        .into_iter()
        .chain(system)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// `cmd` as a readable command line, for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `cmd` to completion with its output captured; an error unless it exits with status 0.
pub(crate) fn run(cmd: &mut Command) -> Result<Output, ClusterError> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Spawn {
            command: describe(cmd),
            source,
        })?;
    if output.status.success() {
        Ok(output)
    } else {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        if text.trim().is_empty() {
            text = String::from_utf8_lossy(&output.stdout).into_owned();
        }
        Err(ClusterError::Failed {
            command: describe(cmd),
            status: output.status,
            stderr: text,
        })
    }
}

/// Runs `program args...` and parses its standard output as one unsigned number.
fn run_number(program: &str, args: &[&str]) -> Result<u32, ClusterError> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let output = run(&mut cmd)?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().map_err(|_| ClusterError::Failed {
        command: describe(&cmd),
        status: output.status,
        stderr: format!("expected a number on standard output, got {text:?}"),
    })
}

/// The effective user id of this process, from `id -u`.
pub(crate) fn effective_uid() -> Result<u32, ClusterError> {
    run_number("id", &["-u"])
}

/// How commands of the cluster (`initdb`, `postgres`) are run.
#[derive(Debug, Clone)]
pub(crate) enum RunAs {
    /// As the current (non-root) user.
    Current,
    /// As the `postgres` user via `setpriv`, which execs the program: the spawned child *is*
    /// the program.
    Setpriv {
        /// The `setpriv` program.
        setpriv: PathBuf,
        /// The user's id.
        uid: u32,
        /// The user's primary group id.
        gid: u32,
    },
    /// As the `postgres` user via `runuser`, which forks the program and waits for it: the
    /// spawned child is `runuser`, the program is its child.
    Runuser {
        /// The `runuser` program.
        runuser: PathBuf,
        /// The user's id.
        uid: u32,
        /// The user's primary group id.
        gid: u32,
    },
}

impl RunAs {
    /// Decides how to run the cluster's programs: as the current user unless it is root, else
    /// as [`POSTGRES_USER`] through `setpriv` (preferred: no intermediate process) or
    /// `runuser`.
    pub(crate) fn detect() -> Result<Self, ClusterError> {
        if effective_uid()? != 0 {
            return Ok(Self::Current);
        }
        let missing_user = |err: ClusterError| ClusterError::NoUnprivilegedUser {
            reason: format!("the `{POSTGRES_USER}` OS user could not be looked up ({err})"),
        };
        let uid = run_number("id", &["-u", POSTGRES_USER]).map_err(missing_user)?;
        let gid = run_number("id", &["-g", POSTGRES_USER]).map_err(missing_user)?;
        if uid == 0 {
            return Err(ClusterError::NoUnprivilegedUser {
                reason: format!("the `{POSTGRES_USER}` OS user has uid 0"),
            });
        }
        if let Some(setpriv) = find_program("setpriv") {
            Ok(Self::Setpriv { setpriv, uid, gid })
        } else if let Some(runuser) = find_program("runuser") {
            Ok(Self::Runuser { runuser, uid, gid })
        } else {
            Err(ClusterError::NoUnprivilegedUser {
                reason: "neither `setpriv` nor `runuser` was found".to_string(),
            })
        }
    }

    /// A command that runs `program` as this user.
    pub(crate) fn command(&self, program: &Path) -> Command {
        match self {
            Self::Current => Command::new(program),
            Self::Setpriv {
                setpriv, uid, gid, ..
            } => {
                let mut cmd = Command::new(setpriv);
                cmd.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--init-groups")
                    .arg("--")
                    .arg(program);
                cmd
            }
            Self::Runuser { runuser, .. } => {
                let mut cmd = Command::new(runuser);
                cmd.args(["-u", POSTGRES_USER, "--"]).arg(program);
                cmd
            }
        }
    }

    /// Gives `path` (not recursively) to this user, so that it can create files in it.
    pub(crate) fn take_ownership(&self, path: &Path) -> Result<(), ClusterError> {
        match self {
            Self::Current => Ok(()),
            Self::Setpriv { uid, gid, .. } | Self::Runuser { uid, gid, .. } => {
                run(Command::new("chown").arg(format!("{uid}:{gid}")).arg(path)).map(drop)
            }
        }
    }
}

/// The directory holding `initdb` and `postgres`, and both programs.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// `initdb`.
    pub(crate) initdb: PathBuf,
    /// `postgres`.
    pub(crate) postgres: PathBuf,
}

impl Binaries {
    /// Both programs in `dir`, if it holds both.
    fn in_dir(dir: &Path) -> Option<Self> {
        let initdb = dir.join("initdb");
        let postgres = dir.join("postgres");
        (is_executable(&initdb) && is_executable(&postgres)).then_some(Self { initdb, postgres })
    }

    /// Finds the server binaries: the first directory on `PATH` holding both, else
    /// `pg_config --bindir`, else the newest `/usr/lib/postgresql/<version>/bin` (where Debian
    /// installs them, off `PATH`).
    pub(crate) fn find() -> Result<Self, ClusterError> {
        let mut searched = vec!["PATH".to_string()];
        if let Some(found) = path_dirs().iter().find_map(|dir| Self::in_dir(dir)) {
            return Ok(found);
        }
        searched.push("`pg_config --bindir`".to_string());
        if let Ok(output) = run(Command::new("pg_config").arg("--bindir")) {
            let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            if let Some(found) = Self::in_dir(&dir) {
                return Ok(found);
            }
            searched.push(dir.display().to_string());
        }
        let debian = Path::new("/usr/lib/postgresql");
        searched.push(format!("{}/*/bin", debian.display()));
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(debian)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
        versions
            .iter()
            .find_map(|(_, dir)| Self::in_dir(dir))
            .ok_or(ClusterError::BinariesNotFound { searched })
    }
}

/// Sends `signal` (a name such as `KILL`) to `pid` with the `kill` program.
pub(crate) fn signal(pid: u32, signal: &str) -> Result<(), ClusterError> {
    if pid == 0 || pid > i32::MAX as u32 {
        return Err(ClusterError::InvalidPid { pid });
    }
    let pid = pid.to_string();
    let flag = format!("-{signal}");
    match run(Command::new("kill").args([flag.as_str(), pid.as_str()])) {
        // No `kill` program: the shell's builtin does the same.
        Err(ClusterError::Spawn { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            run(Command::new("sh")
                .args(["-c", "kill \"$1\" \"$2\"", "sh"])
                .args([flag.as_str(), pid.as_str()]))
            .map(drop)
        }
        other => other.map(drop),
    }
}

/// The fields of `/proc/<pid>/stat` after the command name: state, ppid, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Whether `pid` is a live process: it exists and is neither a zombie nor dead. A zombie has
/// exited and released everything (memory, shared memory attachments, sockets); it only waits
/// to be reaped by its parent, which for orphans is PID 1, and not every container's PID 1
/// reaps.
pub(crate) fn is_alive(pid: u32) -> bool {
    stat_fields(pid)
        .and_then(|fields| fields.first().cloned())
        .is_some_and(|state| state != "Z" && state != "X" && state != "x")
}

/// The parent PID of `pid`, if it exists.
pub(crate) fn parent_pid(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The live processes whose working directory is `dir`. Every process of a PostgreSQL server
/// (the postmaster and all its children) runs in its data directory, whoever its parent is now
/// (after a postmaster's death its children are re-parented), so this finds exactly the
/// cluster's processes. Processes whose working directory cannot be read (other users' when
/// not root) are not the cluster's and are skipped.
pub(crate) fn processes_in(dir: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.as_os_str() == dir)
        })
        .filter(|pid| is_alive(*pid))
        .collect()
}

/// The live children of `pid`.
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| parent_pid(*child) == Some(pid) && is_alive(*child))
        .collect()
}
