//! [`Error`]: what failed in the database, for which operation and which id.

use std::fmt;
use std::time::Duration;

/// A database error of a [`PgRecorder`](crate::PgRecorder) operation. It says which
/// operation failed, for which id (when there is one), and why. An operation that returns
/// an error did not commit anything it reports: a launch that fails was not started and its
/// future was not polled.
#[derive(Debug)]
pub struct Error {
    operation: &'static str,
    id: Option<String>,
    kind: ErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// The database aborted the statement to resolve a conflict (a deadlock, or a
    /// serialization failure): nothing was committed, and running it again is safe.
    conflict: bool,
}

/// Why a [`PgRecorder`](crate::PgRecorder) operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database URL could not be parsed.
    InvalidUrl,
    /// The database could not be reached, or the connection was lost.
    Connection,
    /// The database did not answer within the recorder's operation timeout.
    Timeout(Duration),
    /// The database's schema was written by a newer version of this crate.
    SchemaTooNew {
        /// The schema version found.
        found: i32,
        /// The newest schema version this crate knows.
        supported: i32,
    },
    /// The recorder's name is used in this database with another id type.
    IdTypeMismatch {
        /// The id type the database has for this recorder.
        stored: String,
        /// The id type this recorder was built with.
        requested: &'static str,
    },
    /// A stored id could not be decoded as the recorder's id type.
    BadId,
    /// The lease of a revoke ran out before its end was recorded: the undo future ran, but
    /// the id stays `Success` (another revoke may run).
    LeaseLost,
    /// Any other error the database reported.
    Database,
}

impl Error {
    pub(crate) fn new(operation: &'static str, id: Option<String>, kind: ErrorKind) -> Self {
        Error {
            operation,
            id,
            kind,
            source: None,
            conflict: false,
        }
    }

    /// An error with a known kind and its source.
    pub(crate) fn with_kind<E>(
        operation: &'static str,
        id: Option<String>,
        kind: ErrorKind,
        source: E,
    ) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error {
            operation,
            id,
            kind,
            source: Some(Box::new(source)),
            conflict: false,
        }
    }

    /// An error of the driver or the pool, classified.
    pub(crate) fn from_source<E>(operation: &'static str, id: Option<String>, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let kind = classify(&source);
        let conflict = sql_state(&source).is_some_and(|code| code == "40P01" || code == "40001");
        Error {
            operation,
            id,
            kind,
            source: Some(Box::new(source)),
            conflict,
        }
    }

    /// The same error, for the id `id` (a statement for many ids failed for each of them).
    pub(crate) fn for_id(&self, id: Option<String>) -> Self {
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = self
            .source
            .as_ref()
            .map(|source| Box::new(Message(source.to_string())) as _);
        Error {
            operation: self.operation,
            id,
            kind: self.kind.clone(),
            source,
            conflict: self.conflict,
        }
    }

    /// Whether the database aborted the statement to resolve a conflict with another
    /// transaction (a deadlock or a serialization failure): nothing was committed.
    pub(crate) fn is_conflict(&self) -> bool {
        self.conflict
    }

    /// The operation that failed, e.g. `"launch"`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The id the operation was for, as text (its bytes in hex if they are not UTF-8).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Why it failed.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Whether retrying later may succeed: the connection was lost or timed out.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Connection | ErrorKind::Timeout(_))
    }
}

/// The text of an error, kept when the error itself cannot be shared.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

/// The SQLSTATE of a database error, if `error` is or wraps one.
fn sql_state(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(db) = e
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::as_db_error)
        {
            return Some(db.code().code().to_owned());
        }
        cause = e.source();
    }
    None
}

/// A lost or refused connection, or a server shutting down, is a connection error.
fn classify(error: &(dyn std::error::Error + 'static)) -> ErrorKind {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
            if pg.is_closed() {
                return ErrorKind::Connection;
            }
            if let Some(db) = pg.as_db_error() {
                // Class 08: connection exception; 57P01..57P03: the server is shutting down
                // or starting up.
                let code = db.code().code();
                if code.starts_with("08") || code.starts_with("57P") {
                    return ErrorKind::Connection;
                }
                return ErrorKind::Database;
            }
        }
        if e.downcast_ref::<std::io::Error>().is_some() {
            return ErrorKind::Connection;
        }
        cause = e.source();
    }
    // The pool reports a failed connection attempt as a backend error wrapping an I/O error,
    // or as a timeout; anything else from it is about reaching the server.
    ErrorKind::Connection
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidUrl => f.write_str("the database URL is invalid"),
            ErrorKind::Connection => f.write_str("the database connection failed or was lost"),
            ErrorKind::Timeout(after) => write!(f, "the database did not answer within {after:?}"),
            ErrorKind::SchemaTooNew { found, supported } => write!(
                f,
                "the database schema is version {found}, newer than this crate's {supported}: upgrade tasks-recorder-postgres"
            ),
            ErrorKind::IdTypeMismatch { stored, requested } => write!(
                f,
                "this recorder name stores ids of type {stored}, not {requested}"
            ),
            ErrorKind::BadId => f.write_str("a stored id is not of the recorder's id type"),
            ErrorKind::LeaseLost => f.write_str(
                "the revoke's lease ran out before it ended: the id stays Success",
            ),
            ErrorKind::Database => f.write_str("the database reported an error"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.operation)?;
        if let Some(id) = &self.id {
            write!(f, " for id {id:?}")?;
        }
        write!(f, ": {}", self.kind)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// An id's key as text for an error message: the UTF-8 text if it has no control
/// characters, else the bytes in hex (a `u64` id's 8 big-endian bytes are mostly control
/// characters).
pub(crate) fn describe_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_owned(),
        _ => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}
