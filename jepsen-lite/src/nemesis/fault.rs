//! The fault kinds a run can ask for (`--nemesis kill,pause,...`): their CLI, history and
//! coverage names, which topology or region count each needs, and the fault parameters
//! (packet-loss share, clock-skew ranges). What each fault does is in `nemesis::injector`.

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL one random node.
    Kill,
    /// SIGSTOP one random node.
    Pause,
    /// SIGKILL the current leader.
    KillLeader,
    /// SIGSTOP the current leader (it keeps its connections; peers see silence).
    PauseLeader,
    /// SIGKILL a majority (two of three nodes).
    KillMajority,
    /// SIGKILL every node.
    KillAll,
    /// SIGKILL one random node that is not the leader (it then falls behind the log).
    KillFollower,
    /// netns: cut the leader off from both followers.
    PartitionIsolateLeader,
    /// netns: cut one follower off from the other two nodes.
    PartitionIsolateFollower,
    /// netns: one node sees both others; those two cannot see each other.
    PartitionBridge,
    /// netns: one-way ring, each node drops packets from the next one.
    PartitionRing,
    /// Skew the service clocks of one or more nodes (minutes, sometimes days).
    ClockSkew,
    /// netns: one or more nodes drop a random share of their peers' packets.
    PacketLoss,
    /// `--regions 2`: cut the inter-region link (link fault files) until the heal.
    RegionSplit,
    /// Cut every peer's Raft traffic to one follower, which falls behind while it still
    /// answers clients (loopback: its Raft proxy blackholes; netns: nft drops its peers).
    LagFollower,
    /// SIGKILL one follower and delete its Raft store (log, vote, snapshots: a replaced disk);
    /// the heal starts it empty and it catches up from the leader's snapshot.
    WipeFollower,
    /// Change the region's membership through the leader's `/raft/members`, as an operator
    /// would: `remove` takes a live follower out of the region (it keeps running), `replace`
    /// takes one out, kills it and wipes its store (a dead disk). The heal adds it back (a
    /// learner, then a voter once caught up).
    Membership,
}

/// The share (in percent) of peer packets a `packet-loss` node drops.
pub const PACKET_LOSS_PERCENT: u8 = 30;

/// Largest `clock-skew` offset of the usual kind (10 minutes), in milliseconds.
pub const SKEW_MINUTES_MAX_MS: u64 = 10 * 60 * 1000;

/// Largest `clock-skew` offset of the occasional kind (3 days), in milliseconds. Stays well
/// below the workloads' 30-day deletion window.
pub const SKEW_DAYS_MAX_MS: u64 = 3 * 24 * 60 * 60 * 1000;

impl Fault {
    /// Every process fault, in CLI order.
    pub const ALL: [Fault; 7] = [
        Fault::Kill,
        Fault::Pause,
        Fault::KillLeader,
        Fault::PauseLeader,
        Fault::KillMajority,
        Fault::KillAll,
        Fault::KillFollower,
    ];

    /// The network partitions (need `--topology netns`), in CLI order.
    pub const PARTITIONS: [Fault; 4] = [
        Fault::PartitionIsolateLeader,
        Fault::PartitionIsolateFollower,
        Fault::PartitionBridge,
        Fault::PartitionRing,
    ];

    /// The other faults, in CLI order (`packet-loss` needs `--topology netns`, `region-split`
    /// needs `--regions 2`).
    pub const OTHER: [Fault; 6] = [
        Fault::ClockSkew,
        Fault::PacketLoss,
        Fault::RegionSplit,
        Fault::LagFollower,
        Fault::WipeFollower,
        Fault::Membership,
    ];

    /// Whether this is a network partition (netns only).
    pub fn is_partition(self) -> bool {
        Fault::PARTITIONS.contains(&self)
    }

    /// Whether this fault needs `--topology netns` (partitions and packet loss).
    pub fn needs_netns(self) -> bool {
        self.is_partition() || self == Fault::PacketLoss
    }

    /// Whether this fault needs the loopback Raft proxies (`lag-follower` in loopback mode).
    pub fn needs_raft_proxies(self) -> bool {
        self == Fault::LagFollower
    }

    /// Whether this fault needs two regions (`region-split`).
    pub fn needs_regions(self) -> bool {
        self == Fault::RegionSplit
    }

