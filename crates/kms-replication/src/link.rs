//! The sending side of the link between regions: mutual-TLS clients to every peer region,
//! sealing of key material to the receiving region, delivery of [`RegionMessage`]s and
//! forwarding of KMS requests signed for another region (as their callers signed them).
//!
//! Key material crosses regions only sealed to the receiver's transport key (derived from its
//! root key; its public half is fetched over the authenticated channel) and inside TLS.

use crate::Region;
use kms_core::{RegionMessage, RegionReply};
use kms_crypto::{SealContext, TransportKey};
use kms_types::wire_version::LINK;
use kms_types::KmsError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// What goes over the wire for one outbox entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending region.
    pub from_region: String,
    /// The sender's outbox sequence number.
    pub seq: u64,
    /// The message; its material is sealed to the receiving region.
    pub message: RegionMessage,
}

/// A KMS request signed for another region, passed on as its caller signed it: the receiving
/// region verifies the caller's signature itself (the forwarding region vouches for nothing;
/// a link certificate alone never yields a principal).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardedCall {
    /// The request id the caller sees (the forwarding node's), so both audit trails name it.
    pub request_id: String,
    /// The HTTP method as the caller sent it.
    pub method: String,
    /// The request target as the caller sent it.
    pub uri: String,
    /// The caller's headers (the signed ones among them unchanged, `Host` included).
    pub headers: Vec<(String, String)>,
    /// The body as the caller sent it, hex.
    pub body_hex: String,
}

/// A peer's question for the metadata of one key as this region committed it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyMetadataQuery {
    /// The key id (the same in every region of a multi-region key).
    pub key_id: String,
}

/// Why a message was not delivered; the outbox keeps it and the shipper retries.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No node of the peer region answered, or none accepted the message.
    #[error("region {region} unreachable: {detail}")]
    Unreachable {
        /// The peer.
        region: String,
        /// The last failure.
        detail: String,
    },
    /// Sealing or opening material failed.
    #[error("sealing key material: {0}")]
    Seal(String),
    /// The link's TLS identity or clients could not be set up.
    #[error("setting up the link: {0}")]
    Setup(String),
}

struct Peer {
    addrs: Vec<String>,
    client: reqwest::Client,
    transport_public: Mutex<Option<Vec<u8>>>,
}

/// This region's end of the link.
pub struct RegionLink {
    region: String,
    peers: BTreeMap<String, Peer>,
    transport_key: TransportKey,
    deny_list: std::sync::Arc<kms_link::tls::DenyList>,
    /// The link wire version this node speaks and requires (kms-types' `wire_version::LINK`).
    wire_version: u32,
    #[cfg(feature = "testing")]
    fault_file: Option<std::path::PathBuf>,
}

/// The link wire version of this build; a `testing` build speaks `TRENT_TEST_LINK_WIRE_VERSION`
/// instead when it is set, to test the refusal.
pub fn link_wire_version() -> u32 {
    #[cfg(feature = "testing")]
    if let Some(version) = std::env::var("TRENT_TEST_LINK_WIRE_VERSION")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return version;
    }
    LINK.version
}

impl RegionLink {
    /// Builds the clients for every peer region (region name to the link addresses of its
    /// nodes), presenting `identity`; material sealed to this region opens with
    /// `transport_key` (derived from this region's root key).
    pub fn new(
        region: &str,
        peers: &BTreeMap<String, Vec<String>>,
        identity: &kms_link::tls::LinkIdentity,
        transport_key: TransportKey,
    ) -> Result<Self, LinkError> {
        let mut clients = BTreeMap::new();
        for (peer, addrs) in peers {
            let client = kms_link::tls::client_for_region(identity, peer)
                .map_err(|e| LinkError::Setup(format!("client for {peer}: {e}")))?;
            clients.insert(
                peer.clone(),
                Peer {
                    addrs: addrs.clone(),
                    client,
                    transport_public: Mutex::new(None),
                },
            );
        }
        Ok(RegionLink {
            region: region.to_string(),
            peers: clients,
            transport_key,
            deny_list: std::sync::Arc::default(),
            wire_version: link_wire_version(),
            #[cfg(feature = "testing")]
            fault_file: std::env::var_os("TRENT_TEST_LINK_FAULT_FILE").map(Into::into),
        })
    }

