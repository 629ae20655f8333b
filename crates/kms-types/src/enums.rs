//! AWS KMS enumerations, spelled exactly as the API spells them.
//!
//! Request fields carrying these arrive as strings and are parsed with [`parse_enum`], which
//! produces AWS's `ValidationException` text for a value outside the set.

use crate::KmsError;

/// Declares a string-valued AWS enum with `as_str`, `FromStr`, `ALL` and serde as the string.
macro_rules! aws_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(missing_docs)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in AWS's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as AWS spells it.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(|()| serde::de::Error::custom(format!("unknown {} '{text}'", stringify!($name))))
            }
        }
    };
}

/// An enum whose values AWS lists in validation messages.
pub trait AwsEnum: Sized + Copy + std::str::FromStr + 'static {
    /// Every value, in AWS's order.
    fn all() -> &'static [Self];
    /// The value as AWS spells it.
    fn text(&self) -> &'static str;
}

macro_rules! impl_aws_enum {
    ($($name:ident),+) => { $(impl AwsEnum for $name {
        fn all() -> &'static [Self] { $name::ALL }
        fn text(&self) -> &'static str { self.as_str() }
    })+ };
}

aws_enum!(
    /// `KeySpec` (and the deprecated `CustomerMasterKeySpec`).
    KeySpec {
        Rsa2048 = "RSA_2048", Rsa3072 = "RSA_3072", Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256", EccNistP384 = "ECC_NIST_P384", EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1", SymmetricDefault = "SYMMETRIC_DEFAULT",
        Hmac224 = "HMAC_224", Hmac256 = "HMAC_256", Hmac384 = "HMAC_384", Hmac512 = "HMAC_512",
        Sm2 = "SM2", MlDsa44 = "ML_DSA_44", MlDsa65 = "ML_DSA_65", MlDsa87 = "ML_DSA_87",
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
    }
);

aws_enum!(
    /// `KeyUsageType`.
    KeyUsage {
        SignVerify = "SIGN_VERIFY", EncryptDecrypt = "ENCRYPT_DECRYPT",
        GenerateVerifyMac = "GENERATE_VERIFY_MAC", KeyAgreement = "KEY_AGREEMENT",
    }
);

aws_enum!(
    /// `OriginType`: where a key's material comes from.
    Origin {
        AwsKms = "AWS_KMS", External = "EXTERNAL", AwsCloudhsm = "AWS_CLOUDHSM",
        ExternalKeyStore = "EXTERNAL_KEY_STORE",
    }
);

aws_enum!(
    /// `KeyState`.
    KeyState {
        Creating = "Creating", Enabled = "Enabled", Disabled = "Disabled",
        PendingDeletion = "PendingDeletion", PendingImport = "PendingImport",
        PendingReplicaDeletion = "PendingReplicaDeletion", Unavailable = "Unavailable",
        Updating = "Updating",
    }
);

aws_enum!(
    /// `EncryptionAlgorithmSpec`.
    EncryptionAlgorithm {
        SymmetricDefault = "SYMMETRIC_DEFAULT", RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256", Sm2pke = "SM2PKE",
    }
);

aws_enum!(
    /// `DataKeySpec` for GenerateDataKey.
    DataKeySpec { Aes256 = "AES_256", Aes128 = "AES_128" }
);

aws_enum!(
    /// `KeyManagerType`.
    KeyManager { Aws = "AWS", Customer = "CUSTOMER" }
);

aws_enum!(
    /// `MultiRegionKeyType`.
    MultiRegionKeyType { Primary = "PRIMARY", Replica = "REPLICA" }
);

aws_enum!(
    /// `RotationType`: how a key's material was rotated.
    RotationType { Automatic = "AUTOMATIC", OnDemand = "ON_DEMAND" }
);

aws_enum!(
    /// `IncludeKeyMaterial` of ListKeyRotations.
    IncludeKeyMaterial { AllKeyMaterial = "ALL_KEY_MATERIAL", RotationsOnly = "ROTATIONS_ONLY" }
);

aws_enum!(
    /// `KeyMaterialState`.
    KeyMaterialState {
        Current = "CURRENT", NonCurrent = "NON_CURRENT", PendingRotation = "PENDING_ROTATION",
        PendingMultiRegionImportAndRotation = "PENDING_MULTI_REGION_IMPORT_AND_ROTATION",
    }
);

aws_enum!(
    /// `SigningAlgorithmSpec`.
    SigningAlgorithmSpec {
        RsassaPssSha256 = "RSASSA_PSS_SHA_256", RsassaPssSha384 = "RSASSA_PSS_SHA_384",
        RsassaPssSha512 = "RSASSA_PSS_SHA_512", RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
        RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384", RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
        EcdsaSha256 = "ECDSA_SHA_256", EcdsaSha384 = "ECDSA_SHA_384", EcdsaSha512 = "ECDSA_SHA_512",
        Sm2dsa = "SM2DSA", MlDsaShake256 = "ML_DSA_SHAKE_256", Ed25519Sha512 = "ED25519_SHA_512",
        Ed25519PhSha512 = "ED25519_PH_SHA_512",
    }
);

