//! The AWS KMS operations Trent knows by name, as they appear after `TrentService.` in the
//! `X-Amz-Target` header.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::KmsError;

macro_rules! operations {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {
        /// One AWS KMS API operation. Serialises as its AWS name (`"Encrypt"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Operation {
            $($(#[$doc])* #[doc = concat!("The `", stringify!($name), "` operation.")] $name,)+
        }

        impl Operation {
            /// Every operation, in alphabetical order.
            pub const ALL: &'static [Operation] = &[$(Operation::$name,)+];

            /// The AWS name of the operation, exactly as it follows `TrentService.` in
            /// `X-Amz-Target`.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($name),)+
                }
            }
        }

        impl FromStr for Operation {
            type Err = KmsError;

            /// Parses an exact, case-sensitive AWS operation name; anything else is
            /// [`KmsError::UnknownOperation`].
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($name) => Ok(Operation::$name),)+
                    _ => Err(KmsError::UnknownOperation(String::new())),
                }
            }
        }
    };
}

operations!(
    CancelKeyDeletion,
    ConnectCustomKeyStore,
    CreateAlias,
    CreateCustomKeyStore,
    CreateGrant,
    CreateKey,
    Decrypt,
    DeleteAlias,
    DeleteCustomKeyStore,
    DeleteImportedKeyMaterial,
    DeriveSharedSecret,
    DescribeCustomKeyStores,
    DescribeKey,
    DisableKey,
    DisableKeyRotation,
    DisconnectCustomKeyStore,
    EnableKey,
    EnableKeyRotation,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    GenerateDataKeyWithoutPlaintext,
    GenerateMac,
    GenerateRandom,
    GetKeyLastUsage,
    GetKeyPolicy,
    GetKeyRotationStatus,
    GetParametersForImport,
    GetPublicKey,
    ImportKeyMaterial,
    ListAliases,
    ListGrants,
    ListKeyPolicies,
    ListKeyRotations,
    ListKeys,
    ListResourceTags,
    ListRetirableGrants,
    PutKeyPolicy,
    ReEncrypt,
    ReplicateKey,
    RetireGrant,
    RevokeGrant,
    RotateKeyOnDemand,
    ScheduleKeyDeletion,
    Sign,
    TagResource,
    UntagResource,
    UpdateAlias,
    UpdateCustomKeyStore,
    UpdateKeyDescription,
    UpdatePrimaryRegion,
    Verify,
    VerifyMac,
);

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse()
            .map_err(|_| serde::de::Error::custom(format_args!("unknown KMS operation `{name}`")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn all_has_every_operation_once_and_in_order() {
        assert_eq!(Operation::ALL.len(), 54);
        let names: HashSet<_> = Operation::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names.len(), 54);
        assert!(Operation::ALL.windows(2).all(|w| w[0].name() < w[1].name()));
    }

    #[test]
    fn name_parse_display_round_trip() {
        for op in Operation::ALL {
            assert_eq!(op.name().parse::<Operation>().unwrap(), *op);
            assert_eq!(op.to_string(), op.name());
        }
        assert_eq!(Operation::ReEncrypt.name(), "ReEncrypt");
        assert_eq!(Operation::VerifyMac.name(), "VerifyMac");
    }

    #[test]
    fn parse_is_exact_and_case_sensitive() {
        for bad in [
            "encrypt",
            "ENCRYPT",
            " Encrypt",
            "Encrypt ",
            "",
            "TrentService.Encrypt",
        ] {
            assert!(matches!(
                bad.parse::<Operation>(),
                Err(KmsError::UnknownOperation(_))
            ));
        }
    }

    #[test]
    fn serde_uses_the_name() {
        let json = serde_json::to_string(&Operation::GenerateDataKeyPair).unwrap();
        assert_eq!(json, "\"GenerateDataKeyPair\"");
        let back: Operation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Operation::GenerateDataKeyPair);
        let from_value: Operation = serde_json::from_value(serde_json::json!("Sign")).unwrap();
        assert_eq!(from_value, Operation::Sign);
        assert!(serde_json::from_str::<Operation>("\"sign\"").is_err());
    }
}
