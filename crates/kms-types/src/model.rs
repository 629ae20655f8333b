//! Request and response shapes of the KMS operations Trent serves, field for field as the AWS
//! API model names them (PascalCase JSON). Enum-valued request fields are kept as strings and
//! parsed by the server, so an unknown value gets AWS's ValidationException text rather than a
//! serialization error.

use crate::{
    Blob, DataKeyPairSpec, EncryptionAlgorithm, ExpirationModel, ImportState,
    KeyAgreementAlgorithmSpec, KeyManager, KeyMaterialState, KeySpec, KeyState, KeyUsage,
    MacAlgorithmSpec, MultiRegionKeyType, Origin, RotationType, SigningAlgorithmSpec,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod members;

/// Seconds since the Unix epoch, as AWS JSON timestamps are sent.
pub type EpochSeconds = f64;

/// Converts milliseconds since the epoch (as stored) to an AWS JSON timestamp.
pub fn epoch_seconds(millis: i64) -> EpochSeconds {
    millis as f64 / 1000.0
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Tag key, 1–128 characters.
    pub tag_key: String,
    /// Tag value, 0–256 characters.
    pub tag_value: String,
}

/// A key's ARN and region, as listed in `MultiRegionConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionKey {
    /// Key ARN.
    pub arn: String,
    /// Region of that key.
    pub region: String,
}

/// `MultiRegionConfiguration` of a multi-region key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionConfiguration {
    /// PRIMARY or REPLICA.
    pub multi_region_key_type: MultiRegionKeyType,
    /// The primary key.
    pub primary_key: MultiRegionKey,
    /// Every replica.
    pub replica_keys: Vec<MultiRegionKey>,
}

/// `KeyMetadata` as DescribeKey and CreateKey return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    pub creation_date: EpochSeconds,
    pub enabled: bool,
    pub description: String,
    pub key_usage: KeyUsage,
    pub key_state: KeyState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<EpochSeconds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<EpochSeconds>,
    pub origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModel>,
    pub key_manager: KeyManager,
    pub customer_master_key_spec: KeySpec,
    pub key_spec: KeySpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<EncryptionAlgorithm>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<SigningAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithms: Option<Vec<MacAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithms: Option<Vec<KeyAgreementAlgorithmSpec>>,
    pub multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_hsm_cluster_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xks_key_configuration: Option<XksKeyConfiguration>,
}

/// `XksKeyConfigurationType`: the external key of a key in an external key store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct XksKeyConfiguration {
    /// The external key's id at the proxy.
    pub id: String,
}

macro_rules! request {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Deserialize, Serialize)]
        #[serde(rename_all = "PascalCase", default)]
        #[allow(missing_docs)]
        pub struct $name { $(#[serde(skip_serializing_if = "Option::is_none")] pub $field: $ty),* }

        impl crate::model::members::Members for $name {
            fn visit_members(&self, visit: &mut dyn FnMut(&'static str, crate::model::members::Member<'_>)) {
                $(
                    if let Some(member) = crate::model::members::AsMember::as_member(&self.$field) {
                        visit(stringify!($field), member);
                    }
                )*
            }
        }
    };
}

macro_rules! response {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize)]
        #[serde(rename_all = "PascalCase")]
        #[allow(missing_docs)]
        pub struct $name { $(#[serde(skip_serializing_if = "crate::model::is_absent")] pub $field: $ty),* }
    };
}

/// Serialization helper: omit `None` fields and nothing else.
pub trait Absent {
    /// True if the field is omitted from JSON.
    fn absent(&self) -> bool {
        false
    }
}
impl<T> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}
impl Absent for String {}
impl Absent for bool {}
impl Absent for u32 {}
impl Absent for f64 {}
impl Absent for Blob {}
impl Absent for KeyState {}
impl Absent for KeyMetadata {}
impl Absent for EncryptionAlgorithm {}
impl Absent for SigningAlgorithmSpec {}
impl Absent for MacAlgorithmSpec {}
impl Absent for KeyAgreementAlgorithmSpec {}
impl Absent for KeySpec {}
impl Absent for KeyUsage {}
impl Absent for DataKeyPairSpec {}
impl Absent for Origin {}
impl<T> Absent for Vec<T> {}

