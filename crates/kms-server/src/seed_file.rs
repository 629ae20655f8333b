//! The seed file: its format (YAML, so JSON too), the checks made when it is loaded, and each
//! key's role in a region (single-region key, multi-region primary, replica).
//!
//! Material in the file is decoded once into [`KeyMaterial`] (zeroized on drop); the file's
//! text is zeroized after parsing, and nothing here prints material (`Debug` is redacted).

use crate::key_kinds::key_kind;
use anyhow::{bail, Context};
use kms_crypto::KeyMaterial;
use kms_types::model::Tag;
use kms_types::{is_valid_key_id, parse_enum, KeySpec, KeyUsage};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use zeroize::Zeroizing;

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedDocument {
    #[serde(default)]
    keys: Vec<SeedKeyDocument>,
}

/// One key as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedKeyDocument {
    id: String,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    primary_region: Option<String>,
    #[serde(default)]
    replica_regions: Vec<String>,
    #[serde(default)]
    spec: Option<String>,
    #[serde(default)]
    usage: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// A JSON document as text, or as a YAML/JSON mapping.
    #[serde(default)]
    policy: Option<serde_json::Value>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    rotation_period_days: Option<u32>,
    #[serde(default)]
    material: Option<SecretText>,
}

/// Material as written; zeroized on drop.
struct SecretText(Zeroizing<String>);

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| SecretText(Zeroizing::new(text)))
    }
}

/// A loaded, checked seed.
pub struct Seed {
    /// The keys, in file order.
    pub(crate) keys: Vec<SeedKey>,
}

/// Where a key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A single-region key in these regions (every region of the cluster when the file names
    /// none: each its own key with the same id).
    Single(Option<String>),
    /// A multi-region key: primary and replicas.
    Multi {
        /// The primary region.
        primary: String,
        /// The replica regions.
        replicas: Vec<String>,
    },
}

/// A key's role in one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A single-region key, or a multi-region primary: this region creates it.
    Creates,
    /// A replica: the primary's region creates it here by ReplicateKey.
    Replica,
}

/// One checked key of the seed.
pub(crate) struct SeedKey {
    pub id: String,
    /// `None`: the node's default account.
    pub account: Option<String>,
    pub placement: Placement,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub description: String,
    pub tags: Vec<(String, String)>,
    /// `None`: the default key policy of the key's account.
    pub policy: Option<String>,
    pub aliases: Vec<String>,
    pub rotation_period_days: Option<u32>,
    pub material: Option<SeedMaterial>,
}

/// Given material, decoded and checked for the key's spec.
pub(crate) struct SeedMaterial {
    pub bytes: KeyMaterial,
    /// The id ImportKeyMaterial gives these bytes in this key.
    pub material_id: String,
}

impl std::fmt::Debug for SeedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SeedKey({}, {}, material {})",
            self.id,
            self.spec,
            if self.material.is_some() {
                "given"
            } else {
                "generated"
            }
        )
    }
}

impl SeedKey {
    /// The key's role in `region`, `None` if it has none there.
    pub fn role_in(&self, region: &str) -> Option<Role> {
        match &self.placement {
            Placement::Single(None) => Some(Role::Creates),
            Placement::Single(Some(r)) => (r == region).then_some(Role::Creates),
            Placement::Multi { primary, replicas } => {
                if primary == region {
                    Some(Role::Creates)
                } else if replicas.iter().any(|r| r == region) {
                    Some(Role::Replica)
                } else {
                    None
                }
            }
        }
    }

    /// The replica regions of a multi-region key (empty for others).
    pub fn replica_regions(&self) -> &[String] {
        match &self.placement {
            Placement::Multi { replicas, .. } => replicas,
            Placement::Single(_) => &[],
        }
    }

    /// The key's account, given the node's default account.
    pub fn account<'a>(&'a self, default: &'a str) -> &'a str {
        self.account.as_deref().unwrap_or(default)
    }

