//! The cluster against a real client: queries, a crash and restart that keeps committed rows,
//! cleanup on drop and on panic, frozen and killed backends, two clusters side by side.
#![forbid(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tasks_recorder_pg_cluster::{
    continue_process, is_process_alive, kill_process, stop_process, ClusterError, PgCluster,
    TEMP_DIR_PREFIX,
};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn start() -> PgCluster {
    let started = Instant::now();
    let cluster = PgCluster::start().unwrap_or_else(|err| panic!("starting a cluster: {err}"));
    eprintln!(
        "started {} (pid {:?}) in {:?}",
        cluster.url(),
        cluster.server_pid(),
        started.elapsed()
    );
    cluster
}

/// Connects and drives the connection on the runtime (it progresses inside `block_on`).
async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn select_one(client: &Client) -> Result<i32, tokio_postgres::Error> {
    Ok(client.query_one("SELECT 1", &[]).await?.get(0))
}

/// The cluster's own directory (the data directory's parent).
fn cluster_dir(cluster: &PgCluster) -> PathBuf {
    let data = cluster
        .data_dir()
        .expect("a started cluster has a data directory");
    data.parent()
        .expect("the data directory is in the cluster's")
        .to_path_buf()
}

/// The PIDs of live processes whose working directory is in `dir` (every PostgreSQL process
/// runs in its data directory), read from `/proc`.
fn processes_under(dir: &Path) -> Vec<u32> {
    let prefix = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| cwd.to_string_lossy().starts_with(&prefix))
        })
        .filter(|pid| is_process_alive(*pid))
        .collect()
}

#[test]
fn committed_rows_survive_a_kill_of_the_server_and_a_restart() {
    let mut cluster = start();
    let url = cluster.url().to_string();
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");
    assert!(!cluster.is_external());
    let rt = runtime();

    let client = rt.block_on(async {
        let client = connect(&url).await.expect("connecting");
        assert_eq!(select_one(&client).await.expect("SELECT 1"), 1);
        client
            .batch_execute(
                "CREATE TABLE jobs (id text PRIMARY KEY, state text NOT NULL);
                 INSERT INTO jobs VALUES ('job-1', 'success');",
            )
            .await
            .expect("committing a row");
        client
    });

    let postmaster = cluster.server_pid().expect("a running server has a PID");
    let killed = Instant::now();
    cluster.kill_server().expect("killing the server");
    eprintln!("kill_server took {:?}", killed.elapsed());
    assert!(!is_process_alive(postmaster));
    assert!(
        !Path::new(&format!("/proc/{postmaster}")).exists(),
        "the postmaster is reaped"
    );
    assert_eq!(cluster.server_pid(), None);
    assert!(processes_under(cluster.data_dir().unwrap()).is_empty());

    // The old connection and new ones fail with errors, not panics.
    let old = rt.block_on(select_one(&client));
    assert!(old.is_err(), "a query on a killed server: {old:?}");
    assert!(rt.block_on(connect(&url)).is_err());
    // Killing a killed server is fine.
    cluster.kill_server().expect("killing a killed server");

    let restarted = Instant::now();
    cluster.restart().expect("restarting");
    eprintln!("restart took {:?}", restarted.elapsed());
    assert_eq!(cluster.url(), url, "same URL after a restart");
    let new_postmaster = cluster.server_pid().expect("a PID after the restart");
    assert_ne!(new_postmaster, postmaster);

    rt.block_on(async {
        let client = connect(&url).await.expect("reconnecting");
        let state: String = client
            .query_one("SELECT state FROM jobs WHERE id = $1", &[&"job-1"])
            .await
            .expect("the committed row")
            .get(0);
        assert_eq!(state, "success");
    });
}

#[test]
fn drop_stops_every_process_and_removes_the_directory() {
    let cluster = start();
    let dir = cluster_dir(&cluster);
    assert!(dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with(TEMP_DIR_PREFIX));
    assert_eq!(
        dir.parent(),
        Some(std::env::temp_dir().canonicalize().unwrap().as_path())
    );
    let log = cluster.log_file().unwrap().to_path_buf();
    assert!(log.starts_with(&dir));
    let postmaster = cluster.server_pid().unwrap();
    let rt = runtime();
    // A connected client must not hold the shutdown up.
    let (client, backend) = rt.block_on(async {
        let client = connect(cluster.url()).await.expect("connecting");
        let backend: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        (client, u32::try_from(backend).unwrap())
    });
    assert!(is_process_alive(backend));
    assert!(!processes_under(&dir).is_empty());

    let dropped = Instant::now();
    drop(cluster);
    eprintln!("drop took {:?}", dropped.elapsed());
    assert!(!dir.exists(), "{} is removed", dir.display());
    assert!(
        !Path::new(&format!("/proc/{postmaster}")).exists(),
        "the postmaster {postmaster} is gone and reaped"
    );
    assert!(!is_process_alive(backend), "the backend {backend} is gone");
    assert_eq!(processes_under(&dir), Vec::<u32>::new());
    assert!(rt.block_on(select_one(&client)).is_err());
}

#[test]
fn a_panicking_test_still_stops_the_server_and_removes_the_directory() {
    let mut seen = None;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let cluster = start();
        seen = Some((cluster_dir(&cluster), cluster.server_pid().unwrap()));
        panic!("a failing test holding a cluster");
    }));
    assert!(outcome.is_err());
    let (dir, postmaster) = seen.expect("the cluster started");
    assert!(!dir.exists(), "{} is removed", dir.display());
    assert!(!Path::new(&format!("/proc/{postmaster}")).exists());
    assert_eq!(processes_under(&dir), Vec::<u32>::new());
}

