//! The workloads a run can include (`--workloads`), and the set-up of the single-region
//! cluster ones: the keys they use (created through the same signed requests as the load), the
//! signature Verify checks, and one request template per node. The two multi-region workloads
//! (`decrypt_cross_region`, `replicate_key`) run against the two-region cluster instead; their
//! set-up and measurement live in `multi_region.rs`, which shares the set-up helpers here.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use clap::builder::PossibleValue;
use clap::ValueEnum;
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::load::{self, Signer, Template};
use crate::{PAYLOAD_BYTES, SIGNER};

/// Bytes in the Sign, Verify and GenerateMac messages.
pub const MESSAGE_BYTES: usize = 32;

/// Attempts (half a second apart, cycling over the nodes) for each set-up request.
const SETUP_ATTEMPTS: usize = 10;

/// One kind of request measured at every concurrency level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The bare HTTP ceiling (no cluster).
    Echo,
    /// Encrypt of `PAYLOAD_BYTES` under a symmetric key.
    Encrypt,
    /// Encrypt as `Encrypt`, under a key whose policy has ten statements (conditions on the
    /// encryption context, source IP and principals), so every call evaluates all ten: what
    /// policy evaluation costs, against `encrypt` (the one-statement default policy).
    EncryptPolicy10,
    /// Sign (RAW, ECDSA_SHA_256) with an ECC_NIST_P256 key.
    SignEccP256,
    /// Sign (RAW, RSASSA_PSS_SHA_256) with an RSA_2048 key.
    SignRsa2048,
    /// Verify of one ECDSA_SHA_256 signature made up front; needs `"SignatureValid": true`.
    VerifyEccP256,
    /// GenerateMac (HMAC_SHA_256) with an HMAC_256 key.
    GenerateMac,
    /// CreateKey with default parameters (last of the single-region workloads, so the keys it
    /// piles up affect no other run there).
    CreateKey,
    /// Two regions: Decrypt in us-west-2 of ciphertexts made by Encrypt in us-east-1 under a
    /// replicated multi-region key, beside Decrypt in us-west-2 of ciphertexts made there.
    DecryptCrossRegion,
    /// Two regions: ReplicateKey of a new multi-region key until the replica is Enabled in
    /// us-west-2 (a latency loop, not a load run; last, as it piles up keys).
    ReplicateKey,
}

impl Workload {
    /// Every workload, in the order they run.
    pub const ALL: [Workload; 10] = [
        Workload::Echo,
        Workload::Encrypt,
        Workload::EncryptPolicy10,
        Workload::SignEccP256,
        Workload::SignRsa2048,
        Workload::VerifyEccP256,
        Workload::GenerateMac,
        Workload::CreateKey,
        Workload::DecryptCrossRegion,
        Workload::ReplicateKey,
    ];

    /// The name used on the command line, in the table and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::Encrypt => "encrypt",
            Workload::EncryptPolicy10 => "encrypt_policy10",
            Workload::SignEccP256 => "sign_ecc_p256",
            Workload::SignRsa2048 => "sign_rsa_2048",
            Workload::VerifyEccP256 => "verify_ecc_p256",
            Workload::GenerateMac => "generate_mac",
            Workload::CreateKey => "create_key",
            Workload::DecryptCrossRegion => "decrypt_cross_region",
            Workload::ReplicateKey => "replicate_key",
        }
    }

    /// Whether it runs against a Trent cluster (everything but the echo ceiling).
    pub fn needs_cluster(self) -> bool {
        self != Workload::Echo
    }

    /// Whether it runs against the two-region cluster rather than the single region.
    pub fn needs_two_regions(self) -> bool {
        matches!(self, Workload::DecryptCrossRegion | Workload::ReplicateKey)
    }
}

