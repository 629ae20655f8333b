//! Where the nodes live: `loopback` (every node on 127.0.0.1 with fresh ports, the default) or
//! `netns` (one network namespace per node, design §7.2), and the netns partitions.
//!
//! netns layout (needs root, `ip` from iproute2 and `nft` from nftables):
//!
//! ```text
//! root ns: harness + clients, bridge jl-br0 = 10.77.77.1/24
//!   jl-v1 (veth, on jl-br0) <-> eth0 in ns jl-n1 = 10.77.77.11
//!   jl-v2                   <-> eth0 in ns jl-n2 = 10.77.77.12
//!   jl-v3                   <-> eth0 in ns jl-n3 = 10.77.77.13
//!   (--regions 2: jl-n4..jl-n6 = 10.77.77.14..16 hold us-west-2's nodes)
//! ```
//!
//! Namespaces are numbered by the node's *slot* (its 1-based position among all nodes of the
//! run), not by its Raft id, which restarts at 1 in every region.
//!
//! Every address comes from the one constant private /24 [`SUBNET`]; the harness only ever
//! sends to loopback or to an address it assigned to a namespace it created
//! ([`check_target`]). Teardown is idempotent and also runs before setup, so leftovers of a
//! crashed harness are removed: processes still inside a `jl-nN` namespace are SIGKILLed by the
//! pid `ip netns pids` reports, then the namespaces (with their nft rules and veth ends) and
//! the bridge are deleted.
//!
//! Partitions: in each affected node's namespace, table `inet jl` with an input chain that
//! drops packets from every grudge peer (`ip saddr <peer> drop`); the harness (10.77.77.1)
//! is never dropped, so clients keep reaching isolated nodes. Heal deletes the table in every
//! namespace.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};

/// The one private /24 the netns topology uses (first three octets).
pub const SUBNET: [u8; 3] = [10, 77, 77];
/// Host part of the bridge address in the root namespace.
pub const BRIDGE_HOST: u8 = 1;
/// Nodes per region in the netns topology.
pub const NETNS_NODES: u64 = 3;
/// The most node namespaces the netns topology creates (`jl-n1` ..= `jl-n6`: two regions).
pub const MAX_NETNS_NODES: u64 = 6;
/// The bridge in the root namespace.
pub const BRIDGE: &str = "jl-br0";
/// Port of every node's KMS API (each node has its own address).
pub const API_PORT: u16 = 7700;
/// Port of every node's Raft endpoint.
pub const RAFT_PORT: u16 = 7701;
/// Port of every node's inter-region (mutual TLS) listener, with `--regions 2`.
pub const LINK_PORT: u16 = 7702;

/// How the nodes are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Every node on 127.0.0.1 (no network faults possible).
    Loopback,
    /// One network namespace per node behind a bridge.
    Netns,
}

impl Topology {
    /// Parses `loopback` or `netns`.
    pub fn parse(text: &str) -> Result<Topology, String> {
        match text {
            "loopback" => Ok(Topology::Loopback),
            "netns" => Ok(Topology::Netns),
            other => Err(format!(
                "unknown topology {other:?}: expected loopback or netns"
            )),
        }
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Loopback => "loopback",
            Topology::Netns => "netns",
        }
    }
}

/// The address assigned to the node in slot `slot` (1-based) in the netns topology.
pub fn node_ip(slot: u64) -> Ipv4Addr {
    let host = u8::try_from(10 + slot).unwrap_or(u8::MAX);
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], host)
}

/// The bridge's address (the harness's source address towards the nodes).
pub fn bridge_ip() -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], BRIDGE_HOST)
}

/// Namespace of the node in slot `slot`.
pub fn netns_name(slot: u64) -> String {
    format!("jl-n{slot}")
}

fn veth_name(id: u64) -> String {
    format!("jl-v{id}")
}

