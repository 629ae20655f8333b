//! Driving `trent up`, the local cluster of `make run`, from a test: start it on a data
//! directory, wait for it, `trent node`, and stop it. `trent up` listens on its fixed local
//! ports (127.0.0.1:8101-8103 for one region of three), so only one test binary may run it at
//! a time (cargo runs test binaries one after another).

use crate::{client_for, eventually, poll, trent_binary};
use aws_sdk_kms::primitives::Blob;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The KMS API address of node `n` of the first region under `trent up` (127.0.0.1:8101..).
pub fn api(n: u32) -> String {
    format!("127.0.0.1:{}", 8100 + n)
}

/// Starts `trent up` on `data` (one region of three nodes) with restart policy `restart`; its
/// output goes to `data/up-<restart>.out`.
pub fn up(data: &Path, restart: &str) -> Child {
    let out = std::fs::File::create(data.join(format!("up-{restart}.out"))).unwrap();
    Command::new(trent_binary())
        .args(["up", "--data-dir"])
        .arg(data)
        .args(["--restart", restart])
        .env("TRENT_REGIONS", "us-east-1")
        .env("TRENT_NODES_PER_REGION", "3")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap()
}

/// Runs `trent node ARGS --data-dir DATA`.
pub fn node_cmd(data: &Path, args: &[&str]) -> Output {
    Command::new(trent_binary())
        .arg("node")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

/// `trent node status`, one line per node.
pub fn status(data: &Path) -> String {
    let out = node_cmd(data, &["status"]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The pid `trent node status` reports for `node`, if it is running.
pub fn pid_of(data: &Path, node: &str) -> Option<u32> {
    status(data).lines().find_map(|line| {
        let rest = line.strip_prefix(node)?.strip_prefix(" running pid ")?;
        rest.trim().parse().ok()
    })
}

/// SIGKILLs `pid`.
pub fn kill9(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// What `trent up` (started with `restart`) has printed so far.
pub fn up_output(data: &Path, restart: &str) -> String {
    std::fs::read_to_string(data.join(format!("up-{restart}.out"))).unwrap_or_default()
}

/// Waits until the cluster is up (`trent up` writes cluster.json once every node answered).
pub async fn wait_up(data: &Path, up: &mut Child) {
    let cluster_json = data.join("cluster.json");
    eventually(Duration::from_secs(180), "trent up is ready", || {
        let ready = cluster_json.exists() && data.join("trent-up.sock").exists();
        async move { ready }
    })
    .await;
    assert!(up.try_wait().unwrap().is_none(), "trent up exited");
}

/// Decrypts `blob` through node `n`, retrying while the region elects a leader.
pub async fn decrypts_through(n: u32, blob: &Blob) -> bool {
    let kms = client_for(&api(n), "test", "test");
    poll(Duration::from_secs(30), || {
        let kms = kms.clone();
        let blob = blob.clone();
        async move {
            let answer = kms.decrypt().ciphertext_blob(blob).send().await.ok()?;
            (answer.plaintext()?.as_ref() == b"kept").then_some(())
        }
    })
    .await
    .is_some()
}

/// Stops `trent up` with SIGTERM and checks it ends cleanly within 30 s.
pub fn stop_up(mut up: Child) {
    let pid = up.id();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    for _ in 0..300 {
        if let Some(status) = up.try_wait().unwrap() {
            assert!(status.success(), "trent up ended with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = up.kill();
    panic!("trent up did not stop within 30 s of SIGTERM");
}

/// Stops a `trent up` (SIGTERM, which stops its nodes) when the test panics, so a failed test
/// leaves no cluster on the fixed ports for the next one.
pub struct StopOnPanic(u32);

impl StopOnPanic {
    /// Guards the `trent up` process `up`.
    pub fn guard(up: &Child) -> StopOnPanic {
        StopOnPanic(up.id())
    }
}

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.to_string()])
                .status();
        }
    }
}
