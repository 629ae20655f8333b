//! A fault-injecting TCP proxy in front of one node's Raft listener.
//!
//! The region's membership names the proxy's address, so every byte sent to the node (Raft
//! RPCs from the leader, votes, forwarded writes, read-index requests, `/raft/status`) passes
//! through it, with the production HTTP transport on both ends. The proxy can delay that
//! traffic, hold it (the node looks alive at the TCP level but never answers), refuse
//! connections (the node is down: nothing is sent), or deliver requests and drop the node's
//! answers (the request took effect; its sender cannot know). A fault applies to every sender,
//! or only to the connections from one source IP (each test node connects from its own), which
//! is how a partition between two nodes is made.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What the proxy does to the traffic to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Forward everything (after the configured delay).
    #[default]
    None,
    /// Accept connections but hold every byte in both directions until the fault is lifted.
    Stall,
    /// Refuse connections and cut open ones: the sender knows nothing was delivered. For all
    /// senders the listening socket is closed (connection refused); for one source, its
    /// connections are closed as soon as they are accepted.
    Refuse,
    /// Deliver requests; drop the node's answers and close the connection.
    LoseAnswers,
}

/// The faults in force: one for everybody, overridden per source IP.
#[derive(Debug, Clone, Default)]
struct Faults {
    all: Fault,
    from: BTreeMap<IpAddr, Fault>,
}

impl Faults {
    fn for_peer(&self, peer: IpAddr) -> Fault {
        self.from.get(&peer).copied().unwrap_or(self.all)
    }
}

/// Which way a byte travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToNode,
    FromNode,
}

struct Shared {
    target: Mutex<SocketAddr>,
    faults: watch::Sender<Faults>,
    /// True while the listening socket is open.
    listening: watch::Sender<bool>,
    delay: Mutex<Duration>,
    bytes_to_node: AtomicU64,
    answers_lost: AtomicU64,
}

/// One proxy; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on an ephemeral 127.0.0.1 port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            faults: watch::Sender::new(Faults::default()),
            listening: watch::Sender::new(true),
            delay: Mutex::new(Duration::ZERO),
            bytes_to_node: AtomicU64::new(0),
            answers_lost: AtomicU64::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(listener, addr, shared.clone()));
        FaultProxy {
            addr,
            shared,
            accept_task,
        }
    }

    /// The address peers use for this node.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Points the proxy at a (restarted) node's new listener.
    pub fn set_target(&self, target: SocketAddr) {
        *lock(&self.shared.target) = target;
    }

    /// Delivers every chunk `delay` after it was read, both ways (latency, not bandwidth).
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// Applies `fault` to every sender without a fault of its own; returns once it is in force
    /// (for [`Fault::Refuse`], once the listening socket is closed; when lifting it, once it is
    /// open again).
    pub async fn set(&self, fault: Fault) {
        self.shared.faults.send_modify(|faults| faults.all = fault);
        let want_listening = fault != Fault::Refuse;
        let mut listening = self.shared.listening.subscribe();
        tokio::time::timeout(
            Duration::from_secs(10),
            listening.wait_for(|open| *open == want_listening),
        )
        .await
        .expect("the proxy applies a fault within 10 s")
        .expect("the proxy's accept loop is running");
    }

    /// Applies `fault` to the connections from `source` only (`None`: back to the fault for
    /// everybody).
    pub fn set_from(&self, source: IpAddr, fault: Option<Fault>) {
        self.shared.faults.send_modify(|faults| match fault {
            Some(fault) => {
                faults.from.insert(source, fault);
            }
            None => {
                faults.from.remove(&source);
            }
        });
    }

    /// Bytes delivered to the node since the last call (for checking what a transfer cost).
    pub fn take_bytes_to_node(&self) -> u64 {
        self.shared.bytes_to_node.swap(0, Ordering::SeqCst)
    }

    /// How many times the node's answer was dropped under [`Fault::LoseAnswers`].
    pub fn answers_lost(&self) -> u64 {
        self.shared.answers_lost.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        // Cut the connections still open.
        self.shared.faults.send_modify(|faults| {
            *faults = Faults {
                all: Fault::Refuse,
                from: BTreeMap::new(),
            }
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut listener = Some(listener);
    let mut faults = shared.faults.subscribe();
    loop {
        let current = match listener.take() {
            Some(open) => open,
            None => {
                if faults.wait_for(|f| f.all != Fault::Refuse).await.is_err() {
                    return;
                }
                rebind(addr).await
            }
        };
        shared.listening.send_replace(true);
        loop {
            tokio::select! {
                accepted = current.accept() => {
                    if let Ok((stream, peer)) = accepted {
                        tokio::spawn(connection(stream, peer.ip(), shared.clone()));
                    }
                }
                refused = faults.wait_for(|f| f.all == Fault::Refuse) => {
                    if refused.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
        drop(current);
        shared.listening.send_replace(false);
    }
}

/// Opens the proxy's port again after a [`Fault::Refuse`]; the port was ours a moment ago, so
/// this retries briefly rather than give up on a transient failure.
async fn rebind(addr: SocketAddr) -> TcpListener {
    let mut last_error = None;
    for _ in 0..100 {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        match socket.bind(addr).and_then(|()| socket.listen(128)) {
            Ok(listener) => return listener,
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not listen on {addr} again: {last_error:?}");
}

async fn connection(client: TcpStream, peer: IpAddr, shared: Arc<Shared>) {
    let mut faults = shared.faults.subscribe();
    if faults.borrow_and_update().for_peer(peer) == Fault::Refuse {
        return;
    }
    let target = *lock(&shared.target);
    let Ok(node) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = node.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (node_read, node_write) = node.into_split();
    // Whichever way ends first (EOF, error, a lost answer, a refusal) closes both.
    tokio::select! {
        _ = pump(client_read, node_write, Direction::ToNode, peer, &shared) => {}
        _ = pump(node_read, client_write, Direction::FromNode, peer, &shared) => {}
        _ = faults.wait_for(|f| f.for_peer(peer) == Fault::Refuse) => {}
    }
}

/// Copies one direction of a connection: a reader queues each chunk with the time it was
/// read, a writer delivers it `delay` later unless a fault holds or drops it.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    peer: IpAddr,
    shared: &Shared,
) {
    let (queue, mut queued) = mpsc::channel::<(Instant, Vec<u8>)>(64);
    let reader = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if queue
                        .send((Instant::now(), buffer[..n].to_vec()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let writer = async {
        let mut faults = shared.faults.subscribe();
        while let Some((read_at, chunk)) = queued.recv().await {
            // Hold the chunk while stalled; then act on whatever fault is in force.
            let now = match faults.wait_for(|f| f.for_peer(peer) != Fault::Stall).await {
                Ok(f) => f.for_peer(peer),
                Err(_) => return,
            };
            match (now, direction) {
                (Fault::Refuse, _) => return,
                (Fault::LoseAnswers, Direction::FromNode) => {
                    shared.answers_lost.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                _ => {}
            }
            let delay = *lock(&shared.delay);
            tokio::time::sleep_until(read_at + delay).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
            if direction == Direction::ToNode {
                shared
                    .bytes_to_node
                    .fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
    };
    tokio::pin!(reader, writer);
    let end_of_stream = tokio::select! {
        _ = &mut writer => false,
        _ = &mut reader => true,
    };
    if end_of_stream {
        // Deliver what is queued.
        writer.await;
    }
}
