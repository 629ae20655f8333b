//! Operations of asymmetric and HMAC keys: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac,
//! DeriveSharedSecret, and GenerateDataKeyPair(WithoutPlaintext).

use crate::call::Call;
use crate::key_kinds::{
    china_region, key_kind, message_type, not_in_this_region, pair_kind, signing_algorithm,
};
use crate::validate::{length_within, required};
use kms_core::key_state::{check, Gate};
use kms_core::KeyRecord;
use kms_crypto::KeyKind;
use kms_types::model::*;
use kms_types::*;

/// Largest message Sign, Verify, GenerateMac and VerifyMac accept.
const MAX_MESSAGE: usize = 4096;
/// Largest signature or MAC accepted.
const MAX_SIGNATURE: usize = 6144;

/// Checks state and usage for `operation` and returns the key's crypto kind.
fn usable(key: &KeyRecord, usage: KeyUsage, operation: &str) -> Result<KeyKind, KmsError> {
    check(key, Gate::Cryptographic)?;
    if key.key_usage != usage {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{} key usage is {} which is not valid for {operation}.",
            key.arn, key.key_usage
        )));
    }
    key_kind(key.key_spec).ok_or_else(|| {
        KmsError::UnsupportedOperation(format!(
            "{operation} is not supported for key spec {}.",
            key.key_spec
        ))
    })
}

fn public_key(key: &KeyRecord) -> Result<&[u8], KmsError> {
    key.current_material()
        .and_then(|m| m.public_key.as_deref())
        .ok_or_else(|| {
            KmsError::UnsupportedOperation(format!(
                "{} has no public key (key spec {}).",
                key.arn, key.key_spec
            ))
        })
}

fn dry_run(requested: Option<bool>) -> Result<(), KmsError> {
    if requested == Some(true) {
        return Err(KmsError::DryRunOperation(
            "The request would have succeeded, but the DryRun option is set.".into(),
        ));
    }
    Ok(())
}

struct SignInput {
    algorithm: SigningAlgorithmSpec,
    crypto_algorithm: kms_crypto::asymmetric::SigningAlgorithm,
    message_type: kms_crypto::asymmetric::MessageType,
    message: Vec<u8>,
}

fn sign_input(
    message: Option<Blob>,
    kind: Option<String>,
    algorithm: Option<String>,
) -> Result<SignInput, KmsError> {
    let message = required(message, "message")?.take();
    length_within(message.len(), 1, MAX_MESSAGE, "message")?;
    let kind = match kind {
        Some(text) => parse_enum::<MessageType>(&text, "messageType")?,
        None => MessageType::Raw,
    };
    let algorithm = parse_enum::<SigningAlgorithmSpec>(
        &required(algorithm, "signingAlgorithm")?,
        "signingAlgorithm",
    )?;
    Ok(SignInput {
        algorithm,
        crypto_algorithm: signing_algorithm(algorithm),
        message_type: message_type(kind),
        message,
    })
}

