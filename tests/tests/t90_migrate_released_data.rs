//! Data written by the released version is migrated, never thrown away: today's `trent up` on
//! the `./data` that the released Trent (fed589d, store format 2) left behind
//! (`tests/fixtures/v2-fed589d`, made by that binary) serves every key, alias, grant and
//! multi-region key it held, and decrypts the ciphertexts it made, in both regions; its
//! plaintext root keys are sealed (SoftHSM2) and their files gone; a second start migrates
//! nothing more.
//!
//! The fixture's Raft membership names `make run`'s fixed addresses, so this test uses them
//! (127.0.0.1:8101-8103 and 8111-8113).
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{EncryptionAlgorithmSpec, KeyState};
use base64::Engine;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use trent_tests::{client_with_credentials_in, eventually, poll, trent_binary};

/// The released version's data (store format 2).
const RELEASED: &str = "v2-fed589d";
/// Data of the current store format (4), kept so that every later format change is tested
/// against real data of this one.
const CURRENT: &str = "v4-244b566";

/// Both tests use `make run`'s fixed ports: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Unpacks fixture `name`'s `data.tar.gz` into `into`; returns its data dir and expected.json.
fn unpack(name: &str, into: &Path) -> (std::path::PathBuf, Value) {
    let unpacked = Command::new("tar")
        .arg("xzf")
        .arg(fixture(name).join("data.tar.gz"))
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(unpacked.success());
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(name).join("expected.json")).unwrap(),
    )
    .unwrap();
    (into.join("data"), expected)
}

/// The first node's API address of `region` under `trent up`.
fn api(region: &str) -> &'static str {
    match region {
        "us-east-1" => "127.0.0.1:8101",
        _ => "127.0.0.1:8111",
    }
}

fn up(data: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.with_extension("up.out"))
        .unwrap();
    Command::new(trent_binary())
        .args(["up", "--data-dir"])
        .arg(data)
        .env("TRENT_REGIONS", "us-east-1,us-west-2")
        .env("TRENT_NODES_PER_REGION", "3")
        .env_remove("TRENT_CREDENTIALS")
        .env_remove("TRENT_ACCOUNT_ID")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap()
}

/// Starts `trent up` on `data` and waits until it is ready (its control socket is there).
async fn up_ready(data: &Path) -> Child {
    let started = up(data);
    let ready = data.join("trent-up.sock");
    eventually(Duration::from_secs(180), "trent up is ready", || {
        let up = ready.exists();
        async move { up }
    })
    .await;
    started
}

fn stop(mut up: Child) {
    Command::new("kill")
        .args(["-INT", &up.id().to_string()])
        .status()
        .unwrap();
    for _ in 0..300 {
        if up.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = up.kill();
    panic!("trent up did not stop");
}

/// How many node logs under `data` say their store was migrated.
fn migrations_logged(data: &Path) -> usize {
    std::fs::read_dir(data)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .matches("migrated the store from on-disk format 2")
                .count()
        })
        .sum()
}

/// How many `pre-migration-format-2` backups (each a RocksDB with its `CURRENT` file) the
/// nodes' data directories under `data/<region>/` hold.
fn pre_migration_backups(data: &Path) -> usize {
    ["us-east-1", "us-west-2"]
        .iter()
        .flat_map(|region| std::fs::read_dir(data.join(region)).unwrap())
        .filter_map(Result::ok)
        .filter(|node| {
            node.path()
                .join("pre-migration-format-2")
                .join("CURRENT")
                .is_file()
        })
        .count()
}

