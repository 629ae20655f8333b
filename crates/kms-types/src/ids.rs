//! Key identifiers, aliases and ARNs, and parsing of the `KeyId` request parameter.
//!
//! A key id is region-independent: a UUID for single-region keys, `mrk-` + 32 lowercase hex for
//! multi-region keys. ARNs add the region and account: `arn:aws:kms:REGION:ACCOUNT:key/ID`.

use crate::KmsError;

/// What a `KeyId` request parameter names: a key id, a key ARN, an alias name or an alias ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyReference {
    /// A bare key id.
    KeyId(String),
    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
    KeyArn {
        /// Region in the ARN.
        region: String,
        /// Account in the ARN.
        account: String,
        /// The key id.
        key_id: String,
    },
    /// `alias/NAME`.
    AliasName(String),
    /// `arn:aws:kms:REGION:ACCOUNT:alias/NAME`; `alias_name` includes the `alias/` prefix.
    AliasArn {
        /// Region in the ARN.
        region: String,
        /// Account in the ARN.
        account: String,
        /// The alias name, `alias/...`.
        alias_name: String,
    },
}

impl KeyReference {
    /// Parses a `KeyId` parameter. Length is checked against AWS's 1–2048 bound.
    pub fn parse(value: &str) -> Result<KeyReference, KmsError> {
        if value.is_empty() || value.len() > 2048 {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{value}' at 'keyId' failed to satisfy \
                 constraint: Member must have length between 1 and 2048"
            )));
        }
        if let Some(rest) = value.strip_prefix("arn:") {
            return parse_arn(value, rest);
        }
        if value.starts_with("alias/") {
            return Ok(KeyReference::AliasName(value.to_string()));
        }
        Ok(KeyReference::KeyId(value.to_string()))
    }

    /// True if this names an alias rather than a key.
    pub fn is_alias(&self) -> bool {
        matches!(
            self,
            KeyReference::AliasName(_) | KeyReference::AliasArn { .. }
        )
    }
}

fn parse_arn(full: &str, rest: &str) -> Result<KeyReference, KmsError> {
    let invalid = || KmsError::InvalidArn(format!("ARN {full} is not a valid KMS ARN."));
    let mut parts = rest.splitn(5, ':');
    let partition = parts.next().ok_or_else(invalid)?;
    let service = parts.next().ok_or_else(invalid)?;
    let region = parts.next().ok_or_else(invalid)?;
    let account = parts.next().ok_or_else(invalid)?;
    let resource = parts.next().ok_or_else(invalid)?;
    if !partition.starts_with("aws") || service != "kms" || region.is_empty() || account.is_empty()
    {
        return Err(invalid());
    }
    let (region, account) = (region.to_string(), account.to_string());
    if let Some(key_id) = resource.strip_prefix("key/") {
        if key_id.is_empty() {
            return Err(invalid());
        }
        return Ok(KeyReference::KeyArn {
            region,
            account,
            key_id: key_id.to_string(),
        });
    }
    if resource.starts_with("alias/") && resource.len() > "alias/".len() {
        return Ok(KeyReference::AliasArn {
            region,
            account,
            alias_name: resource.to_string(),
        });
    }
    Err(invalid())
}

/// True for a well-formed key id: a lowercase hyphenated UUID or `mrk-` + 32 lowercase hex.
pub fn is_valid_key_id(key_id: &str) -> bool {
    if let Some(hex) = key_id.strip_prefix("mrk-") {
        return hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    }
    let groups: Vec<&str> = key_id.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lengths)
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The ARN of a key.
pub fn key_arn(region: &str, account: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{key_id}")
}

/// The ARN of an alias; `alias_name` includes the `alias/` prefix.
pub fn alias_arn(region: &str, account: &str, alias_name: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias_name}")
}

/// Checks an alias name against AWS's rules for names a caller may create.
pub fn validate_new_alias_name(name: &str) -> Result<(), KmsError> {
    validate_alias_name_shape(name)?;
    if name.starts_with("alias/aws/") {
        // AWS answers NotAuthorizedException here (as moto records it), not InvalidAliasName.
        return Err(KmsError::NotAuthorized(format!(
            "{name} must not begin with alias/aws/: that prefix is reserved for AWS managed keys."
        )));
    }
    Ok(())
}

/// Checks the shape every alias name must have (length, `alias/` prefix, allowed characters).
pub fn validate_alias_name_shape(name: &str) -> Result<(), KmsError> {
    if name.is_empty() || name.len() > 256 {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy \
             constraint: Member must have length less than or equal to 256"
        )));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-');
    if !name.chars().all(allowed) {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        )));
    }
    if !name.starts_with("alias/") || name.len() == "alias/".len() {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias must start with the prefix \"alias/\" and have a name after it: {name}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_reference_form() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(KeyReference::parse(id), Ok(KeyReference::KeyId(id.into())));
        assert_eq!(
            KeyReference::parse(&key_arn("us-east-1", "111122223333", id)),
            Ok(KeyReference::KeyArn {
                region: "us-east-1".into(),
                account: "111122223333".into(),
                key_id: id.into()
            })
        );
        assert_eq!(
            KeyReference::parse("alias/a"),
            Ok(KeyReference::AliasName("alias/a".into()))
        );
        assert!(matches!(
            KeyReference::parse("arn:aws:kms:us-east-1:111122223333:alias/x"),
            Ok(KeyReference::AliasArn { .. })
        ));
        assert!(matches!(
            KeyReference::parse("arn:aws:s3:::bucket"),
            Err(KmsError::InvalidArn(_))
        ));
        assert!(matches!(
            KeyReference::parse(""),
            Err(KmsError::Validation(_))
        ));
    }

    #[test]
    fn key_id_shapes() {
        assert!(is_valid_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_valid_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_valid_key_id("mrk-1234"));
        assert!(!is_valid_key_id("not-a-key"));
    }

    #[test]
    fn alias_rules() {
        assert!(validate_new_alias_name("alias/my-key_1:x").is_ok());
        assert!(matches!(
            validate_new_alias_name("alias/aws/s3"),
            Err(KmsError::NotAuthorized(_))
        ));
        assert!(matches!(
            validate_new_alias_name("my-key"),
            Err(KmsError::InvalidAliasName(_))
        ));
        assert!(matches!(
            validate_new_alias_name("alias/"),
            Err(KmsError::InvalidAliasName(_))
        ));
        assert!(matches!(
            validate_new_alias_name("alias/sp ace"),
            Err(KmsError::Validation(_))
        ));
    }
}
