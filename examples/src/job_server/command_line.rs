//! The command line of the `job_server` example: its port and database URL, from the
//! arguments and the environment.

use super::redact_url;

/// The port used when neither the first argument nor `JOB_SERVER_PORT` gives one.
pub const DEFAULT_PORT: u16 = 3000;

/// The port to listen on: the first argument if there is one, else `JOB_SERVER_PORT` if set,
/// else [`DEFAULT_PORT`]; `0` means any free port.
pub fn port_from(arg: Option<String>, env: Option<String>) -> Result<u16, String> {
    match arg.or(env) {
        None => Ok(DEFAULT_PORT),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("not a port number (0-65535): {text:?}")),
    }
}

/// The command line of the `job_server` example: `job_server [PORT] [--database-url URL]`.
pub const USAGE: &str = "usage: job_server [PORT] [--database-url URL]\n  \
    PORT: else JOB_SERVER_PORT, else 3000; 0 = any free port\n  \
    --database-url URL: else DATABASE_URL; keep the jobs in this PostgreSQL database, shared \
    with every instance using it (without one: in memory)";

/// What the command line and the environment ask of the `job_server` example.
#[derive(Clone, PartialEq, Eq)]
pub struct Args {
    /// The port to listen on (see [`port_from`]).
    pub port: u16,
    /// The PostgreSQL database to keep the jobs in, if any.
    pub database_url: Option<String>,
}

impl std::fmt::Debug for Args {
    /// Shows the database URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("port", &self.port)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .finish()
    }
}

/// Reads the arguments (without the program's name) `[PORT] [--database-url URL]` (or
/// `--database-url=URL`, before or after the port), with the values of `JOB_SERVER_PORT`
/// (`port_env`) and `DATABASE_URL` (`database_env`) for what they do not give. An empty
/// database URL is none: the jobs are kept in memory.
///
/// # Errors
/// An unknown option, a missing URL after `--database-url`, a second port, or a port that is
/// not a number from 0 to 65535.
pub fn args_from(
    args: impl IntoIterator<Item = String>,
    port_env: Option<String>,
    database_env: Option<String>,
) -> Result<Args, String> {
    const FLAG: &str = "--database-url";
    let mut args = args.into_iter();
    let mut port = None;
    let mut database_url = None;
    while let Some(arg) = args.next() {
        if arg == FLAG {
            let url = args
                .next()
                .ok_or_else(|| format!("{FLAG} needs a URL, e.g. {FLAG} postgres://app@db/app"))?;
            database_url = Some(url);
        } else if let Some(url) = arg.strip_prefix("--database-url=") {
            database_url = Some(url.to_owned());
        } else if arg.starts_with('-') && arg.len() > 1 {
            return Err(format!("unknown option {arg:?}"));
        } else if port.is_some() {
            return Err(format!(
                "unexpected argument {arg:?}: the port is already given"
            ));
        } else {
            port = Some(arg);
        }
    }
    Ok(Args {
        port: port_from(port, port_env)?,
        database_url: database_url
            .or(database_env)
            .filter(|url| !url.trim().is_empty()),
    })
}
