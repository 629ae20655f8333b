//! Free loopback ports for test and benchmark clusters.

use crate::topology::NodeAddrs;
use anyhow::bail;
use std::sync::Mutex;

/// The ports handed out so far by this process (never twice).
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// The first port tried; the range ends below Linux's ephemeral range (32768–60999), so an
/// outgoing connection cannot take a port between this check and a node binding it.
const FIRST: u64 = 20_000;
/// How many ports the range holds (20000–31999).
const SPAN: u64 = 12_000;

/// A port of 127.0.0.1 that is free now and was never handed out before by this process.
/// The start point depends on the pid and the clock, so concurrent processes rarely collide.
pub fn free_port() -> anyhow::Result<u16> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = u64::from(std::process::id()) * 7919 + u64::from(clock);
    for i in 0..SPAN {
        let Ok(port) = u16::try_from(FIRST + (start + i * 7) % SPAN) else {
            continue;
        };
        if handed_out.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.push(port);
            return Ok(port);
        }
    }
    bail!("no free port on 127.0.0.1 in {FIRST}-{}", FIRST + SPAN - 1)
}

/// Listening addresses on 127.0.0.1 for `n` nodes, every port from [`free_port`].
pub fn free_loopback_addrs(n: usize) -> anyhow::Result<Vec<NodeAddrs>> {
    let addr = || free_port().map(|port| format!("127.0.0.1:{port}"));
    (0..n)
        .map(|_| {
            Ok(NodeAddrs {
                api: addr()?,
                raft: addr()?,
                link: addr()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_below_the_ephemeral_range() {
        let addrs = free_loopback_addrs(4).expect("ports");
        let mut all: Vec<&String> = addrs
            .iter()
            .flat_map(|a| [&a.api, &a.raft, &a.link])
            .collect();
        for addr in &all {
            let port: u16 = addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            assert!((20_000..32_000).contains(&port), "{addr}");
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 12);
    }
}
