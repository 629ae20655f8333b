//! Custom key stores as the state holds them: an HSM-backed store (AWS's `AWS_CLOUDHSM`, here
//! any PKCS#11 token) or an external key store (`EXTERNAL_KEY_STORE`, reached through an XKS
//! proxy), their connection state, and the rules `apply` enforces: names, proxy URIs and
//! clusters unique per account, the state each change needs, no deletion while keys use the
//! store, and the external key of each key unique in its store.
//!
//! Secrets (the store password, the proxy's secret access key) are held only wrapped by the
//! region's root key, in fields named `wrapped` so the root-key rotation's scan sees them.

use crate::{CommandOutput, KeyRecord, State};
use kms_types::{
    ConnectionErrorCode, ConnectionState, CustomKeyStoreType, KeyStoreError, KmsError,
    XksProxyConnectivityType,
};
use serde::{Deserialize, Serialize};

/// Custom key stores one account may have (AWS quota).
pub const MAX_CUSTOM_KEY_STORES: usize = 10;

/// A secret wrapped by the region's root key (opaque to this crate).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedSecret {
    /// The wrapped bytes.
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for WrappedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedSecret({} bytes)", self.wrapped.len())
    }
}

/// What backs a custom key store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStoreBackend {
    /// `AWS_CLOUDHSM`: the cluster id names a PKCS#11 token; the password is its user PIN.
    CloudHsm {
        /// `CloudHsmClusterId`.
        cluster_id: String,
        /// `TrustAnchorCertificate` (PEM), kept as given.
        trust_anchor_certificate: String,
        /// `KeyStorePassword`, wrapped.
        password: WrappedSecret,
    },
    /// `EXTERNAL_KEY_STORE`: an XKS proxy.
    External {
        /// `XksProxyUriEndpoint` (`https://host`).
        uri_endpoint: String,
        /// `XksProxyUriPath` (ends in `/kms/xks/v1`).
        uri_path: String,
        /// `XksProxyConnectivity`.
        connectivity: XksProxyConnectivityType,
        /// `XksProxyVpcEndpointServiceName`.
        vpc_endpoint_service_name: Option<String>,
        /// `XksProxyVpcEndpointServiceOwner`.
        vpc_endpoint_service_owner: Option<String>,
        /// The credential's `AccessKeyId`.
        access_key_id: String,
        /// The credential's `RawSecretAccessKey`, wrapped.
        secret: WrappedSecret,
    },
}

impl KeyStoreBackend {
    /// `CustomKeyStoreType`.
    pub fn store_type(&self) -> CustomKeyStoreType {
        match self {
            KeyStoreBackend::CloudHsm { .. } => CustomKeyStoreType::AwsCloudhsm,
            KeyStoreBackend::External { .. } => CustomKeyStoreType::ExternalKeyStore,
        }
    }

    /// The store's secret (wrapped).
    pub fn secret(&self) -> &WrappedSecret {
        match self {
            KeyStoreBackend::CloudHsm { password, .. } => password,
            KeyStoreBackend::External { secret, .. } => secret,
        }
    }

    pub(crate) fn secret_mut(&mut self) -> &mut WrappedSecret {
        match self {
            KeyStoreBackend::CloudHsm { password, .. } => password,
            KeyStoreBackend::External { secret, .. } => secret,
        }
    }

    /// Whether changing `self` into `new` needs the store DISCONNECTED (AWS: the cluster and
    /// password of an HSM store; the endpoint and connectivity of an external one).
    fn change_needs_disconnect(&self, new: &KeyStoreBackend) -> bool {
        match (self, new) {
            (
                KeyStoreBackend::CloudHsm {
                    cluster_id,
                    password,
                    ..
                },
                KeyStoreBackend::CloudHsm {
                    cluster_id: new_cluster,
                    password: new_password,
                    ..
                },
            ) => cluster_id != new_cluster || password != new_password,
            (
                KeyStoreBackend::External {
                    uri_endpoint,
                    connectivity,
                    vpc_endpoint_service_name,
                    vpc_endpoint_service_owner,
                    ..
                },
                KeyStoreBackend::External {
                    uri_endpoint: new_endpoint,
                    connectivity: new_connectivity,
                    vpc_endpoint_service_name: new_service,
                    vpc_endpoint_service_owner: new_owner,
                    ..
                },
            ) => {
                uri_endpoint != new_endpoint
                    || connectivity != new_connectivity
                    || vpc_endpoint_service_name != new_service
                    || vpc_endpoint_service_owner != new_owner
            }
            _ => true,
        }
    }
}

