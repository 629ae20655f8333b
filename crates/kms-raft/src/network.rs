//! The client half of the Raft transport: openraft's `RaftNetwork` over HTTP POSTs to the
//! peer's `/raft/*` endpoints with bincode bodies.

use crate::wire::{decode, encode, limits};
use crate::wire_version;
use kms_store::TypeConfig;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Builds one [`PeerClient`] per peer; all share one HTTP connection pool.
#[derive(Clone)]
pub(crate) struct HttpNetworkFactory {
    pub(crate) http: reqwest::Client,
    /// `http` or `https` (mutual TLS between the region's nodes).
    pub(crate) scheme: &'static str,
    /// The Raft wire version this node speaks (`wire_version`).
    pub(crate) version: u32,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.clone(),
            http: self.http.clone(),
            scheme: self.scheme,
            version: self.version,
        }
    }
}

/// Sends Raft RPCs to one peer.
pub(crate) struct PeerClient {
    target: u64,
    addr: String,
    http: reqwest::Client,
    scheme: &'static str,
    version: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

impl PeerClient {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let body = encode(request)
            .map_err(|e| RPCError::Network(NetworkError::new(&TransportError(e))))?;
        let url = format!("{}://{}/raft/{path}", self.scheme, self.addr);
        let response = self
            .http
            .post(url)
            .header(wire_version::HEADER, self.version)
            .timeout(option.hard_ttl())
            .body(body)
            .send()
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            // A peer of another Raft wire version: its reason names both.
            let why = response.text().await.unwrap_or_default();
            wire_version::warn_refused(&self.addr, &why);
            let error = TransportError(format!("peer {} refused: {why}", self.addr));
            return Err(RPCError::Network(NetworkError::new(&error)));
        }
        if !response.status().is_success() {
            let error = TransportError(format!("peer answered HTTP {}", response.status()));
            return Err(RPCError::Network(NetworkError::new(&error)));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let reply: Result<Resp, E> = decode::<{ limits::SMALL }, _>(&bytes)
            .map_err(|e| RPCError::Network(NetworkError::new(&TransportError(e))))?;
        reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

type RpcResult<T, E = RaftError<u64>> = Result<T, RPCError<u64, BasicNode, E>>;

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        self.call("append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>> {
        self.call("snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        self.call("vote", &rpc, &option).await
    }
}