aws_enum!(
    /// `MacAlgorithmSpec`.
    MacAlgorithmSpec {
        HmacSha224 = "HMAC_SHA_224", HmacSha256 = "HMAC_SHA_256", HmacSha384 = "HMAC_SHA_384",
        HmacSha512 = "HMAC_SHA_512",
    }
);

aws_enum!(
    /// `KeyAgreementAlgorithmSpec`.
    KeyAgreementAlgorithmSpec { Ecdh = "ECDH" }
);

aws_enum!(
    /// `MessageType` of Sign and Verify.
    MessageType { Raw = "RAW", Digest = "DIGEST", ExternalMu = "EXTERNAL_MU" }
);

aws_enum!(
    /// `DataKeyPairSpec` of GenerateDataKeyPair.
    DataKeyPairSpec {
        Rsa2048 = "RSA_2048", Rsa3072 = "RSA_3072", Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256", EccNistP384 = "ECC_NIST_P384", EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1", Sm2 = "SM2", EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
    }
);

aws_enum!(
    /// `WrappingKeySpec` of GetParametersForImport.
    WrappingKeySpec { Rsa2048 = "RSA_2048", Rsa3072 = "RSA_3072", Rsa4096 = "RSA_4096", Sm2 = "SM2" }
);

aws_enum!(
    /// `AlgorithmSpec`: the wrapping algorithm of GetParametersForImport.
    WrappingAlgorithm {
        RsaesPkcs1V15 = "RSAES_PKCS1_V1_5", RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256", RsaAesKeyWrapSha1 = "RSA_AES_KEY_WRAP_SHA_1",
        RsaAesKeyWrapSha256 = "RSA_AES_KEY_WRAP_SHA_256", Sm2pke = "SM2PKE",
    }
);

aws_enum!(
    /// `ExpirationModelType` of imported key material.
    ExpirationModel {
        KeyMaterialExpires = "KEY_MATERIAL_EXPIRES",
        KeyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
);

aws_enum!(
    /// `ImportType` of ImportKeyMaterial.
    ImportType { NewKeyMaterial = "NEW_KEY_MATERIAL", ExistingKeyMaterial = "EXISTING_KEY_MATERIAL" }
);

aws_enum!(
    /// `ImportState` of a ListKeyRotations entry.
    ImportState { Imported = "IMPORTED", PendingImport = "PENDING_IMPORT" }
);

aws_enum!(
    /// `CustomKeyStoreType`.
    CustomKeyStoreType { AwsCloudhsm = "AWS_CLOUDHSM", ExternalKeyStore = "EXTERNAL_KEY_STORE" }
);

aws_enum!(
    /// `XksProxyConnectivityType`.
    XksProxyConnectivityType {
        PublicEndpoint = "PUBLIC_ENDPOINT", VpcEndpointService = "VPC_ENDPOINT_SERVICE",
    }
);

aws_enum!(
    /// `ConnectionStateType` of a custom key store.
    ConnectionState {
        Connected = "CONNECTED", Connecting = "CONNECTING", Failed = "FAILED",
        Disconnected = "DISCONNECTED", Disconnecting = "DISCONNECTING",
    }
);

aws_enum!(
    /// `ConnectionErrorCodeType`: why a custom key store is FAILED.
    ConnectionErrorCode {
        InvalidCredentials = "INVALID_CREDENTIALS", ClusterNotFound = "CLUSTER_NOT_FOUND",
        NetworkErrors = "NETWORK_ERRORS", InternalError = "INTERNAL_ERROR",
        InsufficientCloudhsmHsms = "INSUFFICIENT_CLOUDHSM_HSMS",
        UserLockedOut = "USER_LOCKED_OUT", UserNotFound = "USER_NOT_FOUND",
        UserLoggedIn = "USER_LOGGED_IN", SubnetNotFound = "SUBNET_NOT_FOUND",
        InsufficientFreeAddressesInSubnet = "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET",
        XksProxyAccessDenied = "XKS_PROXY_ACCESS_DENIED",
        XksProxyNotReachable = "XKS_PROXY_NOT_REACHABLE",
        XksVpcEndpointServiceNotFound = "XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND",
        XksProxyInvalidResponse = "XKS_PROXY_INVALID_RESPONSE",
        XksProxyInvalidConfiguration = "XKS_PROXY_INVALID_CONFIGURATION",
        XksVpcEndpointServiceInvalidConfiguration = "XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION",
        XksProxyTimedOut = "XKS_PROXY_TIMED_OUT",
        XksProxyInvalidTlsConfiguration = "XKS_PROXY_INVALID_TLS_CONFIGURATION",
    }
);

impl_aws_enum!(
    CustomKeyStoreType,
    XksProxyConnectivityType,
    ConnectionState,
    ConnectionErrorCode,
    KeySpec,
    KeyUsage,
    Origin,
    KeyState,
    EncryptionAlgorithm,
    DataKeySpec,
    IncludeKeyMaterial,
    SigningAlgorithmSpec,
    MacAlgorithmSpec,
    KeyAgreementAlgorithmSpec,
    MessageType,
    DataKeyPairSpec,
    WrappingKeySpec,
    WrappingAlgorithm,
    ExpirationModel,
    ImportType
);

/// Parses an enum request field, or returns AWS's `ValidationException` for a value outside
/// the set. `field` is the camelCase member name AWS reports (e.g. `keySpec`).
pub fn parse_enum<T: AwsEnum>(value: &str, field: &str) -> Result<T, KmsError> {
    value.parse::<T>().map_err(|_| {
        let set: Vec<&str> = T::all().iter().map(|v| v.text()).collect();
        KmsError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: \
             Member must satisfy enum value set: [{}]",
            set.join(", ")
        ))
    })
}