/// One custom key store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomKeyStoreRecord {
    /// `CustomKeyStoreId` (`cks-` + 17 hex digits).
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// `CustomKeyStoreName`, unique in the account.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub creation_ms: i64,
    /// What backs it.
    pub backend: KeyStoreBackend,
    /// `ConnectionState`.
    pub connection_state: ConnectionState,
    /// `ConnectionErrorCode`, while FAILED.
    pub connection_error_code: Option<ConnectionErrorCode>,
}

/// Which store holds a key, and for an external key store the key's external key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStoreLink {
    /// The custom key store's id.
    pub custom_key_store_id: String,
    /// `XksKeyId` (external key stores only).
    pub xks_key_id: Option<String>,
}

/// A change of connection state: allowed only from the `from` states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionChange {
    /// The store.
    pub id: String,
    /// The states the change applies in; in any other the command is refused with
    /// CustomKeyStoreInvalidStateException (an empty list: any state).
    pub from: Vec<ConnectionState>,
    /// The new state.
    pub to: ConnectionState,
    /// The error code with FAILED.
    pub error_code: Option<ConnectionErrorCode>,
}

fn invalid_state(message: String) -> KmsError {
    KmsError::KeyStore(KeyStoreError::CustomKeyStoreInvalidState, message)
}

/// The store `id` of `account_id`, or CustomKeyStoreNotFoundException.
fn not_found(id: &str) -> KmsError {
    KmsError::CustomKeyStoreNotFound(format!("Custom key store {id} does not exist."))
}

impl State {
    /// The custom key store `id`, if it exists.
    pub fn custom_key_store(&self, id: &str) -> Option<&CustomKeyStoreRecord> {
        self.custom_key_stores.get(id)
    }