    /// The key policy it gets.
    pub fn policy_for(&self, account: &str) -> String {
        self.policy
            .clone()
            .unwrap_or_else(|| kms_policy::default_key_policy(account))
    }
}

impl Seed {
    /// Reads and checks a seed file; `regions` are the regions of this deployment.
    pub fn load(path: &Path, regions: &[String]) -> anyhow::Result<Seed> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the seed file {}", path.display()))?,
        );
        Seed::parse(&text, regions).with_context(|| format!("seed file {}", path.display()))
    }

    /// Parses and checks seed text (YAML or JSON).
    pub fn parse(text: &str, regions: &[String]) -> anyhow::Result<Seed> {
        let document: SeedDocument =
            serde_yaml_ng::from_str(text).context("the seed is not valid YAML or JSON")?;
        let mut seen = BTreeSet::new();
        let mut keys = Vec::with_capacity(document.keys.len());
        for key in document.keys {
            let id = key.id.clone();
            if !seen.insert(id.clone()) {
                bail!("key {id} is declared twice");
            }
            keys.push(check_key(key, regions).with_context(|| format!("key {id}"))?);
        }
        let mut aliases = BTreeSet::new();
        for key in &keys {
            for alias in &key.aliases {
                // Aliases are per account and region; a key in every region shares its names.
                if !aliases.insert((key.account.clone(), alias.clone())) {
                    bail!("key {}: alias {alias} is declared twice", key.id);
                }
            }
        }
        Ok(Seed { keys })
    }
}