/// Used by `skip_serializing_if` in responses.
pub fn is_absent<T: Absent>(value: &T) -> bool {
    value.absent()
}

/// An encryption context: string pairs bound to a ciphertext as additional authenticated data.
pub type EncryptionContext = BTreeMap<String, String>;

request!(CreateKeyRequest {
    policy: Option<String>, description: Option<String>, key_usage: Option<String>,
    customer_master_key_spec: Option<String>, key_spec: Option<String>, origin: Option<String>,
    custom_key_store_id: Option<String>, bypass_policy_lockout_safety_check: Option<bool>,
    tags: Option<Vec<Tag>>, multi_region: Option<bool>, xks_key_id: Option<String>,
});
response!(CreateKeyResponse {
    key_metadata: KeyMetadata
});

request!(DescribeKeyRequest { key_id: Option<String>, grant_tokens: Option<Vec<String>> });
response!(DescribeKeyResponse {
    key_metadata: KeyMetadata
});

request!(KeyIdRequest { key_id: Option<String> });

request!(ListKeysRequest { limit: Option<i64>, marker: Option<String> });
/// One entry of ListKeys.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct KeyListEntry {
    pub key_id: String,
    pub key_arn: String,
}
response!(ListKeysResponse { keys: Vec<KeyListEntry>, next_marker: Option<String>, truncated: bool });

request!(UpdateKeyDescriptionRequest { key_id: Option<String>, description: Option<String> });

request!(ScheduleKeyDeletionRequest { key_id: Option<String>, pending_window_in_days: Option<i64> });
response!(ScheduleKeyDeletionResponse {
    key_id: String, deletion_date: Option<EpochSeconds>, key_state: KeyState,
    pending_window_in_days: u32,
});
response!(CancelKeyDeletionResponse { key_id: String });

request!(AliasRequest { alias_name: Option<String>, target_key_id: Option<String> });
request!(ListAliasesRequest { key_id: Option<String>, limit: Option<i64>, marker: Option<String> });
/// One entry of ListAliases.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct AliasListEntry {
    pub alias_name: String,
    pub alias_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<EpochSeconds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_date: Option<EpochSeconds>,
}
response!(ListAliasesResponse { aliases: Vec<AliasListEntry>, next_marker: Option<String>, truncated: bool });

request!(TagResourceRequest { key_id: Option<String>, tags: Option<Vec<Tag>> });
request!(UntagResourceRequest { key_id: Option<String>, tag_keys: Option<Vec<String>> });
request!(ListResourceTagsRequest { key_id: Option<String>, limit: Option<i64>, marker: Option<String> });
response!(ListResourceTagsResponse { tags: Vec<Tag>, next_marker: Option<String>, truncated: bool });

request!(GetKeyPolicyRequest { key_id: Option<String>, policy_name: Option<String> });
response!(GetKeyPolicyResponse {
    policy: String,
    policy_name: String
});
request!(PutKeyPolicyRequest {
    key_id: Option<String>, policy_name: Option<String>, policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
});
request!(ListKeyPoliciesRequest { key_id: Option<String>, limit: Option<i64>, marker: Option<String> });
response!(ListKeyPoliciesResponse { policy_names: Vec<String>, next_marker: Option<String>, truncated: bool });

request!(EncryptRequest {
    key_id: Option<String>, plaintext: Option<Blob>, encryption_context: Option<EncryptionContext>,
    grant_tokens: Option<Vec<String>>, encryption_algorithm: Option<String>, dry_run: Option<bool>,
});
response!(EncryptResponse {
    ciphertext_blob: Blob,
    key_id: String,
    encryption_algorithm: EncryptionAlgorithm
});

request!(DecryptRequest {
    ciphertext_blob: Option<Blob>, encryption_context: Option<EncryptionContext>,
    grant_tokens: Option<Vec<String>>, key_id: Option<String>, encryption_algorithm: Option<String>,
    recipient: Option<RecipientInfo>, dry_run: Option<bool>,
});
response!(DecryptResponse {
    key_id: String, plaintext: Blob, encryption_algorithm: EncryptionAlgorithm,
    key_material_id: Option<String>,
});

