//! The custom key store operations: CreateCustomKeyStore, ConnectCustomKeyStore,
//! DisconnectCustomKeyStore, DeleteCustomKeyStore, DescribeCustomKeyStores and
//! UpdateCustomKeyStore, with AWS's validation and errors. A store is created DISCONNECTED;
//! Connect moves it to CONNECTING and the leader's watch (`key_store_watch`) probes it.

use crate::call::{Call, Empty};
use crate::key_store_backends::BackendError;
use crate::validate::{length_within, limit, pattern, required};
use kms_core::{Command, ConnectionChange, CustomKeyStoreRecord, KeyStoreBackend};
use kms_keystore::xks_api::is_valid_uri_path;
use kms_types::model::*;
use kms_types::*;

const ENDPOINT_PATTERN: &str = "^https://[.:a-zA-Z0-9-]+$";
const PATH_PATTERN: &str = "^(/[a-zA-Z0-9\\/_-]+$)|(/[a-zA-Z0-9\\/_-]+/kms/xks/v\\d{1,2})$";
const ACCESS_KEY_PATTERN: &str = "^[A-Z2-7]+$";
const SECRET_PATTERN: &str = "^[a-zA-Z0-9\\/+=]+$";

fn invalid_state(message: String) -> KmsError {
    KmsError::KeyStore(KeyStoreError::CustomKeyStoreInvalidState, message)
}

fn not_found(id: &str) -> KmsError {
    KmsError::CustomKeyStoreNotFound(format!("Custom key store {id} does not exist."))
}

fn check_name(name: &str, field: &str) -> Result<(), KmsError> {
    length_within(name.chars().count(), 1, 256, field)
}

fn check_endpoint(endpoint: &str) -> Result<(), KmsError> {
    length_within(endpoint.len(), 10, 128, "xksProxyUriEndpoint")?;
    let ok = endpoint.strip_prefix("https://").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-'))
    });
    pattern(endpoint, ok, "xksProxyUriEndpoint", ENDPOINT_PATTERN, false)
}

fn check_path(path: &str) -> Result<(), KmsError> {
    length_within(path.len(), 10, 128, "xksProxyUriPath")?;
    let chars_ok = path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'));
    pattern(path, chars_ok, "xksProxyUriPath", PATH_PATTERN, false)?;
    if !is_valid_uri_path(path) {
        return Err(KmsError::KeyStore(
            KeyStoreError::XksProxyInvalidConfiguration,
            format!("The XksProxyUriPath {path} must end in /kms/xks/v1."),
        ));
    }
    Ok(())
}

/// The credential's access key id and secret, checked.
fn check_credential(
    credential: XksProxyAuthenticationCredential,
) -> Result<(String, String), KmsError> {
    let field = "xksProxyAuthenticationCredential";
    let access_key_id = required(credential.access_key_id, &format!("{field}.accessKeyId"))?;
    let secret = required(
        credential.raw_secret_access_key,
        &format!("{field}.rawSecretAccessKey"),
    )?
    .0;
    length_within(access_key_id.len(), 20, 30, &format!("{field}.accessKeyId"))?;
    pattern(
        &access_key_id,
        access_key_id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        &format!("{field}.accessKeyId"),
        ACCESS_KEY_PATTERN,
        false,
    )?;
    length_within(secret.len(), 43, 64, &format!("{field}.rawSecretAccessKey"))?;
    pattern(
        &secret,
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b'=')),
        &format!("{field}.rawSecretAccessKey"),
        SECRET_PATTERN,
        true,
    )?;
    Ok((access_key_id, secret))
}

fn check_connectivity(text: &str) -> Result<XksProxyConnectivityType, KmsError> {
    match parse_enum::<XksProxyConnectivityType>(text, "xksProxyConnectivity")? {
        XksProxyConnectivityType::PublicEndpoint => Ok(XksProxyConnectivityType::PublicEndpoint),
        // Trent runs in no VPC: there is no endpoint service to find.
        XksProxyConnectivityType::VpcEndpointService => Err(KmsError::KeyStore(
            KeyStoreError::XksProxyVpcEndpointServiceNotFound,
            "Trent has no Amazon VPC endpoint services: use XksProxyConnectivity \
             PUBLIC_ENDPOINT."
                .into(),
        )),
    }
}