fn check_key(key: SeedKeyDocument, regions: &[String]) -> anyhow::Result<SeedKey> {
    let error = |e: kms_types::KmsError| anyhow::anyhow!("{e}");
    if !is_valid_key_id(&key.id) {
        bail!("field id: not a key id (a UUID, or mrk- and 32 hex digits)");
    }
    let multi_region = key.id.starts_with("mrk-");
    let known = |region: &str, field: &str| -> anyhow::Result<()> {
        if !regions.iter().any(|r| r == region) {
            bail!(
                "field {field}: region {region} is not a region of this deployment ({})",
                regions.join(", ")
            );
        }
        Ok(())
    };
    let placement = match (multi_region, key.region, key.primary_region) {
        (false, region, None) => {
            if !key.replica_regions.is_empty() {
                bail!("field replica_regions: only multi-region keys (mrk-...) have replicas");
            }
            if let Some(region) = &region {
                known(region, "region")?;
            }
            Placement::Single(region)
        }
        (false, _, Some(_)) => {
            bail!("field primary_region: only multi-region keys (ids mrk-...) have one")
        }
        (true, Some(_), _) => {
            bail!("field region: a multi-region key names primary_region and replica_regions")
        }
        (true, None, None) => bail!("field primary_region: a multi-region key needs one"),
        (true, None, Some(primary)) => {
            known(&primary, "primary_region")?;
            let mut distinct = BTreeSet::from([primary.clone()]);
            for replica in &key.replica_regions {
                known(replica, "replica_regions")?;
                if !distinct.insert(replica.clone()) {
                    bail!("field replica_regions: {replica} is named twice (or is the primary)");
                }
            }
            Placement::Multi {
                primary,
                replicas: key.replica_regions,
            }
        }
    };
    if let Some(account) = &key.account {
        if !kms_config::node::is_account_id(account) {
            bail!("field account: must be 12 digits, got '{account}'");
        }
    }
    let spec = match &key.spec {
        Some(spec) => parse_enum::<KeySpec>(spec, "spec").map_err(error)?,
        None => KeySpec::SymmetricDefault,
    };
    let usage = match &key.usage {
        Some(usage) => parse_enum::<KeyUsage>(usage, "usage").map_err(error)?,
        None if spec.mac_algorithm().is_some() => KeyUsage::GenerateVerifyMac,
        None if spec.valid_usages().contains(&KeyUsage::EncryptDecrypt) => KeyUsage::EncryptDecrypt,
        None => KeyUsage::SignVerify,
    };
    if !spec.valid_usages().contains(&usage) {
        bail!("field usage: {usage} is not a usage of key spec {spec}");
    }
    if spec == KeySpec::Sm2 {
        // SM2 exists only in the China Regions: every region the key lives in must be one.
        let placed: Vec<&str> = match &placement {
            Placement::Single(Some(region)) => vec![region.as_str()],
            Placement::Single(None) => regions.iter().map(String::as_str).collect(),
            Placement::Multi { primary, replicas } => std::iter::once(primary)
                .chain(replicas)
                .map(String::as_str)
                .collect(),
        };
        if let Some(region) = placed.iter().find(|r| !crate::key_kinds::china_region(r)) {
            bail!("field spec: SM2 keys exist only in the China Regions (cn-*), not in {region}");
        }
    }
    if key.description.chars().count() > 8192 {
        bail!("field description: at most 8192 characters");
    }
    let tags: Vec<Tag> = key
        .tags
        .into_iter()
        .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
        .collect();
    let tags = crate::validate::tags(&tags).map_err(|e| anyhow::anyhow!("field tags: {e}"))?;
    if tags.len() > kms_core::MAX_TAGS_PER_KEY {
        bail!("field tags: at most {} tags", kms_core::MAX_TAGS_PER_KEY);
    }
    let policy = match key.policy {
        None => None,
        Some(serde_json::Value::String(text)) => Some(text),
        Some(document) => Some(document.to_string()),
    };
    if let Some(policy) = &policy {
        crate::validate::policy(policy).map_err(|e| anyhow::anyhow!("field policy: {e}"))?;
    }
    for alias in &key.aliases {
        kms_types::validate_new_alias_name(alias)
            .map_err(|e| anyhow::anyhow!("field aliases: {e}"))?;
    }
    if key.aliases.len() > kms_core::MAX_ALIASES_PER_KEY {
        bail!("field aliases: at most {}", kms_core::MAX_ALIASES_PER_KEY);
    }
    if let Some(days) = key.rotation_period_days {
        if !(90..=2560).contains(&days) {
            bail!("field rotation_period_days: must be 90 to 2560");
        }
        if spec != KeySpec::SymmetricDefault || key.material.is_some() {
            bail!("field rotation_period_days: only symmetric keys with generated material rotate automatically");
        }
    }
    let material = match key.material {
        None => None,
        Some(text) => Some(
            decode_material(&key.id, spec, &text.0)
                .map_err(|e| anyhow::anyhow!("field material: {e}"))?,
        ),
    };
    Ok(SeedKey {
        id: key.id,
        account: key.account,
        placement,
        spec,
        usage,
        description: key.description,
        tags,
        policy,
        aliases: key.aliases,
        rotation_period_days: key.rotation_period_days,
        material,
    })
}

