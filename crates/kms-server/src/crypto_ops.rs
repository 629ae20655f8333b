//! Encryption operations: Encrypt, Decrypt, ReEncrypt (symmetric, RSA and SM2 keys, between any
//! pair), GenerateDataKey(WithoutPlaintext) and GenerateRandom.
//!
//! Symmetric ciphertexts are self-describing (they name their key and material); RSA
//! ciphertexts are raw RSAES-OAEP and SM2 ones raw SM2PKE (GM/T 0009 DER), so Decrypt needs the
//! KeyId and algorithm for them.

use crate::call::Call;
use crate::key_kinds::{asymmetric_algorithm, key_kind, AsymmetricEncryption};
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
pub(crate) struct Sealed {
    pub(crate) blob: Vec<u8>,
    pub(crate) material_id: String,
}

/// An opened ciphertext: the plaintext, the key and the material that opened it.
struct Opened {
    plaintext: zeroize::Zeroizing<Vec<u8>>,
    key: KeyRecord,
    algorithm: EncryptionAlgorithm,
    material_id: String,
}

fn parse_algorithm(
    requested: Option<&str>,
    field: &str,
) -> Result<Option<EncryptionAlgorithm>, KmsError> {
    requested
        .map(|text| parse_enum::<EncryptionAlgorithm>(text, field))
        .transpose()
}

/// Checks that `key` can encrypt with `requested` (default SYMMETRIC_DEFAULT) and returns it.
fn encryption_algorithm(
    key: &KeyRecord,
    requested: Option<EncryptionAlgorithm>,
) -> Result<EncryptionAlgorithm, KmsError> {
    let algorithm = requested.unwrap_or(EncryptionAlgorithm::SymmetricDefault);
    if !key
        .key_spec
        .encryption_algorithms(key.key_usage)
        .contains(&algorithm)
    {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{algorithm} is not a valid encryption algorithm for {} ({} keys).",
            key.arn, key.key_spec
        )));
    }
    Ok(algorithm)
}

/// A material id for a response: AWS returns KeyMaterialId, SourceKeyMaterialId and
/// DestinationKeyMaterialId only for symmetric encryption keys.
fn symmetric_material_id(key: &KeyRecord, material_id: String) -> Option<String> {
    (key.key_spec == KeySpec::SymmetricDefault && key.key_store.is_none()).then_some(material_id)
}

fn check_encrypt_key(key: &KeyRecord, operation: &str) -> Result<(), KmsError> {
    check(key, Gate::Cryptographic)?;
    if key.key_usage != KeyUsage::EncryptDecrypt {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{} key usage is {} which is not valid for {operation}.",
            key.arn, key.key_usage
        )));
    }
    Ok(())
}

fn no_context_for_asymmetric(context: &EncryptionContext) -> Result<(), KmsError> {
    if context.is_empty() {
        return Ok(());
    }
    Err(KmsError::Validation(
        "EncryptionContext is supported only with symmetric encryption keys.".into(),
    ))
}

fn dry_run(requested: Option<bool>) -> Result<(), KmsError> {
    if requested == Some(true) {
        return Err(KmsError::DryRunOperation(
            "The request would have succeeded, but the DryRun option is set.".into(),
        ));
    }
    Ok(())
}