impl Call<'_> {
    pub(crate) async fn sign(&self, request: SignRequest) -> Result<SignResponse, KmsError> {
        let input = sign_input(
            request.message,
            request.message_type,
            request.signing_algorithm,
        )?;
        let key = self.resolve(request.key_id, true).await?;
        let kind = usable(&key, KeyUsage::SignVerify, "Sign")?;
        dry_run(request.dry_run)?;
        let (material, _) = self.current_material(&key)?;
        let signature = kms_crypto::asymmetric::sign(
            kind,
            &material,
            input.crypto_algorithm,
            input.message_type,
            &input.message,
        )?;
        Ok(SignResponse {
            key_id: key.arn,
            signature: Blob(signature),
            signing_algorithm: input.algorithm,
        })
    }

    pub(crate) async fn verify(&self, request: VerifyRequest) -> Result<VerifyResponse, KmsError> {
        let input = sign_input(
            request.message,
            request.message_type,
            request.signing_algorithm,
        )?;
        let signature = required(request.signature, "signature")?.take();
        length_within(signature.len(), 1, MAX_SIGNATURE, "signature")?;
        let key = self.resolve(request.key_id, true).await?;
        let kind = usable(&key, KeyUsage::SignVerify, "Verify")?;
        dry_run(request.dry_run)?;
        let valid = kms_crypto::asymmetric::verify(
            kind,
            public_key(&key)?,
            input.crypto_algorithm,
            input.message_type,
            &input.message,
            &signature,
        )?;
        if !valid {
            return Err(KmsError::KmsInvalidSignature);
        }
        Ok(VerifyResponse {
            key_id: key.arn,
            signature_valid: true,
            signing_algorithm: input.algorithm,
        })
    }

    pub(crate) async fn get_public_key(
        &self,
        request: GetPublicKeyRequest,
    ) -> Result<GetPublicKeyResponse, KmsError> {
        let key = self.resolve(request.key_id, true).await?;
        check(&key, Gate::Cryptographic)?;
        let public_key = public_key(&key)?.to_vec();
        let metadata = key.metadata();
        Ok(GetPublicKeyResponse {
            public_key: Blob(public_key),
            customer_master_key_spec: key.key_spec,
            key_spec: key.key_spec,
            key_usage: key.key_usage,
            encryption_algorithms: metadata.encryption_algorithms,
            signing_algorithms: metadata.signing_algorithms,
            key_agreement_algorithms: metadata.key_agreement_algorithms,
            key_id: key.arn,
        })
    }

    /// Checks a MAC request and returns the key's kind and the MAC algorithm.
    async fn mac_key(
        &self,
        key_id: Option<String>,
        algorithm: Option<String>,
        message: &[u8],
        operation: &str,
    ) -> Result<(KeyRecord, KeyKind, MacAlgorithmSpec), KmsError> {
        length_within(message.len(), 1, MAX_MESSAGE, "message")?;
        let algorithm =
            parse_enum::<MacAlgorithmSpec>(&required(algorithm, "macAlgorithm")?, "macAlgorithm")?;
        let key = self.resolve(key_id, true).await?;
        let kind = usable(&key, KeyUsage::GenerateVerifyMac, operation)?;
        if key.key_spec.mac_algorithm() != Some(algorithm) {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{algorithm} is not a valid MAC algorithm for {} keys.",
                key.key_spec
            )));
        }
        Ok((key, kind, algorithm))
    }

    pub(crate) async fn generate_mac(
        &self,
        request: GenerateMacRequest,
    ) -> Result<GenerateMacResponse, KmsError> {
        let message = required(request.message, "message")?.take();
        let (key, kind, algorithm) = self
            .mac_key(
                request.key_id,
                request.mac_algorithm,
                &message,
                "GenerateMac",
            )
            .await?;
        dry_run(request.dry_run)?;
        let (material, _) = self.current_material(&key)?;
        let mac = kms_crypto::hmac_generate(kind, &material, &message)?;
        Ok(GenerateMacResponse {
            mac: Blob(mac),
            mac_algorithm: algorithm,
            key_id: key.arn,
        })
    }

    pub(crate) async fn verify_mac(
        &self,
        request: VerifyMacRequest,
    ) -> Result<VerifyMacResponse, KmsError> {
        let message = required(request.message, "message")?.take();
        let mac = required(request.mac, "mac")?.take();
        length_within(mac.len(), 1, MAX_SIGNATURE, "mac")?;
        let (key, kind, algorithm) = self
            .mac_key(request.key_id, request.mac_algorithm, &message, "VerifyMac")
            .await?;
        dry_run(request.dry_run)?;
        let (material, _) = self.current_material(&key)?;
        if !kms_crypto::hmac_verify(kind, &material, &message, &mac)? {
            return Err(KmsError::KmsInvalidMac);
        }
        Ok(VerifyMacResponse {
            key_id: key.arn,
            mac_valid: true,
            mac_algorithm: algorithm,
        })
    }

    pub(crate) async fn derive_shared_secret(
        &self,
        request: DeriveSharedSecretRequest,
    ) -> Result<DeriveSharedSecretResponse, KmsError> {
        let algorithm = parse_enum::<KeyAgreementAlgorithmSpec>(
            &required(request.key_agreement_algorithm, "keyAgreementAlgorithm")?,
            "keyAgreementAlgorithm",
        )?;
        let peer = required(request.public_key, "publicKey")?.take();
        length_within(peer.len(), 1, 8192, "publicKey")?;
        let key = self.resolve(request.key_id, true).await?;
        let kind = usable(&key, KeyUsage::KeyAgreement, "DeriveSharedSecret")?;
        dry_run(request.dry_run)?;
        let (material, _) = self.current_material(&key)?;
        let secret = kms_crypto::derive_shared_secret(kind, &material, &peer)?;
        Ok(DeriveSharedSecretResponse {
            key_id: key.arn,
            shared_secret: Blob(secret.to_vec()),
            key_agreement_algorithm: algorithm,
            key_origin: key.origin,
        })
    }

    pub(crate) async fn generate_data_key_pair(
        &self,
        request: GenerateDataKeyPairRequest,
        with_plaintext: bool,
    ) -> Result<GenerateDataKeyPairResponse, KmsError> {
        let spec = parse_enum::<DataKeyPairSpec>(
            &required(request.key_pair_spec, "keyPairSpec")?,
            "keyPairSpec",
        )?;
        // SM2 data key pairs exist only in the China Regions, like SM2 keys.
        if spec == DataKeyPairSpec::Sm2 && !china_region(self.region()) {
            return Err(not_in_this_region("KeyPairSpec SM2"));
        }
        let kind = pair_kind(spec);
        let key = self.resolve(request.key_id, true).await?;
        self.check_symmetric_encryption_key(&key, "GenerateDataKeyPair")?;
        if key.key_store.is_some() {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} is in a custom key store; GenerateDataKeyPair does not support keys in                  custom key stores.",
                key.arn
            )));
        }
        dry_run(request.dry_run)?;
        let pair = tokio::task::spawn_blocking(move || kms_crypto::asymmetric::generate(kind))
            .await
            .map_err(|e| KmsError::KmsInternal(format!("Key generation was interrupted: {e}")))??;
        let public_key = pair.public_key.ok_or_else(|| {
            KmsError::KmsInternal("A generated key pair has no public key.".into())
        })?;
        let context = request.encryption_context.unwrap_or_default();
        let sealed = self.seal(&key, pair.material.as_bytes(), &context).await?;
        Ok(GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: Blob(sealed.blob),
            private_key_plaintext: with_plaintext.then(|| Blob(pair.material.as_bytes().to_vec())),
            public_key: Blob(public_key),
            key_id: key.arn,
            key_pair_spec: spec,
            key_material_id: Some(sealed.material_id),
        })
    }
}
