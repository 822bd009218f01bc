//! `pgbench -b simple-update` against the report's server: the engine's ceiling for work
//! that commits once per change (each transaction updates one row, reads it, inserts one
//! history row and commits).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

/// What `pgbench` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Pgbench {
    /// Transactions per second (without the initial connection time).
    pub tps: f64,
    /// The command line of the timed run.
    pub command: String,
}

/// `pgbench` on `PATH`, else in `pg_config --bindir`, else in the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn find() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(found) = on_path
        .iter()
        .map(|dir| dir.join("pgbench"))
        .find(|p| p.is_file())
    {
        return Some(found);
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let candidate = dir.join("pgbench");
        if output.status.success() && candidate.is_file() {
            return Some(candidate);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin").join("pgbench")))
        })
        .filter(|(_, path)| path.is_file())
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().next().map(|(_, path)| path)
}

/// Runs `pgbench -i -s 1` then `pgbench -b simple-update -c <clients> -j 2 -T <seconds>` on the
/// server of `url` (its host, port, user, password and database). `Err` says why it did not
/// run or what it printed.
pub fn run(pgbench: &Path, url: &str, clients: u32, seconds: u32) -> Result<Pgbench, String> {
    let config = tokio_postgres::Config::from_str(url).map_err(|e| format!("bad URL: {e}"))?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(dir)) => dir.display().to_string(),
        None => "127.0.0.1".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres").to_string();
    let dbname = config.get_dbname().unwrap_or(&user).to_string();
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let command = |args: &[&str]| {
        let mut cmd = Command::new(pgbench);
        cmd.args(["-h", &host, "-p", &port.to_string(), "-U", &user])
            .args(args)
            .arg(&dbname)
            .stdin(Stdio::null());
        if let Some(password) = &password {
            cmd.env("PGPASSWORD", password);
        }
        cmd
    };
    let init = command(&["-i", "-s", "1", "-q"])
        .output()
        .map_err(|e| format!("{} -i: {e}", pgbench.display()))?;
    if !init.status.success() {
        return Err(format!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr).trim()
        ));
    }
    let (clients, seconds) = (clients.to_string(), seconds.to_string());
    let args = [
        "-b",
        "simple-update",
        "-c",
        &clients,
        "-j",
        "2",
        "-T",
        &seconds,
    ];
    let output = command(&args)
        .output()
        .map_err(|e| format!("{}: {e}", pgbench.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "pgbench failed: {} {}",
            text.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let tps = parse_tps(&text).ok_or_else(|| format!("no tps line in pgbench's output: {text}"))?;
    Ok(Pgbench {
        tps,
        command: format!("pgbench {}", args.join(" ")),
    })
}

/// The TPS of pgbench's summary: the line without connection time (PostgreSQL 14 and later:
/// `tps = 3312.4 (without initial connection time)`; before: `(excluding connections
/// establishing)`), else the first `tps = ` line.
fn parse_tps(text: &str) -> Option<f64> {
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("tps = ")).collect();
    let line = lines
        .iter()
        .find(|l| l.contains("without initial connection") || l.contains("excluding connections"))
        .or(lines.first())?;
    line.trim_start_matches("tps = ")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::parse_tps;

    #[test]
    fn the_tps_line_is_read() {
        let new = "latency average = 2.4 ms\ninitial connection time = 5.1 ms\ntps = 3312.456 (without initial connection time)\n";
        assert_eq!(parse_tps(new), Some(3312.456));
        let old = "tps = 3000.1 (including connections establishing)\ntps = 3100.2 (excluding connections establishing)\n";
        assert_eq!(parse_tps(old), Some(3100.2));
        assert_eq!(parse_tps("nothing"), None);
    }
}
