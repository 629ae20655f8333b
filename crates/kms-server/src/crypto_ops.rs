//! Cryptographic operations with symmetric keys: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
//! GenerateDataKeyWithoutPlaintext and GenerateRandom.

use crate::service::Kms;
use crate::validate::{in_range, length_within, required};
use kms_core::key_state::{check, Gate};
use kms_core::KeyRecord;
use kms_crypto::ciphertext;
use kms_types::model::*;
use kms_types::*;

/// Largest plaintext Encrypt accepts.
const MAX_PLAINTEXT: usize = 4096;
/// Largest ciphertext blob Decrypt accepts.
const MAX_CIPHERTEXT: usize = 6144;

/// A sealed ciphertext and the material that made it.
struct Sealed {
    blob: Vec<u8>,
    material_id: String,
}

/// An opened ciphertext: the plaintext, the key and the material that opened it.
struct Opened {
    plaintext: zeroize::Zeroizing<Vec<u8>>,
    key: KeyRecord,
    material_id: String,
}

fn check_algorithm(requested: Option<&str>, field: &str) -> Result<EncryptionAlgorithm, KmsError> {
    let algorithm = match requested {
        Some(text) => parse_enum::<EncryptionAlgorithm>(text, field)?,
        None => EncryptionAlgorithm::SymmetricDefault,
    };
    if algorithm != EncryptionAlgorithm::SymmetricDefault {
        return Err(KmsError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is not supported with symmetric keys; use SYMMETRIC_DEFAULT."
        )));
    }
    Ok(algorithm)
}

fn check_encrypt_key(key: &KeyRecord, operation: &str) -> Result<(), KmsError> {
    check(key, Gate::Cryptographic)?;
    if key.key_usage != KeyUsage::EncryptDecrypt || key.key_spec != KeySpec::SymmetricDefault {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{} key usage is {} which is not valid for {operation}.",
            key.arn, key.key_usage
        )));
    }
    Ok(())
}

fn dry_run(requested: Option<bool>) -> Result<(), KmsError> {
    if requested == Some(true) {
        return Err(KmsError::DryRunOperation(
            "The request would have succeeded, but the DryRun option is set.".into(),
        ));
    }
    Ok(())
}

