//! The unmodified AWS CLI against a real region with `--endpoint-url`: the operations of the
//! region issue, as a user types them.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use trent_tests::{Cluster, Regions, ACCESS_KEY, REGION, SECRET_KEY};

fn aws(endpoint: &str, args: &[&str]) -> Result<serde_json::Value, String> {
    aws_in(endpoint, REGION, args)
}

fn aws_in(endpoint: &str, region: &str, args: &[&str]) -> Result<serde_json::Value, String> {
    let output = Command::new("aws")
        .args([
            "kms",
            "--endpoint-url",
            endpoint,
            "--region",
            region,
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .output()
        .expect("the aws CLI is installed (cluster/install-deps.sh installs it)");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).to_string());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_str(&stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_drives_every_region_operation() {
    let cluster = Cluster::start().await;
    let endpoint = format!("http://{}", cluster.nodes[1].api_addr);
    let e = endpoint.as_str();
    let created = aws(e, &["create-key", "--description", "cli"]).unwrap();
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(created["KeyMetadata"]["KeySpec"], "SYMMETRIC_DEFAULT");
    let k = key_id.as_str();
    aws(
        e,
        &[
            "create-alias",
            "--alias-name",
            "alias/cli",
            "--target-key-id",
            k,
        ],
    )
    .unwrap();
    let described = aws(e, &["describe-key", "--key-id", "alias/cli"]).unwrap();
    assert_eq!(described["KeyMetadata"]["KeyId"], k);
    let listed = aws(e, &["list-keys"]).unwrap();
    assert!(listed["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["KeyId"] == k));
    let aliases = aws(e, &["list-aliases", "--key-id", k]).unwrap();
    assert_eq!(aliases["Aliases"][0]["AliasName"], "alias/cli");

    // Encrypt and decrypt, passing blobs as files (fileb://), which CLI v1 and v2 read alike.
    let files = tempfile::tempdir().unwrap();
    let plain_path = files.path().join("plain");
    std::fs::write(&plain_path, b"hello trent").unwrap();
    let plain_arg = format!("fileb://{}", plain_path.display());
    let encrypted = aws(
        e,
        &[
            "encrypt",
            "--key-id",
            "alias/cli",
            "--plaintext",
            &plain_arg,
            "--encryption-context",
            "app=cli",
        ],
    )
    .unwrap();
    let blob = base64_decode(encrypted["CiphertextBlob"].as_str().unwrap());
    let blob_path = files.path().join("blob");
    std::fs::write(&blob_path, &blob).unwrap();
    let blob_arg = format!("fileb://{}", blob_path.display());
    let decrypted = aws(
        e,
        &[
            "decrypt",
            "--ciphertext-blob",
            &blob_arg,
            "--encryption-context",
            "app=cli",
        ],
    )
    .unwrap();
    assert_eq!(
        base64_decode(decrypted["Plaintext"].as_str().unwrap()),
        b"hello trent"
    );
    assert_eq!(decrypted["KeyId"], encrypted["KeyId"]);
    let wrong = aws(e, &["decrypt", "--ciphertext-blob", &blob_arg]).unwrap_err();
    assert!(wrong.contains("InvalidCiphertextException"), "{wrong}");
    let re = aws(
        e,
        &[
            "re-encrypt",
            "--ciphertext-blob",
            &blob_arg,
            "--source-encryption-context",
            "app=cli",
            "--destination-key-id",
            k,
        ],
    )
    .unwrap();
    assert!(re["CiphertextBlob"].is_string());
    let data_key = aws(
        e,
        &["generate-data-key", "--key-id", k, "--key-spec", "AES_256"],
    )
    .unwrap();
    assert!(data_key["Plaintext"].is_string() && data_key["CiphertextBlob"].is_string());
    let without = aws(
        e,
        &[
            "generate-data-key-without-plaintext",
            "--key-id",
            k,
            "--number-of-bytes",
            "16",
        ],
    )
    .unwrap();
    assert!(without.get("Plaintext").is_none());
    let random = aws(e, &["generate-random", "--number-of-bytes", "16"]).unwrap();
    assert!(random["Plaintext"].is_string());

    // Management.
    aws(
        e,
        &[
            "update-key-description",
            "--key-id",
            k,
            "--description",
            "changed",
        ],
    )
    .unwrap();
    aws(e, &["disable-key", "--key-id", k]).unwrap();
    let err = aws(e, &["encrypt", "--key-id", k, "--plaintext", &plain_arg]).unwrap_err();
    assert!(err.contains("DisabledException"), "{err}");
    aws(e, &["enable-key", "--key-id", k]).unwrap();
    aws(
        e,
        &[
            "tag-resource",
            "--key-id",
            k,
            "--tags",
            "TagKey=team,TagValue=kms",
        ],
    )
    .unwrap();
    let tags = aws(e, &["list-resource-tags", "--key-id", k]).unwrap();
    assert_eq!(tags["Tags"][0]["TagKey"], "team");
    aws(e, &["untag-resource", "--key-id", k, "--tag-keys", "team"]).unwrap();
    let policy = aws(
        e,
        &["get-key-policy", "--key-id", k, "--policy-name", "default"],
    )
    .unwrap();
    assert!(policy["Policy"]
        .as_str()
        .unwrap()
        .contains("Enable IAM User Permissions"));
    let document = policy["Policy"].as_str().unwrap();
    aws(
        e,
        &[
            "put-key-policy",
            "--key-id",
            k,
            "--policy-name",
            "default",
            "--policy",
            document,
        ],
    )
    .unwrap();
    let names = aws(e, &["list-key-policies", "--key-id", k]).unwrap();
    assert_eq!(names["PolicyNames"][0], "default");
    let second = aws(e, &["create-key"]).unwrap();
    let second_id = second["KeyMetadata"]["KeyId"].as_str().unwrap();
    aws(
        e,
        &[
            "update-alias",
            "--alias-name",
            "alias/cli",
            "--target-key-id",
            second_id,
        ],
    )
    .unwrap();
    aws(e, &["delete-alias", "--alias-name", "alias/cli"]).unwrap();
    let scheduled = aws(
        e,
        &[
            "schedule-key-deletion",
            "--key-id",
            k,
            "--pending-window-in-days",
            "7",
        ],
    )
    .unwrap();
    assert_eq!(scheduled["KeyState"], "PendingDeletion");
    aws(e, &["cancel-key-deletion", "--key-id", k]).unwrap();
    let described = aws(e, &["describe-key", "--key-id", k]).unwrap();
    assert_eq!(described["KeyMetadata"]["KeyState"], "Disabled");
    let err = aws(e, &["describe-key", "--key-id", "alias/nope"]).unwrap_err();
    assert!(err.contains("NotFoundException"), "{err}");
}

/// Multi-region keys as a CLI user drives them, every region through one endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_drives_multi_region_keys_through_one_endpoint() {
    let regions = Regions::start(&["us-east-1", "us-west-2"], 1).await;
    let endpoint = format!("http://{}", regions.region(0).nodes[0].api_addr);
    let e = endpoint.as_str();
    let created = aws(e, &["create-key", "--multi-region"]).unwrap();
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key_id.starts_with("mrk-"), "{key_id}");
    assert_eq!(
        created["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY"
    );
    let replicated = aws(
        e,
        &[
            "replicate-key",
            "--key-id",
            &key_id,
            "--replica-region",
            "us-west-2",
            "--description",
            "west copy",
        ],
    )
    .unwrap();
    assert_eq!(
        replicated["ReplicaKeyMetadata"]["Arn"],
        format!("arn:aws:kms:us-west-2:111122223333:key/{key_id}")
    );
    let west = aws_in(e, "us-west-2", &["describe-key", "--key-id", &key_id]).unwrap();
    assert_eq!(west["KeyMetadata"]["Description"], "west copy");
    assert_eq!(
        west["KeyMetadata"]["MultiRegionConfiguration"]["PrimaryKey"]["Region"],
        "us-east-1"
    );
    aws(
        e,
        &[
            "update-primary-region",
            "--key-id",
            &key_id,
            "--primary-region",
            "us-west-2",
        ],
    )
    .unwrap();
    trent_tests::eventually(
        std::time::Duration::from_secs(30),
        "us-west-2 is primary",
        || async {
            aws_in(e, "us-west-2", &["describe-key", "--key-id", &key_id]).is_ok_and(|d| {
                d["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
                    && d["KeyMetadata"]["KeyState"] == "Enabled"
            })
        },
    )
    .await;
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
