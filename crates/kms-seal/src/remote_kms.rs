//! The seal by another KMS (aws-sdk-kms): the root key is encrypted under a key of an
//! AWS-KMS-compatible service (AWS KMS, or another Trent), with the encryption context
//! `{"trent:purpose": "root-key", "trent:region": REGION}`, and decrypted at every start.

use aws_credential_types::Credentials;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_sdk_kms::primitives::Blob;
use zeroize::Zeroizing;

use crate::{secret_file, KmsSealConfig, SealError};

fn client(config: &KmsSealConfig) -> Result<aws_sdk_kms::Client, SealError> {
    let text = secret_file::read(&config.credentials_file, "the KMS seal's credentials file")?;
    let (id, secret) = text.trim().split_once(':').ok_or_else(|| {
        SealError::new(format!(
            "{} must hold access_key_id:secret_access_key",
            config.credentials_file.display()
        ))
    })?;
    let sdk = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .credentials_provider(Credentials::new(id, secret, None, None, "trent-seal"))
        .endpoint_url(config.endpoint.clone())
        .build();
    Ok(aws_sdk_kms::Client::from_conf(sdk))
}

fn describe(what: &str, config: &KmsSealConfig, e: impl std::fmt::Display) -> SealError {
    SealError::new(format!(
        "the KMS seal's {what} at {} (key {}) failed: {e}",
        config.endpoint, config.key_id
    ))
}

/// The encryption context that binds a sealed root key to its purpose and region, the same for
/// Encrypt and Decrypt.
fn root_key_context(region: &str) -> std::collections::HashMap<String, String> {
    [("trent:purpose", "root-key"), ("trent:region", region)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Encrypts the root key's bytes for `region`; returns the ciphertext blob.
pub async fn encrypt(
    config: &KmsSealConfig,
    region: &str,
    secret: &[u8],
) -> Result<Vec<u8>, SealError> {
    let answer = client(config)?
        .encrypt()
        .key_id(&config.key_id)
        .plaintext(Blob::new(secret.to_vec()))
        .set_encryption_context(Some(root_key_context(region)))
        .send()
        .await
        .map_err(|e| {
            describe(
                "Encrypt",
                config,
                aws_sdk_kms::error::DisplayErrorContext(e),
            )
        })?;
    answer
        .ciphertext_blob
        .map(Blob::into_inner)
        .ok_or_else(|| describe("Encrypt", config, "no CiphertextBlob in the answer"))
}

/// Decrypts what [`encrypt`] made for `region`.
pub async fn decrypt(
    config: &KmsSealConfig,
    region: &str,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let answer = client(config)?
        .decrypt()
        .key_id(&config.key_id)
        .ciphertext_blob(Blob::new(blob.to_vec()))
        .set_encryption_context(Some(root_key_context(region)))
        .send()
        .await
        .map_err(|e| {
            describe(
                "Decrypt",
                config,
                aws_sdk_kms::error::DisplayErrorContext(e),
            )
        })?;
    answer
        .plaintext
        .map(|p| Zeroizing::new(p.into_inner()))
        .ok_or_else(|| describe("Decrypt", config, "no Plaintext in the answer"))
}