/// Decodes given material: base64 for symmetric and HMAC keys, a PKCS#8 PEM (`BEGIN PRIVATE
/// KEY`) for asymmetric ones; then AWS's checks for imported material of the spec.
fn decode_material(key_id: &str, spec: KeySpec, text: &str) -> anyhow::Result<SeedMaterial> {
    if crate::key_kinds::check_external_spec(spec).is_err() {
        bail!("key spec {spec} cannot have imported material");
    }
    let kind = key_kind(spec);
    let asymmetric = spec.mac_algorithm().is_none() && kind.is_some();
    let bytes = if asymmetric {
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(text.as_bytes()).map_err(
            |_| anyhow::anyhow!("an asymmetric key's material is a PKCS#8 PEM (BEGIN PRIVATE KEY)"),
        )?;
        KeyMaterial::from_bytes(der.secret_pkcs8_der().to_vec())
    } else {
        use base64::Engine;
        let compact: Zeroizing<String> =
            Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| anyhow::anyhow!("a symmetric or HMAC key's material is base64"))?;
        KeyMaterial::from_bytes(decoded)
    };
    kms_crypto::check_imported_material(kind, &bytes).map_err(|_| {
        anyhow::anyhow!("not valid material for a key with key spec {spec} (AWS's import checks)")
    })?;
    let material_id = kms_crypto::imported_material_id(key_id, &bytes).to_hex();
    Ok(SeedMaterial { bytes, material_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        vec!["us-east-1".into(), "us-west-2".into()]
    }

    const AES: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn a_complete_key_parses_with_aws_defaults() {
        let text = format!(
            "keys:\n  - id: mrk-0123456789abcdef0123456789abcdef\n    primary_region: us-east-1\n    replica_regions: [us-west-2]\n    description: d\n    tags: {{team: a}}\n    aliases: [alias/app]\n    material: {AES}\n"
        );
        let seed = Seed::parse(&text, &regions()).unwrap();
        let key = &seed.keys[0];
        assert_eq!(key.spec, KeySpec::SymmetricDefault);
        assert_eq!(key.usage, KeyUsage::EncryptDecrypt);
        assert_eq!(key.role_in("us-west-2"), Some(Role::Replica));
        assert_eq!(key.role_in("us-east-1"), Some(Role::Creates));
        assert_eq!(key.material.as_ref().unwrap().material_id.len(), 64);
        assert!(!format!("{key:?}").contains(AES));
    }

    #[test]
    fn json_is_accepted_too() {
        let text = r#"{"keys": [{"id": "11111111-2222-3333-4444-555555555555", "spec": "HMAC_256", "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}}]}"#;
        let seed = Seed::parse(text, &regions()).unwrap();
        assert_eq!(seed.keys[0].usage, KeyUsage::GenerateVerifyMac);
        assert!(seed.keys[0]
            .policy
            .as_deref()
            .unwrap()
            .contains("2012-10-17"));
    }

    #[test]
    fn sm2_keys_live_only_in_china_regions() {
        let regions: Vec<String> = vec!["cn-north-1".into(), "us-east-1".into()];
        let text = "keys: [{id: 11111111-2222-3333-4444-555555555555, spec: SM2, usage: SIGN_VERIFY, region: cn-north-1}]";
        let seed = Seed::parse(text, &regions).unwrap();
        assert_eq!(seed.keys[0].spec, KeySpec::Sm2);
        assert_eq!(seed.keys[0].role_in("cn-north-1"), Some(Role::Creates));
        for refused in [
            "keys: [{id: 11111111-2222-3333-4444-555555555555, spec: SM2}]",
            "keys: [{id: 11111111-2222-3333-4444-555555555555, spec: SM2, region: us-east-1}]",
            "keys: [{id: mrk-0123456789abcdef0123456789abcdef, spec: SM2, primary_region: cn-north-1, replica_regions: [us-east-1]}]",
        ] {
            let error = format!("{:#}", Seed::parse(refused, &regions).err().unwrap());
            assert!(error.contains("not in us-east-1"), "{refused}: {error}");
        }
    }

    #[test]
    fn bad_seeds_are_refused_naming_the_key_and_field() {
        let cases = [
            ("keys: [{id: nope}]", "field id"),
            ("keys: [{id: 11111111-2222-3333-4444-555555555555, material: 'AAAA'}]", "field material"),
            ("keys: [{id: 11111111-2222-3333-4444-555555555555, region: eu-north-1}]", "field region"),
            ("keys: [{id: mrk-0123456789abcdef0123456789abcdef}]", "field primary_region"),
            ("keys: [{id: 11111111-2222-3333-4444-555555555555, spec: RSA_2048, usage: GENERATE_VERIFY_MAC}]", "field usage"),
            ("keys: [{id: 11111111-2222-3333-4444-555555555555, spec: RSA_2048, material: 'AAAA'}]", "PKCS#8"),
            ("keys: [{id: 11111111-2222-3333-4444-555555555555, colour: red}]", "colour"),
            ("keys: [{id: 11111111-2222-3333-4444-555555555555, spec: SM2}]", "China Regions"),
        ];
        for (text, expected) in cases {
            let error = format!("{:#}", Seed::parse(text, &regions()).err().unwrap());
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