    /// Every custom key store of `account_id`, in id order.
    pub fn custom_key_stores_of<'a>(
        &'a self,
        account_id: &'a str,
    ) -> impl Iterator<Item = &'a CustomKeyStoreRecord> + 'a {
        self.custom_key_stores
            .values()
            .filter(move |store| store.account_id == account_id)
    }

    /// Every custom key store in a connection state the leader acts on (CONNECTING: probe it;
    /// CONNECTED: check its health), in id order.
    pub fn custom_key_stores_to_watch(&self) -> impl Iterator<Item = &CustomKeyStoreRecord> {
        self.custom_key_stores.values().filter(|store| {
            matches!(
                store.connection_state,
                ConnectionState::Connecting | ConnectionState::Connected
            )
        })
    }

    /// The keys held in custom key store `id`.
    pub fn keys_in_custom_key_store<'a>(
        &'a self,
        id: &'a str,
    ) -> impl Iterator<Item = &'a KeyRecord> + 'a {
        self.keys.values().filter(move |key| {
            key.key_store
                .as_ref()
                .is_some_and(|link| link.custom_key_store_id == id)
        })
    }

    /// The key state a caller sees: a key whose store is not CONNECTED is Unavailable
    /// (unless it is pending deletion, which it stays).
    pub fn shown_key_state(&self, key: &KeyRecord) -> kms_types::KeyState {
        use kms_types::KeyState::*;
        let Some(link) = &key.key_store else {
            return key.key_state;
        };
        let connected = self
            .custom_key_stores
            .get(&link.custom_key_store_id)
            .is_some_and(|store| store.connection_state == ConnectionState::Connected);
        match key.key_state {
            Enabled | Disabled if !connected => Unavailable,
            state => state,
        }
    }

    fn check_unique(&self, store: &CustomKeyStoreRecord) -> Result<(), KmsError> {
        for other in self.custom_key_stores_of(&store.account_id) {
            if other.id == store.id {
                continue;
            }
            if other.name == store.name {
                return Err(KmsError::KeyStore(
                    KeyStoreError::CustomKeyStoreNameInUse,
                    format!(
                        "The custom key store name {} is already in use in this account and Region.",
                        store.name
                    ),
                ));
            }
            match (&other.backend, &store.backend) {
                (
                    KeyStoreBackend::CloudHsm { cluster_id: a, .. },
                    KeyStoreBackend::CloudHsm { cluster_id: b, .. },
                ) if a == b => {
                    return Err(KmsError::KeyStore(
                        KeyStoreError::CloudHsmClusterInUse,
                        format!("The CloudHSM cluster {b} is already associated with a custom key store."),
                    ))
                }
                (
                    KeyStoreBackend::External {
                        uri_endpoint: e1,
                        uri_path: p1,
                        ..
                    },
                    KeyStoreBackend::External {
                        uri_endpoint: e2,
                        uri_path: p2,
                        ..
                    },
                ) if e1 == e2 && p1 == p2 => {
                    return Err(KmsError::KeyStore(
                        KeyStoreError::XksProxyUriInUse,
                        format!(
                            "The combination of XksProxyUriEndpoint {e2} and XksProxyUriPath {p2} \
                             is already associated with an external key store in this account and Region."
                        ),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Applies [`Command::CreateCustomKeyStore`].
    pub(crate) fn create_custom_key_store(
        &mut self,
        store: &CustomKeyStoreRecord,
    ) -> Result<CommandOutput, KmsError> {
        if self.custom_key_stores.contains_key(&store.id) {
            return Err(KmsError::AlreadyExists(format!(
                "Custom key store {} already exists.",
                store.id
            )));
        }
        if self.custom_key_stores_of(&store.account_id).count() >= MAX_CUSTOM_KEY_STORES {
            return Err(KmsError::LimitExceeded(format!(
                "An account may have at most {MAX_CUSTOM_KEY_STORES} custom key stores per Region."
            )));
        }
        self.check_unique(store)?;
        self.custom_key_stores
            .insert(store.id.clone(), store.clone());
        Ok(CommandOutput::Empty)
    }

    /// Applies [`Command::UpdateCustomKeyStore`]: the new name and backend of store `id`.
    pub(crate) fn update_custom_key_store(
        &mut self,
        id: &str,
        name: &str,
        backend: &KeyStoreBackend,
    ) -> Result<CommandOutput, KmsError> {
        let current = self
            .custom_key_stores
            .get(id)
            .ok_or_else(|| not_found(id))?;
        if current.backend.change_needs_disconnect(backend)
            && current.connection_state != ConnectionState::Disconnected
        {
            return Err(invalid_state(format!(
                "Custom key store {id} must be disconnected for this update; it is {}.",
                current.connection_state
            )));
        }
        let mut updated = current.clone();
        updated.name = name.to_string();
        updated.backend = backend.clone();
        self.check_unique(&updated)?;
        self.custom_key_stores.insert(id.to_string(), updated);
        Ok(CommandOutput::Empty)
    }

    /// Applies [`Command::DeleteCustomKeyStore`]: only DISCONNECTED and holding no key.
    pub(crate) fn delete_custom_key_store(&mut self, id: &str) -> Result<CommandOutput, KmsError> {
        let store = self
            .custom_key_stores
            .get(id)
            .ok_or_else(|| not_found(id))?;
        if store.connection_state != ConnectionState::Disconnected {
            return Err(invalid_state(format!(
                "Custom key store {id} must be disconnected before it is deleted; it is {}.",
                store.connection_state
            )));
        }
        if self.keys_in_custom_key_store(id).next().is_some() {
            return Err(KmsError::KeyStore(
                KeyStoreError::CustomKeyStoreHasCmks,
                format!(
                    "Custom key store {id} still holds KMS keys. Delete them \
                     (ScheduleKeyDeletion, then wait) before deleting the store."
                ),
            ));
        }
        self.custom_key_stores.remove(id);
        Ok(CommandOutput::Empty)
    }

    /// Applies [`Command::SetCustomKeyStoreConnection`].
    pub(crate) fn set_custom_key_store_connection(
        &mut self,
        change: &ConnectionChange,
    ) -> Result<CommandOutput, KmsError> {
        let store = self
            .custom_key_stores
            .get_mut(&change.id)
            .ok_or_else(|| not_found(&change.id))?;
        if !change.from.is_empty() && !change.from.contains(&store.connection_state) {
            return Err(invalid_state(format!(
                "Custom key store {} is {}, so it cannot become {}.",
                change.id, store.connection_state, change.to
            )));
        }
        store.connection_state = change.to;
        store.connection_error_code = match change.to {
            ConnectionState::Failed => change.error_code,
            _ => None,
        };
        Ok(CommandOutput::Empty)
    }

    /// CreateKey's checks for a key in a custom key store: the store exists in the key's
    /// account, is CONNECTED, and (external stores) no other key uses the same external key.
    pub(crate) fn check_new_key_in_store(&self, key: &KeyRecord) -> Result<(), KmsError> {
        let Some(link) = &key.key_store else {
            return Ok(());
        };
        let id = &link.custom_key_store_id;
        let store = self
            .custom_key_stores
            .get(id)
            .filter(|store| store.account_id == key.account_id)
            .ok_or_else(|| not_found(id))?;
        if store.connection_state != ConnectionState::Connected {
            return Err(invalid_state(format!(
                "Custom key store {id} is {}; keys can be created only in a connected store.",
                store.connection_state
            )));
        }
        if let Some(xks_key_id) = &link.xks_key_id {
            let in_use = self.keys_in_custom_key_store(id).any(|other| {
                other
                    .key_store
                    .as_ref()
                    .is_some_and(|l| l.xks_key_id.as_ref() == Some(xks_key_id))
            });
            if in_use {
                return Err(KmsError::KeyStore(
                    KeyStoreError::XksKeyAlreadyInUse,
                    format!(
                        "The external key {xks_key_id} is already associated with a KMS key \
                         in custom key store {id}."
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::record;
    use crate::Command;
    use kms_types::KeyState;

    const ACCOUNT: &str = "111122223333";

    fn xks(id: &str, name: &str, path: &str) -> CustomKeyStoreRecord {
        CustomKeyStoreRecord {
            id: id.into(),
            account_id: ACCOUNT.into(),
            name: name.into(),
            creation_ms: 1,
            backend: KeyStoreBackend::External {
                uri_endpoint: "https://xks.example.com".into(),
                uri_path: path.into(),
                connectivity: XksProxyConnectivityType::PublicEndpoint,
                vpc_endpoint_service_name: None,
                vpc_endpoint_service_owner: None,
                access_key_id: "ABCDEFGHIJKLMNOPQRST".into(),
                secret: WrappedSecret { wrapped: vec![9] },
            },
            connection_state: ConnectionState::Disconnected,
            connection_error_code: None,
        }
    }

    fn code(result: Result<CommandOutput, KmsError>) -> &'static str {
        match result {
            Err(e) => e.aws_code(),
            Ok(_) => "ok",
        }
    }

    fn connect(
        state: &mut State,
        id: &str,
        from: &[ConnectionState],
        to: ConnectionState,
    ) -> &'static str {
        code(
            state
                .apply(&Command::SetCustomKeyStoreConnection(ConnectionChange {
                    id: id.into(),
                    from: from.to_vec(),
                    to,
                    error_code: None,
                }))
                .0,
        )
    }

    fn in_store(key_id: &str, store: &str, xks_key: &str) -> KeyRecord {
        let mut key = record(key_id);
        key.origin = kms_types::Origin::ExternalKeyStore;
        key.key_store = Some(KeyStoreLink {
            custom_key_store_id: store.into(),
            xks_key_id: Some(xks_key.into()),
        });
        key
    }

    #[test]
    fn names_and_proxy_uris_are_unique_per_account() {
        let mut state = State::default();
        let create = |state: &mut State, r| {
            code(state.apply(&Command::CreateCustomKeyStore { record: r }).0)
        };
        assert_eq!(create(&mut state, xks("cks-1", "a", "/a/kms/xks/v1")), "ok");
        assert_eq!(
            create(&mut state, xks("cks-2", "a", "/b/kms/xks/v1")),
            "CustomKeyStoreNameInUseException"
        );
        assert_eq!(
            create(&mut state, xks("cks-2", "b", "/a/kms/xks/v1")),
            "XksProxyUriInUseException"
        );
        let mut other_account = xks("cks-3", "a", "/a/kms/xks/v1");
        other_account.account_id = "444455556666".into();
        assert_eq!(create(&mut state, other_account), "ok");
        assert_eq!(state.custom_key_stores_of(ACCOUNT).count(), 1);
    }

    #[test]
    fn keys_need_a_connected_store_and_their_own_external_key() {
        let mut state = State::default();
        state.apply(&Command::CreateCustomKeyStore {
            record: xks("cks-1", "a", "/a/kms/xks/v1"),
        });
        let k1 = "11111111-2222-3333-4444-555555555555";
        let k2 = "11111111-2222-3333-4444-666666666666";
        let create_key =
            |state: &mut State, key| code(state.apply(&Command::CreateKey { record: key }).0);
        assert_eq!(
            create_key(&mut state, in_store(k1, "cks-1", "x1")),
            "CustomKeyStoreInvalidStateException"
        );
        assert_eq!(
            create_key(&mut state, in_store(k1, "cks-9", "x1")),
            "CustomKeyStoreNotFoundException"
        );
        // Connect: DISCONNECTED -> CONNECTING -> CONNECTED (the leader's probe).
        assert_eq!(
            connect(
                &mut state,
                "cks-1",
                &[ConnectionState::Disconnected],
                ConnectionState::Connecting
            ),
            "ok"
        );
        assert_eq!(
            connect(
                &mut state,
                "cks-1",
                &[ConnectionState::Connecting],
                ConnectionState::Connected
            ),
            "ok"
        );
        assert_eq!(create_key(&mut state, in_store(k1, "cks-1", "x1")), "ok");
        assert_eq!(
            create_key(&mut state, in_store(k2, "cks-1", "x1")),
            "XksKeyAlreadyInUseException"
        );
        let key = state.key(k1).unwrap().clone();
        assert_eq!(state.shown_key_state(&key), KeyState::Enabled);
        // Disconnected, its keys are Unavailable; pending deletion stays pending deletion.
        assert_eq!(
            connect(&mut state, "cks-1", &[], ConnectionState::Disconnected),
            "ok"
        );
        assert_eq!(state.shown_key_state(&key), KeyState::Unavailable);
        let mut pending = key.clone();
        pending.key_state = KeyState::PendingDeletion;
        assert_eq!(state.shown_key_state(&pending), KeyState::PendingDeletion);
        // A store with keys is not deleted; a probe answer for a store no longer CONNECTING
        // (disconnected meanwhile) is refused.
        assert_eq!(
            code(
                state
                    .apply(&Command::DeleteCustomKeyStore { id: "cks-1".into() })
                    .0
            ),
            "CustomKeyStoreHasCMKsException"
        );
        assert_eq!(
            connect(
                &mut state,
                "cks-1",
                &[ConnectionState::Connecting],
                ConnectionState::Connected
            ),
            "CustomKeyStoreInvalidStateException"
        );
    }

    #[test]
    fn updates_that_need_a_disconnected_store_wait_for_one() {
        let mut state = State::default();
        state.apply(&Command::CreateCustomKeyStore {
            record: xks("cks-1", "a", "/a/kms/xks/v1"),
        });
        connect(&mut state, "cks-1", &[], ConnectionState::Connected);
        let mut backend = state.custom_key_store("cks-1").unwrap().backend.clone();
        let update = |state: &mut State, name: &str, backend: &KeyStoreBackend| {
            code(
                state
                    .apply(&Command::UpdateCustomKeyStore {
                        id: "cks-1".into(),
                        name: name.into(),
                        backend: backend.clone(),
                    })
                    .0,
            )
        };
        // A new name and a new path are fine while connected; a new endpoint is not.
        if let KeyStoreBackend::External { uri_path, .. } = &mut backend {
            *uri_path = "/b/kms/xks/v1".into();
        }
        assert_eq!(update(&mut state, "renamed", &backend), "ok");
        if let KeyStoreBackend::External { uri_endpoint, .. } = &mut backend {
            *uri_endpoint = "https://other.example.com".into();
        }
        assert_eq!(
            update(&mut state, "renamed", &backend),
            "CustomKeyStoreInvalidStateException"
        );
        connect(&mut state, "cks-1", &[], ConnectionState::Disconnected);
        assert_eq!(update(&mut state, "renamed", &backend), "ok");
        assert_eq!(state.custom_key_store("cks-1").unwrap().name, "renamed");
        assert_eq!(
            code(
                state
                    .apply(&Command::DeleteCustomKeyStore { id: "cks-1".into() })
                    .0
            ),
            "ok"
        );
        assert!(state.custom_key_store("cks-1").is_none());
    }
}
