//! [`KmsRequest`]: one KMS request as its typed shape, parsed once from the JSON body; and
//! [`Member`], a read-only view of its members by name, from which authorization's condition
//! keys and the audit trail's request parameters are taken without looking at the body again.

use crate::model::members::{Member, Members};
use crate::model::*;
use crate::{KmsError, Operation};

macro_rules! requests {
    ($($op:ident($ty:ident)),* $(,)?) => {
        /// A KMS request, typed by its operation. Operations Trent does not implement keep only
        /// their name (their body was checked to be a JSON object).
        #[derive(Debug, Clone)]
        #[allow(missing_docs)]
        pub enum KmsRequest {
            $($op($ty),)*
            Unimplemented(Operation),
        }

        impl KmsRequest {
            /// Parses the JSON body of `operation` (empty means `{}`) into its typed shape.
            /// Malformed JSON, a body that is not an object and a member of the wrong type
            /// are AWS's SerializationException.
            pub fn parse(operation: Operation, body: &[u8]) -> Result<KmsRequest, KmsError> {
                let body = json_object(body)?;
                Ok(match operation {
                    $(Operation::$op => KmsRequest::$op(from_json(body)?),)*
                    // Every operation has a shape today; an operation AWS adds lands here.
                    #[allow(unreachable_patterns)]
                    other => {
                        from_json::<serde::de::IgnoredAny>(body)?;
                        KmsRequest::Unimplemented(other)
                    }
                })
            }

            /// The operation.
            pub fn operation(&self) -> Operation {
                match self {
                    $(KmsRequest::$op(_) => Operation::$op,)*
                    KmsRequest::Unimplemented(operation) => *operation,
                }
            }

            /// Calls `visit` with each member the request sent.
            pub fn visit_members(&self, visit: &mut dyn FnMut(&'static str, Member<'_>)) {
                match self {
                    $(KmsRequest::$op(request) => request.visit_members(visit),)*
                    KmsRequest::Unimplemented(_) => {}
                }
            }

            /// Its members except binary ones (plaintexts, ciphertexts, signatures, ...), as a
            /// JSON object with their JSON names: what an audit trail may start from.
            pub fn non_binary_members(&self) -> serde_json::Value {
                let mut out = serde_json::Map::new();
                self.visit_members(&mut |name, member| {
                    let value = match member {
                        Member::Blob(_) => return,
                        Member::Text(text) => serde_json::Value::from(text),
                        Member::Bool(b) => serde_json::Value::from(b),
                        Member::Int(i) => serde_json::Value::from(i),
                        Member::Number(n) => serde_json::Value::from(n),
                        Member::Map(map) => serde_json::to_value(map).unwrap_or_default(),
                        Member::List(list) => serde_json::Value::from(list.to_vec()),
                        Member::Tags(tags) => serde_json::to_value(tags).unwrap_or_default(),
                        Member::Constraints(c) => serde_json::to_value(c).unwrap_or_default(),
                        // The algorithm only: the attestation document is binary.
                        Member::Recipient(r) => serde_json::json!({
                            "KeyEncryptionAlgorithm": r.key_encryption_algorithm,
                        }),
                    };
                    out.insert(json_name(name), value);
                });
                serde_json::Value::Object(out)
            }

            /// The request as a JSON body again (a request signed for another region is passed
            /// on this way).
            pub fn to_json(&self) -> Result<String, KmsError> {
                let text = match self {
                    $(KmsRequest::$op(request) => serde_json::to_string(request),)*
                    KmsRequest::Unimplemented(_) => Ok("{}".to_string()),
                };
                text.map_err(|e| KmsError::KmsInternal(format!("Could not encode the request: {e}")))
            }
        }
    };
}

