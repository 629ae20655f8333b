//! Membership changes of a live region, on its leader: add a node (a learner first, promoted to
//! voter once it has caught up), remove one (refused, without `force`, when the voters left
//! would not have a live quorum), and replace a dead voter by a fresh node in one joint-consensus
//! change. openraft commits each voter change as a joint configuration, then the new one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};

use crate::node::RegionRaft;

/// How far behind the leader's log a learner may be and still count as caught up.
const CATCH_UP_SLACK: u64 = 16;
/// How long a voter has to answer `/raft/status` to count as live.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(1);

/// The region's membership as this node knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MembershipView {
    /// The leader this node knows, if any.
    pub leader: Option<u64>,
    /// Voters (node id to Raft address), of the newest configuration.
    pub voters: BTreeMap<u64, String>,
    /// Learners: members that receive the log but do not vote.
    pub learners: BTreeMap<u64, String>,
    /// Whether a joint configuration (a voter change half done) is in force.
    pub joint: bool,
}

/// Why a membership change was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipError {
    /// This node does not lead; the leader it knows (id, Raft address), if any.
    NotLeader(Option<(u64, String)>),
    /// The change is refused as asked (unknown node, would lose quorum, ...).
    Refused(String),
    /// The change was tried and did not complete.
    Failed(String),
}

impl std::fmt::Display for MembershipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MembershipError::NotLeader(Some((id, addr))) => {
                write!(
                    f,
                    "this node does not lead the region; node {id} at {addr} does"
                )
            }
            MembershipError::NotLeader(None) => {
                write!(f, "this node does not lead the region and knows no leader")
            }
            MembershipError::Refused(why) | MembershipError::Failed(why) => f.write_str(why),
        }
    }
}

fn write_error(e: RaftError<u64, ClientWriteError<u64, BasicNode>>, what: &str) -> MembershipError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            let leader = match (forward.leader_id, forward.leader_node) {
                (Some(id), Some(node)) => Some((id, node.addr)),
                _ => None,
            };
            MembershipError::NotLeader(leader)
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            MembershipError::Refused(format!("{what}: {e}"))
        }
        e => MembershipError::Failed(format!("{what}: {e}")),
    }
}

impl RegionRaft {
    /// The membership this node knows.
    pub fn membership(&self) -> MembershipView {
        let metrics = self.raft().metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voter_ids: BTreeSet<u64> = membership.voter_ids().collect();
        let mut voters = BTreeMap::new();
        let mut learners = BTreeMap::new();
        for (id, node) in membership.nodes() {
            if voter_ids.contains(id) {
                voters.insert(*id, node.addr.clone());
            } else {
                learners.insert(*id, node.addr.clone());
            }
        }
        MembershipView {
            leader: metrics.current_leader,
            voters,
            learners,
            joint: membership.get_joint_config().len() > 1,
        }
    }

    fn lead(&self) -> Result<MembershipView, MembershipError> {
        let view = self.membership();
        if view.leader == Some(self.node_id()) {
            return Ok(view);
        }
        let leader = view.leader.and_then(|id| {
            let addr = view.voters.get(&id).or_else(|| view.learners.get(&id))?;
            Some((id, addr.clone()))
        });
        Err(MembershipError::NotLeader(leader))
    }

    /// Adds node `id` at Raft address `addr`: as a learner, then, once it has caught up with
    /// the log (within `catch_up`), as a voter. The node must be running, configured for this
    /// region and not yet initialised.
    pub async fn add_node(
        &self,
        id: u64,
        addr: &str,
        catch_up: Duration,
    ) -> Result<MembershipView, MembershipError> {
        let view = self.lead()?;
        self.add_caught_up_learner(&view, id, addr, catch_up)
            .await?;
        let change = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
        self.commit(change, &format!("promoting node {id} at {addr} to voter"))
            .await
    }

