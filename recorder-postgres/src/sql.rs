//! Every statement the PostgreSQL store runs, in one place.
//!
//! Each statement applies a rule of `tasks_recorder`'s state machine (its `transition`
//! module, which states the rules once for every store) to rows. The leases add the two
//! rules that module states for shared stores: an expired `Working` row is `Failed` (lost),
//! an expired revoking row is `Success`. Every end is fenced: it changes a row only while the
//! row is still that attempt's, owned by this process, under an unexpired lease, all read off
//! the database's clock (`clock_timestamp()`), never the client's.
//!
//! States are stored as small integers: 0 working, 1 success, 2 revoking, 3 failed.

use tasks_recorder::{FailureKind, TaskState};

/// The schema version this crate writes.
pub(crate) const SCHEMA_VERSION: i32 = 4;

/// A lock id for `pg_advisory_xact_lock`, taken while the schema is created or migrated, so
/// that processes starting at once do it one at a time.
pub(crate) const MIGRATION_LOCK: i64 = 0x7461_736b_7372_6563; // "tasksrec"

pub(crate) const WORKING: i16 = 0;
pub(crate) const SUCCESS: i16 = 1;
pub(crate) const REVOKING: i16 = 2;
pub(crate) const FAILED: i16 = 3;

/// The records of every recorder, as version 4 stores them (see [`UPGRADE`]). Idempotent.
/// One index, the primary key: every transition changes only columns outside it, so with
/// room left in each page (`fillfactor`) an update is a heap-only tuple, writing no index
/// entry. The rare scans (listing, an owner's rows) walk a recorder's rows by the key's
/// prefix.
macro_rules! records_table {
    () => {
        "CREATE TABLE IF NOT EXISTS tasks_recorder_records (
    recorder integer NOT NULL,
    id bytea NOT NULL,
    state smallint NOT NULL,
    attempts integer NOT NULL,
    owner bigint,
    lease_until timestamptz,
    claim bigint,
    revokes bigint NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    failure_kind smallint,
    failure_message text,
    failed_at timestamptz,
    watched boolean NOT NULL DEFAULT false,
    PRIMARY KEY (recorder, id)
) WITH (fillfactor = 80);"
    };
}

