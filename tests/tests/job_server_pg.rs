//! End to end, in PostgreSQL: instances of the `job_server` example's service share their jobs
//! through one database (a throwaway cluster from `tasks-recorder-pg-cluster`, or the server
//! named by `DATABASE_URL`), and are driven over real HTTP with reqwest.
//!
//! - Two instances in this process, under one recorder name: a job launched on one is seen and
//!   cancelled from the other; concurrent `PUT`s of the same ids on both launch each id once;
//!   both then read the same state of every id, and drain.
//! - One instance runs as a separate OS process (this test binary again, running only
//!   [`instance_process`]) and is killed with SIGKILL in the middle of a job: the instance in
//!   this process then reads the job `failed` (`lost`) once the short lease has run out, and
//!   runs it again.
//! - The database crashes under an instance: every route that needs it answers `503` with a
//!   JSON error; once the database is back, the instance works again (skipped when
//!   `DATABASE_URL` names the server: it cannot be crashed).
//!
//! No sleep synchronizes anything: ends are awaited by polling `GET /jobs/{id}` in a bounded
//! loop whose timeout only detects a failure. Each test uses its own recorder name, so that
//! runs sharing a database (`DATABASE_URL`) do not see each other's jobs.
#![forbid(unsafe_code)]

mod support;

use std::io::{self, BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::json;
use support::job_client::JobClient;
use tasks_recorder_examples::job_server::{self, Config, Drained, JobServer};
use tasks_recorder_pg_cluster::{kill_process, PgCluster};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long anything may take before the test calls it a failure.
const PATIENCE: Duration = Duration::from_secs(30);

/// The lease of the instances of the test that kills one: a killed instance's job reads
/// `lost` this long after its last renewal.
const SHORT_LEASE: Duration = Duration::from_millis(1500);

/// The lease of the instances of the racing test: long enough that no stall of a loaded
/// machine (or of the database) makes an instance lose a job it runs, which another instance
/// would then launch again, as it may after a lease is lost.
const LONG_LEASE: Duration = Duration::from_secs(10);

/// The tests start clusters and instances that would compete for the machine's cores: they
/// run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A job far longer than any test: it ends only by cancellation (or with its instance).
const FOREVER_MS: u64 = 600_000;

/// The variable that makes [`instance_process`] run an instance: the database URL.
const INSTANCE_URL: &str = "JOB_SERVER_PG_TEST_INSTANCE_URL";
/// The recorder name of the instance [`instance_process`] runs.
const INSTANCE_NAME: &str = "JOB_SERVER_PG_TEST_INSTANCE_NAME";
/// What [`instance_process`] prints, followed by its port, once it listens.
const LISTENING: &str = "job_server_pg instance listening on port ";

/// A recorder name of its own for a test run.
fn unique_name(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("jobs-{test}-{}-{nanos}", std::process::id())
}

/// The config of every instance: the database, the recorder name and the lease.
fn config(url: &str, name: &str, lease: Duration) -> Config {
    Config {
        database_url: Some(url.to_owned()),
        recorder_name: name.to_owned(),
        lease,
        grace: PATIENCE,
        ..Config::default()
    }
}

/// Starts a cluster (or uses `DATABASE_URL`) and runs `test` with its URL on a runtime that
/// is dropped before the cluster is stopped, also when the test panics.
fn with_cluster<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let cluster = PgCluster::from_env_or_start().expect("a PostgreSQL cluster");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(test(cluster.url().to_owned()));
    drop(runtime);
    drop(cluster);
}

/// An instance running in this process.
struct Instance {
    client: JobClient,
    stop: CancellationToken,
    server: JoinHandle<io::Result<Drained>>,
}

impl Instance {
    /// Starts an instance on a free loopback port, its records in the database at `url`
    /// under `name`.
    async fn start(url: &str, name: &str, lease: Duration) -> Instance {
        let server = JobServer::from_config(config(url, name, lease))
            .await
            .expect("the instance connects to the database");
        assert!(server.pg_jobs().is_some() && server.jobs().is_none());
        let listener = job_server::bind(0).await.expect("bind a loopback port");
        let port = listener.local_addr().expect("bound address").port();
        let stop = server.shutdown_token();
        let server = tokio::spawn(server.serve(listener));
        Instance {
            client: JobClient::new(port, PATIENCE),
            stop,
            server,
        }
    }

