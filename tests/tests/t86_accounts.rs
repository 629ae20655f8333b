//! Accounts as tenants on a real node: root credentials of several accounts (`@account` in
//! `TRENT_CREDENTIALS`, and a twelve-digit access key id naming its own account), IAM users of
//! a second account, keys and aliases each account sees only of its own, and a key shared with
//! another account by its key policy and used by ARN.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use trent_tests::{client_for, Cluster, ClusterOptions, ACCESS_KEY, ACCOUNT, SECRET_KEY};

const SECOND: &str = "000000000002";
const THIRD: &str = "000000000003";

fn credentials() -> String {
    format!("{ACCESS_KEY}:{SECRET_KEY},AKIASECOND:second-secret@{SECOND},{THIRD}:third-secret")
}

/// Two IAM users of the second account: dave may use any key (identity policy), erin has no
/// policy.
fn identities() -> String {
    format!(
        r#"
[[users]]
account = "{SECOND}"
name = "dave"
policies = ['{{"Statement":[{{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}}]}}']
access_keys = [{{ id = "AKIADAVE", secret = "dave-secret" }}]

[[users]]
account = "{SECOND}"
name = "erin"
access_keys = [{{ id = "AKIAERIN", secret = "erin-secret" }}]
"#
    )
}

async fn key_ids(kms: &aws_sdk_kms::Client) -> Vec<String> {
    let listed = kms.list_keys().send().await.unwrap();
    listed
        .keys()
        .iter()
        .filter_map(|k| k.key_id().map(str::to_string))
        .collect()
}

async fn alias_targets(kms: &aws_sdk_kms::Client) -> Vec<(String, String, String)> {
    let listed = kms.list_aliases().send().await.unwrap();
    listed
        .aliases()
        .iter()
        .map(|a| {
            (
                a.alias_name().unwrap_or_default().to_string(),
                a.alias_arn().unwrap_or_default().to_string(),
                a.target_key_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn encrypt_code(kms: &aws_sdk_kms::Client, key: &str) -> Result<Blob, String> {
    kms.encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"shared secret".to_vec()))
        .send()
        .await
        .map(|out| out.ciphertext_blob.unwrap())
        .map_err(|e| e.code().unwrap_or("?").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_see_their_own_keys_and_share_by_policy() {
    let mut cluster = Cluster::start_with(ClusterOptions {
        nodes: 1,
        identities: Some(identities()),
        env: vec![("TRENT_CREDENTIALS".into(), credentials())],
        ..ClusterOptions::default()
    })
    .await;
    let addr = cluster.nodes[0].api_addr.clone();
    let first = cluster.client(0);
    let second = client_for(&addr, "AKIASECOND", "second-secret");
    let third = client_for(&addr, THIRD, "third-secret");
    let dave = client_for(&addr, "AKIADAVE", "dave-secret");
    let erin = client_for(&addr, "AKIAERIN", "erin-secret");

    // The first account shares one key with the second by its key policy; the other key
    // has the default policy (its own account only).
    let shared_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{SECOND}:root"}},"Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey","kms:EnableKey","kms:CreateAlias"],"Resource":"*"}}]}}"#
    );
    let shared = first
        .create_key()
        .policy(shared_policy)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let shared_arn = shared.arn().unwrap().to_string();
    assert!(
        shared_arn.contains(&format!(":{ACCOUNT}:key/")),
        "{shared_arn}"
    );
    let private = first
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let private_arn = private.arn().unwrap().to_string();

    // The second account's root uses the shared key by ARN: encrypt, decrypt, describe.
    let blob = encrypt_code(&second, &shared_arn).await.unwrap();
    let opened = second.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(opened.plaintext.unwrap().as_ref(), b"shared secret");
    assert_eq!(opened.key_id.as_deref(), Some(shared_arn.as_str()));
    let described = second
        .describe_key()
        .key_id(&shared_arn)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(described.aws_account_id(), Some(ACCOUNT));
    // By bare id it is not found (a bare id names the caller's own account); a key the policy
    // does not share is refused by ARN; and key management never crosses accounts, even where
    // the key policy lists the action.
    assert_eq!(
        encrypt_code(&second, shared.key_id()).await.unwrap_err(),
        "NotFoundException"
    );
    assert_eq!(
        encrypt_code(&second, &private_arn).await.unwrap_err(),
        "AccessDeniedException"
    );
    let enable = second.enable_key().key_id(&shared_arn).send().await;
    assert_eq!(
        enable.unwrap_err().code(),
        Some("AccessDeniedException"),
        "EnableKey across accounts"
    );
    let alias = second
        .create_alias()
        .alias_name("alias/borrowed")
        .target_key_id(&shared_arn)
        .send()
        .await;
    assert_eq!(alias.unwrap_err().code(), Some("AccessDeniedException"));
    // The shared key is invisible to the second account's listings.
    assert!(key_ids(&second).await.is_empty());

    // A user of the second account needs both the key policy and his own identity policy.
    assert!(encrypt_code(&dave, &shared_arn).await.is_ok());
    assert_eq!(
        encrypt_code(&erin, &shared_arn).await.unwrap_err(),
        "AccessDeniedException"
    );
    assert_eq!(
        encrypt_code(&dave, &private_arn).await.unwrap_err(),
        "AccessDeniedException"
    );

    // Each account has its own keys and its own alias namespace.
    let own = second
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(own.aws_account_id(), Some(SECOND));
    assert!(own.arn().unwrap().contains(&format!(":{SECOND}:key/")));
    for (kms, target) in [(&first, shared.key_id()), (&second, own.key_id())] {
        kms.create_alias()
            .alias_name("alias/app")
            .target_key_id(target)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        alias_targets(&second).await,
        vec![(
            "alias/app".to_string(),
            format!("arn:aws:kms:us-east-1:{SECOND}:alias/app"),
            own.key_id().to_string()
        )]
    );
    assert_eq!(
        alias_targets(&first).await,
        vec![(
            "alias/app".to_string(),
            format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/app"),
            shared.key_id().to_string()
        )]
    );
    let mut first_keys = key_ids(&first).await;
    first_keys.sort();
    let mut expected = vec![shared.key_id().to_string(), private.key_id().to_string()];
    expected.sort();
    assert_eq!(first_keys, expected);
    assert_eq!(key_ids(&second).await, vec![own.key_id().to_string()]);
    let by_alias = first
        .describe_key()
        .key_id("alias/app")
        .send()
        .await
        .unwrap();
    assert_eq!(by_alias.key_metadata.unwrap().key_id(), shared.key_id());
    // The first account cannot reach the second's key by its bare id either.
    let missing = first.describe_key().key_id(own.key_id()).send().await;
    assert_eq!(missing.unwrap_err().code(), Some("NotFoundException"));

    // A twelve-digit access key id with no account names its own account.
    let third_key = third
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(third_key.aws_account_id(), Some(THIRD));
    assert_eq!(key_ids(&third).await, vec![third_key.key_id().to_string()]);

    // The node's default account changes between runs: keys created before stay with the
    // account they were created under.
    cluster.kill(0);
    cluster.set_env("TRENT_ACCOUNT_ID", "999999999999");
    cluster.set_env(
        "TRENT_CREDENTIALS",
        &format!("{},OLDROOT:old-secret@{ACCOUNT}", credentials()),
    );
    cluster.restart(0).await;
    let renamed = cluster.client(0);
    assert!(key_ids(&renamed).await.is_empty());
    let old_root = client_for(&addr, "OLDROOT", "old-secret");
    assert_eq!(key_ids(&old_root).await.len(), 2);
}