/// The tables of the schema (version 4; [`UPGRADE`] brings an older one up to it).
/// Idempotent. A recorder is known by its name and, in every record, by its number: a key
/// of 4 bytes rather than its name keeps the rows and the index narrow (a name of 50 bytes
/// in every key cost about a tenth of the throughput of a primary-key read). An owner (a
/// process's identity) is a number from a sequence, unique in the database.
pub(crate) const CREATE: &str = concat!(
    "
CREATE TABLE IF NOT EXISTS tasks_recorder_schema (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS tasks_recorder_recorders (
    name text PRIMARY KEY,
    id_type text NOT NULL
);
ALTER TABLE tasks_recorder_recorders
    ADD COLUMN IF NOT EXISTS number integer GENERATED ALWAYS AS IDENTITY UNIQUE;
CREATE SEQUENCE IF NOT EXISTS tasks_recorder_owners;
",
    records_table!()
);

/// The state a row reads as, leases applied.
macro_rules! effective {
    () => {
        "(CASE WHEN state = 0 AND lease_until < clock_timestamp() THEN 3 \
              WHEN state = 2 AND lease_until < clock_timestamp() THEN 1 \
              ELSE state END)"
    };
}

/// How long a row's lease has to run, in milliseconds by the database's clock.
macro_rules! lease_left {
    () => {
        "(extract(epoch FROM (lease_until - clock_timestamp())) * 1000)::float8"
    };
}

/// Whether a launch starts a new attempt of the row `r`: it is `Failed`, or `Working` under
/// an expired lease (lost). `transition::launch` refuses `Working` and `Success` ids; a
/// missing row (`NotFound`) is inserted.
macro_rules! launchable {
    () => {
        "(r.state = 3 OR (r.state = 0 AND r.lease_until < clock_timestamp()))"
    };
}

/// `column = value` for a row a launch or a mark may take over ([`launchable!`]), the
/// column as it was for any other.
macro_rules! if_launchable {
    ($column:literal, $value:literal) => {
        concat!(
            $column,
            " = CASE WHEN ",
            launchable!(),
            " THEN ",
            $value,
            " ELSE r.",
            $column,
            " END"
        )
    };
}

/// What a claim does to a row that exists already (it starts a new attempt only if the row
/// is [`launchable!`]), and what it returns; shared by [`CLAIM`] and [`CLAIM_ONE`].
macro_rules! claim_on_conflict {
    () => {
        concat!(
            " ON CONFLICT (recorder, id) DO UPDATE SET ",
            if_launchable!("attempts", "r.attempts + 1"),
            ", ",
            if_launchable!("owner", "excluded.owner"),
            ", ",
            if_launchable!("lease_until", "excluded.lease_until"),
            ", ",
            if_launchable!("claim", "excluded.claim"),
            ", ",
            if_launchable!("cancel_requested", "false"),
            ", ",
            if_launchable!("failure_kind", "NULL"),
            ", ",
            if_launchable!("failure_message", "NULL"),
            ", ",
            if_launchable!("failed_at", "NULL"),
            ", ",
            if_launchable!("watched", "false"),
            ", ",
            if_launchable!("state", "0"),
            " RETURNING r.id, r.state, r.attempts, \
             coalesce(r.owner = $3 AND r.claim = $5, false) AS won"
        )
    };
}

/// Claims a batch of ids in one statement: `$1` recorder, `$2` ids, `$3` owner, `$4` lease in
/// milliseconds, `$5` the batch's nonce. Every id of the batch is distinct. Returns, for each
/// id, its state and attempts after the statement, and whether this batch started the
/// attempt (`won`). A refused id keeps its row as it was (the update writes the same values).
pub(crate) const CLAIM: &str = concat!(
    "INSERT INTO tasks_recorder_records AS r (recorder, id, state, attempts, owner, lease_until, claim) \
     SELECT $1, u.id, 0, 1, $3, clock_timestamp() + $4 * interval '1 millisecond', $5 \
     FROM unnest($2::bytea[]) AS u(id)",
    claim_on_conflict!()
);

/// What versions 2 to 4 add to the tables of an older version. Idempotent; run after
/// [`CREATE`], which adds the recorders' numbers.
///
/// - Version 4: the records are keyed by the recorder's number, not its name, and an owner
///   is a number. Records of an older version are copied into the new table with their
///   states, attempts, leases and failures. An owner of the older version cannot write to
///   the new table: its records keep their leases with no owner, so that a `Working` one
///   reads `Failed` (lost) once its lease runs out, and a revoke leaves its id `Success`.
/// - Version 3: `watched`, set by a waiter of another process on a `Working` row (see
///   [`WATCH`]) and cleared by the next claim. An attempt's end notifies the recorder's
///   channel only if its row is watched: an end nobody waits for elsewhere costs no
///   `NOTIFY` (a lock at commit, and a wake-up of every listening connection).
/// - Version 2: the functions of the batched ends and renewals. Each finds its rows one by
///   one through the primary key, in the order of its arrays (the caller sorts them by key,
///   the lock order of every statement that locks many rows), inside one statement and one
///   commit. A join of the arrays with the table would leave the plan to the statistics: on a
///   new table, without any, the planner scanned every row of the recorder for each id, and
///   an end of 2,000 attempts took seconds, past their leases.
pub(crate) const UPGRADE: &str = concat!(
    "
DO $u$ BEGIN
IF EXISTS (SELECT 1 FROM pg_attribute
           WHERE attrelid = 'tasks_recorder_records'::regclass AND attname = 'recorder'
             AND atttypid = 'text'::regtype) THEN
    ALTER TABLE tasks_recorder_records RENAME TO tasks_recorder_records_v3;
    ALTER TABLE tasks_recorder_records_v3
        RENAME CONSTRAINT tasks_recorder_records_pkey TO tasks_recorder_records_v3_pkey;
    ALTER TABLE tasks_recorder_records_v3
        ADD COLUMN IF NOT EXISTS watched boolean NOT NULL DEFAULT false;
    ",
    records_table!(),
    "
    INSERT INTO tasks_recorder_records (recorder, id, state, attempts, owner, lease_until,
        claim, revokes, cancel_requested, failure_kind, failure_message, failed_at, watched)
    SELECT n.number, o.id, o.state, o.attempts, NULL, o.lease_until, o.claim, o.revokes,
        o.cancel_requested, o.failure_kind, o.failure_message, o.failed_at, o.watched
    FROM tasks_recorder_records_v3 o JOIN tasks_recorder_recorders n ON n.name = o.recorder;
    DROP TABLE tasks_recorder_records_v3;
END IF;
END $u$;
DROP FUNCTION IF EXISTS tasks_recorder_finish(text, bytea[], int4[], int2[], int2[], text[], text, text);
DROP FUNCTION IF EXISTS tasks_recorder_renew(text, float8, bytea[], int8[], int2[], text);

CREATE OR REPLACE FUNCTION tasks_recorder_finish(
    p_recorder int4, p_ids bytea[], p_attempts int4[], p_states int2[], p_kinds int2[],
    p_messages text[], p_owner int8, p_channel text)
RETURNS TABLE (done_id bytea, done_attempt int4) LANGUAGE plpgsql AS $f$
DECLARE
    watched boolean;
    notify boolean := false;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
        UPDATE tasks_recorder_records AS r SET
            state = p_states[i], owner = NULL, lease_until = NULL, cancel_requested = false,
            failure_kind = p_kinds[i], failure_message = p_messages[i],
            failed_at = CASE WHEN p_states[i] = 3 THEN clock_timestamp() END
        WHERE r.recorder = p_recorder AND r.id = p_ids[i] AND r.state = 0
          AND r.attempts = p_attempts[i] AND r.owner = p_owner
          AND r.lease_until >= clock_timestamp()
        RETURNING r.watched INTO watched;
        IF FOUND THEN
            notify := notify OR watched;
            done_id := p_ids[i];
            done_attempt := p_attempts[i];
            RETURN NEXT;
        END IF;
    END LOOP;
    IF notify THEN
        PERFORM pg_notify(p_channel, p_owner::text);
    END IF;
END $f$;

CREATE OR REPLACE FUNCTION tasks_recorder_renew(
    p_owner int8, p_lease_ms float8, p_ids bytea[], p_numbers int8[], p_states int2[],
    p_recorder int4)
RETURNS TABLE (renewed int8, cancel_ids bytea[], cancel_attempts int4[])
LANGUAGE plpgsql AS $f$
DECLARE
    asked boolean;
    attempt int4;
BEGIN
    renewed := 0;
    cancel_ids := '{}';
    cancel_attempts := '{}';
    FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
        UPDATE tasks_recorder_records AS r
        SET lease_until = clock_timestamp() + p_lease_ms * interval '1 millisecond'
        WHERE r.recorder = p_recorder AND r.id = p_ids[i] AND r.owner = p_owner
          AND r.state = p_states[i] AND r.lease_until >= clock_timestamp()
          AND ((r.state = 0 AND r.attempts = p_numbers[i])
               OR (r.state = 2 AND r.revokes = p_numbers[i]))
        RETURNING r.cancel_requested AND r.state = 0, r.attempts INTO asked, attempt;
        IF FOUND THEN
            renewed := renewed + 1;
            IF asked THEN
                cancel_ids := cancel_ids || p_ids[i];
                cancel_attempts := cancel_attempts || attempt;
            END IF;
        END IF;
    END LOOP;
    RETURN NEXT;
END $f$;
"
);

/// [`CLAIM_ONE`] for an id with no record, the common case: a plain insert, with the same
/// parameters, returning the new attempt's number (1). An id that has a record is left
/// alone (nothing is written, nothing returned); the caller then runs [`CLAIM_ONE`], which
/// decides by the record's state. Each statement is atomic, so the answer is the state at the moment of
/// the statement that gave it. The insert alone is cheaper: the conflict clause of
/// [`CLAIM_ONE`] is built anew by the server for every execution, whether a conflict occurs
/// or not (about 40 µs of the server's time, more than the insert itself).
pub(crate) const CLAIM_NEW: &str =
    "INSERT INTO tasks_recorder_records (recorder, id, state, attempts, owner, lease_until, claim) \
     VALUES ($1, $2, 0, 1, $3, clock_timestamp() + $4 * interval '1 millisecond', $5) \
     ON CONFLICT (recorder, id) DO NOTHING RETURNING attempts";

/// [`CLAIM`] for a batch of one id (`$2` a single id, the other parameters the same): a
/// lone launch, the common case at low concurrency, plans no array.
pub(crate) const CLAIM_ONE: &str = concat!(
    "INSERT INTO tasks_recorder_records AS r (recorder, id, state, attempts, owner, lease_until, claim) \
     VALUES ($1, $2, 0, 1, $3, clock_timestamp() + $4 * interval '1 millisecond', $5)",
    claim_on_conflict!()
);

/// [`FINISH`] for a batch of one end (`$2` to `$6` single values, `$7` the owner), with the
/// same fencing: a plain single-row update, as cheap as an end can be. It returns a row if
/// it wrote the end, saying whether the row was watched; the caller then notifies the
/// recorder's channel with [`NOTIFY`].
/// That notification follows the commit instead of being part of it: a waiter of another
/// process that misses it (this process died in between) reads the row again when the
/// lease it saw runs out.
pub(crate) const FINISH_ONE: &str = "
UPDATE tasks_recorder_records AS r SET
    state = $4::int2, owner = NULL, lease_until = NULL, cancel_requested = false,
    failure_kind = $5::int2, failure_message = $6::text,
    failed_at = CASE WHEN $4::int2 = 3 THEN clock_timestamp() END
WHERE r.recorder = $1 AND r.id = $2 AND r.state = 0
  AND r.attempts = $3::int4 AND r.owner = $7 AND r.lease_until >= clock_timestamp()
RETURNING r.watched";

/// Notifies channel `$1` with the payload `$2` (this process's owner number).
pub(crate) const NOTIFY: &str = "SELECT pg_notify($1, $2::int8::text)";

/// Records the ends of a batch of attempts: `$1` recorder, `$2` ids (sorted), `$3` attempt
/// numbers, `$4` new states (1 or 3), `$5` failure kinds, `$6` messages, `$7` owner, `$8`
/// the recorder's notification channel. Fenced: a row changes only if it is still that
/// attempt's, ours, and its lease has not run out. Returns the ids and attempts it changed,
/// and notifies the recorder's channel once if any of them was watched (see [`UPGRADE`]).
pub(crate) const FINISH: &str =
    "SELECT done_id, done_attempt FROM tasks_recorder_finish($1, $2, $3, $4, $5, $6, $7, $8)";

/// Renews, in one statement, the leases of the attempts and revokes this process runs:
/// `$1` owner, `$2` lease in milliseconds, `$3` ids (sorted), `$4` their numbers (the
/// attempt's, or the revoke's), `$5` their states (0 working, 2 revoking), `$6` the recorder.
/// Only unexpired leases are renewed (an expired one is lost for good), and only of what runs
/// here: a row this owner no longer runs (its end could not be recorded) is left to expire.
/// Returns how many it renewed, and the ids and attempts whose cancellation another process
/// asked.
pub(crate) const RENEW: &str =
    "SELECT renewed, cancel_ids, cancel_attempts FROM tasks_recorder_renew($1, $2, $3, $4, $5, $6)";

/// The attempts an owner holds under an unexpired lease: `$1` owner, `$2` recorder.
pub(crate) const OWNED: &str = "
SELECT id, attempts FROM tasks_recorder_records
WHERE recorder = $2 AND owner = $1 AND state = 0 AND lease_until >= clock_timestamp()";

/// The attempts of an owner whose cancellation was asked: `$1` owner, `$2` recorder.
pub(crate) const CANCEL_REQUESTED: &str = "
SELECT id, attempts FROM tasks_recorder_records
WHERE recorder = $2 AND owner = $1 AND state = 0 AND cancel_requested";

/// Asks the running attempt of an id to stop, wherever it runs: `$1` recorder, `$2` id.
/// Marks the row (the owner sees the mark at its next renewal at the latest) and notifies
/// the owner's cancel channel. Returns a row if the id is `Working`.
pub(crate) const REQUEST_CANCEL: &str = "
WITH asked AS (
    UPDATE tasks_recorder_records SET cancel_requested = true
    WHERE recorder = $1 AND id = $2 AND state = 0 AND lease_until >= clock_timestamp()
    RETURNING owner
)
SELECT asked.owner FROM asked
LEFT JOIN LATERAL (
    SELECT pg_notify('tasks_recorder_c_' || asked.owner, '') WHERE asked.owner IS NOT NULL
) AS n ON true";

/// This process's identity and channels: a new owner number, the recorder's channel (`$1`
/// its name), and the owner's cancel channel.
pub(crate) const IDENTITY: &str = "
WITH me AS (SELECT nextval('tasks_recorder_owners') AS owner)
SELECT owner, 'tasks_recorder_' || substr(md5($1), 1, 20), 'tasks_recorder_c_' || owner
FROM me";

/// One id's state: `$1` recorder, `$2` id.
pub(crate) const STATE: &str = concat!(
    "SELECT ",
    effective!(),
    "::int2 FROM tasks_recorder_records WHERE recorder = $1 AND id = $2"
);

/// The states of many ids: `$1` recorder, `$2` the ids' keys. An id without a row has no
/// row in the answer.
///
/// One primary-key lookup per id, whatever the table's statistics say. The plainer
/// `WHERE recorder = $1 AND id = ANY($2)` let the planner, whose statistics did not yet know
/// a new recorder's rows, estimate one row for `recorder = $1`, scan every row of the
/// recorder by the key's prefix and filter the ids: 10,000 rows read per query (seen in
/// the benchmark report, 7x slower than one query per id). A lateral lookup with `LIMIT 1`
/// is planned on its own, with both key columns as its index condition.
pub(crate) const STATES: &str = concat!(
    "SELECT k.id, r.state FROM unnest($2::bytea[]) AS k(id) \
     CROSS JOIN LATERAL (SELECT ",
    effective!(),
    "::int2 AS state FROM tasks_recorder_records \
       WHERE recorder = $1 AND id = k.id LIMIT 1) AS r"
);

/// One id's state, how long its lease has to run if it is `Working` (milliseconds, by the
/// database's clock), and whether it is watched: `$1` recorder, `$2` id.
pub(crate) const STATE_AND_LEASE: &str = concat!(
    "SELECT ",
    effective!(),
    "::int2, ",
    lease_left!(),
    ", watched FROM tasks_recorder_records WHERE recorder = $1 AND id = $2"
);

/// Marks the running attempt of an id as watched, so that its end notifies the recorder's
/// channel: `$1` recorder, `$2` id. Returns how long its lease has to run, or no row if the
/// id is no longer `Working` under an unexpired lease, or is watched already. The mark
/// commits before the waiter sleeps, and the end locks the row after it: an end that
/// commits later reads it and notifies.
pub(crate) const WATCH: &str = concat!(
    "UPDATE tasks_recorder_records SET watched = true \
     WHERE recorder = $1 AND id = $2 AND state = 0 AND NOT watched \
       AND lease_until >= clock_timestamp() \
     RETURNING ",
    lease_left!()
);

/// One id's record: `$1` recorder, `$2` id. The failure's age is in milliseconds; a lost
/// attempt failed when its lease ran out.
pub(crate) const INFO: &str = concat!(
    "SELECT ",
    effective!(),
    "::int2, attempts, \
     CASE WHEN state = 0 AND lease_until < clock_timestamp() THEN 5::int2 ELSE failure_kind END, \
     failure_message, \
     (extract(epoch FROM (clock_timestamp() - coalesce(failed_at, lease_until))) * 1000)::float8 \
     FROM tasks_recorder_records WHERE recorder = $1 AND id = $2"
);

/// The ids in a state: `$1` recorder, `$2` the state's codes.
pub(crate) const IDS_IN_STATE: &str = concat!(
    "SELECT id FROM tasks_recorder_records WHERE recorder = $1 AND ",
    effective!(),
    " = ANY($2::int2[])"
);

/// How many ids are in a state: `$1` recorder, `$2` the state's codes.
pub(crate) const COUNT_IN_STATE: &str = concat!(
    "SELECT count(*) FROM tasks_recorder_records WHERE recorder = $1 AND ",
    effective!(),
    " = ANY($2::int2[])"
);

/// How many ids are in each state: `$1` recorder.
pub(crate) const GAUGES: &str = concat!(
    "SELECT count(*) FILTER (WHERE ",
    effective!(),
    " = 0), \
            count(*) FILTER (WHERE ",
    effective!(),
    " IN (1, 2)), \
            count(*) FILTER (WHERE ",
    effective!(),
    " = 3) \
     FROM tasks_recorder_records WHERE recorder = $1"
);

/// Removes an id's record if it is `Failed` (lost included): `$1` recorder, `$2` id.
pub(crate) const REMOVE_FAILED: &str = concat!(
    "DELETE FROM tasks_recorder_records WHERE recorder = $1 AND id = $2 AND ",
    effective!(),
    " = 3"
);

/// Keeps at most `$2` failed records of recorder `$1` (not lost ones: those are a crash's
/// trace), removing the oldest.
pub(crate) const TRIM_FAILED: &str = "
DELETE FROM tasks_recorder_records WHERE (recorder, id) IN (
    SELECT recorder, id FROM tasks_recorder_records
    WHERE recorder = $1 AND state = 3
    ORDER BY failed_at DESC OFFSET $2
)";

/// Begins a revoke: `$1` recorder, `$2` id, `$3` owner, `$4` lease in milliseconds. Only a
/// `Success` id (or one whose revoke's lease ran out) can be revoked. Returns one row: the
/// revoke's number (its fencing token), or `NULL` if it did not begin, and then the stored
/// state the statement saw (`NULL`: no row), which says why, in the same statement: `1` or
/// `2` (revoking, or `Success` taken by a revoke that committed first) is `Revoking`, any
/// other `NotSuccess`. A second statement could read a later state (a revoke that failed
/// meanwhile makes the id `Success` again) and give an answer no moment had.
pub(crate) const BEGIN_REVOKE: &str = "
WITH begun AS (
    UPDATE tasks_recorder_records SET state = 2, owner = $3,
        lease_until = clock_timestamp() + $4 * interval '1 millisecond', revokes = revokes + 1
    WHERE recorder = $1 AND id = $2
      AND (state = 1 OR (state = 2 AND lease_until < clock_timestamp()))
    RETURNING revokes
)
SELECT (SELECT revokes FROM begun),
       (SELECT state FROM tasks_recorder_records WHERE recorder = $1 AND id = $2)";

/// A revoke's future returned `Ok`: the id becomes `NotFound`. `$1` recorder, `$2` id, `$3`
/// owner, `$4` revoke number, `$5` channel. Fenced like an attempt's end.
pub(crate) const REVOKED: &str = "
WITH gone AS (
    DELETE FROM tasks_recorder_records
    WHERE recorder = $1 AND id = $2 AND state = 2 AND owner = $3 AND revokes = $4
      AND lease_until >= clock_timestamp()
    RETURNING id
)
SELECT 1 FROM gone CROSS JOIN (SELECT pg_notify($5, $3::text)) AS n";

/// A revoke failed or was dropped: the id is `Success` again. Same parameters and fencing.
pub(crate) const REVOKE_FAILED: &str = "
WITH back AS (
    UPDATE tasks_recorder_records SET state = 1, owner = NULL, lease_until = NULL
    WHERE recorder = $1 AND id = $2 AND state = 2 AND owner = $3 AND revokes = $4
      AND lease_until >= clock_timestamp()
    RETURNING id
)
SELECT 1 FROM back CROSS JOIN (SELECT pg_notify($5, $3::text)) AS n";

/// The state a stored code reads as.
pub(crate) fn state_of(code: i16) -> TaskState {
    match code {
        WORKING => TaskState::Working,
        SUCCESS | REVOKING => TaskState::Success,
        FAILED => TaskState::Failed,
        _ => TaskState::NotFound,
    }
}

/// The stored code of a state a query asks for (`Success` covers revoking rows too).
pub(crate) fn codes_of(state: TaskState) -> &'static [i16] {
    match state {
        TaskState::Working => &[WORKING],
        TaskState::Success => &[SUCCESS, REVOKING],
        TaskState::Failed => &[FAILED],
        TaskState::NotFound => &[],
    }
}

