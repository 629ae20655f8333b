//! kms-types' request shapes on fuzzed JSON: the input is deserialized (from bytes, and from a
//! parsed `serde_json::Value` as the server does after the front door) into a range of request
//! structs, every `KeyId`-like field found is put through `KeyReference::parse`, and the whole
//! input, as a string, through `KeyReference::parse`, the alias-name checks, `is_valid_key_id`,
//! `Operation::from_str` and `parse_enum`. Must never panic; every error must be an AWS error.
#![no_main]

use kms_types::model::*;
use kms_types::{
    is_valid_key_id, parse_enum, validate_alias_name_shape, validate_new_alias_name,
    DataKeyPairSpec, DataKeySpec, EncryptionAlgorithm, KeyReference, KeySpec, KeyUsage, KmsError,
    MacAlgorithmSpec, Operation, SigningAlgorithmSpec,
};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn check_error(error: &KmsError) {
    let code = error.aws_code();
    assert!(code.ends_with("Exception"), "odd error type {code}");
    assert!((400..600).contains(&error.http_status()));
    let _ = error.message();
}

fn key_reference(value: &str) {
    match KeyReference::parse(value) {
        Ok(reference) => {
            assert!(!value.is_empty() && value.len() <= 2048);
            match &reference {
                KeyReference::KeyId(id) => assert_eq!(id, value),
                KeyReference::AliasName(name) => {
                    assert_eq!(name, value);
                    assert!(name.starts_with("alias/"));
                }
                KeyReference::KeyArn { key_id, .. } => assert!(!key_id.is_empty()),
                KeyReference::AliasArn { alias_name, .. } => {
                    assert!(alias_name.starts_with("alias/"))
                }
            }
            assert_eq!(
                reference.is_alias(),
                matches!(
                    reference,
                    KeyReference::AliasName(_) | KeyReference::AliasArn { .. }
                )
            );
        }
        Err(error) => check_error(&error),
    }
}

fn strings(value: &str) {
    key_reference(value);
    let _ = is_valid_key_id(value);
    for result in [
        validate_alias_name_shape(value),
        validate_new_alias_name(value),
    ] {
        if let Err(error) = result {
            check_error(&error);
        }
    }
    let _ = value.parse::<Operation>();
    macro_rules! enums {
        ($($ty:ty => $field:literal),* $(,)?) => {$(
            if let Err(error) = parse_enum::<$ty>(value, $field) {
                check_error(&error);
            }
        )*};
    }
    enums!(
        KeySpec => "keySpec",
        KeyUsage => "keyUsage",
        EncryptionAlgorithm => "encryptionAlgorithm",
        SigningAlgorithmSpec => "signingAlgorithm",
        MacAlgorithmSpec => "macAlgorithm",
        DataKeySpec => "keySpec",
        DataKeyPairSpec => "keyPairSpec",
    );
}

/// Deserializes `T` both ways; returns it when the byte form succeeded.
fn both<T: DeserializeOwned>(data: &[u8], value: Option<&Value>) -> Option<T> {
    if let Some(value) = value {
        let _ = serde_json::from_value::<T>(value.clone());
    }
    serde_json::from_slice::<T>(data).ok()
}

fn key_id(field: &Option<String>) {
    if let Some(id) = field {
        key_reference(id);
    }
}

fuzz_target!(|data: &[u8]| {
    let value = serde_json::from_slice::<Value>(data).ok();
    let value = value.as_ref();

    if let Some(r) = both::<EncryptRequest>(data, value) {
        key_id(&r.key_id);
        let _ = r.plaintext.map(|p| p.0.len());
    }
    if let Some(r) = both::<DecryptRequest>(data, value) {
        key_id(&r.key_id);
    }
    if let Some(r) = both::<ReEncryptRequest>(data, value) {
        key_id(&r.source_key_id);
        key_id(&r.destination_key_id);
    }
    if let Some(r) = both::<CreateKeyRequest>(data, value) {
        if let Some(spec) = &r.key_spec {
            strings(spec);
        }
    }
    if let Some(r) = both::<ReplicateKeyRequest>(data, value) {
        key_id(&r.key_id);
    }
    if let Some(r) = both::<GenerateDataKeyRequest>(data, value) {
        key_id(&r.key_id);
    }
    if let Some(r) = both::<SignRequest>(data, value) {
        key_id(&r.key_id);
    }
    if let Some(r) = both::<VerifyRequest>(data, value) {
        key_id(&r.key_id);
    }
    if let Some(r) = both::<GenerateMacRequest>(data, value) {
        key_id(&r.key_id);
    }
    if let Some(r) = both::<DeriveSharedSecretRequest>(data, value) {
        key_id(&r.key_id);
    }
    if let Some(r) = both::<AliasRequest>(data, value) {
        key_id(&r.target_key_id);
        if let Some(name) = &r.alias_name {
            strings(name);
        }
    }
    if let Some(r) = both::<TagResourceRequest>(data, value) {
        key_id(&r.key_id);
    }
    if let Some(r) = both::<PutKeyPolicyRequest>(data, value) {
        key_id(&r.key_id);
    }
    if let Some(r) = both::<ScheduleKeyDeletionRequest>(data, value) {
        key_id(&r.key_id);
    }
    let _ = both::<ListKeysRequest>(data, value);
    let _ = both::<GenerateRandomRequest>(data, value);
    let _ = both::<UpdatePrimaryRegionRequest>(data, value);

    strings(&String::from_utf8_lossy(data));
});
