//! An HTTP job service: each job runs under its id in a tasks-recorder, so a job id never runs
//! twice at once nor succeeds twice. In memory (the default), jobs are launched through a
//! `#[recorded_task]` handler; given a PostgreSQL database (`--database-url URL` or
//! `DATABASE_URL`), the jobs are kept there with `tasks-recorder-postgres`, and several
//! instances share them.
//!
//! What it shows: launching from HTTP handlers (`202` launched, `409` already running, `200`
//! already done), queries with attempts and failure reasons, listing ids by state, revoke and
//! cancel, Prometheus counters, and a graceful drain (close the recorder, give running jobs a
//! grace period, cancel the rest, give the requests in flight a deadline, then stop) on
//! `POST /shutdown` or Ctrl-C. A second Ctrl-C exits at once (exit code 130), without waiting
//! for the drain to end.
//!
//! Run it (it listens on 127.0.0.1 only; the port is the first argument, else
//! `JOB_SERVER_PORT`, else 3000; `0` picks a free port; it prints the address it bound):
//!
//! ```text
//! cargo run -p tasks-recorder-examples --example job_server            # 127.0.0.1:3000
//! cargo run -p tasks-recorder-examples --example job_server -- 8080
//! JOB_SERVER_PORT=0 cargo run -p tasks-recorder-examples --example job_server
//! ```
//!
//! Two instances sharing their jobs through one database (each in its own terminal; the
//! database must exist, and the recorder's tables are created on the first start):
//!
//! ```text
//! DATABASE_URL=postgres://app:secret@localhost/app cargo run -p tasks-recorder-examples --example job_server -- 3001
//! cargo run -p tasks-recorder-examples --example job_server -- 3002 --database-url postgres://app:secret@localhost/app
//! ```
//!
//! A job launched on one is `working` on both, and a `PUT` of its id on the other gets `409`.
//! If an instance is killed mid-job, the other shows the job `failed` with the failure kind
//! `lost` once the instance's lease (10 s) has run out, and can run it again:
//!
//! ```text
//! curl -X PUT localhost:3001/jobs/report-9 -H 'content-type: application/json' -d '{"duration_ms": 600000}'
//! curl -i -X PUT localhost:3002/jobs/report-9     # 409: running on the other instance
//! # kill -9 the instance on port 3001, wait 10 s, then:
//! curl localhost:3002/jobs/report-9               # {"state":"failed",...,"failure":{"kind":"lost",...}}
//! curl -i -X PUT localhost:3002/jobs/report-9     # 202: it runs again, here
//! ```
//!
//! Then, from another terminal (a body needs `content-type: application/json`: `-d` alone
//! sends a form, which gets `415`):
//!
//! ```text
//! # launch a job that works 10 minutes: 202 Accepted
//! curl -i -X PUT localhost:3000/jobs/report-1 -H 'content-type: application/json' -d '{"duration_ms": 600000}'
//! # the same id again while it runs: 409 Conflict
//! curl -i -X PUT localhost:3000/jobs/report-1
//! # its state, attempts and failure reason
//! curl localhost:3000/jobs/report-1
//! # a job that fails, one that panics
//! curl -X PUT localhost:3000/jobs/flaky -H 'content-type: application/json' -d '{"duration_ms": 100, "fail": true}'
//! curl -X PUT localhost:3000/jobs/boom -H 'content-type: application/json' -d '{"panic": true}'
//! # the failed ids; then how many jobs are in each state
//! curl 'localhost:3000/jobs?state=failed'
//! curl localhost:3000/jobs
//! # a failed job can be launched again; a succeeded one answers 200 and is not run again
//! curl -i -X PUT localhost:3000/jobs/flaky
//! curl -i -X PUT localhost:3000/jobs/flaky
//! # DELETE revokes a succeeded job, cancels a running one, forgets a failed one
//! curl -X DELETE localhost:3000/jobs/flaky
//! curl -X DELETE localhost:3000/jobs/report-1
//! # the counters, in the Prometheus text format
//! curl localhost:3000/metrics
//! # bad input gets a 4xx with a JSON error
//! curl -i 'localhost:3000/jobs?state=sleeping'
//! curl -i -X PUT localhost:3000/jobs/x -H 'content-type: application/json' -d '{"duration_ms": "soon"}'
//! curl -i -X PUT localhost:3000/jobs/x -d '{}'
//! # drain and stop (Ctrl-C does the same)
//! curl -X POST localhost:3000/shutdown
//! ```
#![forbid(unsafe_code)]

use std::process::ExitCode;

use tasks_recorder_examples::job_server::{self, Config, JobServer};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match job_server::args_from(
        std::env::args().skip(1),
        std::env::var("JOB_SERVER_PORT").ok(),
        std::env::var("DATABASE_URL").ok(),
    ) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("job_server: {e}");
            eprintln!("{}", job_server::USAGE);
            return ExitCode::from(2);
        }
    };
    let port = args.port;
    let config = Config {
        database_url: args.database_url,
        ..Config::default()
    };
    let records = match &config.database_url {
        Some(url) => format!(
            "in PostgreSQL at {} (recorder {:?}, lease {:?})",
            job_server::redact_url(url),
            config.recorder_name,
            config.lease
        ),
        None => "in memory".to_owned(),
    };
    // Connects first: an unreachable database is reported before anything listens.
    let server = match JobServer::from_config(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("job_server: cannot keep the jobs {records}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match job_server::bind(port).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("job_server: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let address = match listener.local_addr() {
        Ok(address) => address.to_string(),
        Err(_) => format!("127.0.0.1:{port}"),
    };
    println!("job_server listening on http://{address}, jobs {records}");
    println!("stop it with Ctrl-C or: curl -X POST http://{address}/shutdown");

    // A job that panics is recorded as failed: one line on stderr is enough.
    job_server::quiet_simulated_panics();
    let stop = server.shutdown_token();
    tokio::spawn(async move {
        // The first Ctrl-C drains; a second one exits at once. If Ctrl-C cannot be watched,
        // it kills the process as usual; `POST /shutdown` still drains.
        if job_server::watch_interrupts(tokio::signal::ctrl_c, stop)
            .await
            .is_ok()
        {
            eprintln!("job_server: second Ctrl-C: exiting at once, without finishing the drain");
            std::process::exit(130);
        }
    });

    match server.serve(listener).await {
        Ok(drained) => {
            let c = drained.counters;
            println!(
                "drained: {} job(s) cancelled at the end of the grace period, {} connection(s) \
                 dropped at the drain deadline",
                drained.cancelled, drained.connections_dropped
            );
            if let Some(e) = drained.counters_error {
                eprintln!("job_server: the counters could not be read: {e}");
                return ExitCode::SUCCESS;
            }
            println!(
                "launched {}, succeeded {}, failed {}, panicked {}, cancelled {}, revoked {}, \
                 refused {}, working now {}",
                c.launched_total,
                c.succeeded_total,
                c.failed_total,
                c.panicked_total,
                c.cancelled_total,
                c.revoked_total,
                c.refused_total(),
                c.working_now
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("job_server: {e}");
            ExitCode::FAILURE
        }
    }
}
