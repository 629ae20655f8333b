//! Grants on a real region: a grant lets a user with no permissions use a key within its
//! operations and encryption-context constraints, its token works at once on another node,
//! ListGrants shows AWS's fields, Name makes CreateGrant idempotent, the retiring principal
//! retires and the root user revokes, an explicit deny beats a grant, and AWS's errors.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use trent_tests::{client_for, Cluster, ClusterOptions, ACCOUNT};

fn identities() -> String {
    let user = |name: &str, key: &str| {
        format!(
            "[[users]]\naccount = \"{ACCOUNT}\"\nname = \"{name}\"\naccess_keys = [{{ id = \"{key}\", secret = \"{name}-secret\" }}]\n"
        )
    };
    format!("{}{}", user("bob", "AKIABOB"), user("rita", "AKIARITA"))
}

fn arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

async fn encrypt(
    kms: &aws_sdk_kms::Client,
    key: &str,
    dept: Option<&str>,
    token: Option<&str>,
) -> Result<Blob, String> {
    let mut call = kms
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"secret".to_vec()));
    if let Some(dept) = dept {
        call = call.encryption_context("dept", dept);
    }
    if let Some(token) = token {
        call = call.grant_tokens(token);
    }
    call.send()
        .await
        .map(|out| out.ciphertext_blob.unwrap())
        .map_err(|e| e.code().unwrap_or("?").to_string())
}

