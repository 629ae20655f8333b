//! Key policies and identity policies enforced on a real region: IAM users from a reloadable
//! identities file, allowed and denied calls, explicit deny, conditions (encryption context,
//! source IP, resource tags), cross-account access, and the lockout safety check.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::Tag;
use std::time::Duration;
use trent_tests::{client_for, eventually, Cluster, ClusterOptions, ACCOUNT};

const OTHER_ACCOUNT: &str = "444455556666";

fn identities(extra: &str) -> String {
    format!(
        r#"
[[users]]
account = "{ACCOUNT}"
name = "alice"
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}']
access_keys = [{{ id = "AKIAALICE", secret = "alice-secret" }}]

[[users]]
account = "{ACCOUNT}"
name = "bob"
access_keys = [{{ id = "AKIABOB", secret = "bob-secret" }}]

[[users]]
account = "{ACCOUNT}"
name = "carol"
policies = ['{{"Statement":[{{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:dept":"eng"}}}}}}]}}']
access_keys = [{{ id = "AKIACAROL", secret = "carol-secret" }}]

[[users]]
account = "{OTHER_ACCOUNT}"
name = "frank"
policies = ['{{"Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}']
access_keys = [{{ id = "AKIAFRANK", secret = "frank-secret" }}]
{extra}"#
    )
}

fn user_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user/{name}")
}

async fn encrypt_with(
    kms: &aws_sdk_kms::Client,
    key: &str,
    dept: Option<&str>,
) -> Result<(), String> {
    let mut call = kms
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"secret".to_vec()));
    if let Some(dept) = dept {
        call = call.encryption_context("dept", dept);
    }
    call.send()
        .await
        .map(|_| ())
        .map_err(|e| e.code().unwrap_or("?").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_and_key_policies_decide_every_call() {
    let cluster = Cluster::start_with(ClusterOptions {
        identities: Some(identities("")),
        ..ClusterOptions::default()
    })
    .await;
    let addr = cluster.nodes[0].api_addr.clone();
    let root = cluster.client(0);
    let alice = client_for(&addr, "AKIAALICE", "alice-secret");
    let bob = client_for(&addr, "AKIABOB", "bob-secret");
    let carol = client_for(&addr, "AKIACAROL", "carol-secret");
    let frank = client_for(&addr, "AKIAFRANK", "frank-secret");

    // The default key policy delegates to IAM: alice's identity policy allows, bob has none.
    let key = trent_tests::new_key(&root).await;
    assert_eq!(encrypt_with(&alice, &key, None).await, Ok(()));
    assert_eq!(
        encrypt_with(&bob, &key, None).await,
        Err("AccessDeniedException".into())
    );
    let denied = bob.describe_key().key_id(&key).send().await.unwrap_err();
    let message = denied.message().unwrap();
    assert!(
        message.contains(&user_arn(ACCOUNT, "bob"))
            && message.contains("kms:DescribeKey")
            && message.contains(&key),
        "{message}"
    );
    let create = bob.create_key().send().await.unwrap_err();
    assert_eq!(create.code(), Some("AccessDeniedException"));
    assert!(alice.create_key().send().await.is_ok());

    // Conditions on the encryption context.
    assert_eq!(encrypt_with(&carol, &key, Some("eng")).await, Ok(()));
    assert_eq!(
        encrypt_with(&carol, &key, Some("ops")).await,
        Err("AccessDeniedException".into())
    );
    assert_eq!(
        encrypt_with(&carol, &key, None).await,
        Err("AccessDeniedException".into())
    );
    assert_eq!(
        carol
            .describe_key()
            .key_id(&key)
            .send()
            .await
            .unwrap_err()
            .code(),
        Some("AccessDeniedException")
    );

    // A key policy that names bob directly, from loopback only, denies alice explicitly, and
    // keeps the root user able to administer the key.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"bob","Effect":"Allow","Principal":{{"AWS":"{bob}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.0/8"}}}}}},
        {{"Sid":"bob-far","Effect":"Allow","Principal":{{"AWS":"{bob}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"IpAddress":{{"aws:SourceIp":"10.0.0.0/8"}}}}}},
        {{"Sid":"no-alice","Effect":"Deny","Principal":{{"AWS":"{alice}"}},"Action":"kms:*","Resource":"*"}}]}}"#,
        bob = user_arn(ACCOUNT, "bob"),
        alice = user_arn(ACCOUNT, "alice"),
    );
    let guarded = root
        .create_key()
        .policy(&policy)
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("eng")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let sealed = bob
        .encrypt()
        .key_id(&guarded)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let far = bob
        .decrypt()
        .ciphertext_blob(sealed.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(far.code(), Some("AccessDeniedException"));
    let explicit = alice
        .describe_key()
        .key_id(&guarded)
        .send()
        .await
        .unwrap_err();
    assert_eq!(explicit.code(), Some("AccessDeniedException"));
    assert!(explicit.message().unwrap().contains("explicit deny"));
    // DeleteAlias is authorized against the alias's key too: alice's identity policy allows
    // kms:*, but the key policy denies her, so the alias stays.
    root.create_alias()
        .alias_name("alias/guarded")
        .target_key_id(&guarded)
        .send()
        .await
        .unwrap();
    let delete = alice
        .delete_alias()
        .alias_name("alias/guarded")
        .send()
        .await
        .unwrap_err();
    assert_eq!(delete.code(), Some("AccessDeniedException"));
    assert!(delete.message().unwrap().contains("kms:DeleteAlias"));
    root.delete_alias()
        .alias_name("alias/guarded")
        .send()
        .await
        .unwrap();
    // The root user decrypts (Decrypt without KeyId is authorized against the ciphertext's key).
    assert!(root.decrypt().ciphertext_blob(sealed).send().await.is_ok());

    // Resource tags in identity policies.
    let tagged_policy = r#"{"Statement":[{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"eng"}}}]}"#;
    let tagged_user = format!(
        "[[users]]\naccount = \"{ACCOUNT}\"\nname = \"erin\"\npolicies = ['{tagged_policy}']\naccess_keys = [{{ id = \"AKIAERIN\", secret = \"erin-secret\" }}]\n"
    );
    // Reloaded without a restart.
    std::fs::write(cluster.identities_path(), identities(&tagged_user)).unwrap();
    let erin = client_for(&addr, "AKIAERIN", "erin-secret");
    eventually(
        Duration::from_secs(10),
        "erin's key is accepted",
        || async {
            erin.list_keys()
                .send()
                .await
                .map_or_else(|e| e.code() == Some("AccessDeniedException"), |_| true)
        },
    )
    .await;
    let root_key_tagged = root
        .create_key()
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("eng")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    assert!(erin
        .describe_key()
        .key_id(&root_key_tagged)
        .send()
        .await
        .is_ok());
    assert_eq!(
        erin.describe_key()
            .key_id(&key)
            .send()
            .await
            .unwrap_err()
            .code(),
        Some("AccessDeniedException")
    );

    // Cross-account: frank's own allow is not enough; the key policy must let his account in.
    let key_arn = format!("arn:aws:kms:{}:{ACCOUNT}:key/{key}", trent_tests::REGION);
    assert_eq!(
        encrypt_with(&frank, &key_arn, None).await,
        Err("AccessDeniedException".into())
    );
    let shared = format!(
        r#"{{"Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER_ACCOUNT}:root"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#
    );
    root.put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(&shared)
        .send()
        .await
        .unwrap();
    assert_eq!(encrypt_with(&frank, &key_arn, None).await, Ok(()));

    // Lockout safety check: alice may not install a policy that shuts her out...
    let bob_only = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:*","Resource":"*"}}]}}"#,
        user_arn(ACCOUNT, "bob")
    );
    let lockout = alice
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(&bob_only)
        .send()
        .await
        .unwrap_err();
    assert_eq!(lockout.code(), Some("MalformedPolicyDocumentException"));
    assert!(lockout
        .message()
        .unwrap()
        .contains("will not allow you to update"));
    let lockout_create = alice
        .create_key()
        .policy(&bob_only)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        lockout_create.code(),
        Some("MalformedPolicyDocumentException")
    );
    // ... unless she bypasses the check, after which she is out.
    alice
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(&bob_only)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        encrypt_with(&alice, &key, None).await,
        Err("AccessDeniedException".into())
    );
    assert_eq!(encrypt_with(&bob, &key, None).await, Ok(()));
}