request!(ReEncryptRequest {
    ciphertext_blob: Option<Blob>, source_encryption_context: Option<EncryptionContext>,
    source_key_id: Option<String>, destination_key_id: Option<String>,
    destination_encryption_context: Option<EncryptionContext>,
    source_encryption_algorithm: Option<String>, destination_encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>, dry_run: Option<bool>,
});
response!(ReEncryptResponse {
    ciphertext_blob: Blob, source_key_id: String, key_id: String,
    source_encryption_algorithm: EncryptionAlgorithm, destination_encryption_algorithm: EncryptionAlgorithm,
    source_key_material_id: Option<String>, destination_key_material_id: Option<String>,
});

request!(GenerateDataKeyRequest {
    key_id: Option<String>, encryption_context: Option<EncryptionContext>, number_of_bytes: Option<i64>,
    key_spec: Option<String>, grant_tokens: Option<Vec<String>>, recipient: Option<RecipientInfo>,
    dry_run: Option<bool>,
});
response!(GenerateDataKeyResponse {
    ciphertext_blob: Blob, plaintext: Option<Blob>, key_id: String, key_material_id: Option<String>,
});

request!(GenerateRandomRequest {
    number_of_bytes: Option<i64>, custom_key_store_id: Option<String>, recipient: Option<RecipientInfo>,
});
response!(GenerateRandomResponse { plaintext: Blob });

request!(EnableKeyRotationRequest { key_id: Option<String>, rotation_period_in_days: Option<i64> });
response!(GetKeyRotationStatusResponse {
    key_rotation_enabled: bool, key_id: String, rotation_period_in_days: Option<u32>,
    next_rotation_date: Option<EpochSeconds>, on_demand_rotation_start_date: Option<EpochSeconds>,
});
response!(RotateKeyOnDemandResponse { key_id: String });
/// GetKeyLastUsage's `KeyLastUsage`: the key's latest successful cryptographic operation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct KeyLastUsageData {
    pub operation: String,
    pub timestamp: EpochSeconds,
    pub kms_request_id: String,
}
impl Absent for KeyLastUsageData {}
response!(GetKeyLastUsageResponse {
    key_id: String, key_last_usage: Option<KeyLastUsageData>, tracking_start_date: EpochSeconds,
    key_creation_date: EpochSeconds,
});
request!(ListKeyRotationsRequest {
    key_id: Option<String>, include_key_material: Option<String>, limit: Option<i64>, marker: Option<String>,
});
/// One entry of ListKeyRotations.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct RotationsListEntry {
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_state: Option<KeyMaterialState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_state: Option<ImportState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<EpochSeconds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_date: Option<EpochSeconds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_type: Option<RotationType>,
}
response!(ListKeyRotationsResponse { rotations: Vec<RotationsListEntry>, next_marker: Option<String>, truncated: bool });

request!(SignRequest {
    key_id: Option<String>, message: Option<Blob>, message_type: Option<String>,
    grant_tokens: Option<Vec<String>>, signing_algorithm: Option<String>, dry_run: Option<bool>,
});
response!(SignResponse {
    key_id: String,
    signature: Blob,
    signing_algorithm: SigningAlgorithmSpec
});

request!(VerifyRequest {
    key_id: Option<String>, message: Option<Blob>, message_type: Option<String>, signature: Option<Blob>,
    signing_algorithm: Option<String>, grant_tokens: Option<Vec<String>>, dry_run: Option<bool>,
});
response!(VerifyResponse {
    key_id: String,
    signature_valid: bool,
    signing_algorithm: SigningAlgorithmSpec
});

request!(GetPublicKeyRequest { key_id: Option<String>, grant_tokens: Option<Vec<String>> });
response!(GetPublicKeyResponse {
    key_id: String, public_key: Blob, customer_master_key_spec: KeySpec, key_spec: KeySpec,
    key_usage: KeyUsage, encryption_algorithms: Option<Vec<EncryptionAlgorithm>>,
    signing_algorithms: Option<Vec<SigningAlgorithmSpec>>,
    key_agreement_algorithms: Option<Vec<KeyAgreementAlgorithmSpec>>,
});