fn subset(dept: &str) -> GrantConstraints {
    GrantConstraints::builder()
        .encryption_context_subset("dept", dept)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_allow_what_they_name_until_retired_or_revoked() {
    let cluster = Cluster::start_with(ClusterOptions {
        identities: Some(identities()),
        ..ClusterOptions::default()
    })
    .await;
    let addr = |i: usize| cluster.nodes[i].api_addr.clone();
    let root = cluster.client(0);
    let bob = client_for(&addr(0), "AKIABOB", "bob-secret");
    let bob_elsewhere = client_for(&addr(1), "AKIABOB", "bob-secret");
    let rita = client_for(&addr(2), "AKIARITA", "rita-secret");

    let key = trent_tests::new_key(&root).await;
    let key_arn = format!("arn:aws:kms:{}:{ACCOUNT}:key/{key}", trent_tests::REGION);
    assert_eq!(
        encrypt(&bob, &key, Some("eng"), None).await.unwrap_err(),
        "AccessDeniedException"
    );

    // The root user grants bob Encrypt and Decrypt under dept=eng; rita may retire it.
    let created = root
        .create_grant()
        .key_id(&key)
        .grantee_principal(arn("bob"))
        .retiring_principal(arn("rita"))
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(subset("eng"))
        .name("bob-eng")
        .send()
        .await
        .unwrap();
    let grant_id = created.grant_id().unwrap().to_string();
    let token = created.grant_token().unwrap().to_string();
    assert_eq!(grant_id.len(), 64);
    assert!(grant_id.bytes().all(|b| b.is_ascii_hexdigit()));

    // The token works right away, on another node than CreateGrant went to.
    let sealed = encrypt(&bob_elsewhere, &key, Some("eng"), Some(&token))
        .await
        .unwrap();
    // And the grant on its own, within its constraints and operations only.
    assert!(encrypt(&bob, &key, Some("eng"), None).await.is_ok());
    assert_eq!(
        encrypt(&bob, &key, Some("ops"), None).await.unwrap_err(),
        "AccessDeniedException"
    );
    assert_eq!(
        encrypt(&bob, &key, None, None).await.unwrap_err(),
        "AccessDeniedException"
    );
    let decrypted = bob
        .decrypt()
        .ciphertext_blob(sealed.clone())
        .encryption_context("dept", "eng")
        .send()
        .await
        .unwrap();
    assert_eq!(decrypted.plaintext.unwrap().as_ref(), b"secret");
    let not_granted = bob
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .encryption_context("dept", "eng")
        .send()
        .await
        .unwrap_err();
    assert_eq!(not_granted.code(), Some("AccessDeniedException"));
    let describe = bob.describe_key().key_id(&key).send().await.unwrap_err();
    assert_eq!(describe.code(), Some("AccessDeniedException"));

    // ListGrants shows it with AWS's fields.
    let listed = root.list_grants().key_id(&key).send().await.unwrap();
    assert_eq!(listed.grants().len(), 1);
    assert!(!listed.truncated());
    let entry = &listed.grants()[0];
    assert_eq!(entry.key_id(), Some(key_arn.as_str()));
    assert_eq!(entry.grant_id(), Some(grant_id.as_str()));
    assert_eq!(entry.name(), Some("bob-eng"));
    assert!(entry.creation_date().is_some());
    assert_eq!(entry.grantee_principal(), Some(arn("bob").as_str()));
    assert_eq!(entry.retiring_principal(), Some(arn("rita").as_str()));
    assert_eq!(
        entry.issuing_account(),
        Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
    );
    assert_eq!(
        entry.operations(),
        &[GrantOperation::Encrypt, GrantOperation::Decrypt]
    );
    let constraints = entry.constraints().unwrap();
    assert_eq!(
        constraints
            .encryption_context_subset()
            .unwrap()
            .get("dept")
            .map(String::as_str),
        Some("eng")
    );
    assert!(constraints.encryption_context_equals().is_none());

    // Name makes CreateGrant idempotent; other parameters under the same name make a new grant.
    let again = root
        .create_grant()
        .key_id(&key)
        .grantee_principal(arn("bob"))
        .retiring_principal(arn("rita"))
        .operations(GrantOperation::Decrypt)
        .operations(GrantOperation::Encrypt)
        .constraints(subset("eng"))
        .name("bob-eng")
        .send()
        .await
        .unwrap();
    assert_eq!(again.grant_id(), Some(grant_id.as_str()));
    let other = root
        .create_grant()
        .key_id(&key)
        .grantee_principal(arn("bob"))
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::DescribeKey)
        .name("bob-eng")
        .send()
        .await
        .unwrap();
    let other_id = other.grant_id().unwrap().to_string();
    assert_ne!(other_id, grant_id);
    let listed = root.list_grants().key_id(&key).send().await.unwrap();
    assert_eq!(listed.grants().len(), 2);
    // Filters and pages.
    let one = root
        .list_grants()
        .key_id(&key)
        .grant_id(&other_id)
        .send()
        .await
        .unwrap();
    assert_eq!(one.grants().len(), 1);
    assert_eq!(one.grants()[0].grant_id(), Some(other_id.as_str()));
    let first_page = root
        .list_grants()
        .key_id(&key)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert!(first_page.truncated());
    let second_page = root
        .list_grants()
        .key_id(&key)
        .limit(1)
        .marker(first_page.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(second_page.grants().len(), 1);
    assert!(!second_page.truncated());
    assert_ne!(
        first_page.grants()[0].grant_id(),
        second_page.grants()[0].grant_id()
    );
    let retirable = root
        .list_retirable_grants()
        .retiring_principal(arn("rita"))
        .send()
        .await
        .unwrap();
    assert_eq!(retirable.grants().len(), 1);
    assert_eq!(retirable.grants()[0].grant_id(), Some(grant_id.as_str()));
    // The second grant (no constraints) allows bob's DescribeKey.
    assert!(bob.describe_key().key_id(&key).send().await.is_ok());

    // Bob may not retire a grant that does not include RetireGrant; rita retires hers.
    let refused = bob
        .retire_grant()
        .key_id(&key_arn)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    let dry = rita
        .retire_grant()
        .grant_token(&token)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(dry.code(), Some("DryRunOperationException"));
    assert_eq!(dry.raw_response().map(|r| r.status().as_u16()), Some(400));
    rita.retire_grant()
        .grant_token(&token)
        .send()
        .await
        .unwrap();
    let gone = rita
        .retire_grant()
        .grant_token(&token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Some("NotFoundException"));
    // The other grant still allows Encrypt (it has no constraints), until the root revokes it.
    assert!(encrypt(&bob_elsewhere, &key, None, None).await.is_ok());
    let dry = root
        .revoke_grant()
        .key_id(&key)
        .grant_id(&other_id)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(dry.code(), Some("DryRunOperationException"));
    root.revoke_grant()
        .key_id(&key)
        .grant_id(&other_id)
        .send()
        .await
        .unwrap();
    let unknown = root
        .revoke_grant()
        .key_id(&key)
        .grant_id(&other_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Some("NotFoundException"));
    // Afterwards bob is denied again, the retired grant's token notwithstanding.
    assert_eq!(
        encrypt(&bob_elsewhere, &key, Some("eng"), Some(&token))
            .await
            .unwrap_err(),
        "AccessDeniedException"
    );
    assert!(root
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .grants()
        .is_empty());

    // A grantee whose grant includes RetireGrant retires it himself.
    let own = root
        .create_grant()
        .key_id(&key)
        .grantee_principal(arn("bob"))
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::RetireGrant)
        .send()
        .await
        .unwrap();
    bob.retire_grant()
        .key_id(&key_arn)
        .grant_id(own.grant_id().unwrap())
        .send()
        .await
        .unwrap();

    // AWS's errors: DryRun, operations the key type cannot grant, invalid tokens.
    let dry = root
        .create_grant()
        .key_id(&key)
        .grantee_principal(arn("bob"))
        .operations(GrantOperation::Encrypt)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(dry.code(), Some("DryRunOperationException"));
    assert!(root
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .grants()
        .is_empty());
    let sign = root
        .create_grant()
        .key_id(&key)
        .grantee_principal(arn("bob"))
        .operations(GrantOperation::Sign)
        .send()
        .await
        .unwrap_err();
    assert_eq!(sign.code(), Some("ValidationException"));
    assert_eq!(
        encrypt(&bob, &key, Some("eng"), Some("not-a-grant-token"))
            .await
            .unwrap_err(),
        "InvalidGrantTokenException"
    );
    let bad_retire = rita
        .retire_grant()
        .grant_token("AAAA")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad_retire.code(), Some("InvalidGrantTokenException"));

    // Key state: a disabled key takes no new grant; retiring still works.
    let kept = root
        .create_grant()
        .key_id(&key)
        .grantee_principal(arn("bob"))
        .retiring_principal(arn("rita"))
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .unwrap();
    root.disable_key().key_id(&key).send().await.unwrap();
    let disabled = root
        .create_grant()
        .key_id(&key)
        .grantee_principal(arn("bob"))
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .unwrap_err();
    assert_eq!(disabled.code(), Some("DisabledException"));
    rita.retire_grant()
        .grant_token(kept.grant_token().unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_deny_beats_a_grant() {
    let cluster = Cluster::start_with(ClusterOptions {
        identities: Some(identities()),
        ..ClusterOptions::default()
    })
    .await;
    let root = cluster.client(0);
    let bob = client_for(&cluster.nodes[1].api_addr, "AKIABOB", "bob-secret");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Deny","Principal":{{"AWS":"{bob}"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#,
        bob = arn("bob")
    );
    let key = root
        .create_key()
        .policy(&policy)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let grant = root
        .create_grant()
        .key_id(&key)
        .grantee_principal(arn("bob"))
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    let token = grant.grant_token().unwrap();
    let denied = bob
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"x".to_vec()))
        .grant_tokens(token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"));
    assert!(denied.message().unwrap().contains("explicit deny"));
    // Decrypt is not denied, so the grant allows it.
    let sealed = trent_tests::encrypt(&root, &key, "hello").await;
    assert!(bob
        .decrypt()
        .ciphertext_blob(sealed)
        .grant_tokens(token)
        .send()
        .await
        .is_ok());
}