    /// `POST /shutdown`, then waits for the instance to stop.
    async fn shut_down(self) -> Drained {
        let (status, body) = self.client.post("/shutdown").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "draining");
        assert!(self.stop.is_cancelled());
        let drained = tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("the instance stops after a drain")
            .expect("the server task did not panic")
            .expect("the server did not fail");
        assert_eq!(drained.counters_error, None);
        assert!(self.client.nobody_listens().await);
        drained
    }
}

/// Runs one instance, when [`INSTANCE_URL`] and [`INSTANCE_NAME`] say so, for the test that
/// kills it: it prints [`LISTENING`] and its port, and serves until it is killed (or until its
/// standard input closes: the test that started it is gone). Without them, it does nothing.
#[test]
fn instance_process() {
    let (Ok(url), Ok(name)) = (std::env::var(INSTANCE_URL), std::env::var(INSTANCE_NAME)) else {
        return;
    };
    std::thread::spawn(|| {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        eprintln!("job_server_pg instance: its test is gone; exiting");
        std::process::exit(3);
    });
    job_server::quiet_simulated_panics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let server = JobServer::from_config(config(&url, &name, SHORT_LEASE))
            .await
            .expect("the instance connects to the database");
        let listener = job_server::bind(0).await.expect("bind a loopback port");
        let port = listener.local_addr().expect("bound address").port();
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{LISTENING}{port}").expect("print the port");
        stdout.flush().expect("print the port");
        drop(stdout);
        server.serve(listener).await.expect("the instance serves");
    });
}

/// An instance running in a child process: [`instance_process`] in this test binary.
struct ChildInstance {
    client: JobClient,
    child: Child,
}

impl ChildInstance {
    /// Starts the process and waits until it listens.
    fn start(url: &str, name: &str) -> ChildInstance {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "instance_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INSTANCE_URL, url)
            .env(INSTANCE_NAME, name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the instance's process");
        let stdout = child.stdout.take().expect("the child's stdout");
        let (port_tx, port_rx) = mpsc::channel();
        // Reads the child's output to its end, so that the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest's `test instance_process ... ` may come first on the line.
                let port = line
                    .split_once(LISTENING)
                    .map(|(_, port)| port.trim().parse());
                match port {
                    Some(Ok(port)) => {
                        if let Some(tx) = port_tx.take() {
                            let _ = tx.send(port);
                        }
                    }
                    _ if line.trim().is_empty() => {}
                    _ => eprintln!("[instance] {line}"),
                }
            }
        });
        let port = match port_rx.recv_timeout(PATIENCE) {
            Ok(port) => port,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the instance's process did not print its port ({e})");
            }
        };
        ChildInstance {
            client: JobClient::new(port, PATIENCE),
            child,
        }
    }

    /// Kills the process with SIGKILL (no drain, no last words) and reaps it.
    fn kill(mut self) {
        kill_process(self.child.id()).expect("SIGKILL the instance");
        let status = self.child.wait().expect("reap the instance");
        assert!(!status.success(), "killed, not exited: {status}");
    }
}