async fn check_everything(expected: &Value) {
    for (region, keys) in expected["keys"].as_object().unwrap() {
        let kms = client_with_credentials_in(api(region), region, "test", "test");
        let listed = poll(Duration::from_secs(60), || {
            let kms = kms.clone();
            async move {
                let keys = kms.list_keys().send().await.ok()?;
                Some(
                    keys.keys()
                        .iter()
                        .filter_map(|k| k.key_id().map(str::to_string))
                        .collect::<Vec<_>>(),
                )
            }
        })
        .await
        .unwrap_or_else(|| panic!("{region} does not answer ListKeys"));
        for key in keys.as_array().unwrap() {
            let key = key.as_str().unwrap();
            assert!(listed.iter().any(|k| k == key), "{region} lost {key}");
        }
    }
    let east = client_with_credentials_in(api("us-east-1"), "us-east-1", "test", "test");
    let disabled = expected["disabled"].as_str().unwrap();
    let described = east.describe_key().key_id(disabled).send().await.unwrap();
    assert_eq!(
        described.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
    for (alias, target) in expected["aliases"]["us-east-1"].as_object().unwrap() {
        let by_alias = east.describe_key().key_id(alias).send().await.unwrap();
        assert_eq!(
            by_alias.key_metadata().unwrap().key_id(),
            target.as_str().unwrap()
        );
    }
    for (key, grants) in expected["grants"]["us-east-1"].as_object().unwrap() {
        let listed = east.list_grants().key_id(key).send().await.unwrap();
        for grant in grants.as_array().unwrap() {
            assert!(
                listed
                    .grants()
                    .iter()
                    .any(|g| g.grant_id() == grant.as_str()),
                "grant {grant} of {key} lost"
            );
        }
    }
    let mrk = &expected["multi_region"];
    let west = client_with_credentials_in(api("us-west-2"), "us-west-2", "test", "test");
    let replica = west
        .describe_key()
        .key_id(mrk["key_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let config = replica
        .key_metadata()
        .unwrap()
        .multi_region_configuration()
        .unwrap();
    assert_eq!(
        config.primary_key().unwrap().region(),
        mrk["primary"].as_str()
    );
    for sealed in expected["ciphertexts"].as_array().unwrap() {
        let region = sealed["region"].as_str().unwrap();
        // A multi-region ciphertext decrypts in every region of its key.
        let regions: Vec<&str> = if sealed["key_id"] == mrk["key_id"] {
            vec!["us-east-1", "us-west-2"]
        } else {
            vec![region]
        };
        for region in regions {
            let kms = client_with_credentials_in(api(region), region, "test", "test");
            let blob = base64::engine::general_purpose::STANDARD
                .decode(sealed["ciphertext"].as_str().unwrap())
                .unwrap();
            let mut request = kms
                .decrypt()
                .key_id(sealed["key_id"].as_str().unwrap())
                .ciphertext_blob(Blob::new(blob))
                .encryption_algorithm(EncryptionAlgorithmSpec::from(
                    sealed["algorithm"].as_str().unwrap(),
                ));
            for (k, v) in sealed["context"].as_object().unwrap() {
                request = request.encryption_context(k, v.as_str().unwrap());
            }
            let opened = request.send().await.unwrap_or_else(|e| {
                panic!("{region} cannot decrypt {}: {e:?}", sealed["plaintext"])
            });
            assert_eq!(
                opened.plaintext().unwrap().as_ref(),
                sealed["plaintext"].as_str().unwrap().as_bytes()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_released_versions_data_is_migrated_and_keeps_every_key() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (data, expected) = unpack(RELEASED, dir.path());
    assert_eq!(migrations_logged(&data), 0);

    let first = up_ready(&data).await;
    check_everything(&expected).await;
    stop(first);
    assert_eq!(
        migrations_logged(&data),
        6,
        "each of the six stores migrated once"
    );
    // Each store was backed up, as format 2 left it, before it was migrated.
    assert_eq!(pre_migration_backups(&data), 6);
    // The released version's plaintext root keys are now sealed by the SoftHSM2 token.
    for region in ["us-east-1", "us-west-2"] {
        assert!(!data.join(region).join("root.key").exists(), "{region}");
        assert!(data.join(region).join("root.sealed").is_file(), "{region}");
    }
    // Its shared STS token key is no longer an STS key (sessions are sealed with keys derived
    // from each region's root key); it is kept as the secrets key for `secret_sealed` values.
    assert!(!data.join("sts.key").exists());
    assert!(data.join("secrets.key").is_file());

    let second = up_ready(&data).await;
    check_everything(&expected).await;
    stop(second);
    assert_eq!(
        migrations_logged(&data),
        6,
        "a second start migrates nothing"
    );
    assert_eq!(pre_migration_backups(&data), 6, "and backs up nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_of_the_current_format_is_served_as_written_without_a_migration() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // Made by `tests/fixtures/v4-244b566/make-fixture.sh` in another directory: the configs
    // `trent up` regenerates name this one.
    let (data, expected) = unpack(CURRENT, dir.path());
    let first = up_ready(&data).await;
    check_everything(&expected).await;
    stop(first);
    assert_eq!(migrations_logged(&data), 0, "format 4 is current");
    for region in ["us-east-1", "us-west-2"] {
        assert!(data.join(region).join("root.sealed").is_file(), "{region}");
        assert!(!data.join(region).join("root.key").exists(), "{region}");
    }
}