impl Kms {
    fn seal(
        &self,
        key: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Sealed, KmsError> {
        let current = key.current_material().ok_or_else(|| {
            KmsError::KmsInvalidState(format!("{} has no key material.", key.arn))
        })?;
        let material = self.unwrap_material(key, &current.material_id)?;
        let material_id = kms_crypto::MaterialId::from_hex(&current.material_id)
            .ok_or_else(|| KmsError::KmsInternal("Stored material id is malformed.".into()))?;
        let blob = ciphertext::encrypt(&material, &key.key_id, &material_id, plaintext, context)
            .map_err(|_| KmsError::KmsInternal("Encryption failed.".into()))?;
        Ok(Sealed {
            blob,
            material_id: current.material_id.clone(),
        })
    }

    /// Opens a symmetric ciphertext. `expected` is the caller's KeyId, if any; the blob names
    /// its own key, which must then be the same one.
    async fn open(
        &self,
        blob: &[u8],
        context: &EncryptionContext,
        expected: Option<String>,
        operation: &str,
    ) -> Result<Opened, KmsError> {
        length_within(blob.len(), 1, MAX_CIPHERTEXT, "ciphertextBlob")?;
        let header = ciphertext::parse_header(blob).map_err(|_| KmsError::InvalidCiphertext)?;
        let material_id = header.material_id.to_hex();
        let key = match expected {
            Some(key_id) => {
                let key = self.resolve(Some(key_id), true).await?;
                if key.key_id != header.key_id {
                    return Err(KmsError::IncorrectKey(
                        "The key ID in the request does not identify a KMS key that can perform this operation.".into(),
                    ));
                }
                key
            }
            None => self
                .read(|state| state.key(&header.key_id).cloned())
                .await?
                .ok_or(KmsError::InvalidCiphertext)?,
        };
        check_encrypt_key(&key, operation)?;
        let material = self.unwrap_material(&key, &material_id)?;
        let plaintext = ciphertext::decrypt(&material, blob, context)
            .map_err(|_| KmsError::InvalidCiphertext)?;
        Ok(Opened {
            plaintext,
            key,
            material_id,
        })
    }

    pub(crate) async fn encrypt(
        &self,
        request: EncryptRequest,
    ) -> Result<EncryptResponse, KmsError> {
        let plaintext = required(request.plaintext, "plaintext")?;
        length_within(plaintext.0.len(), 1, MAX_PLAINTEXT, "plaintext")?;
        let algorithm = check_algorithm(
            request.encryption_algorithm.as_deref(),
            "encryptionAlgorithm",
        )?;
        let key = self.resolve(request.key_id, true).await?;
        check_encrypt_key(&key, "Encrypt")?;
        dry_run(request.dry_run)?;
        let sealed = self.seal(
            &key,
            &plaintext.0,
            &request.encryption_context.unwrap_or_default(),
        )?;
        Ok(EncryptResponse {
            ciphertext_blob: Blob(sealed.blob),
            key_id: key.arn,
            encryption_algorithm: algorithm,
        })
    }

    pub(crate) async fn decrypt(
        &self,
        request: DecryptRequest,
    ) -> Result<DecryptResponse, KmsError> {
        let blob = required(request.ciphertext_blob, "ciphertextBlob")?;
        let algorithm = check_algorithm(
            request.encryption_algorithm.as_deref(),
            "encryptionAlgorithm",
        )?;
        let context = request.encryption_context.unwrap_or_default();
        let opened = self
            .open(&blob.0, &context, request.key_id, "Decrypt")
            .await?;
        dry_run(request.dry_run)?;
        Ok(DecryptResponse {
            key_id: opened.key.arn,
            plaintext: Blob(opened.plaintext.to_vec()),
            encryption_algorithm: algorithm,
            key_material_id: Some(opened.material_id),
        })
    }

    pub(crate) async fn re_encrypt(
        &self,
        request: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        let blob = required(request.ciphertext_blob, "ciphertextBlob")?;
        let destination_key_id = required(request.destination_key_id, "destinationKeyId")?;
        let source_algorithm = check_algorithm(
            request.source_encryption_algorithm.as_deref(),
            "sourceEncryptionAlgorithm",
        )?;
        let destination_algorithm = check_algorithm(
            request.destination_encryption_algorithm.as_deref(),
            "destinationEncryptionAlgorithm",
        )?;
        let source_context = request.source_encryption_context.unwrap_or_default();
        let opened = self
            .open(&blob.0, &source_context, request.source_key_id, "ReEncrypt")
            .await?;
        let destination = self.resolve(Some(destination_key_id), true).await?;
        check_encrypt_key(&destination, "ReEncrypt")?;
        dry_run(request.dry_run)?;
        let context = request.destination_encryption_context.unwrap_or_default();
        let sealed = self.seal(&destination, &opened.plaintext, &context)?;
        Ok(ReEncryptResponse {
            ciphertext_blob: Blob(sealed.blob),
            source_key_id: opened.key.arn,
            key_id: destination.arn,
            source_encryption_algorithm: source_algorithm,
            destination_encryption_algorithm: destination_algorithm,
            source_key_material_id: Some(opened.material_id),
            destination_key_material_id: Some(sealed.material_id),
        })
    }

    pub(crate) async fn generate_data_key(
        &self,
        request: GenerateDataKeyRequest,
        with_plaintext: bool,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let length = match (request.key_spec.as_deref(), request.number_of_bytes) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(KmsError::Validation(
                    "Please specify either number of bytes or key spec.".into(),
                ))
            }
            (Some(spec), None) => match parse_enum::<DataKeySpec>(spec, "keySpec")? {
                DataKeySpec::Aes256 => 32,
                DataKeySpec::Aes128 => 16,
            },
            (None, Some(n)) => in_range(n, 1, 1024, "numberOfBytes")? as usize,
        };
        let key = self.resolve(request.key_id, true).await?;
        check_encrypt_key(&key, "GenerateDataKey")?;
        dry_run(request.dry_run)?;
        let data_key = zeroize::Zeroizing::new(kms_crypto::random_bytes(length));
        let sealed = self.seal(
            &key,
            &data_key,
            &request.encryption_context.unwrap_or_default(),
        )?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Blob(sealed.blob),
            plaintext: with_plaintext.then(|| Blob(data_key.to_vec())),
            key_id: key.arn,
            key_material_id: Some(sealed.material_id),
        })
    }

    pub(crate) fn generate_random(
        &self,
        request: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        if request.custom_key_store_id.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Custom key stores are not supported by Trent yet.".into(),
            ));
        }
        let length = in_range(
            required(request.number_of_bytes, "numberOfBytes")?,
            1,
            1024,
            "numberOfBytes",
        )?;
        Ok(GenerateRandomResponse {
            plaintext: Blob(kms_crypto::random_bytes(length as usize)),
        })
    }
}
