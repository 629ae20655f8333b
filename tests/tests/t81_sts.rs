//! Roles through STS on the KMS port, as AWS users get role credentials: the unmodified AWS CLI
//! calls AssumeRole and GetCallerIdentity; the temporary credentials (with their session token)
//! sign KMS calls through the SDK, which the role's policies decide; a role the caller may not
//! assume, an expired session and a removed role are refused.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use std::process::Command;
use trent_tests::{Cluster, ClusterOptions, ACCOUNT, REGION};

fn identities(with_role: bool) -> String {
    let role = if with_role {
        format!(
            r#"
[[roles]]
account = "{ACCOUNT}"
name = "encryptor"
trust_policy = '{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/alice"}},"Action":"sts:AssumeRole"}}]}}'
policies = ['{{"Statement":[{{"Effect":"Allow","Action":["kms:Encrypt","kms:DescribeKey"],"Resource":"*"}}]}}']
"#
        )
    } else {
        String::new()
    };
    format!(
        r#"
[[users]]
account = "{ACCOUNT}"
name = "alice"
access_keys = [{{ id = "AKIAALICE", secret = "alice-secret" }}]

[[users]]
account = "{ACCOUNT}"
name = "mallory"
policies = ['{{"Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}]}}']
access_keys = [{{ id = "AKIAMALLORY", secret = "mallory-secret" }}]
{role}"#
    )
}

fn sts(endpoint: &str, key: (&str, &str), args: &[&str]) -> Result<serde_json::Value, String> {
    let output = Command::new("aws")
        .args([
            "sts",
            "--endpoint-url",
            endpoint,
            "--region",
            REGION,
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .output()
        .expect("the aws CLI is installed");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).to_string());
    }
    Ok(serde_json::from_slice(&output.stdout).unwrap())
}

fn session_client(addr: &str, credentials: &serde_json::Value) -> aws_sdk_kms::Client {
    let text = |name: &str| credentials[name].as_str().unwrap().to_string();
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            text("AccessKeyId"),
            text("SecretAccessKey"),
            Some(text("SessionToken")),
            None,
            "sts",
        ))
        .endpoint_url(format!("http://{addr}"))
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_assumed_through_sts_and_their_sessions_expire() {
    let cluster = Cluster::start_with(ClusterOptions {
        identities: Some(identities(true)),
        test_hooks: true,
        ..ClusterOptions::default()
    })
    .await;
    let endpoint = format!("http://{}", cluster.nodes[0].api_addr);
    let e = endpoint.as_str();
    let alice = ("AKIAALICE", "alice-secret");

    let me = sts(e, alice, &["get-caller-identity"]).unwrap();
    assert_eq!(me["Arn"], format!("arn:aws:iam::{ACCOUNT}:user/alice"));
    assert_eq!(me["Account"], ACCOUNT);

    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/encryptor");
    let assumed = sts(
        e,
        alice,
        &[
            "assume-role",
            "--role-arn",
            &role_arn,
            "--role-session-name",
            "batch-1",
        ],
    )
    .unwrap();
    let credentials = &assumed["Credentials"];
    assert!(credentials["AccessKeyId"]
        .as_str()
        .unwrap()
        .starts_with("ASIA"));
    assert_eq!(
        assumed["AssumedRoleUser"]["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/encryptor/batch-1")
    );

    // The session signs KMS calls (on another node), and the role's policy decides.
    let root = cluster.client(0);
    let key = trent_tests::new_key(&root).await;
    let session = session_client(&cluster.nodes[1].api_addr, credentials);
    session
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"as the role".to_vec()))
        .send()
        .await
        .unwrap();
    let not_in_role = session.create_key().send().await.unwrap_err();
    assert_eq!(not_in_role.code(), Some("AccessDeniedException"));
    assert!(not_in_role
        .message()
        .unwrap()
        .contains("assumed-role/encryptor/batch-1"));

    // Mallory's own policy allows sts:AssumeRole, but the role's trust policy does not name her.
    let refused = sts(
        e,
        ("AKIAMALLORY", "mallory-secret"),
        &[
            "assume-role",
            "--role-arn",
            &role_arn,
            "--role-session-name",
            "x1",
        ],
    )
    .unwrap_err();
    assert!(refused.contains("AccessDenied"), "{refused}");

    // Two hours later the one-hour session is over.
    for index in 0..cluster.nodes.len() {
        cluster.set_clock_offset(index, 2 * 3_600_000);
    }
    let expired = session
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(expired.code(), Some("ExpiredTokenException"), "{expired:?}");
    for index in 0..cluster.nodes.len() {
        cluster.set_clock_offset(index, 0);
    }
    assert!(session.describe_key().key_id(&key).send().await.is_ok());

    // Removing the role ends its sessions.
    std::fs::write(cluster.identities_path(), identities(false)).unwrap();
    trent_tests::eventually(
        std::time::Duration::from_secs(10),
        "the removed role's session is refused",
        || async {
            session
                .describe_key()
                .key_id(&key)
                .send()
                .await
                .is_err_and(|e| e.code() == Some("UnrecognizedClientException"))
        },
    )
    .await;
}