impl Drop for ChildInstance {
    /// If the test fails before the kill: the process must not outlive it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn two_instances_share_their_jobs_and_launch_each_id_once() {
    with_cluster(|url| async move {
        let name = unique_name("race");
        let a = Instance::start(&url, &name, LONG_LEASE).await;
        let b = Instance::start(&url, &name, LONG_LEASE).await;
        let (ca, cb) = (a.client.clone(), b.client.clone());

        // A job launched on A is seen from B, refused there, and cancelled from there.
        let (status, view) = ca.put("shared", json!({"duration_ms": FOREVER_MS})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{view}");
        let (status, view) = cb.get("/jobs/shared").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (&view["state"], &view["attempts"]),
            (&json!("working"), &json!(1))
        );
        let (status, body) = cb.put("shared", json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"].is_string(), "{body}");
        let (status, body) = cb.delete("shared").await;
        assert!(
            status == StatusCode::OK || status == StatusCode::ACCEPTED,
            "{status} {body}"
        );
        assert_eq!(body["action"], "cancelled");
        for client in [&ca, &cb] {
            let view = client.settled("shared").await;
            assert_eq!(view["state"], "failed", "{view}");
            assert_eq!(view["failure"]["kind"], "cancelled", "{view}");
        }

        // Racing PUTs of the same ids on both instances: exactly one launch per id.
        const IDS: usize = 50;
        const PUTS_PER_INSTANCE: usize = 4;
        let mut race = tokio::task::JoinSet::new();
        for round in 0..PUTS_PER_INSTANCE {
            for id in 0..IDS {
                for (instance, client) in [("a", &ca), ("b", &cb)] {
                    let client = client.clone();
                    // Half the ids run a while, so that later racers meet them Working
                    // (409); the others end at once, so later racers may meet them Success
                    // (200).
                    let duration_ms = if id % 2 == 0 { 0 } else { 300 };
                    race.spawn(async move {
                        let answer = client
                            .put(&format!("race-{id}"), json!({"duration_ms": duration_ms}))
                            .await;
                        (id, instance, round, answer)
                    });
                }
            }
        }
        let mut answers: Vec<Vec<String>> = vec![Vec::new(); IDS];
        let mut accepted = [0usize; IDS];
        while let Some(joined) = race.join_next().await {
            let (id, instance, round, (status, body)) = joined.expect("a racer did not panic");
            answers[id].push(format!("{instance}#{round}: {status} {body}"));
            match status {
                StatusCode::ACCEPTED => accepted[id] += 1,
                StatusCode::CONFLICT => assert!(body["error"].is_string(), "{body}"),
                StatusCode::OK => assert_eq!(body["state"], "success", "{body}"),
                // Racing claims of the same ids must never fail (a deadlock between two
                // claim statements once made them 503).
                other => panic!("race-{id}, {instance} round {round}: {other}: {body}"),
            }
        }
        for (id, count) in accepted.iter().enumerate() {
            assert!(
                *count <= 1,
                "race-{id} launched {count} times: {:#?}",
                answers[id]
            );
        }

        // Once settled, both read the same record of every id: one attempt, a success; or,
        // if every launch of an id failed on a database error, no record.
        let launched: usize = accepted.iter().sum();
        for (id, count) in accepted.iter().enumerate() {
            let key = format!("race-{id}");
            let from_a = ca.settled(&key).await;
            let (_, from_b) = cb.get(&format!("/jobs/{key}")).await;
            assert_eq!(from_a, from_b);
            if *count == 1 {
                assert_eq!(from_a["state"], "success", "{from_a}");
                assert_eq!(from_a["attempts"], 1, "{from_a}");
            } else {
                assert_eq!(from_a["state"], "not_found", "{from_a}: {:#?}", answers[id]);
            }
        }
        for client in [&ca, &cb] {
            let (status, counts) = client.get("/jobs").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                counts,
                json!({"failed": 1, "success": launched, "working": 0})
            );
            let (_, failed) = client.get("/jobs?state=failed").await;
            assert_eq!(failed["ids"], json!(["shared"]));
        }

        // The launches counted by both add up to one per id (and `shared`); the gauges come
        // from the database, so both see every instance's jobs.
        let recorder = format!("recorder=\"{name}\"");
        let launched_a = ca.metric("tasks_recorder_launched_total", &recorder).await;
        let launched_b = cb.metric("tasks_recorder_launched_total", &recorder).await;
        assert_eq!(launched_a + launched_b, launched as u64 + 1);
        let succeeded = format!("{recorder},outcome=\"succeeded\"");
        let succeeded_a = ca.metric("tasks_recorder_finished_total", &succeeded).await;
        let succeeded_b = cb.metric("tasks_recorder_finished_total", &succeeded).await;
        assert_eq!(succeeded_a + succeeded_b, launched as u64);
        for client in [&ca, &cb] {
            let success = format!("{recorder},state=\"success\"");
            assert_eq!(
                client.metric("tasks_recorder_tasks", &success).await,
                launched as u64
            );
        }

        // Both drain with nothing left to cancel; the records stay for the next instance.
        let drained_a = a.shut_down().await;
        let drained_b = b.shut_down().await;
        assert_eq!((drained_a.cancelled, drained_b.cancelled), (0, 0));
        assert_eq!(drained_b.counters.success_now, launched as u64);
        assert_eq!(drained_b.counters.working_now, 0);
        let done = accepted
            .iter()
            .position(|count| *count == 1)
            .expect("some id was launched");
        let c = Instance::start(&url, &name, LONG_LEASE).await;
        let (status, view) = c.client.put(&format!("race-{done}"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["attempts"], 1);
        let drained_c = c.shut_down().await;
        assert_eq!(drained_c.counters.launched_total, 0);
    });
}

#[test]
fn a_killed_instance_loses_its_job_to_the_other() {
    with_cluster(|url| async move {
        let name = unique_name("kill");
        let survivor = Instance::start(&url, &name, SHORT_LEASE).await;
        let ca = survivor.client.clone();
        let victim = tokio::task::spawn_blocking({
            let (url, name) = (url.clone(), name.clone());
            move || ChildInstance::start(&url, &name)
        })
        .await
        .expect("the instance's process started");
        let cb = victim.client.clone();

        // The other process runs a job that ends at once, and one that runs until it dies.
        let (status, view) = cb.put("done", json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{view}");
        assert_eq!(cb.settled("done").await["state"], "success");
        let (status, view) = cb.put("long", json!({"duration_ms": FOREVER_MS})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{view}");
        let (status, view) = ca.get("/jobs/long").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["state"], "working", "{view}");
        let (status, body) = ca.put("long", json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");

        // SIGKILL in the middle of the job: no drain, no end recorded.
        tokio::task::spawn_blocking(move || victim.kill())
            .await
            .expect("the instance was killed");

        // Once its lease runs out, the job reads failed, lost, on the survivor.
        let view = ca.settled("long").await;
        assert_eq!(view["state"], "failed", "{view}");
        assert_eq!(view["attempts"], 1, "{view}");
        assert_eq!(view["failure"]["kind"], "lost", "{view}");
        let (_, failed) = ca.get("/jobs?state=failed").await;
        assert_eq!(failed["ids"], json!(["long"]));

        // The survivor runs it again; what the dead instance finished stays done.
        let (status, view) = ca.put("long", json!({"duration_ms": 0})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{view}");
        let view = ca.settled("long").await;
        assert_eq!(view["state"], "success", "{view}");
        assert_eq!(view["attempts"], 2, "{view}");
        let (status, view) = ca.put("done", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["attempts"], 1, "{view}");
        let (_, counts) = ca.get("/jobs").await;
        assert_eq!(counts, json!({"failed": 0, "success": 2, "working": 0}));

        let drained = survivor.shut_down().await;
        assert_eq!(drained.cancelled, 0);
        assert_eq!(drained.counters.launched_total, 1);
    });
}

#[test]
fn database_errors_get_a_json_503_and_the_instance_recovers() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let mut cluster = PgCluster::from_env_or_start().expect("a PostgreSQL cluster");
    if cluster.is_external() {
        eprintln!("skipped: DATABASE_URL names a server this test cannot crash");
        return;
    }
    let url = cluster.url().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let name = unique_name("outage");
        let instance = Instance::start(&url, &name, LONG_LEASE).await;
        let client = instance.client.clone();
        let (status, view) = client.put("done", json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{view}");
        assert_eq!(client.settled("done").await["state"], "success");

        // The database crashes: every route that reads or writes it answers 503 with a JSON
        // error, and the server goes on.
        cluster.kill_server().expect("crash the database");
        let answers = [
            client.get("/jobs/done").await,
            client.put("new", json!({})).await,
            client.get("/jobs").await,
            client.get("/jobs?state=success").await,
            client.delete("done").await,
            client.get("/metrics").await,
        ];
        for (status, body) in answers {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            let error = body["error"].as_str().unwrap_or_default();
            assert!(error.starts_with("the database failed"), "{body}");
        }

        // Back after crash recovery: the instance reconnects, and what was committed stays.
        cluster.restart().expect("restart the database");
        let back = async {
            loop {
                let (status, view) = client.get("/jobs/done").await;
                if status == StatusCode::OK {
                    return view;
                }
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{view}");
                tokio::task::yield_now().await;
            }
        };
        let view = tokio::time::timeout(PATIENCE, back)
            .await
            .expect("the instance reaches the database again");
        assert_eq!(view["state"], "success", "{view}");
        let (status, view) = client.put("new", json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{view}");
        assert_eq!(client.settled("new").await["state"], "success");

        let drained = instance.shut_down().await;
        assert_eq!(drained.cancelled, 0);
    });
    drop(runtime);
}