    /// Removes node `id` (a voter or a learner). Removing a voter is refused, unless `force`,
    /// when the voters left would not have a majority that answers.
    pub async fn remove_node(
        &self,
        id: u64,
        force: bool,
    ) -> Result<MembershipView, MembershipError> {
        let view = self.lead()?;
        let change = if view.voters.contains_key(&id) {
            let remaining: BTreeMap<u64, String> = view
                .voters
                .iter()
                .filter(|(v, _)| **v != id)
                .map(|(v, a)| (*v, a.clone()))
                .collect();
            if remaining.is_empty() {
                return Err(MembershipError::Refused(format!(
                    "node {id} is the region's only voter"
                )));
            }
            self.check_live_quorum(&remaining, force, &format!("removing node {id}"))
                .await?;
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else if view.learners.contains_key(&id) {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Err(MembershipError::Refused(format!(
                "node {id} is not a member of the region"
            )));
        };
        let what = if force {
            format!("removing node {id} (forced)")
        } else {
            format!("removing node {id}")
        };
        self.commit(change, &what).await
    }

    /// Puts fresh node `id` at `addr` in voter `old`'s place: `id` joins as a learner and
    /// catches up, then one joint-consensus change makes it a voter and drops `old`.
    pub async fn replace_node(
        &self,
        old: u64,
        id: u64,
        addr: &str,
        catch_up: Duration,
    ) -> Result<MembershipView, MembershipError> {
        let view = self.lead()?;
        if !view.voters.contains_key(&old) {
            return Err(MembershipError::Refused(format!(
                "node {old} is not a voter of the region"
            )));
        }
        self.add_caught_up_learner(&view, id, addr, catch_up)
            .await?;
        let voters: BTreeSet<u64> = view
            .voters
            .keys()
            .copied()
            .filter(|v| *v != old)
            .chain([id])
            .collect();
        let change = ChangeMembers::ReplaceAllVoters(voters);
        self.commit(
            change,
            &format!("replacing node {old} by node {id} at {addr}"),
        )
        .await
    }

    /// Commits `change` (openraft makes a voter change joint first), logs `what`, and answers
    /// the new membership.
    async fn commit(
        &self,
        change: ChangeMembers<u64, BasicNode>,
        what: &str,
    ) -> Result<MembershipView, MembershipError> {
        self.raft()
            .change_membership(change, false)
            .await
            .map_err(|e| write_error(e, what))?;
        tracing::info!("membership changed: {what}");
        Ok(self.membership())
    }

    /// Adds `id` at `addr` as a learner (unless it is one already, at that address; refused if
    /// it is a voter) and waits until its log is within [`CATCH_UP_SLACK`] entries of the
    /// leader's.
    async fn add_caught_up_learner(
        &self,
        view: &MembershipView,
        id: u64,
        addr: &str,
        catch_up: Duration,
    ) -> Result<(), MembershipError> {
        if view.voters.contains_key(&id) {
            return Err(MembershipError::Refused(format!(
                "node {id} is already a voter"
            )));
        }
        match view.learners.get(&id) {
            Some(known) if known != addr => {
                return Err(MembershipError::Refused(format!(
                    "node {id} is already a learner at {known}, not {addr}; remove it first"
                )))
            }
            Some(_) => {}
            None => {
                let node = BasicNode {
                    addr: addr.to_string(),
                };
                self.raft()
                    .add_learner(id, node, false)
                    .await
                    .map_err(|e| write_error(e, &format!("adding node {id} as a learner")))?;
                tracing::info!(node = id, addr, "learner added; waiting for it to catch up");
            }
        }
        let deadline = Instant::now() + catch_up;
        loop {
            let metrics = self.raft().metrics().borrow().clone();
            let matched = metrics
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).cloned().flatten())
                .map(|log| log.index);
            let last = metrics.last_log_index.unwrap_or(0);
            if matched.is_some_and(|m| m + CATCH_UP_SLACK >= last) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(MembershipError::Failed(format!(
                    "node {id} at {addr} did not catch up within {} s (it has {} of {last} \
                     entries); it stays a learner: check that it runs with this region's \
                     certificate and that this node reaches it, then run the command again, or \
                     remove it",
                    catch_up.as_secs(),
                    matched.map_or("none".to_string(), |m| m.to_string()),
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Refuses (unless `force`) when fewer than a majority of `voters` answer now.
    async fn check_live_quorum(
        &self,
        voters: &BTreeMap<u64, String>,
        force: bool,
        what: &str,
    ) -> Result<(), MembershipError> {
        let mut live = 0;
        for (id, addr) in voters {
            if *id == self.node_id() || self.answers(addr).await {
                live += 1;
            }
        }
        if live * 2 > voters.len() || force {
            return Ok(());
        }
        Err(MembershipError::Refused(format!(
            "{what} would leave {} voters of which {live} answer, fewer than a quorum: the \
             region could not commit anything; bring nodes back first, or pass --force",
            voters.len()
        )))
    }

    /// Whether the node at `addr` answers `/raft/status` now.
    async fn answers(&self, addr: &str) -> bool {
        let url = format!("{}://{addr}/raft/status", self.scheme());
        match self.http().get(&url).timeout(LIVENESS_TIMEOUT).send().await {
            Ok(response) => response.status().is_success(),
            Err(_) => false,
        }
    }
}