#[test]
fn a_stopped_backend_answers_after_continue_and_a_killed_one_fails_its_client() {
    let cluster = start();
    let rt = runtime();
    let client = rt.block_on(connect(cluster.url())).expect("connecting");
    let backend: i32 = rt
        .block_on(client.query_one("SELECT pg_backend_pid()", &[]))
        .unwrap()
        .get(0);
    let backend = u32::try_from(backend).unwrap();

    stop_process(backend).expect("SIGSTOP");
    let frozen = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(300), select_one(&client)).await
    });
    assert!(frozen.is_err(), "a stopped backend answers nothing");
    continue_process(backend).expect("SIGCONT");
    assert_eq!(rt.block_on(select_one(&client)).expect("answers again"), 1);

    let postmaster = cluster.server_pid().unwrap();
    kill_process(backend).expect("SIGKILL");
    assert!(rt.block_on(select_one(&client)).is_err());
    // The postmaster survives a backend's crash, resets the others and accepts again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let reconnected = loop {
        match rt.block_on(connect(cluster.url())) {
            Ok(client) => break client,
            Err(err) if Instant::now() < deadline => {
                let reason = err.as_db_error().map(|db| db.message().to_string());
                eprintln!(
                    "while the server recovers: {}",
                    reason.unwrap_or(err.to_string())
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(err) => panic!("no recovery after a backend's crash: {err}"),
        }
    };
    assert_eq!(rt.block_on(select_one(&reconnected)).unwrap(), 1);
    assert_eq!(cluster.server_pid(), Some(postmaster));
}

#[test]
fn restart_refuses_a_running_server_and_follows_a_kill_by_pid() {
    let mut cluster = start();
    assert!(matches!(
        cluster.restart(),
        Err(ClusterError::State {
            operation: "restart",
            ..
        })
    ));
    let postmaster = cluster.server_pid().unwrap();
    kill_process(postmaster).expect("SIGKILL of the postmaster by PID");
    cluster.restart().expect("restarting after a kill by PID");
    assert_ne!(cluster.server_pid(), Some(postmaster));
    let rt = runtime();
    let client = rt.block_on(connect(cluster.url())).expect("connecting");
    assert_eq!(rt.block_on(select_one(&client)).unwrap(), 1);
}

#[test]
fn two_clusters_run_side_by_side() {
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(start);
        let b = scope.spawn(start);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());
    assert_ne!(a.server_pid(), b.server_pid());
    let rt = runtime();
    for cluster in [&a, &b] {
        let client = rt.block_on(connect(cluster.url())).expect("connecting");
        assert_eq!(rt.block_on(select_one(&client)).unwrap(), 1);
    }
}

#[test]
fn an_external_server_is_used_as_is_and_cannot_be_killed() {
    let url = "postgres://someone@db.invalid:5433/jobs";
    let mut cluster = PgCluster::from_url(url);
    assert!(cluster.is_external());
    assert_eq!(cluster.url(), url);
    assert_eq!(cluster.server_pid(), None);
    assert_eq!(cluster.port(), None);
    assert_eq!(cluster.data_dir(), None);
    assert_eq!(cluster.log_file(), None);
    let err = cluster.kill_server().unwrap_err();
    assert!(matches!(err, ClusterError::External { .. }));
    assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    assert!(matches!(
        cluster.restart(),
        Err(ClusterError::External { .. })
    ));
}

#[test]
fn signals_refuse_process_groups() {
    for pid in [0, u32::MAX, i32::MAX as u32 + 1] {
        assert!(matches!(
            kill_process(pid),
            Err(ClusterError::InvalidPid { .. })
        ));
    }
    // No such process: an error from `kill`, not a panic.
    let err = stop_process(i32::MAX as u32).unwrap_err();
    assert!(matches!(err, ClusterError::Failed { .. }), "{err}");
}

/// The environment variable that makes [`child_holding_a_cluster`] run.
const CHILD_ENV: &str = "TASKS_RECORDER_PG_CLUSTER_TEST_CHILD";

/// Not a test on its own: the process that
/// [`a_process_killed_hard_leaves_no_server_and_no_directory`] starts and SIGKILLs. It starts a
/// cluster, prints its directory and postmaster PID, and waits (at most a minute) to be killed.
#[test]
#[ignore = "the child process of a_process_killed_hard_leaves_no_server_and_no_directory"]
fn child_holding_a_cluster() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let cluster = start();
    println!(
        "CLUSTER {} {}",
        cluster.server_pid().unwrap(),
        cluster_dir(&cluster).display()
    );
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_process_killed_hard_leaves_no_server_and_no_directory() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holding_a_cluster",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the child test process");
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let line = stdout
        .lines()
        .map(|line| line.expect("reading the child's output"))
        .find(|line| line.starts_with("CLUSTER "))
        .expect("the child reports its cluster");
    let mut fields = line["CLUSTER ".len()..].splitn(2, ' ');
    let postmaster: u32 = fields.next().unwrap().parse().unwrap();
    let dir = PathBuf::from(fields.next().unwrap());
    assert!(dir.exists() && is_process_alive(postmaster));

    // No Drop runs in the child: its watchdog has to clean up.
    kill_process(child.id()).expect("SIGKILL of the child");
    child.wait().unwrap();
    let killed = Instant::now();
    let wait = |limit: Duration, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + limit;
        while !done() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        done()
    };
    assert!(
        wait(Duration::from_secs(30), &|| !dir.exists()),
        "{} is removed",
        dir.display()
    );
    // The watchdog removes the directory only once the server has exited. (A server whose
    // directory is gone would stop by itself too, but only at its next minutely check.)
    assert!(
        wait(Duration::from_secs(2), &|| !is_process_alive(postmaster)),
        "the orphaned server {postmaster} is stopped before its directory is removed"
    );
    eprintln!("the watchdog cleaned up in {:?}", killed.elapsed());
}