/// The stored code of a failure kind.
pub(crate) fn kind_code(kind: FailureKind) -> i16 {
    match kind {
        FailureKind::Error => 0,
        FailureKind::Panicked => 1,
        FailureKind::Cancelled => 2,
        FailureKind::ShutDown => 3,
        FailureKind::Dropped => 4,
        FailureKind::Lost => 5,
        FailureKind::TimedOut => 6,
        // A kind added later is stored as a plain error until this crate learns it.
        _ => 0,
    }
}

/// The failure kind of a stored code.
pub(crate) fn kind_of(code: i16) -> FailureKind {
    match code {
        1 => FailureKind::Panicked,
        2 => FailureKind::Cancelled,
        3 => FailureKind::ShutDown,
        4 => FailureKind::Dropped,
        5 => FailureKind::Lost,
        6 => FailureKind::TimedOut,
        _ => FailureKind::Error,
    }
}

/// Marks a batch of ids as succeeded without running anything: `$1` recorder, `$2` ids
/// (distinct, sorted: the lock order), `$3` the recorder's channel, `$4` owner.
/// `transition::mark_succeeded`'s rule: a missing row (`NotFound`) is inserted `Success` with
/// no attempt; a `Failed` row, or a `Working` one whose lease ran out (lost, which reads
/// `Failed`), becomes `Success` with its attempts kept; any other row is left as it was (the
/// update writes the same values, and locks it, so the state returned is the one that
/// refused the mark). A marked row is told apart by its `claim`: minus the transaction's id,
/// unique in the database and never a launch's nonce (those are positive). Returns, for each
/// id, whether this statement marked it, its attempts, and its state (leases applied), and
/// notifies the recorder's channel if it marked any.
pub(crate) const MARK: &str = concat!(
    "WITH m AS ( \
     INSERT INTO tasks_recorder_records AS r (recorder, id, state, attempts, claim) \
     SELECT $1, u.id, 1, 0, -txid_current() FROM unnest($2::bytea[]) AS u(id) \
     ON CONFLICT (recorder, id) DO UPDATE SET ",
    if_launchable!("claim", "excluded.claim"),
    ", ",
    if_launchable!("owner", "NULL"),
    ", ",
    if_launchable!("lease_until", "NULL"),
    ", ",
    if_launchable!("cancel_requested", "false"),
    ", ",
    if_launchable!("failure_kind", "NULL"),
    ", ",
    if_launchable!("failure_message", "NULL"),
    ", ",
    if_launchable!("failed_at", "NULL"),
    ", ",
    if_launchable!("state", "1"),
    " RETURNING r.id, r.state, r.attempts, r.lease_until, \
       coalesce(r.claim = -txid_current(), false) AS marked \
     ) \
     SELECT m.id, m.marked, m.attempts, ",
    effective!(),
    "::int2 FROM m \
     LEFT JOIN LATERAL (SELECT pg_notify($3, $4::int8::text) WHERE m.marked) AS n ON true"
);