/// The three key types AWS's console and UpdateAlias distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// SYMMETRIC_DEFAULT.
    Symmetric,
    /// RSA, ECC, ML-DSA and SM2 key pairs.
    Asymmetric,
    /// HMAC_224 to HMAC_512.
    Hmac,
}

impl KeySpec {
    /// Symmetric, asymmetric or HMAC.
    pub fn key_type(&self) -> KeyType {
        match self {
            KeySpec::SymmetricDefault => KeyType::Symmetric,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                KeyType::Hmac
            }
            _ => KeyType::Asymmetric,
        }
    }

    /// The key usages AWS accepts for this spec, the first being the default.
    pub fn valid_usages(&self) -> &'static [KeyUsage] {
        use KeyUsage::*;
        match self {
            KeySpec::SymmetricDefault => &[EncryptDecrypt],
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[EncryptDecrypt, SignVerify],
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => {
                &[SignVerify, KeyAgreement]
            }
            KeySpec::EccSecgP256k1 => &[SignVerify],
            KeySpec::EccNistEdwards25519 => &[SignVerify],
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                &[GenerateVerifyMac]
            }
            KeySpec::Sm2 => &[EncryptDecrypt, SignVerify, KeyAgreement],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &[SignVerify],
        }
    }
}

impl KeySpec {
    /// The encryption algorithms KeyMetadata lists for this spec and usage.
    pub fn encryption_algorithms(&self, usage: KeyUsage) -> Vec<EncryptionAlgorithm> {
        match (self, usage) {
            (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt) => {
                vec![EncryptionAlgorithm::SymmetricDefault]
            }
            (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, KeyUsage::EncryptDecrypt) => {
                vec![
                    EncryptionAlgorithm::RsaesOaepSha1,
                    EncryptionAlgorithm::RsaesOaepSha256,
                ]
            }
            (KeySpec::Sm2, KeyUsage::EncryptDecrypt) => vec![EncryptionAlgorithm::Sm2pke],
            _ => Vec::new(),
        }
    }

    /// The signing algorithms KeyMetadata lists for this spec and usage.
    pub fn signing_algorithms(&self, usage: KeyUsage) -> Vec<SigningAlgorithmSpec> {
        use SigningAlgorithmSpec as S;
        if usage != KeyUsage::SignVerify {
            return Vec::new();
        }
        match self {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => vec![
                S::RsassaPkcs1V15Sha256,
                S::RsassaPkcs1V15Sha384,
                S::RsassaPkcs1V15Sha512,
                S::RsassaPssSha256,
                S::RsassaPssSha384,
                S::RsassaPssSha512,
            ],
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => vec![S::EcdsaSha256],
            KeySpec::EccNistP384 => vec![S::EcdsaSha384],
            KeySpec::EccNistP521 => vec![S::EcdsaSha512],
            KeySpec::EccNistEdwards25519 => vec![S::Ed25519Sha512, S::Ed25519PhSha512],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => vec![S::MlDsaShake256],
            KeySpec::Sm2 => vec![S::Sm2dsa],
            _ => Vec::new(),
        }
    }

    /// The MAC algorithm of an HMAC spec.
    pub fn mac_algorithm(&self) -> Option<MacAlgorithmSpec> {
        match self {
            KeySpec::Hmac224 => Some(MacAlgorithmSpec::HmacSha224),
            KeySpec::Hmac256 => Some(MacAlgorithmSpec::HmacSha256),
            KeySpec::Hmac384 => Some(MacAlgorithmSpec::HmacSha384),
            KeySpec::Hmac512 => Some(MacAlgorithmSpec::HmacSha512),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_text_round_trips() {
        for spec in KeySpec::ALL {
            assert_eq!(spec.as_str().parse::<KeySpec>(), Ok(*spec));
        }
        assert!("symmetric_default".parse::<KeySpec>().is_err());
    }

    #[test]
    fn parse_enum_reports_aws_validation_text() {
        let err = parse_enum::<KeyUsage>("SIGN", "keyUsage").unwrap_err();
        let KmsError::Validation(message) = err else {
            panic!("not a validation error")
        };
        assert!(message.contains("Value 'SIGN' at 'keyUsage'"), "{message}");
        assert!(
            message.contains("[SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT]")
        );
    }
}