    /// The partition shape recorded in `start_partition` events (`isolate-leader`, ...).
    pub fn shape(self) -> Option<&'static str> {
        self.name().strip_prefix("partition-")
    }

    /// The key `fault_coverage` counts this kind under (`kill_leader`,
    /// `partition_isolate_leader`).
    pub fn coverage_name(self) -> String {
        crate::checker::coverage::coverage_key(self.name())
    }

    /// The CLI name (`kill-leader`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::KillLeader => "kill-leader",
            Fault::PauseLeader => "pause-leader",
            Fault::KillMajority => "kill-majority",
            Fault::KillAll => "kill-all",
            Fault::KillFollower => "kill-follower",
            Fault::PartitionIsolateLeader => "partition-isolate-leader",
            Fault::PartitionIsolateFollower => "partition-isolate-follower",
            Fault::PartitionBridge => "partition-bridge",
            Fault::PartitionRing => "partition-ring",
            Fault::ClockSkew => "clock-skew",
            Fault::PacketLoss => "packet-loss",
            Fault::RegionSplit => "region-split",
            Fault::LagFollower => "lag-follower",
            Fault::WipeFollower => "wipe-follower",
            Fault::Membership => "membership",
        }
    }

    /// The history name (`kill_leader`; `partition` for every partition shape); events are
    /// `start_<this>` and `stop_<this>`.
    pub fn history_name(self) -> String {
        if self.is_partition() {
            "partition".into()
        } else {
            self.name().replace('-', "_")
        }
    }

    /// Parses a comma-separated list (`kill,pause`); `none` or empty means no faults.
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, String> {
        let mut faults = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "none" {
                continue;
            }
            let fault = Fault::ALL
                .into_iter()
                .chain(Fault::PARTITIONS)
                .chain(Fault::OTHER)
                .find(|f| f.name() == part)
                .ok_or_else(|| {
                    format!(
                        "unknown nemesis {part:?}: expected kill, pause, kill-leader, \
                         pause-leader, kill-majority, kill-all, kill-follower, clock-skew, \
                         partition-isolate-leader, partition-isolate-follower, \
                         partition-bridge, partition-ring, packet-loss, region-split, lag-follower, \
                         wipe-follower, membership or none"
                    )
                })?;
            if !faults.contains(&fault) {
                faults.push(fault);
            }
        }
        Ok(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nemesis_lists_parse() {
        assert_eq!(
            Fault::parse_list(
                "kill,pause,kill-leader,pause-leader,kill-majority,kill-all,kill-follower"
            ),
            Ok(Fault::ALL.to_vec())
        );
        assert_eq!(Fault::KillFollower.history_name(), "kill_follower");
        assert_eq!(Fault::parse_list("none"), Ok(vec![]));
        assert_eq!(Fault::parse_list("kill,kill"), Ok(vec![Fault::Kill]));
        assert!(Fault::parse_list("partition").is_err());
        assert_eq!(Fault::KillMajority.history_name(), "kill_majority");
        assert_eq!(
            Fault::parse_list("partition-isolate-leader,partition-ring,kill"),
            Ok(vec![
                Fault::PartitionIsolateLeader,
                Fault::PartitionRing,
                Fault::Kill
            ])
        );
        assert_eq!(Fault::PartitionBridge.history_name(), "partition");
        assert_eq!(Fault::PartitionBridge.shape(), Some("bridge"));
        assert_eq!(
            Fault::PartitionIsolateFollower.coverage_name(),
            "partition_isolate_follower"
        );
        assert_eq!(Fault::Kill.shape(), None);
        assert_eq!(
            Fault::parse_list("clock-skew,packet-loss"),
            Ok(vec![Fault::ClockSkew, Fault::PacketLoss])
        );
        assert_eq!(Fault::ClockSkew.history_name(), "clock_skew");
        assert_eq!(Fault::PacketLoss.coverage_name(), "packet_loss");
        assert_eq!(Fault::PacketLoss.shape(), None);
        assert!(Fault::PacketLoss.needs_netns());
        assert!(!Fault::ClockSkew.needs_netns());
        assert!(Fault::PartitionRing.needs_netns());
        assert_eq!(
            Fault::parse_list("region-split,kill"),
            Ok(vec![Fault::RegionSplit, Fault::Kill])
        );
        assert_eq!(Fault::RegionSplit.history_name(), "region_split");
        assert_eq!(Fault::RegionSplit.coverage_name(), "region_split");
        assert!(Fault::RegionSplit.needs_regions());
        assert!(!Fault::RegionSplit.needs_netns());
        assert!(!Fault::Kill.needs_regions());
        assert_eq!(
            Fault::parse_list("lag-follower"),
            Ok(vec![Fault::LagFollower])
        );
        assert_eq!(Fault::LagFollower.history_name(), "lag_follower");
        assert!(!Fault::LagFollower.needs_netns());
        assert_eq!(
            Fault::parse_list("wipe-follower,kill"),
            Ok(vec![Fault::WipeFollower, Fault::Kill])
        );
        assert_eq!(Fault::WipeFollower.history_name(), "wipe_follower");
        assert!(!Fault::WipeFollower.needs_netns());
        assert_eq!(Fault::parse_list("membership"), Ok(vec![Fault::Membership]));
        assert_eq!(Fault::Membership.history_name(), "membership");
        assert_eq!(Fault::Membership.coverage_name(), "membership");
        assert!(!Fault::Membership.needs_netns() && !Fault::Membership.needs_regions());
    }
}
