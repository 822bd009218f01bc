//! The background tasks of a recorder besides the batched writers: the lease renewer, and the
//! listener that hears about changes and cancellations from other processes.

use foldhash::HashSet;
use std::sync::{PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_util::stream::StreamExt;
use tasks_recorder::store::Stop;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use crate::batch::lose_all;
use crate::id::PgId;
use crate::shared::Shared;
use crate::sql;

/// Renews every lease of this process together, a third of a lease apart: one statement per
/// interval whatever the number of attempts (two when some attempt was lost or a cancel was
/// asked). Stops the local attempts whose lease is lost, and those another process asked to
/// cancel. If renewals keep failing until a lease could run out, stops every local attempt:
/// another process may run those ids now.
pub(crate) async fn renewer<T: PgId>(shared: Weak<Shared<T>>, stop: CancellationToken) {
    let interval = match shared.upgrade() {
        Some(shared) => shared.settings.lease / 3,
        None => return,
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        renew(&shared).await;
    }
}

/// One renewal.
async fn renew<T: PgId>(shared: &Shared<T>) {
    const OPERATION: &str = "renew leases";
    let sent = Instant::now();
    let lease = shared.lease_ms();
    // In key order: the lock order of every statement that locks many rows.
    let mut renewing: Vec<(Vec<u8>, i64, i16)> = shared
        .local()
        .iter()
        .map(|(key, local)| (key.clone(), i64::from(local.attempt), sql::WORKING))
        .collect();
    renewing.extend(
        shared
            .revoking
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(key, token)| (key.clone(), *token, sql::REVOKING)),
    );
    renewing.sort_unstable();
    let (mut keys, mut numbers, mut states) = (Vec::new(), Vec::new(), Vec::new());
    for (key, number, state) in renewing {
        keys.push(key);
        numbers.push(number);
        states.push(state);
    }
    if keys.is_empty() {
        *shared
            .renewed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = sent;
        return;
    }
    let answer = shared
        .query_on(
            &shared.renew_pool,
            OPERATION,
            None,
            sql::RENEW,
            &[
                &shared.owner,
                &lease,
                &keys,
                &numbers,
                &states,
                &shared.recorder,
            ],
        )
        .await
        .map(|rows| rows.into_iter().next());
    let row = match answer {
        Ok(Some(row)) => row,
        Ok(None) | Err(_) => {
            // Not renewed. Once a lease may have run out, the attempts are lost: stop them
            // before another process relaunches their ids (a margin of a sixth of a lease
            // for the clocks' drift and the statement's time).
            let renewed = *shared
                .renewed_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let margin = shared.settings.lease / 6;
            if sent + margin >= renewed + shared.settings.lease {
                lose_all(shared);
            }
            return;
        }
    };
    *shared
        .renewed_at
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = sent;
    let renewed: i64 = Shared::<T>::get(OPERATION, None, &row, 0).unwrap_or(0);
    let cancel_keys: Vec<Vec<u8>> = Shared::<T>::get(OPERATION, None, &row, 1).unwrap_or_default();
    let cancel_attempts: Vec<i32> = Shared::<T>::get(OPERATION, None, &row, 2).unwrap_or_default();
    cancel(
        shared,
        cancel_keys.into_iter().zip(cancel_attempts).collect(),
    );
    let local = keys.len() as i64;
    if renewed < local {
        // Some local attempt was not renewed: find which, and stop those claimed before
        // this renewal (their lease ran out, or a newer attempt owns the id).
        if let Ok(rows) = shared
            .query(
                OPERATION,
                None,
                sql::OWNED,
                &[&shared.owner, &shared.recorder],
            )
            .await
        {
            let owned: HashSet<(Vec<u8>, i32)> = rows
                .iter()
                .filter_map(|row| Some((row.try_get(0).ok()?, row.try_get(1).ok()?)))
                .collect();
            // Only the attempts this renewal was sent for: one claimed meanwhile may not be
            // committed in the snapshot of `OWNED` yet.
            let sent_for: HashSet<(&[u8], i64)> = keys
                .iter()
                .zip(&numbers)
                .zip(&states)
                .filter(|(_, state)| **state == sql::WORKING)
                .map(|((key, number), _)| (key.as_slice(), *number))
                .collect();
            shared.stop_local(Stop::Lost, |key, local| {
                sent_for.contains(&(key, i64::from(local.attempt)))
                    && !owned.contains(&(key.to_vec(), local.attempt as i32))
            });
        }
    }
}

/// Stops the local attempts among `asked` (key, attempt) that another process cancelled.
fn cancel<T: PgId>(shared: &Shared<T>, asked: Vec<(Vec<u8>, i32)>) {
    if asked.is_empty() {
        return;
    }
    let asked: HashSet<(Vec<u8>, i32)> = asked.into_iter().collect();
    shared.stop_local(Stop::Cancel, |key, local| {
        asked.contains(&(key.to_vec(), local.attempt as i32))
    });
}

/// Looks for cancellations of this owner's attempts asked by other processes.
async fn check_cancels<T: PgId>(shared: &Shared<T>) {
    if shared.local().is_empty() {
        return;
    }
    if let Ok(rows) = shared
        .query(
            "cancel",
            None,
            sql::CANCEL_REQUESTED,
            &[&shared.owner, &shared.recorder],
        )
        .await
    {
        let asked = rows
            .iter()
            .filter_map(|row| Some((row.try_get(0).ok()?, row.try_get(1).ok()?)))
            .collect();
        cancel(shared, asked);
    }
}

/// Listens on the recorder's channel (changes of records: waiters read again) and on this
/// owner's cancel channel. Reconnects after a lost connection, and then wakes every waiter
/// and looks for cancellations, since notifications sent meanwhile are lost.
pub(crate) async fn listener<T: PgId>(shared: Weak<Shared<T>>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let url = strong.settings.url.clone();
        let channels = (strong.channel.clone(), strong.cancel_channel.clone());
        drop(strong);
        let connected = tokio::select! {
            _ = stop.cancelled() => return,
            connected = tokio_postgres::connect(&url, NoTls) => connected,
        };
        let Ok((client, mut connection)) = connected else {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
            continue;
        };
        let (notes, mut heard) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(note) = message {
                    let heard = (note.channel().to_owned(), note.payload().to_owned());
                    if notes.send(heard).is_err() {
                        return;
                    }
                }
            }
        });
        let listen = format!("LISTEN \"{}\"; LISTEN \"{}\"", channels.0, channels.1);
        if client.batch_execute(&listen).await.is_ok() {
            backoff = Duration::from_millis(50);
            // Whatever was notified while not listening is lost: read again.
            if let Some(shared) = shared.upgrade() {
                shared.changed();
                check_cancels(&shared).await;
            }
            loop {
                let channel = tokio::select! {
                    _ = stop.cancelled() => { driver.abort(); return; }
                    channel = heard.recv() => channel,
                };
                let Some((channel, from)) = channel else {
                    break;
                };
                let Some(shared) = shared.upgrade() else {
                    driver.abort();
                    return;
                };
                // This process's own writes have woken its waiters already.
                if channel == shared.channel && from.parse() != Ok(shared.owner) {
                    shared.changed();
                } else if channel == shared.cancel_channel {
                    check_cancels(&shared).await;
                }
            }
        }
        driver.abort();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