request!(GenerateDataKeyPairRequest {
    encryption_context: Option<EncryptionContext>, key_id: Option<String>, key_pair_spec: Option<String>,
    grant_tokens: Option<Vec<String>>, recipient: Option<RecipientInfo>, dry_run: Option<bool>,
});
response!(GenerateDataKeyPairResponse {
    private_key_ciphertext_blob: Blob, private_key_plaintext: Option<Blob>, public_key: Blob,
    key_id: String, key_pair_spec: DataKeyPairSpec, key_material_id: Option<String>,
});

request!(GenerateMacRequest {
    message: Option<Blob>, key_id: Option<String>, mac_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>, dry_run: Option<bool>,
});
response!(GenerateMacResponse {
    mac: Blob,
    mac_algorithm: MacAlgorithmSpec,
    key_id: String
});

request!(VerifyMacRequest {
    message: Option<Blob>, key_id: Option<String>, mac_algorithm: Option<String>, mac: Option<Blob>,
    grant_tokens: Option<Vec<String>>, dry_run: Option<bool>,
});
response!(VerifyMacResponse {
    key_id: String,
    mac_valid: bool,
    mac_algorithm: MacAlgorithmSpec
});

request!(DeriveSharedSecretRequest {
    key_id: Option<String>, key_agreement_algorithm: Option<String>, public_key: Option<Blob>,
    grant_tokens: Option<Vec<String>>, recipient: Option<RecipientInfo>, dry_run: Option<bool>,
});
response!(DeriveSharedSecretResponse {
    key_id: String,
    shared_secret: Blob,
    key_agreement_algorithm: KeyAgreementAlgorithmSpec,
    key_origin: Origin,
});

request!(ReplicateKeyRequest {
    key_id: Option<String>, replica_region: Option<String>, policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>, description: Option<String>,
    tags: Option<Vec<Tag>>,
});
response!(ReplicateKeyResponse {
    replica_key_metadata: KeyMetadata, replica_policy: String, replica_tags: Vec<Tag>
});

request!(UpdatePrimaryRegionRequest { key_id: Option<String>, primary_region: Option<String> });

/// `RecipientInfo`: a Nitro enclave's attestation document and the algorithm to encrypt for
/// its public key (Decrypt, GenerateDataKey, GenerateDataKeyPair, GenerateRandom,
/// DeriveSharedSecret).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecipientInfo {
    /// `RSAES_OAEP_SHA_256`, the only value AWS defines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_encryption_algorithm: Option<String>,
    /// The enclave's attestation document (COSE_Sign1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation_document: Option<Blob>,
}

/// `GrantConstraints`: the encryption context a grant's cryptographic operations require.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GrantConstraints {
    /// The request's encryption context must be exactly this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<EncryptionContext>,
    /// The request's encryption context must include every pair of this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<EncryptionContext>,
}

request!(CreateGrantRequest {
    key_id: Option<String>, grantee_principal: Option<String>, retiring_principal: Option<String>,
    operations: Option<Vec<String>>, constraints: Option<GrantConstraints>,
    grant_tokens: Option<Vec<String>>, name: Option<String>, dry_run: Option<bool>,
});
response!(CreateGrantResponse {
    grant_token: String,
    grant_id: String
});

request!(ListGrantsRequest {
    limit: Option<i64>, marker: Option<String>, key_id: Option<String>, grant_id: Option<String>,
    grantee_principal: Option<String>,
});
request!(ListRetirableGrantsRequest {
    limit: Option<i64>, marker: Option<String>, retiring_principal: Option<String>,
});
/// One entry of ListGrants and ListRetirableGrants (`GrantListEntry`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct GrantListEntry {
    pub key_id: String,
    pub grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub creation_date: EpochSeconds,
    pub grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
}
response!(ListGrantsResponse { grants: Vec<GrantListEntry>, next_marker: Option<String>, truncated: bool });

request!(RetireGrantRequest {
    grant_token: Option<String>, key_id: Option<String>, grant_id: Option<String>,
    dry_run: Option<bool>,
});
request!(RevokeGrantRequest { key_id: Option<String>, grant_id: Option<String>, dry_run: Option<bool> });

