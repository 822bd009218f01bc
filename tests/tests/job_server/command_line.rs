//! The example's `main` around the server: interrupts and the command line.

use std::io;

use tasks_recorder_examples::job_server::{self, Config};
use tokio_util::sync::CancellationToken;

use crate::harness::PATIENCE;

/// Issue 15, defect 5: a second Ctrl-C did nothing while the drain went on. The example runs
/// `watch_interrupts` on Ctrl-C and exits at once when it returns: the first interrupt only
/// starts the drain, the second ends the watch.
#[tokio::test]
async fn a_second_interrupt_ends_the_watch() {
    let interrupts = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let next_interrupt = {
        let interrupts = interrupts.clone();
        move || {
            let interrupts = interrupts.clone();
            async move {
                let permit = interrupts.acquire().await.map_err(io::Error::other)?;
                permit.forget();
                Ok(())
            }
        }
    };
    let stop = CancellationToken::new();
    let watch = tokio::spawn(job_server::watch_interrupts(next_interrupt, stop.clone()));

    interrupts.add_permits(1);
    tokio::time::timeout(PATIENCE, stop.cancelled())
        .await
        .expect("the first interrupt starts the drain");
    assert!(!watch.is_finished(), "the first interrupt ended the watch");
    interrupts.add_permits(1);
    tokio::time::timeout(PATIENCE, watch)
        .await
        .expect("the second interrupt ends the watch")
        .expect("the watch did not panic")
        .expect("interrupts could be watched");

    // Interrupts that cannot be watched: an error, and no drain.
    let stop = CancellationToken::new();
    let unwatchable = || async { Err::<(), _>(io::Error::other("no signal handling")) };
    let watched = job_server::watch_interrupts(unwatchable, stop.clone()).await;
    assert!(watched.is_err());
    assert!(!stop.is_cancelled());
}

#[test]
fn the_command_line_gives_a_port_and_a_database_url() {
    let args = |list: &[&str], port: Option<&str>, database: Option<&str>| {
        job_server::args_from(
            list.iter().map(|arg| (*arg).to_owned()),
            port.map(str::to_owned),
            database.map(str::to_owned),
        )
    };
    let url = "postgres://app:secret@db:5432/app";
    let memory = |port| job_server::Args {
        port,
        database_url: None,
    };
    let database = |port| job_server::Args {
        port,
        database_url: Some(url.to_owned()),
    };
    assert_eq!(args(&[], None, None), Ok(memory(job_server::DEFAULT_PORT)));
    assert_eq!(args(&["3001"], Some("4000"), None), Ok(memory(3001)));
    assert_eq!(args(&[], Some("4000"), None), Ok(memory(4000)));
    assert_eq!(args(&["3001"], None, Some(url)), Ok(database(3001)));
    assert_eq!(
        args(&["3001", "--database-url", url], None, None),
        Ok(database(3001))
    );
    assert_eq!(
        args(
            &["--database-url", url, "3001"],
            None,
            Some("postgres://other/db")
        ),
        Ok(database(3001))
    );
    assert_eq!(
        args(&[&format!("--database-url={url}")], Some("0"), None),
        Ok(database(0))
    );
    // An empty DATABASE_URL is none.
    assert_eq!(args(&["3001"], None, Some("")), Ok(memory(3001)));
    for bad in [
        &["--database-url"][..],
        &["--verbose"],
        &["3001", "3002"],
        &["port"],
        &["70000"],
    ] {
        assert!(args(bad, None, None).is_err(), "{bad:?} accepted");
    }
    // The password never shows.
    let shown = format!("{:?}", args(&["--database-url", url], None, None));
    assert!(!shown.contains("secret"), "{shown}");
    assert_eq!(
        job_server::redact_url(url),
        "postgres://app:***@db:5432/app"
    );
    assert_eq!(
        job_server::redact_url("postgres://app@db/app"),
        "postgres://app@db/app"
    );
    assert_eq!(
        job_server::redact_url("host=db user=app password=secret"),
        "host=db user=app password=***"
    );
    let config = Config {
        database_url: Some(url.to_owned()),
        ..Config::default()
    };
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("secret") && shown.contains("app:***@db"),
        "{shown}"
    );
}