requests!(
    CreateKey(CreateKeyRequest),
    DescribeKey(DescribeKeyRequest),
    ListKeys(ListKeysRequest),
    UpdateKeyDescription(UpdateKeyDescriptionRequest),
    EnableKey(KeyIdRequest),
    DisableKey(KeyIdRequest),
    ScheduleKeyDeletion(ScheduleKeyDeletionRequest),
    CancelKeyDeletion(KeyIdRequest),
    CreateAlias(AliasRequest),
    UpdateAlias(AliasRequest),
    DeleteAlias(AliasRequest),
    ListAliases(ListAliasesRequest),
    TagResource(TagResourceRequest),
    UntagResource(UntagResourceRequest),
    ListResourceTags(ListResourceTagsRequest),
    GetKeyPolicy(GetKeyPolicyRequest),
    PutKeyPolicy(PutKeyPolicyRequest),
    ListKeyPolicies(ListKeyPoliciesRequest),
    Encrypt(EncryptRequest),
    Decrypt(DecryptRequest),
    ReEncrypt(ReEncryptRequest),
    GenerateDataKey(GenerateDataKeyRequest),
    GenerateDataKeyWithoutPlaintext(GenerateDataKeyRequest),
    GenerateRandom(GenerateRandomRequest),
    EnableKeyRotation(EnableKeyRotationRequest),
    DisableKeyRotation(KeyIdRequest),
    GetKeyRotationStatus(KeyIdRequest),
    RotateKeyOnDemand(KeyIdRequest),
    ListKeyRotations(ListKeyRotationsRequest),
    Sign(SignRequest),
    Verify(VerifyRequest),
    GetPublicKey(GetPublicKeyRequest),
    GenerateMac(GenerateMacRequest),
    VerifyMac(VerifyMacRequest),
    DeriveSharedSecret(DeriveSharedSecretRequest),
    GenerateDataKeyPair(GenerateDataKeyPairRequest),
    GenerateDataKeyPairWithoutPlaintext(GenerateDataKeyPairRequest),
    ReplicateKey(ReplicateKeyRequest),
    UpdatePrimaryRegion(UpdatePrimaryRegionRequest),
    CreateGrant(CreateGrantRequest),
    ListGrants(ListGrantsRequest),
    ListRetirableGrants(ListRetirableGrantsRequest),
    RetireGrant(RetireGrantRequest),
    RevokeGrant(RevokeGrantRequest),
    GetParametersForImport(GetParametersForImportRequest),
    ImportKeyMaterial(ImportKeyMaterialRequest),
    DeleteImportedKeyMaterial(DeleteImportedKeyMaterialRequest),
    GetKeyLastUsage(KeyIdRequest),
    CreateCustomKeyStore(CreateCustomKeyStoreRequest),
    ConnectCustomKeyStore(CustomKeyStoreIdRequest),
    DisconnectCustomKeyStore(CustomKeyStoreIdRequest),
    DeleteCustomKeyStore(CustomKeyStoreIdRequest),
    DescribeCustomKeyStores(DescribeCustomKeyStoresRequest),
    UpdateCustomKeyStore(UpdateCustomKeyStoreRequest),
);

/// The JSON (PascalCase) name of a request member: `key_id` is `KeyId`.
pub fn json_name(field: &str) -> String {
    field
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The body if it is a JSON object (or empty, read as `{}`); else a SerializationException.
fn json_object(body: &[u8]) -> Result<&[u8], KmsError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Ok(b"{}"),
        Some(b'{') => Ok(body),
        Some(_) => match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Err(KmsError::Serialization(
                "The request body must be a JSON object.".to_string(),
            )),
            Err(e) => Err(not_json(e)),
        },
    }
}

fn from_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, KmsError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            KmsError::Serialization(format!("Could not parse the request: {e}"))
        }
        _ => not_json(e),
    })
}

// serde_json's messages give a position and category, never the input itself.
fn not_json(e: serde_json::Error) -> KmsError {
    KmsError::Serialization(format!("The request body is not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_parses_once_into_its_shape_and_shows_its_members() {
        let body =
            br#"{"KeyId":"alias/a","Plaintext":"AAE=","EncryptionContext":{"k":"v"},"Extra":1}"#;
        let request = KmsRequest::parse(Operation::Encrypt, body).unwrap();
        assert_eq!(request.operation(), Operation::Encrypt);
        let mut seen = Vec::new();
        request.visit_members(&mut |name, member| seen.push((name, format!("{member:?}"))));
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], ("key_id", "Text(\"alias/a\")".to_string()));
        assert_eq!(json_name("encryption_context"), "EncryptionContext");
        assert!(matches!(
            KmsRequest::parse(Operation::Encrypt, br#"{"KeyId": 3}"#),
            Err(KmsError::Serialization(m)) if m.starts_with("Could not parse the request")
        ));
        assert!(matches!(
            KmsRequest::parse(Operation::Encrypt, b"[1]"),
            Err(KmsError::Serialization(m)) if m.contains("must be a JSON object")
        ));
        assert!(matches!(
            KmsRequest::parse(Operation::Encrypt, b"{nope"),
            Err(KmsError::Serialization(m)) if m.contains("not valid JSON")
        ));
        assert!(matches!(
            KmsRequest::parse(Operation::ConnectCustomKeyStore, b"  "),
            Ok(KmsRequest::ConnectCustomKeyStore(r)) if r.custom_key_store_id.is_none()
        ));
        // A secret member is never visible: not to condition keys, not to the audit trail.
        let create = KmsRequest::parse(
            Operation::CreateCustomKeyStore,
            br#"{"CustomKeyStoreName":"s","KeyStorePassword":"hunter22","XksProxyAuthenticationCredential":{"AccessKeyId":"A","RawSecretAccessKey":"S"}}"#,
        )
        .unwrap();
        let shown = create.non_binary_members().to_string();
        assert!(
            shown.contains("CustomKeyStoreName") && !shown.contains("hunter22"),
            "{shown}"
        );
        assert!(
            !shown.contains("RawSecretAccessKey") && !format!("{create:?}").contains("hunter22")
        );
        let again = KmsRequest::parse(Operation::Encrypt, request.to_json().unwrap().as_bytes());
        assert!(
            matches!(again, Ok(KmsRequest::Encrypt(r)) if r.key_id.as_deref() == Some("alias/a"))
        );
    }
}