impl ValueEnum for Workload {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

/// A key policy of ten statements as teams write them: the account's administrators, users with
/// encryption-context and source-IP conditions, and denies that do not match the bench's calls.
/// The bench signs as the account's root user, which statement 1 allows.
fn ten_statement_policy() -> String {
    let account = crate::cluster::ACCOUNT_ID;
    let user = |name: &str| format!("arn:aws:iam::{account}:user/{name}");
    let statements = vec![
        json!({"Sid": "root", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "kms:*", "Resource": "*"}),
        json!({"Sid": "admins", "Effect": "Allow", "Principal": {"AWS": [user("admin1"), user("admin2")]}, "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"], "Resource": "*"}),
        json!({"Sid": "app", "Effect": "Allow", "Principal": {"AWS": user("app")}, "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:app": "bench"}}}),
        json!({"Sid": "tenants", "Effect": "Allow", "Principal": {"AWS": user("tenant-svc")}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {"StringLike": {"kms:EncryptionContext:tenant": "t-*"}}}),
        json!({"Sid": "office", "Effect": "Allow", "Principal": {"AWS": user("analyst")}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}}),
        json!({"Sid": "no-legacy", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:app": "legacy"}}}),
        json!({"Sid": "no-plain-http-admin", "Effect": "Deny", "Principal": {"AWS": user("admin1")}, "Action": "kms:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
        json!({"Sid": "audit", "Effect": "Allow", "Principal": {"AWS": user("auditor")}, "Action": ["kms:Describe*", "kms:Get*", "kms:List*"], "Resource": "*"}),
        json!({"Sid": "grants", "Effect": "Allow", "Principal": {"AWS": user("app")}, "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}),
        json!({"Sid": "no-old-keys", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*", "Condition": {"NumericLessThan": {"aws:EpochTime": "1000000000"}}}),
    ];
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// The request templates (one per node) of each selected single-region workload, in `selected`
/// order, after creating the keys they need and the signature Verify checks.
pub async fn prepare(
    cluster: &Cluster,
    selected: &[Workload],
) -> anyhow::Result<Vec<(Workload, Vec<Template>)>> {
    let wants = |w: Workload| selected.contains(&w);
    let client = load::client()?;
    let message = BASE64.encode((0..MESSAGE_BYTES).map(|i| i as u8).collect::<Vec<u8>>());

    let symmetric_key = if wants(Workload::Encrypt) {
        Some(create_key(cluster, &client, json!({}), "the Encrypt key").await?)
    } else {
        None
    };
    let policy10_key = if wants(Workload::EncryptPolicy10) {
        let spec = json!({"Policy": ten_statement_policy()});
        Some(create_key(cluster, &client, spec, "the ten-statement-policy key").await?)
    } else {
        None
    };
    let p256_key = if wants(Workload::SignEccP256) || wants(Workload::VerifyEccP256) {
        let spec = json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"});
        Some(create_key(cluster, &client, spec, "the ECC_NIST_P256 signing key").await?)
    } else {
        None
    };
    let rsa_key = if wants(Workload::SignRsa2048) {
        let spec = json!({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"});
        Some(create_key(cluster, &client, spec, "the RSA_2048 signing key").await?)
    } else {
        None
    };
    let hmac_key = if wants(Workload::GenerateMac) {
        let spec = json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"});
        Some(create_key(cluster, &client, spec, "the HMAC_256 key").await?)
    } else {
        None
    };
    let p256_sign_body = |key_id: &str| {
        json!({
            "KeyId": key_id,
            "Message": message,
            "MessageType": "RAW",
            "SigningAlgorithm": "ECDSA_SHA_256",
        })
    };

    let mut prepared = Vec::new();
    for &workload in selected
        .iter()
        .filter(|w| w.needs_cluster() && !w.needs_two_regions())
    {
        let (target, body, check) = match workload {
            Workload::Echo | Workload::DecryptCrossRegion | Workload::ReplicateKey => continue,
            Workload::Encrypt => {
                let plaintext: Vec<u8> = (0..PAYLOAD_BYTES).map(|i| (i % 251) as u8).collect();
                let body = json!({
                    "KeyId": required(&symmetric_key)?,
                    "Plaintext": BASE64.encode(plaintext),
                });
                ("TrentService.Encrypt", body, None)
            }
            Workload::EncryptPolicy10 => {
                let plaintext: Vec<u8> = (0..PAYLOAD_BYTES).map(|i| (i % 251) as u8).collect();
                let body = json!({
                    "KeyId": required(&policy10_key)?,
                    "Plaintext": BASE64.encode(plaintext),
                    "EncryptionContext": {"app": "bench", "tenant": "t-17"},
                });
                ("TrentService.Encrypt", body, None)
            }
            Workload::SignEccP256 => {
                let body = p256_sign_body(required(&p256_key)?);
                ("TrentService.Sign", body, None)
            }
            Workload::SignRsa2048 => {
                let body = json!({
                    "KeyId": required(&rsa_key)?,
                    "Message": message,
                    "MessageType": "RAW",
                    "SigningAlgorithm": "RSASSA_PSS_SHA_256",
                });
                ("TrentService.Sign", body, None)
            }
            Workload::VerifyEccP256 => {
                let key_id = required(&p256_key)?;
                let signature = sign_once(cluster, &client, p256_sign_body(key_id)).await?;
                let body = json!({
                    "KeyId": key_id,
                    "Message": message,
                    "MessageType": "RAW",
                    "Signature": signature,
                    "SigningAlgorithm": "ECDSA_SHA_256",
                });
                ("TrentService.Verify", body, Some("SignatureValid"))
            }
            Workload::GenerateMac => {
                let body = json!({
                    "KeyId": required(&hmac_key)?,
                    "Message": message,
                    "MacAlgorithm": "HMAC_SHA_256",
                });
                ("TrentService.GenerateMac", body, None)
            }
            Workload::CreateKey => ("TrentService.CreateKey", json!({}), None),
        };
        let mut templates = templates(cluster, target, body.to_string().as_bytes())?;
        if let Some(field) = check {
            templates = templates
                .into_iter()
                .map(|t| t.expecting_true(field))
                .collect();
        }
        prepared.push((workload, templates));
    }
    Ok(prepared)
}

/// The key id set up for a selected workload (always present by construction).
fn required(key_id: &Option<String>) -> anyhow::Result<&str> {
    key_id
        .as_deref()
        .context("internal error: a workload's key was not created")
}

/// One template per node of the (single) region for `target` with `body`.
fn templates(
    cluster: &Cluster,
    target: &'static str,
    body: &[u8],
) -> anyhow::Result<Vec<Template>> {
    templates_at(&cluster.endpoints, SIGNER, target, body)
}

/// One template per address in `endpoints` for `target` with `body`, signed by `signer`.
pub fn templates_at(
    endpoints: &[SocketAddr],
    signer: Signer,
    target: &'static str,
    body: &[u8],
) -> anyhow::Result<Vec<Template>> {
    endpoints
        .iter()
        .map(|addr| Template::new(*addr, target, body.to_vec(), signer))
        .collect()
}

/// Creates a key from `request` and returns its id.
async fn create_key(
    cluster: &Cluster,
    client: &reqwest::Client,
    request: Value,
    what: &str,
) -> anyhow::Result<String> {
    let response = call(cluster, client, "TrentService.CreateKey", &request)
        .await
        .with_context(|| format!("creating {what}"))?;
    response["KeyMetadata"]["KeyId"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("CreateKey for {what} answered without a KeyId: {response}"))
}

/// Signs once with `request` and returns the base64 signature.
async fn sign_once(
    cluster: &Cluster,
    client: &reqwest::Client,
    request: Value,
) -> anyhow::Result<String> {
    let response = call(cluster, client, "TrentService.Sign", &request)
        .await
        .context("making the signature Verify checks")?;
    response["Signature"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("Sign answered without a Signature: {response}"))
}

/// Sends a set-up request to the (single) region; see [`call_at`].
async fn call(
    cluster: &Cluster,
    client: &reqwest::Client,
    target: &'static str,
    request: &Value,
) -> anyhow::Result<Value> {
    call_at(&cluster.endpoints, SIGNER, client, target, request).await
}

/// Sends a set-up request signed by `signer`, cycling over `endpoints` and retrying briefly in
/// case leadership is still settling; returns the first HTTP 200 response.
pub async fn call_at(
    endpoints: &[SocketAddr],
    signer: Signer,
    client: &reqwest::Client,
    target: &'static str,
    request: &Value,
) -> anyhow::Result<Value> {
    let templates = templates_at(endpoints, signer, target, request.to_string().as_bytes())?;
    if templates.is_empty() {
        bail!("the cluster has no endpoints");
    }
    let mut last_error = None;
    for attempt in 0..SETUP_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        match templates[attempt % templates.len()].send_json(client).await {
            Ok(response) => return Ok(response),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_the_command_line_parser() {
        for workload in Workload::ALL {
            assert_eq!(Workload::from_str(workload.name(), false), Ok(workload));
        }
        assert!(Workload::from_str("sign_rsa2048", false).is_err());
        let mut names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Workload::ALL.len());
    }

    #[test]
    fn only_the_multi_region_workloads_need_two_regions() {
        let two: Vec<_> = Workload::ALL
            .into_iter()
            .filter(|w| w.needs_two_regions())
            .collect();
        assert_eq!(two, [Workload::DecryptCrossRegion, Workload::ReplicateKey]);
        assert!(two.iter().all(|w| w.needs_cluster()));
        // They run after every single-region workload.
        let first_two_region = Workload::ALL.iter().position(|w| w.needs_two_regions());
        assert_eq!(first_two_region, Some(Workload::ALL.len() - 2));
    }

    #[test]
    fn only_echo_runs_without_the_cluster() {
        let cluster: Vec<_> = Workload::ALL
            .into_iter()
            .filter(|w| !w.needs_cluster())
            .collect();
        assert_eq!(cluster, [Workload::Echo]);
    }
}