/// What CreateCustomKeyStore or UpdateCustomKeyStore answers when probing the proxy fails.
fn proxy_error(error: &BackendError) -> KmsError {
    use ConnectionErrorCode as C;
    let (which, what) = match error.connection_error_code() {
        C::InvalidCredentials => (
            KeyStoreError::XksProxyIncorrectAuthenticationCredential,
            "The external key store proxy rejected the authentication credential",
        ),
        C::XksProxyInvalidResponse => (
            KeyStoreError::XksProxyInvalidResponse,
            "The external key store proxy's response is not valid",
        ),
        C::XksProxyInvalidConfiguration | C::XksProxyAccessDenied => (
            KeyStoreError::XksProxyInvalidConfiguration,
            "The external key store proxy is not configured for this store",
        ),
        _ => (
            KeyStoreError::XksProxyUriUnreachable,
            "The external key store proxy is not reachable",
        ),
    };
    KmsError::KeyStore(which, format!("{what}: {error}"))
}

fn new_store_id() -> String {
    let mut id = hex::encode(kms_crypto::random_bytes(9));
    id.truncate(17);
    format!("cks-{id}")
}

/// A PEM certificate, as far as can be told without its cluster.
fn check_trust_anchor(pem: &str) -> Result<(), KmsError> {
    length_within(pem.len(), 1, 5000, "trustAnchorCertificate")?;
    if !(pem.contains("-----BEGIN CERTIFICATE-----") && pem.contains("-----END CERTIFICATE-----")) {
        return Err(KmsError::KeyStore(
            KeyStoreError::IncorrectTrustAnchor,
            "The TrustAnchorCertificate is not a PEM-encoded certificate.".into(),
        ));
    }
    Ok(())
}

fn entry(store: &CustomKeyStoreRecord) -> CustomKeyStoresListEntry {
    let (cluster, anchor, xks) = match &store.backend {
        KeyStoreBackend::CloudHsm {
            cluster_id,
            trust_anchor_certificate,
            ..
        } => (
            Some(cluster_id.clone()),
            Some(trust_anchor_certificate.clone()),
            None,
        ),
        KeyStoreBackend::External {
            uri_endpoint,
            uri_path,
            connectivity,
            vpc_endpoint_service_name,
            vpc_endpoint_service_owner,
            access_key_id,
            ..
        } => (
            None,
            None,
            Some(XksProxyConfiguration {
                connectivity: *connectivity,
                access_key_id: access_key_id.clone(),
                uri_endpoint: uri_endpoint.clone(),
                uri_path: uri_path.clone(),
                vpc_endpoint_service_name: vpc_endpoint_service_name.clone(),
                vpc_endpoint_service_owner: vpc_endpoint_service_owner.clone(),
            }),
        ),
    };
    CustomKeyStoresListEntry {
        custom_key_store_id: store.id.clone(),
        custom_key_store_name: store.name.clone(),
        cloud_hsm_cluster_id: cluster,
        trust_anchor_certificate: anchor,
        connection_state: store.connection_state,
        connection_error_code: store.connection_error_code,
        creation_date: epoch_seconds(store.creation_ms),
        custom_key_store_type: store.backend.store_type(),
        xks_proxy_configuration: xks,
    }
}