/// The production shape (`cluster/production/`): node configs without `[[credentials]]`, so
/// every caller is an identity of the identities file and no root access key exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_without_config_credentials_serves_only_its_identities() {
    let mut cluster = Cluster::start_with(ClusterOptions {
        identities: Some(identities("")),
        ..ClusterOptions::default()
    })
    .await;
    let addr = cluster.nodes[0].api_addr.clone();
    let alice = client_for(&addr, "AKIAALICE", "alice-secret");
    let key = trent_tests::new_key(&alice).await;
    let sealed = alice
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"before".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    for index in 0..cluster.nodes.len() {
        assert!(cluster.terminate(index).success());
        let path = cluster.config_path(index).to_path_buf();
        let mut config = kms_config::NodeConfig::load(&path).unwrap();
        config.credentials.clear();
        std::fs::write(&path, config.to_toml(&[]).unwrap()).unwrap();
    }
    cluster.spawn_all();
    for index in 0..cluster.nodes.len() {
        let node = client_for(&cluster.nodes[index].api_addr, "AKIAALICE", "alice-secret");
        let opened = trent_tests::poll(Duration::from_secs(60), || {
            let node = node.clone();
            let sealed = sealed.clone();
            async move {
                node.decrypt()
                    .ciphertext_blob(sealed)
                    .send()
                    .await
                    .ok()
                    .and_then(|out| out.plaintext)
            }
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "node {index} never decrypted for alice\n{}",
                cluster.log(index)
            )
        });
        assert_eq!(opened.as_ref(), b"before", "node {index}");
    }
    // The fixture's root access key is gone with the config's credentials.
    let root = cluster.client(0);
    let refused = root.list_keys().send().await.unwrap_err();
    assert_eq!(refused.code(), Some("UnrecognizedClientException"));
}