request!(GetParametersForImportRequest {
    key_id: Option<String>, wrapping_algorithm: Option<String>, wrapping_key_spec: Option<String>,
});
response!(GetParametersForImportResponse {
    key_id: String,
    import_token: Blob,
    public_key: Blob,
    parameters_valid_to: EpochSeconds,
});

request!(ImportKeyMaterialRequest {
    key_id: Option<String>, import_token: Option<Blob>, encrypted_key_material: Option<Blob>,
    valid_to: Option<f64>, expiration_model: Option<String>, import_type: Option<String>,
    key_material_description: Option<String>, key_material_id: Option<String>,
});
response!(ImportKeyMaterialResponse {
    key_id: String,
    key_material_id: String
});

request!(DeleteImportedKeyMaterialRequest { key_id: Option<String>, key_material_id: Option<String> });
response!(DeleteImportedKeyMaterialResponse { key_id: String, key_material_id: Option<String> });

/// A secret request member (`KeyStorePassword`, `RawSecretAccessKey`): never a visible member
/// (so never audited), never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

/// `XksProxyAuthenticationCredentialType`: the SigV4 credential KMS signs proxy calls with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct XksProxyAuthenticationCredential {
    /// 20–30 characters of `[A-Z2-7]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// 43–64 characters of `[a-zA-Z0-9/+=]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_secret_access_key: Option<SecretText>,
}

request!(CreateCustomKeyStoreRequest {
    custom_key_store_name: Option<String>, cloud_hsm_cluster_id: Option<String>,
    trust_anchor_certificate: Option<String>, key_store_password: Option<SecretText>,
    custom_key_store_type: Option<String>, xks_proxy_uri_endpoint: Option<String>,
    xks_proxy_uri_path: Option<String>, xks_proxy_vpc_endpoint_service_name: Option<String>,
    xks_proxy_vpc_endpoint_service_owner: Option<String>,
    xks_proxy_authentication_credential: Option<XksProxyAuthenticationCredential>,
    xks_proxy_connectivity: Option<String>,
});
response!(CreateCustomKeyStoreResponse {
    custom_key_store_id: String
});

request!(CustomKeyStoreIdRequest { custom_key_store_id: Option<String> });

request!(UpdateCustomKeyStoreRequest {
    custom_key_store_id: Option<String>, new_custom_key_store_name: Option<String>,
    key_store_password: Option<SecretText>, cloud_hsm_cluster_id: Option<String>,
    xks_proxy_uri_endpoint: Option<String>, xks_proxy_uri_path: Option<String>,
    xks_proxy_vpc_endpoint_service_name: Option<String>,
    xks_proxy_vpc_endpoint_service_owner: Option<String>,
    xks_proxy_authentication_credential: Option<XksProxyAuthenticationCredential>,
    xks_proxy_connectivity: Option<String>,
});

request!(DescribeCustomKeyStoresRequest {
    custom_key_store_id: Option<String>, custom_key_store_name: Option<String>,
    limit: Option<i64>, marker: Option<String>,
});

/// `XksProxyConfigurationType`, as DescribeCustomKeyStores shows it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct XksProxyConfiguration {
    pub connectivity: crate::XksProxyConnectivityType,
    pub access_key_id: String,
    pub uri_endpoint: String,
    pub uri_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_service_owner: Option<String>,
}

/// One entry of DescribeCustomKeyStores (`CustomKeyStoresListEntry`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct CustomKeyStoresListEntry {
    pub custom_key_store_id: String,
    pub custom_key_store_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_hsm_cluster_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_anchor_certificate: Option<String>,
    pub connection_state: crate::ConnectionState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_error_code: Option<crate::ConnectionErrorCode>,
    pub creation_date: EpochSeconds,
    pub custom_key_store_type: crate::CustomKeyStoreType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xks_proxy_configuration: Option<XksProxyConfiguration>,
}
response!(DescribeCustomKeyStoresResponse {
    custom_key_stores: Vec<CustomKeyStoresListEntry>, next_marker: Option<String>, truncated: bool,
});
