//! Loopback TCP proxies in front of the nodes' Raft ports, for faults that need to cut a node's
//! Raft traffic without root (`lag-follower` in `--topology loopback`).
//!
//! Openraft dials a peer at the address stored in the region's membership, which comes from
//! the bootstrap node's `[members]`; when a run needs proxies, `db` lists each node there at its
//! proxy's address (127.0.0.1 and a fresh port), so every Raft request *to* that node — append
//! entries, heartbeats, votes, snapshots, forwarded writes and read-index requests — goes
//! through its proxy, which forwards it to the node's real Raft port. The harness's own
//! `/raft/status` probes go to the real port and never pass a proxy.
//!
//! The proxy works at the TCP level (it never parses HTTP, so it would forward mutual TLS
//! unchanged) and has two modes:
//!
//! - [`Mode::Forward`]: each accepted connection is paired with a fresh connection to the real
//!   port and bytes are copied both ways (`TCP_NODELAY` on both, so no Nagle delay is added);
//! - [`Mode::Blackhole`]: accepted connections are read and the bytes discarded; nothing is
//!   forwarded and nothing is ever answered, like a firewall that drops packets: the peers'
//!   requests time out.
//!
//! Every mode change closes every open connection, so no connection carries traffic across a
//! change (no half-delivered request after a heal, no pooled connection that escapes a
//! blackhole). Only traffic *to* the node is affected: the node's own requests to its peers go
//! through *their* proxies, and the answers to them come back on those connections.
//!
//! One difference from a plain port remains while the node itself is down (killed): the proxy
//! still accepts, then closes the connection when the real port refuses, so a peer sees a
//! closed connection instead of a refused one. That is why `db` only puts proxies in front of
//! the nodes in runs that ask for a proxy fault.

use std::net::SocketAddr;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What a proxy does with traffic to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward every connection to the node's real port.
    Forward,
    /// Accept and discard; never forward, never answer.
    Blackhole,
}

/// One node's proxy. Dropping it stops accepting and closes every connection.
#[derive(Debug)]
pub struct RaftProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accept: tokio::task::JoinHandle<()>,
}

impl RaftProxy {
    /// Binds a fresh port on 127.0.0.1 (not one of `avoid`) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr, avoid: &[u16]) -> std::io::Result<RaftProxy> {
        let mut listener = TcpListener::bind("127.0.0.1:0").await?;
        for _ in 0..100 {
            if !avoid.contains(&listener.local_addr()?.port()) {
                break;
            }
            listener = TcpListener::bind("127.0.0.1:0").await?;
        }
        let addr = listener.local_addr()?;
        let (mode, watcher) = watch::channel(Mode::Forward);
        let accept = tokio::spawn(accept_loop(listener, upstream, watcher));
        Ok(RaftProxy { addr, mode, accept })
    }

    /// The address peers dial instead of the node's Raft port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Switches to `mode`, closing every open connection; returns false if it already was.
    pub fn set(&self, mode: Mode) -> bool {
        self.mode.send_if_modified(|current| {
            let changed = *current != mode;
            *current = mode;
            changed
        })
    }
}

impl Drop for RaftProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Connections end when their watch sender is gone (`changed()` fails).
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, mode: watch::Receiver<Mode>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let mut watcher = mode.clone();
        watcher.mark_unchanged();
        tokio::spawn(connection(inbound, upstream, watcher));
    }
}

/// Serves one accepted connection in the mode current at accept time, until it closes or the
/// mode changes.
async fn connection(mut inbound: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let _ = inbound.set_nodelay(true);
    let current = *mode.borrow_and_update();
    match current {
        Mode::Forward => {
            let connect = TcpStream::connect(upstream);
            let mut outbound = tokio::select! {
                connected = connect => match connected {
                    Ok(stream) => stream,
                    // The node is down: close, as a dead port would (see the module docs).
                    Err(_) => return,
                },
                _ = mode.changed() => return,
            };
            let _ = outbound.set_nodelay(true);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = mode.changed() => {}
            }
        }
        Mode::Blackhole => {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                tokio::select! {
                    read = inbound.read(&mut buffer) => {
                        if matches!(read, Ok(0) | Err(_)) {
                            return;
                        }
                    }
                    _ = mode.changed() => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    /// An upstream that answers every line with the same line, upper-cased.
    async fn echo_upper() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buffer).await {
                        if n == 0 {
                            return;
                        }
                        let upper = buffer[..n].to_ascii_uppercase();
                        if stream.write_all(&upper).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, text: &[u8]) -> Option<Vec<u8>> {
        stream.write_all(text).await.ok()?;
        let mut buffer = vec![0u8; text.len()];
        match tokio::time::timeout(Duration::from_millis(300), stream.read_exact(&mut buffer)).await
        {
            Ok(Ok(_)) => Some(buffer),
            _ => None,
        }
    }

    #[tokio::test]
    async fn forwards_blackholes_and_closes_connections_on_every_change() {
        let upstream = echo_upper().await;
        let proxy = RaftProxy::start(upstream, &[upstream.port()])
            .await
            .unwrap();
        assert_ne!(proxy.addr().port(), upstream.port());
        let mut before = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut before, b"ping").await.as_deref(),
            Some(&b"PING"[..])
        );

        assert!(proxy.set(Mode::Blackhole));
        assert!(!proxy.set(Mode::Blackhole));
        assert_eq!(proxy.mode(), Mode::Blackhole);
        // The connection from before the change is closed, not left forwarding.
        let mut buffer = [0u8; 8];
        let closed = tokio::time::timeout(Duration::from_secs(2), before.read(&mut buffer)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
        // A new connection is accepted but never answered.
        let mut during = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut during, b"lost").await, None);

        assert!(proxy.set(Mode::Forward));
        let closed = tokio::time::timeout(Duration::from_secs(2), during.read(&mut buffer)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
        let mut after = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut after, b"back").await.as_deref(),
            Some(&b"BACK"[..])
        );
    }

    #[tokio::test]
    async fn closes_when_the_node_is_down() {
        // A port nobody listens on.
        let dead = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = RaftProxy::start(dead, &[]).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut buffer = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    }
}
