//! Roles through STS on the KMS port, as AWS users get role credentials: the unmodified AWS CLI
//! calls AssumeRole and GetCallerIdentity; the temporary credentials (with their session token)
//! sign KMS calls through the SDK, which the role's policies decide; a role the caller may not
//! assume, an expired session and a removed role are refused. Each region seals its sessions
//! with keys of its own, and credentials made in one region sign requests in its linked peer.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use std::process::Command;
use trent_tests::{Cluster, ClusterOptions, Regions, ACCOUNT, REGION};

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
    session_client_in(addr, REGION, credentials)
}

fn session_client_in(
    addr: &str,
    region: &str,
    credentials: &serde_json::Value,
) -> aws_sdk_kms::Client {
    let text = |name: &str| credentials[name].as_str().unwrap().to_string();
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_in_one_region_signs_in_its_linked_peer() {
    let regions = Regions::start_with(
        &["us-east-1", "us-west-2"],
        1,
        ClusterOptions {
            identities: Some(identities(true)),
            ..ClusterOptions::default()
        },
    )
    .await;
    let (east, west) = (regions.region(0), regions.region(1));
    // No key file stands behind the sessions: each region's keys come from its root key.
    for region in [east, west] {
        for dir in [region.dir(), region.dir().parent().unwrap().to_path_buf()] {
            assert!(!dir.join("sts.key").exists(), "{}", dir.display());
        }
    }
    let west_key = trent_tests::new_key(&west.client_in(0, "us-west-2")).await;
    let endpoint = format!("http://{}", east.nodes[0].api_addr);
    let alice = ("AKIAALICE", "alice-secret");
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/encryptor");
    let assume = || {
        sts(
            &endpoint,
            alice,
            &[
                "assume-role",
                "--role-arn",
                &role_arn,
                "--role-session-name",
                "east-made",
            ],
        )
        .unwrap()
    };
    let west_addr = west.nodes[0].api_addr.clone();
    let encrypts_in_west = |credentials: serde_json::Value| {
        let session = session_client_in(&west_addr, "us-west-2", &credentials);
        let key = west_key.clone();
        async move {
            session
                .encrypt()
                .key_id(key)
                .plaintext(Blob::new(b"made in the east".to_vec()))
                .send()
                .await
        }
    };
    // us-east-1 learns the key it shares with us-west-2 once the link answers; from then on
    // its sessions carry an entry for us-west-2.
    trent_tests::eventually(
        std::time::Duration::from_secs(30),
        "a us-east-1 session signs an Encrypt in us-west-2",
        || async {
            encrypts_in_west(assume()["Credentials"].clone())
                .await
                .is_ok()
        },
    )
    .await;

    // In us-west-2 the caller is the assumed role, and the role's policy decides.
    let credentials = assume()["Credentials"].clone();
    let session = session_client_in(&west_addr, "us-west-2", &credentials);
    let denied = session.create_key().send().await.unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");
    assert!(denied.message().unwrap().contains(&format!(
        "arn:aws:sts::{ACCOUNT}:assumed-role/encryptor/east-made"
    )));

    // A token changed in one character of us-west-2's entry (the last one) is refused there.
    let mut tampered = credentials.clone();
    let token = credentials["SessionToken"].as_str().unwrap();
    let middle = token.len() - 8;
    let flipped = if &token[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    tampered["SessionToken"] =
        format!("{}{flipped}{}", &token[..middle], &token[middle + 1..]).into();
    let refused = encrypts_in_west(tampered).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Some("UnrecognizedClientException"),
        "{refused:?}"
    );
}