/// Refuses any target that is neither loopback nor a node address this harness assigns.
pub fn check_target(addr: &str) -> anyhow::Result<()> {
    let socket: SocketAddr = addr
        .parse()
        .with_context(|| format!("target {addr:?} is not an ip:port"))?;
    let ip = socket.ip();
    if ip.is_loopback() {
        return Ok(());
    }
    if (1..=MAX_NETNS_NODES).any(|slot| std::net::IpAddr::V4(node_ip(slot)) == ip) {
        return Ok(());
    }
    bail!("refusing to send to {addr}: not loopback and not an address jepsen-lite assigned")
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {program} {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `nft -f -` inside node `id`'s namespace with `script` on stdin.
fn nft_script(id: u64, script: &str) -> anyhow::Result<()> {
    let ns = netns_name(id);
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running nft in {ns}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .with_context(|| format!("writing the nft script for {ns}"))?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "nft in {ns} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn netns_exists(name: &str) -> bool {
    run("ip", &["netns", "list"]).is_ok_and(|list| {
        list.lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    })
}

/// Removes everything the netns topology creates: SIGKILLs processes left inside the node
/// namespaces (a crashed harness's nodes), deletes the namespaces (their nft tables and veth
/// ends go with them), the root-side veths and the bridge. Idempotent; never fails.
pub fn teardown_netns() {
    for id in 1..=MAX_NETNS_NODES {
        let ns = netns_name(id);
        if netns_exists(&ns) {
            if let Ok(pids) = run("ip", &["netns", "pids", &ns]) {
                for pid in pids.split_whitespace() {
                    if pid.parse::<u32>().is_ok() {
                        let _ = run("kill", &["-KILL", pid]);
                    }
                }
            }
            let _ = run("ip", &["netns", "del", &ns]);
        }
        let veth = veth_name(id);
        if link_exists(&veth) {
            let _ = run("ip", &["link", "del", &veth]);
        }
    }
    if link_exists(BRIDGE) {
        let _ = run("ip", &["link", "del", BRIDGE]);
    }
}

/// Creates the bridge and `count` node namespaces with their veths (after a teardown of
/// leftovers).
pub fn setup_netns(count: u64) -> anyhow::Result<()> {
    teardown_netns();
    if !(1..=MAX_NETNS_NODES).contains(&count) {
        bail!("the netns topology holds 1 to {MAX_NETNS_NODES} nodes, not {count}");
    }
    // Refuse to shadow a route to our /24 that someone else owns.
    let subnet = format!("{}.{}.{}.0/24", SUBNET[0], SUBNET[1], SUBNET[2]);
    let routes = run("ip", &["-4", "route", "show", &subnet])?;
    if !routes.trim().is_empty() {
        bail!(
            "{subnet} is already routed on this machine ({}); refusing to use it",
            routes.trim()
        );
    }
    run("nft", &["--version"]).context("nft (nftables) is needed for --topology netns")?;
    let result = create_netns(count);
    if result.is_err() {
        teardown_netns();
    }
    result
}

fn create_netns(count: u64) -> anyhow::Result<()> {
    let bridge_cidr = format!("{}/24", bridge_ip());
    run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
    run("ip", &["addr", "add", &bridge_cidr, "dev", BRIDGE])?;
    run("ip", &["link", "set", BRIDGE, "up"])?;
    for id in 1..=count {
        let ns = netns_name(id);
        let veth = veth_name(id);
        let cidr = format!("{}/24", node_ip(id));
        run("ip", &["netns", "add", &ns])?;
        run(
            "ip",
            &[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        )?;
        run("ip", &["link", "set", &veth, "master", BRIDGE])?;
        run("ip", &["link", "set", &veth, "up"])?;
        run("ip", &["-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
        run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
        run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
    }
    Ok(())
}

/// Installs a partition: `grudge` maps a node slot to the peer slots whose packets it drops.
pub fn install_partition(grudge: &BTreeMap<u64, Vec<u64>>) -> anyhow::Result<()> {
    for (&id, peers) in grudge {
        if peers.is_empty() {
            continue;
        }
        let mut script = String::from(
            "table inet jl {\n  chain input {\n    type filter hook input priority 0; policy accept;\n",
        );
        for &peer in peers {
            script.push_str(&format!("    ip saddr {} drop\n", node_ip(peer)));
        }
        script.push_str("  }\n}\n");
        nft_script(id, &script)?;
    }
    Ok(())
}

/// Installs packet loss: `lossy` maps a node slot to the peer slots of which it drops a random
/// `percent`% of input packets (`ip saddr <peer> numgen random mod 100 < <percent> drop`, in
/// the same `table inet jl` as the partitions, so [`heal_partitions`] removes it too).
pub fn install_packet_loss(lossy: &BTreeMap<u64, Vec<u64>>, percent: u8) -> anyhow::Result<()> {
    for (&id, peers) in lossy {
        if peers.is_empty() {
            continue;
        }
        let mut script = String::from(
            "table inet jl {\n  chain input {\n    type filter hook input priority 0; policy accept;\n",
        );
        for &peer in peers {
            script.push_str(&format!(
                "    ip saddr {} numgen random mod 100 < {percent} drop\n",
                node_ip(peer)
            ));
        }
        script.push_str("  }\n}\n");
        nft_script(id, &script)?;
    }
    Ok(())
}

/// Heals every partition (and packet loss): deletes table `inet jl` in the namespaces of slots
/// `1..=count` (if present).
pub fn heal_partitions(count: u64) -> anyhow::Result<()> {
    for id in 1..=count {
        // Declaring the table first makes the delete succeed whether or not it existed.
        nft_script(id, "table inet jl\ndelete table inet jl\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_assigned_targets_are_allowed() {
        assert!(check_target("127.0.0.1:8080").is_ok());
        assert!(check_target("10.77.77.11:7700").is_ok());
        assert!(check_target("10.77.77.13:7701").is_ok());
        assert!(check_target("10.77.77.1:7700").is_err());
        assert!(check_target("10.77.77.16:7702").is_ok());
        assert!(check_target("10.77.77.17:7700").is_err());
        assert!(check_target("192.168.1.1:80").is_err());
        assert!(check_target("example.com:80").is_err());
        assert_eq!(netns_name(2), "jl-n2");
        assert_eq!(Topology::parse("netns"), Ok(Topology::Netns));
        assert!(Topology::parse("docker").is_err());
    }
}
