//! A counting TCP proxy in front of the PostgreSQL server: it forwards every byte both ways
//! unchanged and reads the frontend protocol on the way, so that the report can say which
//! statements a client ran (counted at the wire, whatever the server's configuration) and how
//! long the server took to answer each.
//!
//! What is counted: each `Execute` message (extended protocol: one execution of a prepared
//! statement, named after the statement its portal was bound to) and each simple `Query`
//! message (named after its text); each `Parse` is counted apart as a `prepare`. A statement's
//! time is from forwarding its `Execute` to the first bytes of the server's answer on that
//! connection: the whole answer for a statement returning one short row (the server sends it
//! at `Sync`), the time to the first 8 KB for a larger one.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy saw of one statement.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// How many times it ran (or, for a `prepare`, was prepared).
    pub count: u64,
    /// The sum of its timed answers.
    pub time: Duration,
    /// How many answers were timed.
    pub timed: u64,
}

impl Tally {
    /// The mean time of its timed answers.
    pub fn mean(&self) -> Option<Duration> {
        (self.timed > 0).then(|| self.time / self.timed as u32)
    }
}

/// The start of the label of a statement's preparation.
pub const PREPARE: &str = "prepare: ";

type Counts = Arc<Mutex<BTreeMap<String, Tally>>>;

/// A running proxy; dropping it stops accepting (connections already open keep working
/// until their client closes them).
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    counts: Counts,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1 in front of the server of `url`, on the
    /// current runtime. `None` if the URL does not name a TCP host (a Unix socket, or the
    /// `key=value` form).
    pub async fn start(url: &str) -> io::Result<Option<(Proxy, String)>> {
        let Ok(config) = tokio_postgres::Config::from_str(url) else {
            return Ok(None);
        };
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => return Ok(None),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let Some(proxied) = url_via(url, addr) else {
            return Ok(None);
        };
        let counts: Counts = Arc::default();
        let accept = tokio::spawn(accept_loop(listener, (host, port), Arc::clone(&counts)));
        Ok(Some((
            Proxy {
                addr,
                counts,
                accept,
            },
            proxied,
        )))
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What was counted since the last call (or the start), by statement; resets the counts.
    pub fn take(&self) -> BTreeMap<String, Tally> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// `url` with its host and port replaced by `addr` (URL form only).
fn url_via(url: &str, addr: SocketAddr) -> Option<String> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    Some(format!(
        "{}{}{addr}{}",
        &url[..scheme_end],
        &authority[..host_start],
        &rest[authority_end..]
    ))
}

async fn accept_loop(listener: TcpListener, upstream: (String, u16), counts: Counts) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let upstream = upstream.clone();
        let counts = Arc::clone(&counts);
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect((upstream.0.as_str(), upstream.1)).await {
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let sent: Arc<Mutex<Option<(Instant, String)>>> = Arc::default();
                tokio::join!(
                    frontend(
                        client_read,
                        server_write,
                        Arc::clone(&counts),
                        Arc::clone(&sent)
                    ),
                    backend(server_read, client_write, counts, sent),
                );
            }
        });
    }
}

