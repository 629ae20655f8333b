//! `kms_policy::Policy::parse_key_policy` and `Policy::parse` on fuzzed documents (the input,
//! as UTF-8); whatever parses is evaluated with `kms_policy::evaluate` against a fixed set of
//! requests (same-account user, account root, cross-account role, service principal, each with
//! a condition context covering every operator family), as key policy and as identity policy,
//! and put through the lockout check. Must never panic; in addition a valid key policy must be a
//! valid identity policy (key policies only add the Principal requirement), and evaluation must
//! be deterministic.
#![no_main]

use std::sync::OnceLock;

use kms_policy::{allows_future_put_key_policy, default_key_policy, evaluate, Policy, Request};
use libfuzzer_sys::fuzz_target;

const ACCOUNT: &str = "111122223333";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn with_context(request: Request) -> Request {
    request
        .with_context("kms:EncryptionContext:dept", ["hr"])
        .with_context("kms:EncryptionContextKeys", ["dept", "project"])
        .with_context("kms:ViaService", ["ec2.us-east-1.amazonaws.com"])
        .with_context("kms:EncryptionAlgorithm", ["SYMMETRIC_DEFAULT"])
        .with_context("kms:GrantIsForAWSResource", ["true"])
        .with_context("aws:SecureTransport", ["true"])
        .with_context("aws:SourceIp", ["203.0.113.7"])
        .with_context("aws:CurrentTime", ["2024-05-01T12:00:00Z"])
        .with_context("aws:EpochTime", ["1714564800"])
        .with_context("aws:MultiFactorAuthAge", ["3600"])
        .with_context("aws:SourceArn", ["arn:aws:s3:::bucket/object"])
        .with_context("kms:RecipientAttestation:ImageSha384", ["q83vEjRWeJA="])
        .with_context("aws:TagKeys", ["a", "b*", ""])
}

fn requests() -> &'static [Request] {
    static REQUESTS: OnceLock<Vec<Request>> = OnceLock::new();
    REQUESTS.get_or_init(|| {
        vec![
            with_context(Request::new(
                "arn:aws:iam::111122223333:user/alice",
                "kms:Encrypt",
                KEY,
            )),
            Request::new("arn:aws:iam::111122223333:root", "kms:PutKeyPolicy", KEY),
            with_context(Request::new(
                "arn:aws:sts::444455556666:assumed-role/Admin/session",
                "kms:Decrypt",
                KEY,
            )),
            with_context(Request::new(
                "logs.amazonaws.com",
                "kms:GenerateDataKey",
                KEY,
            )),
        ]
    })
}

fn default_policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::parse_key_policy(&default_key_policy(ACCOUNT)).expect("the default policy parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(document) = std::str::from_utf8(data) else {
        return;
    };
    let as_key = Policy::parse_key_policy(document);
    let as_identity = Policy::parse(document);
    if let (Ok(_), Err(e)) = (&as_key, &as_identity) {
        panic!("a valid key policy is not a valid identity policy: {e}");
    }
    for error in [as_key.as_ref().err(), as_identity.as_ref().err()]
        .into_iter()
        .flatten()
    {
        let _ = error.to_string();
    }

    let identity: Vec<Policy> = as_identity.iter().cloned().collect();
    for request in requests() {
        if let Ok(key_policy) = &as_key {
            let decision = evaluate(request, key_policy, &[]);
            assert_eq!(decision, evaluate(request, key_policy, &[]));
            let _ = evaluate(request, key_policy, &identity);
        }
        let _ = evaluate(request, default_policy(), &identity);
    }
    if let Ok(key_policy) = &as_key {
        let _ = allows_future_put_key_policy(key_policy, "arn:aws:iam::111122223333:root", ACCOUNT);
        let _ = allows_future_put_key_policy(
            key_policy,
            "arn:aws:iam::111122223333:role/KeyAdmin",
            ACCOUNT,
        );
        for statement in key_policy.statements() {
            let _ = (statement.sid(), statement.effect());
        }
        let _ = (key_policy.version(), key_policy.id());
    }
});
