//! The ceiling: a bare in-process axum server on 127.0.0.1:0 that answers every `POST /` with
//! the request body, so its throughput is what the HTTP stack and the load generator allow.

use std::net::SocketAddr;

use anyhow::Context;
use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running echo server.
pub struct EchoServer {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl EchoServer {
    /// Stops serving (open connections are dropped).
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Binds 127.0.0.1:0 and serves the echo route on the current runtime.
pub async fn start() -> anyhow::Result<EchoServer> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the echo server")?;
    let addr = listener.local_addr()?;
    let app = Router::new().route("/", post(echo));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("echo server failed: {e}");
        }
    });
    Ok(EchoServer { addr, task })
}

async fn echo(body: Bytes) -> Bytes {
    body
}