impl Call<'_> {
    /// Encrypts under a symmetric key: its current material, or its custom key store.
    pub(crate) async fn seal(
        &self,
        key: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Sealed, KmsError> {
        if key.key_store.is_some() {
            return self.seal_in_store(key, plaintext, context).await;
        }
        self.seal_with_kms_material(key, plaintext, context)
    }

    /// Encrypts under a symmetric key's current KMS-held material (a version-1 blob).
    pub(crate) fn seal_with_kms_material(
        &self,
        key: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Sealed, KmsError> {
        let (material, current) = self.current_material(key)?;
        let material_id = kms_crypto::MaterialId::from_hex(&current.material_id)
            .ok_or_else(|| KmsError::KmsInternal("Stored material id is malformed.".into()))?;
        let blob = ciphertext::encrypt(&material, &key.key_id, &material_id, plaintext, context)?;
        Ok(Sealed {
            blob,
            material_id: current.material_id.clone(),
        })
    }

    /// Encrypts with any encryption key and a checked algorithm.
    async fn seal_with(
        &self,
        key: &KeyRecord,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Sealed, KmsError> {
        let Some(asymmetric) = asymmetric_algorithm(algorithm) else {
            return self.seal(key, plaintext, context).await;
        };
        no_context_for_asymmetric(context)?;
        let current = key.current_material().ok_or_else(|| {
            KmsError::KmsInvalidState(format!("{} has no key material.", key.arn))
        })?;
        let public_key = current
            .public_key
            .as_deref()
            .ok_or_else(|| KmsError::KmsInternal("An asymmetric key has no public key.".into()))?;
        let blob = match asymmetric {
            AsymmetricEncryption::Rsa(rsa) => {
                kms_crypto::asymmetric::rsa_encrypt(public_key, rsa, plaintext)?
            }
            AsymmetricEncryption::Sm2Pke => kms_crypto::sm2_encrypt(public_key, plaintext)?,
        };
        Ok(Sealed {
            blob,
            material_id: current.material_id.clone(),
        })
    }

    /// Opens a ciphertext. With an RSA or SM2 algorithm the caller must name the key; otherwise
    /// the symmetric blob names its own key, and a caller's KeyId must be that key.
    async fn open(
        &self,
        blob: &[u8],
        context: &EncryptionContext,
        expected: Option<String>,
        requested: Option<EncryptionAlgorithm>,
        operation: &str,
    ) -> Result<Opened, KmsError> {
        length_within(blob.len(), 1, MAX_CIPHERTEXT, "ciphertextBlob")?;
        if let Some(asymmetric) = requested.and_then(asymmetric_algorithm) {
            let Some(key_id) = expected else {
                return Err(KmsError::Validation(
                    "KeyId is required to decrypt with an asymmetric key.".into(),
                ));
            };
            no_context_for_asymmetric(context)?;
            let key = self.resolve(Some(key_id), true).await?;
            check_encrypt_key(&key, operation)?;
            let algorithm = encryption_algorithm(&key, requested)?;
            let kind = key_kind(key.key_spec)
                .ok_or_else(|| KmsError::KmsInternal("Not an asymmetric key.".into()))?;
            let (material, current) = self.current_material(&key)?;
            let material_id = current.material_id.clone();
            let plaintext = match asymmetric {
                AsymmetricEncryption::Rsa(rsa) => {
                    kms_crypto::asymmetric::rsa_decrypt(kind, &material, rsa, blob)?
                }
                AsymmetricEncryption::Sm2Pke => kms_crypto::sm2_decrypt(kind, &material, blob)?,
            };
            return Ok(Opened {
                plaintext,
                key,
                algorithm,
                material_id,
            });
        }
        let (kind, blob_key_id) = kms_crypto::store_ciphertext::blob_key(blob)
            .map_err(|_| KmsError::InvalidCiphertext)?;
        let key = match expected {
            Some(key_id) => {
                let key = self.resolve(Some(key_id), true).await?;
                // AWS: a KeyId that is not the ciphertext's key is IncorrectKeyException,
                // whatever that key's spec or usage.
                if key.key_id != blob_key_id {
                    return Err(KmsError::IncorrectKey(
                        "The key ID in the request does not identify a KMS key that can perform this operation.".into(),
                    ));
                }
                key
            }
            None => {
                let key = self
                    .read(|state| {
                        state.key(&blob_key_id).map(|key| {
                            let mut shown = key.clone();
                            shown.key_state = state.shown_key_state(key);
                            shown
                        })
                    })
                    .await?
                    .ok_or(KmsError::InvalidCiphertext)?;
                self.authorize_key(&key)?;
                key
            }
        };
        check_encrypt_key(&key, operation)?;
        let algorithm = encryption_algorithm(&key, requested)?;
        if key.key_store.is_some() {
            let (plaintext, material_id) = self.open_in_store(&key, blob, context).await?;
            return Ok(Opened {
                plaintext,
                key,
                algorithm,
                material_id,
            });
        }
        if kind != kms_crypto::store_ciphertext::BlobKind::Kms {
            return Err(KmsError::InvalidCiphertext);
        }
        let header = ciphertext::parse_header(blob).map_err(|_| KmsError::InvalidCiphertext)?;
        let material_id = header.material_id.to_hex();
        let material = self.unwrap_material(&key, &material_id)?;
        let plaintext = ciphertext::decrypt(&material, blob, context)
            .map_err(|_| KmsError::InvalidCiphertext)?;
        Ok(Opened {
            plaintext,
            key,
            algorithm,
            material_id,
        })
    }

    pub(crate) async fn encrypt(
        &self,
        request: EncryptRequest,
    ) -> Result<EncryptResponse, KmsError> {
        let plaintext = required(request.plaintext, "plaintext")?;
        length_within(plaintext.0.len(), 1, MAX_PLAINTEXT, "plaintext")?;
        let requested = parse_algorithm(
            request.encryption_algorithm.as_deref(),
            "encryptionAlgorithm",
        )?;
        let key = self.resolve(request.key_id, true).await?;
        check_encrypt_key(&key, "Encrypt")?;
        let algorithm = encryption_algorithm(&key, requested)?;
        dry_run(request.dry_run)?;
        let context = request.encryption_context.unwrap_or_default();
        let sealed = self
            .seal_with(&key, algorithm, &plaintext.0, &context)
            .await?;
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
        let requested = parse_algorithm(
            request.encryption_algorithm.as_deref(),
            "encryptionAlgorithm",
        )?;
        let context = request.encryption_context.unwrap_or_default();
        let opened = self
            .open(&blob.0, &context, request.key_id, requested, "Decrypt")
            .await?;
        dry_run(request.dry_run)?;
        let key_material_id = symmetric_material_id(&opened.key, opened.material_id);
        Ok(DecryptResponse {
            key_id: opened.key.arn,
            plaintext: Blob(opened.plaintext.to_vec()),
            encryption_algorithm: opened.algorithm,
            key_material_id,
        })
    }

    pub(crate) async fn re_encrypt(
        &self,
        request: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        let blob = required(request.ciphertext_blob, "ciphertextBlob")?;
        let destination_key_id = required(request.destination_key_id, "destinationKeyId")?;
        let source_requested = parse_algorithm(
            request.source_encryption_algorithm.as_deref(),
            "sourceEncryptionAlgorithm",
        )?;
        let destination_requested = parse_algorithm(
            request.destination_encryption_algorithm.as_deref(),
            "destinationEncryptionAlgorithm",
        )?;
        let source_context = request.source_encryption_context.unwrap_or_default();
        let opened = self
            .open(
                &blob.0,
                &source_context,
                request.source_key_id,
                source_requested,
                "ReEncrypt",
            )
            .await?;
        let destination = self
            .resolve_for(Some(destination_key_id), true, Some("kms:ReEncryptTo"))
            .await?;
        check_encrypt_key(&destination, "ReEncrypt")?;
        let destination_algorithm = encryption_algorithm(&destination, destination_requested)?;
        dry_run(request.dry_run)?;
        let context = request.destination_encryption_context.unwrap_or_default();
        let sealed = self
            .seal_with(
                &destination,
                destination_algorithm,
                &opened.plaintext,
                &context,
            )
            .await?;
        let source_key_material_id = symmetric_material_id(&opened.key, opened.material_id);
        let destination_key_material_id = symmetric_material_id(&destination, sealed.material_id);
        Ok(ReEncryptResponse {
            ciphertext_blob: Blob(sealed.blob),
            source_key_id: opened.key.arn,
            key_id: destination.arn,
            source_encryption_algorithm: opened.algorithm,
            destination_encryption_algorithm: destination_algorithm,
            source_key_material_id,
            destination_key_material_id,
        })
    }

    /// Checks that `key` is a usable symmetric encryption key (data keys are sealed under it).
    pub(crate) fn check_symmetric_encryption_key(
        &self,
        key: &KeyRecord,
        operation: &str,
    ) -> Result<(), KmsError> {
        check_encrypt_key(key, operation)?;
        if key.key_spec != KeySpec::SymmetricDefault {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{operation} requires a symmetric encryption key; {} is {}.",
                key.arn, key.key_spec
            )));
        }
        Ok(())
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
        self.check_symmetric_encryption_key(&key, "GenerateDataKey")?;
        dry_run(request.dry_run)?;
        let data_key = zeroize::Zeroizing::new(kms_crypto::random_bytes(length));
        let sealed = self
            .seal(
                &key,
                &data_key,
                &request.encryption_context.unwrap_or_default(),
            )
            .await?;
        let key_material_id = symmetric_material_id(&key, sealed.material_id);
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Blob(sealed.blob),
            plaintext: with_plaintext.then(|| Blob(data_key.to_vec())),
            key_id: key.arn,
            key_material_id,
        })
    }

    pub(crate) async fn generate_random(
        &self,
        request: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        let length = in_range(
            required(request.number_of_bytes, "numberOfBytes")?,
            1,
            1024,
            "numberOfBytes",
        )? as usize;
        let plaintext = match request.custom_key_store_id {
            Some(id) => self.random_from_store(id, length).await?,
            None => kms_crypto::random_bytes(length),
        };
        Ok(GenerateRandomResponse {
            plaintext: Blob(plaintext),
        })
    }
}