impl Call<'_> {
    /// The caller's custom key store `id` (a linearizable read), or
    /// CustomKeyStoreNotFoundException.
    pub(crate) async fn custom_key_store(
        &self,
        id: Option<String>,
    ) -> Result<CustomKeyStoreRecord, KmsError> {
        let id = required(id, "customKeyStoreId")?;
        length_within(id.len(), 1, 64, "customKeyStoreId")?;
        self.read(|state| {
            state
                .custom_key_store(&id)
                .filter(|store| store.account_id == self.account_id())
                .cloned()
        })
        .await?
        .ok_or_else(|| not_found(&id))
    }

    /// Checks that the token `cluster_id` exists in this node's PKCS#11 module.
    async fn check_cluster(&self, cluster_id: &str) -> Result<(), KmsError> {
        length_within(cluster_id.len(), 19, 24, "cloudHsmClusterId")?;
        let backends = self.key_store_backends();
        let not_found = |why: String| {
            KmsError::KeyStore(
                KeyStoreError::CloudHsmClusterNotFound,
                format!("The CloudHSM cluster {cluster_id} was not found: {why}"),
            )
        };
        if !backends.has_pkcs11() {
            return Err(not_found(
                "this region has no PKCS#11 module ([custom_key_stores] pkcs11_module)".into(),
            ));
        }
        let module = backends
            .pkcs11_module()
            .map_err(|e| not_found(e.to_string()))?;
        let labels = tokio::task::spawn_blocking(move || module.token_labels())
            .await
            .map_err(|e| KmsError::KmsInternal(format!("interrupted: {e}")))?
            .map_err(|e| not_found(e.to_string()))?;
        if !labels.iter().any(|label| label == cluster_id) {
            return Err(not_found("no token has that label".into()));
        }
        Ok(())
    }

    pub(crate) async fn create_custom_key_store(
        &self,
        request: CreateCustomKeyStoreRequest,
    ) -> Result<CreateCustomKeyStoreResponse, KmsError> {
        let name = required(request.custom_key_store_name, "customKeyStoreName")?;
        check_name(&name, "customKeyStoreName")?;
        let store_type = match request.custom_key_store_type.as_deref() {
            Some(text) => parse_enum::<CustomKeyStoreType>(text, "customKeyStoreType")?,
            None => CustomKeyStoreType::AwsCloudhsm,
        };
        let id = new_store_id();
        let backend = match store_type {
            CustomKeyStoreType::AwsCloudhsm => {
                if request.xks_proxy_uri_endpoint.is_some()
                    || request.xks_proxy_uri_path.is_some()
                    || request.xks_proxy_authentication_credential.is_some()
                    || request.xks_proxy_connectivity.is_some()
                {
                    return Err(KmsError::Validation(
                        "The XksProxy parameters apply only to custom key stores of type \
                         EXTERNAL_KEY_STORE."
                            .into(),
                    ));
                }
                let cluster_id = required(request.cloud_hsm_cluster_id, "cloudHsmClusterId")?;
                let anchor = required(request.trust_anchor_certificate, "trustAnchorCertificate")?;
                let password = required(request.key_store_password, "keyStorePassword")?.0;
                length_within(password.chars().count(), 7, 32, "keyStorePassword")?;
                check_trust_anchor(&anchor)?;
                self.check_cluster(&cluster_id).await?;
                KeyStoreBackend::CloudHsm {
                    cluster_id,
                    trust_anchor_certificate: anchor,
                    password: self.wrap_store_secret(&id, &password),
                }
            }
            CustomKeyStoreType::ExternalKeyStore => {
                if request.cloud_hsm_cluster_id.is_some()
                    || request.trust_anchor_certificate.is_some()
                    || request.key_store_password.is_some()
                {
                    return Err(KmsError::Validation(
                        "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword apply \
                         only to custom key stores of type AWS_CLOUDHSM."
                            .into(),
                    ));
                }
                let endpoint = required(request.xks_proxy_uri_endpoint, "xksProxyUriEndpoint")?;
                check_endpoint(&endpoint)?;
                let path = required(request.xks_proxy_uri_path, "xksProxyUriPath")?;
                check_path(&path)?;
                let connectivity = check_connectivity(&required(
                    request.xks_proxy_connectivity,
                    "xksProxyConnectivity",
                )?)?;
                let (access_key_id, secret) = check_credential(required(
                    request.xks_proxy_authentication_credential,
                    "xksProxyAuthenticationCredential",
                )?)?;
                KeyStoreBackend::External {
                    uri_endpoint: endpoint,
                    uri_path: path,
                    connectivity,
                    vpc_endpoint_service_name: None,
                    vpc_endpoint_service_owner: None,
                    access_key_id,
                    secret: self.wrap_store_secret(&id, &secret),
                }
            }
        };
        let record = CustomKeyStoreRecord {
            id: id.clone(),
            account_id: self.account_id().to_string(),
            name,
            creation_ms: self.now_ms(),
            backend,
            connection_state: ConnectionState::Disconnected,
            connection_error_code: None,
        };
        // AWS probes a public proxy when the store is created.
        if let KeyStoreBackend::External { .. } = record.backend {
            self.probe_key_store(&record, "CreateCustomKeyStore")
                .await
                .map_err(|e| proxy_error(&e))?;
        }
        self.write(Command::CreateCustomKeyStore { record }).await?;
        Ok(CreateCustomKeyStoreResponse {
            custom_key_store_id: id,
        })
    }

    pub(crate) async fn connect_custom_key_store(
        &self,
        request: CustomKeyStoreIdRequest,
    ) -> Result<Empty, KmsError> {
        let store = self.custom_key_store(request.custom_key_store_id).await?;
        match store.connection_state {
            ConnectionState::Connected | ConnectionState::Connecting => Ok(Empty {}),
            ConnectionState::Disconnected => {
                self.write(Command::SetCustomKeyStoreConnection(ConnectionChange {
                    id: store.id,
                    from: vec![ConnectionState::Disconnected],
                    to: ConnectionState::Connecting,
                    error_code: None,
                }))
                .await?;
                Ok(Empty {})
            }
            other => Err(invalid_state(format!(
                "Custom key store {} is {other}. Disconnect it (DisconnectCustomKeyStore) \
                 before connecting it again.",
                store.id
            ))),
        }
    }

    pub(crate) async fn disconnect_custom_key_store(
        &self,
        request: CustomKeyStoreIdRequest,
    ) -> Result<Empty, KmsError> {
        let store = self.custom_key_store(request.custom_key_store_id).await?;
        self.write(Command::SetCustomKeyStoreConnection(ConnectionChange {
            id: store.id.clone(),
            from: vec![
                ConnectionState::Connected,
                ConnectionState::Connecting,
                ConnectionState::Failed,
            ],
            to: ConnectionState::Disconnected,
            error_code: None,
        }))
        .await?;
        self.key_store_backends().forget(&store.id);
        Ok(Empty {})
    }

    pub(crate) async fn delete_custom_key_store(
        &self,
        request: CustomKeyStoreIdRequest,
    ) -> Result<Empty, KmsError> {
        let store = self.custom_key_store(request.custom_key_store_id).await?;
        self.write(Command::DeleteCustomKeyStore {
            id: store.id.clone(),
        })
        .await?;
        self.key_store_backends().forget(&store.id);
        Ok(Empty {})
    }

    pub(crate) async fn describe_custom_key_stores(
        &self,
        request: DescribeCustomKeyStoresRequest,
    ) -> Result<DescribeCustomKeyStoresResponse, KmsError> {
        let limit = limit(request.limit, 1000, 1000)?;
        if let Some(name) = &request.custom_key_store_name {
            check_name(name, "customKeyStoreName")?;
        }
        if let Some(id) = &request.custom_key_store_id {
            length_within(id.len(), 1, 64, "customKeyStoreId")?;
        }
        let marker = request.marker.clone();
        let stores: Vec<CustomKeyStoreRecord> = self
            .read(|state| {
                state
                    .custom_key_stores_of(self.account_id())
                    .filter(|store| {
                        request
                            .custom_key_store_id
                            .as_ref()
                            .is_none_or(|id| &store.id == id)
                            && request
                                .custom_key_store_name
                                .as_ref()
                                .is_none_or(|name| &store.name == name)
                    })
                    .filter(|store| {
                        marker
                            .as_ref()
                            .is_none_or(|m| store.id.as_str() > m.as_str())
                    })
                    .cloned()
                    .collect()
            })
            .await?;
        if stores.is_empty() && marker.is_none() {
            if let Some(id) = request.custom_key_store_id {
                return Err(not_found(&id));
            }
            if let Some(name) = request.custom_key_store_name {
                return Err(KmsError::CustomKeyStoreNotFound(format!(
                    "Custom key store {name} does not exist."
                )));
            }
        }
        let truncated = stores.len() > limit;
        let page: Vec<CustomKeyStoresListEntry> = stores.iter().take(limit).map(entry).collect();
        let next_marker = truncated
            .then(|| page.last().map(|e| e.custom_key_store_id.clone()))
            .flatten();
        Ok(DescribeCustomKeyStoresResponse {
            custom_key_stores: page,
            next_marker,
            truncated,
        })
    }

    pub(crate) async fn update_custom_key_store(
        &self,
        request: UpdateCustomKeyStoreRequest,
    ) -> Result<Empty, KmsError> {
        let store = self.custom_key_store(request.custom_key_store_id).await?;
        let name = match request.new_custom_key_store_name {
            Some(name) => {
                check_name(&name, "newCustomKeyStoreName")?;
                name
            }
            None => store.name.clone(),
        };
        let mut backend = store.backend.clone();
        let mut probe = false;
        match &mut backend {
            KeyStoreBackend::CloudHsm {
                cluster_id,
                password,
                ..
            } => {
                if request.xks_proxy_uri_endpoint.is_some()
                    || request.xks_proxy_uri_path.is_some()
                    || request.xks_proxy_authentication_credential.is_some()
                    || request.xks_proxy_connectivity.is_some()
                {
                    return Err(KmsError::Validation(
                        "The XksProxy parameters apply only to external key stores.".into(),
                    ));
                }
                if let Some(new_password) = request.key_store_password {
                    length_within(new_password.0.chars().count(), 7, 32, "keyStorePassword")?;
                    *password = self.wrap_store_secret(&store.id, &new_password.0);
                }
                if let Some(new_cluster) = request.cloud_hsm_cluster_id {
                    self.check_cluster(&new_cluster).await?;
                    *cluster_id = new_cluster;
                }
            }
            KeyStoreBackend::External {
                uri_endpoint,
                uri_path,
                connectivity,
                access_key_id,
                secret,
                ..
            } => {
                if request.cloud_hsm_cluster_id.is_some() || request.key_store_password.is_some() {
                    return Err(KmsError::Validation(
                        "CloudHsmClusterId and KeyStorePassword apply only to AWS CloudHSM key \
                         stores."
                            .into(),
                    ));
                }
                if let Some(endpoint) = request.xks_proxy_uri_endpoint {
                    check_endpoint(&endpoint)?;
                    *uri_endpoint = endpoint;
                    probe = true;
                }
                if let Some(path) = request.xks_proxy_uri_path {
                    check_path(&path)?;
                    *uri_path = path;
                    probe = true;
                }
                if let Some(text) = request.xks_proxy_connectivity {
                    *connectivity = check_connectivity(&text)?;
                }
                if let Some(credential) = request.xks_proxy_authentication_credential {
                    let (new_id, new_secret) = check_credential(credential)?;
                    *access_key_id = new_id;
                    *secret = self.wrap_store_secret(&store.id, &new_secret);
                    probe = true;
                }
            }
        }
        if probe && store.connection_state == ConnectionState::Connected {
            let updated = CustomKeyStoreRecord {
                backend: backend.clone(),
                ..store.clone()
            };
            self.probe_key_store(&updated, "UpdateCustomKeyStore")
                .await
                .map_err(|e| proxy_error(&e))?;
        }
        self.write(Command::UpdateCustomKeyStore {
            id: store.id.clone(),
            name,
            backend,
        })
        .await?;
        self.key_store_backends().forget(&store.id);
        Ok(Empty {})
    }
}