    /// The link wire version this node speaks.
    pub fn wire_version(&self) -> u32 {
        self.wire_version
    }

    /// Refuses peers on `deny_list` (revoked nodes of any region) from now on.
    pub fn with_deny_list(mut self, deny_list: std::sync::Arc<kms_link::tls::DenyList>) -> Self {
        self.deny_list = deny_list;
        self
    }

    /// Why a connection from `peer` may not use the link, if it may not: its certificate must
    /// name a peer region and a node of it that is not revoked.
    pub fn refusal(&self, peer: &kms_link::tls::PeerInfo) -> Option<&'static str> {
        let Some(region) = peer.region.as_deref().filter(|r| self.has_peer(r)) else {
            return Some("not a peer region");
        };
        match peer.node {
            None => Some("the certificate names no node"),
            Some(node) if self.deny_list.is_revoked(region, node) => {
                Some("the node is revoked (deny-list)")
            }
            Some(_) => None,
        }
    }

    /// This region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The peer regions.
    pub fn peer_regions(&self) -> impl Iterator<Item = &str> {
        self.peers.keys().map(String::as_str)
    }

    /// Whether `region` is a configured peer.
    pub fn has_peer(&self, region: &str) -> bool {
        self.peers.contains_key(region)
    }

    /// This region's transport key (to open material sealed to it).
    pub fn transport_key(&self) -> &TransportKey {
        &self.transport_key
    }

    /// In test builds, `TRENT_TEST_LINK_FAULT_FILE` names a file; while it contains `cut`, this
    /// node neither sends to nor accepts from other regions (a switch for partition tests).
    pub fn cut(&self) -> bool {
        #[cfg(feature = "testing")]
        if let Some(path) = &self.fault_file {
            return std::fs::read_to_string(path).is_ok_and(|t| t.trim() == "cut");
        }
        false
    }

    fn peer(&self, region: &str) -> Result<&Peer, LinkError> {
        self.peers
            .get(region)
            .ok_or_else(|| LinkError::Unreachable {
                region: region.to_string(),
                detail: "not a configured peer region".into(),
            })
    }

    /// POSTs `body` to `path` on the first node of `region` that answers with a success.
    async fn post(
        &self,
        region: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, LinkError> {
        let peer = self.peer(region)?;
        if self.cut() {
            return Err(LinkError::Unreachable {
                region: region.to_string(),
                detail: "link cut by the test fault switch".into(),
            });
        }
        let mut detail = String::from("no addresses");
        for addr in &peer.addrs {
            let sent = peer
                .client
                .post(format!("https://{addr}{path}"))
                .header("content-type", "application/json")
                .header(LINK.header, self.wire_version)
                .body(body.clone())
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) if response.status() == reqwest::StatusCode::CONFLICT => {
                    // A peer region of another link wire version: its reason names both.
                    let why = response.text().await.unwrap_or_default();
                    tracing::warn!(%region, %addr, "the peer region refused this node's link traffic: {why}");
                    detail = format!("{addr} refused: {why}");
                }
                Ok(response) => detail = format!("{addr} answered {}", response.status()),
                Err(e) => detail = format!("{addr}: {e}"),
            }
        }
        Err(LinkError::Unreachable {
            region: region.to_string(),
            detail,
        })
    }

    /// The transport public key of `region`, fetched once over the authenticated channel.
    pub async fn transport_public(&self, region: &str) -> Result<Vec<u8>, LinkError> {
        let peer = self.peer(region)?;
        if let Some(key) = peer
            .transport_public
            .lock()
            .map_err(|_| poisoned())?
            .clone()
        {
            return Ok(key);
        }
        let response = self
            .post(region, "/link/v1/transport-key", Vec::new())
            .await?;
        let text = response.text().await.map_err(|e| LinkError::Unreachable {
            region: region.to_string(),
            detail: e.to_string(),
        })?;
        let key = hex::decode(text.trim()).map_err(|e| LinkError::Seal(e.to_string()))?;
        *peer.transport_public.lock().map_err(|_| poisoned())? = Some(key.clone());
        Ok(key)
    }

    /// Delivers one outbox message to `to_region` and returns the receiver's committed answer.
    /// `message` carries material wrapped by `keys`' root key; it is sealed to the receiver
    /// here.
    pub async fn deliver(
        &self,
        to_region: &str,
        seq: u64,
        mut message: RegionMessage,
        keys: &impl Region,
    ) -> Result<RegionReply, LinkError> {
        if let Some(shared) = message.shared_mut() {
            let recipient = self.transport_public(to_region).await?;
            let key_id = shared.key_id.clone();
            for material in shared.materials_mut() {
                let plain = keys
                    .unwrap_material(&key_id, &material.material_id, &material.wrapped)
                    .map_err(|e| LinkError::Seal(e.to_string()))?;
                let sealed_to = SealContext::region_material(
                    &self.region,
                    to_region,
                    &key_id,
                    &material.material_id,
                );
                material.wrapped = kms_crypto::seal_material(&recipient, &plain, &sealed_to)
                    .map_err(|e| LinkError::Seal(e.to_string()))?;
            }
        }
        let envelope = Envelope {
            from_region: self.region.clone(),
            seq,
            message,
        };
        let body = serde_json::to_vec(&envelope).map_err(|e| LinkError::Seal(e.to_string()))?;
        let response = self.post(to_region, "/link/v1/message", body).await?;
        let unreadable = |e: String| LinkError::Unreachable {
            region: to_region.to_string(),
            detail: format!("unreadable answer: {e}"),
        };
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        serde_json::from_slice::<RegionReply>(&bytes).map_err(|e| unreadable(e.to_string()))
    }

    /// The metadata of `key_id` as `region` has committed it (after a read barrier there), or
    /// `None` if that region has no such key.
    pub async fn key_metadata(
        &self,
        region: &str,
        key_id: &str,
    ) -> Result<Option<kms_types::model::KeyMetadata>, LinkError> {
        let body = serde_json::to_vec(&KeyMetadataQuery {
            key_id: key_id.to_string(),
        })
        .map_err(|e| LinkError::Seal(e.to_string()))?;
        let response = self.post(region, "/link/v1/key-metadata", body).await?;
        let unreadable = |e: String| LinkError::Unreachable {
            region: region.to_string(),
            detail: format!("unreadable answer: {e}"),
        };
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))
    }

    /// Wipes `region` (the reset for test suites); it re-applies its seed afterwards.
    pub async fn reset(&self, region: &str) -> Result<(), LinkError> {
        self.post(region, "/link/v1/reset", Vec::new())
            .await
            .map(|_| ())
    }

    /// Runs a KMS request in `region` and returns its JSON answer or AWS error.
    pub async fn forward(
        &self,
        region: &str,
        call: ForwardedCall,
    ) -> Result<serde_json::Value, KmsError> {
        let body = serde_json::to_vec(&call).map_err(|e| KmsError::KmsInternal(e.to_string()))?;
        let response = self
            .post(region, "/link/v1/kms", body)
            .await
            .map_err(|e| KmsError::KmsInternal(format!("Could not reach {region}: {e}")))?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| KmsError::KmsInternal(format!("Unreadable answer from {region}: {e}")))?;
        let outcome: Result<serde_json::Value, KmsError> = serde_json::from_slice(&bytes)
            .map_err(|e| KmsError::KmsInternal(format!("Unreadable answer from {region}: {e}")))?;
        outcome
    }
}

fn poisoned() -> LinkError {
    LinkError::Seal("transport key cache poisoned".into())
}