/// Forwards the client's bytes to the server, counting its statements.
async fn frontend(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    counts: Counts,
    sent: Arc<Mutex<Option<(Instant, String)>>>,
) {
    let mut parser = Frontend::default();
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Parsed before forwarding, so that an answer cannot arrive before its statement's
        // time starts.
        let executed = parser.feed(&buf[..n]);
        if !executed.is_empty() {
            let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
            for (label, _) in &executed {
                counts.entry(label.clone()).or_default().count += 1;
            }
            let timed = executed.into_iter().rev().find(|(_, timed)| *timed);
            if let Some((label, _)) = timed {
                *sent.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now(), label));
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Forwards the server's bytes to the client, timing the statement in flight.
async fn backend(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    counts: Counts,
    sent: Arc<Mutex<Option<(Instant, String)>>>,
) {
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let answered = sent.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((at, label)) = answered {
            let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
            let tally = counts.entry(label).or_default();
            tally.time += at.elapsed();
            tally.timed += 1;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// The frontend protocol of one connection, read incrementally.
#[derive(Debug, Default)]
struct Frontend {
    /// Past the startup phase (whose messages have no type byte).
    started: bool,
    /// Stopped reading: a message made no sense.
    lost: bool,
    /// Bytes of an incomplete message.
    pending: Vec<u8>,
    /// The label of each prepared statement, by name.
    statements: HashMap<Vec<u8>, String>,
    /// The label of the statement each portal is bound to.
    portals: HashMap<Vec<u8>, String>,
}

/// The SSL and GSSAPI encryption requests: startup-phase messages after which another
/// startup message follows.
const ENCRYPTION_REQUESTS: [u32; 2] = [80_877_103, 80_877_104];

impl Frontend {
    /// Reads `bytes`; returns the statements executed in them (label, whether its answer is
    /// timed), in order.
    fn feed(&mut self, bytes: &[u8]) -> Vec<(String, bool)> {
        let mut executed = Vec::new();
        if self.lost {
            return executed;
        }
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            let rest = &self.pending[at..];
            if !self.started {
                if rest.len() < 8 {
                    break;
                }
                let len = be_u32(&rest[..4]) as usize;
                if len < 8 {
                    self.lost = true;
                    break;
                }
                if rest.len() < len {
                    break;
                }
                if !ENCRYPTION_REQUESTS.contains(&be_u32(&rest[4..8])) {
                    self.started = true;
                }
                at += len;
                continue;
            }
            if rest.len() < 5 {
                break;
            }
            let len = be_u32(&rest[1..5]) as usize;
            if len < 4 {
                self.lost = true;
                break;
            }
            if rest.len() < 1 + len {
                break;
            }
            let body = &rest[5..1 + len];
            match rest[0] {
                b'P' => {
                    let (name, after) = cstr(body);
                    let (query, _) = cstr(after);
                    let label = label(&String::from_utf8_lossy(query));
                    executed.push((format!("{PREPARE}{label}"), false));
                    self.statements.insert(name.to_vec(), label);
                }
                b'B' => {
                    let (portal, after) = cstr(body);
                    let (statement, _) = cstr(after);
                    let label = self
                        .statements
                        .get(statement)
                        .cloned()
                        .unwrap_or_else(|| "(unknown statement)".to_string());
                    self.portals.insert(portal.to_vec(), label);
                }
                b'E' => {
                    let (portal, _) = cstr(body);
                    let label = self
                        .portals
                        .get(portal)
                        .cloned()
                        .unwrap_or_else(|| "(unknown portal)".to_string());
                    executed.push((label, true));
                }
                b'Q' => {
                    let (query, _) = cstr(body);
                    executed.push((label(&String::from_utf8_lossy(query)), true));
                }
                _ => {}
            }
            at += 1 + len;
        }
        self.pending.drain(..at);
        executed
    }
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A NUL-terminated string at the start of `bytes`, and what follows it.
fn cstr(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => (&bytes[..end], &bytes[end + 1..]),
        None => (bytes, &[]),
    }
}

/// A short name for a statement: the recorder's statements by their role (see
/// `recorder-postgres/src/sql.rs`), anything else by its first words.
pub fn label(sql: &str) -> String {
    const KNOWN: [(&str, &str); 15] = [
        ("DO NOTHING RETURNING attempts", "recorder CLAIM_NEW"),
        ("VALUES ($1, $2, 0, 1,", "recorder CLAIM_ONE"),
        ("INSERT INTO tasks_recorder_records", "recorder CLAIM (batch)"),
        ("RETURNING r.watched", "recorder FINISH_ONE"),
        ("SELECT pg_notify($1, $2", "recorder NOTIFY"),
        ("FROM tasks_recorder_finish(", "recorder FINISH (batch)"),
        ("FROM tasks_recorder_renew(", "recorder RENEW"),
        (
            "(lease_until - clock_timestamp())) * 1000)::float8 FROM tasks_recorder_records",
            "recorder STATE_AND_LEASE (wait)",
        ),
        ("failure_message, (extract", "recorder INFO"),
        ("CROSS JOIN LATERAL (SELECT", "recorder STATES (batched query)"),
        (
            "END)::int2 FROM tasks_recorder_records WHERE recorder = $1 AND id = $2",
            "recorder STATE (query)",
        ),
        (
            "SELECT id, attempts FROM tasks_recorder_records WHERE owner = $1 AND state = 0 AND lease_until",
            "recorder OWNED",
        ),
        ("WHERE owner = $1 AND state = 0 AND cancel_requested", "recorder CANCEL_REQUESTED"),
        ("WITH asked AS", "recorder REQUEST_CANCEL"),
        ("LISTEN \"tasks_recorder_", "recorder LISTEN"),
    ];
    let collapsed = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    for (needle, name) in KNOWN {
        if collapsed.contains(needle) {
            return name.to_string();
        }
    }
    let mut short: String = collapsed.chars().take(48).collect();
    if short.len() < collapsed.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a parser that loses its place in a message split across reads, or that
    /// counts a statement under the wrong name.
    #[test]
    fn frontend_messages_are_counted_across_reads() {
        fn message(kind: u8, body: &[u8]) -> Vec<u8> {
            let mut m = vec![kind];
            m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
            m.extend_from_slice(body);
            m
        }
        let mut stream = Vec::new();
        // A startup message: length, protocol 3.0, "user\0postgres\0\0".
        let params = b"user\0postgres\0\0";
        stream.extend_from_slice(&((8 + params.len()) as u32).to_be_bytes());
        stream.extend_from_slice(&196_608_u32.to_be_bytes());
        stream.extend_from_slice(params);
        stream.extend(message(
            b'P',
            b"s0\0SELECT renewed FROM tasks_recorder_renew($1)\0\0\0",
        ));
        stream.extend(message(b'B', b"\0s0\0\0\0\0\0\0\0"));
        stream.extend(message(b'E', b"\0\0\0\0\0"));
        stream.extend(message(b'S', b""));
        stream.extend(message(b'Q', b"SELECT 1\0"));
        let mut parser = Frontend::default();
        let mut seen = Vec::new();
        for chunk in stream.chunks(3) {
            seen.extend(parser.feed(chunk));
        }
        let labels: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            ["prepare: recorder RENEW", "recorder RENEW", "SELECT 1"]
        );
        assert!(!parser.lost);
    }

    #[test]
    fn the_url_points_at_the_proxy() {
        let addr: SocketAddr = "127.0.0.1:7000".parse().expect("an address");
        assert_eq!(
            url_via("postgres://postgres@127.0.0.1:5432/postgres", addr).as_deref(),
            Some("postgres://postgres@127.0.0.1:7000/postgres")
        );
        assert_eq!(
            url_via("postgresql://u:p@db?sslmode=disable", addr).as_deref(),
            Some("postgresql://u:p@127.0.0.1:7000?sslmode=disable")
        );
    }
}
