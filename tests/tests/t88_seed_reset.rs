//! The seed file and the reset for test suites (issue 13), against real node processes through
//! the official SDK:
//! - two linked regions seeded (`TRENT_SEED`) with a symmetric key, an RSA key (PKCS#8 PEM from
//!   openssl) and an `mrk-` key, all with given material: ciphertexts made by a separate
//!   cluster seeded with the same file (and, for RSA, by openssl with the public key) decrypt
//!   in both regions; restarting with the same seed changes nothing; a conflicting seed stops
//!   the nodes with a message naming the key and the field, and changes nothing;
//! - with `TRENT_ALLOW_RESET=1`, a small suite run, reset, run again gives the same result
//!   (both regions wiped, the seed back); without it, the reset paths answer as unknown paths.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{EncryptionAlgorithmSpec, KeyState, MultiRegionKeyType, OriginType};
use base64::Engine;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use trent_tests::{eventually, Cluster, ClusterOptions, Regions};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
const SYM: &str = "5eed0001-0000-4000-8000-000000000001";
const RSA: &str = "5eed0002-0000-4000-8000-000000000002";
const GENERATED: &str = "5eed0003-0000-4000-8000-000000000003";
const MRK: &str = "mrk-5eed0000000040008000000000000004";

/// Several clusters of real processes per test: one test at a time on the 2-core machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn sym_material() -> Vec<u8> {
    (0u8..32).collect()
}

fn mrk_material() -> Vec<u8> {
    (100u8..132).collect()
}

/// The seed: the symmetric and RSA keys in every region, a generated key with rotation in
/// the east only, and a multi-region key with its replica in the west.
fn seed_text(rsa_pem: &str, sym_description: &str) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let pem: String = rsa_pem.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        "keys:
  - id: {SYM}
    description: {sym_description}
    tags: {{team: payments}}
    aliases: [alias/seeded-sym]
    material: {sym}
  - id: {RSA}
    spec: RSA_2048
    usage: ENCRYPT_DECRYPT
    aliases: [alias/seeded-rsa]
    material: |
{pem}  - id: {GENERATED}
    region: {EAST}
    rotation_period_days: 180
  - id: {MRK}
    primary_region: {EAST}
    replica_regions: [{WEST}]
    description: seeded multi-region
    aliases: [alias/seeded-mrk]
    material: {mrk}
",
        sym = b64(&sym_material()),
        mrk = b64(&mrk_material()),
    )
}

fn seeded_options(seed: &Path, extra: &[(&str, &str)]) -> ClusterOptions {
    let mut env = vec![("TRENT_SEED".to_string(), seed.display().to_string())];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ClusterOptions {
        env,
        ..ClusterOptions::default()
    }
}

async fn decrypt(kms: &aws_sdk_kms::Client, key_id: &str, ciphertext: &[u8]) -> Vec<u8> {
    let mut request = kms
        .decrypt()
        .key_id(key_id)
        .ciphertext_blob(Blob::new(ciphertext));
    if key_id == RSA {
        request = request.encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256);
    } else {
        request = request.encryption_context("purpose", "seed-test");
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("decrypt with {key_id}: {e:?}"))
        .plaintext
        .unwrap()
        .into_inner()
}

/// Everything a restart must not change, as one region shows it.
async fn snapshot(kms: &aws_sdk_kms::Client) -> String {
    let mut keys: Vec<String> = kms
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys()
        .iter()
        .filter_map(|k| k.key_id.clone())
        .collect();
    keys.sort();
    let mut out = format!("keys {keys:?}\n");
    let aliases = kms.list_aliases().send().await.unwrap();
    for alias in aliases.aliases() {
        out.push_str(&format!(
            "alias {:?} -> {:?}\n",
            alias.alias_name(),
            alias.target_key_id()
        ));
    }
    for key in &keys {
        let meta = kms
            .describe_key()
            .key_id(key)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap();
        let tags = kms.list_resource_tags().key_id(key).send().await.unwrap();
        out.push_str(&format!(
            "{key}: created {:?} origin {:?} state {:?} spec {:?} description {:?} material {:?} mrk {:?} tags {:?}\n",
            meta.creation_date(),
            meta.origin(),
            meta.key_state(),
            meta.key_spec(),
            meta.description(),
            meta.current_key_material_id(),
            meta.multi_region_configuration().and_then(|c| c.multi_region_key_type()),
            tags.tags(),
        ));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn seeded_material_decrypts_ciphertexts_made_elsewhere_and_a_seed_never_overwrites() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    // PEM output of genpkey is PKCS#8 ("BEGIN PRIVATE KEY"), what AWS requires.
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
        work,
    );
    openssl(
        &["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa-pub.pem"],
        work,
    );
    let public_der = openssl(
        &["pkey", "-in", "rsa.pem", "-pubout", "-outform", "DER"],
        work,
    );
    let rsa_pem = std::fs::read_to_string(work.join("rsa.pem")).unwrap();
    assert!(rsa_pem.contains("BEGIN PRIVATE KEY"), "{rsa_pem}");
    std::fs::write(work.join("message.txt"), b"made by openssl").unwrap();
    openssl(
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "rsa-pub.pem",
            "-in",
            "message.txt",
            "-out",
            "rsa-ciphertext.bin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
        work,
    );
    let rsa_ciphertext = std::fs::read(work.join("rsa-ciphertext.bin")).unwrap();
    let seed = work.join("seed.yaml");
    std::fs::write(&seed, seed_text(&rsa_pem, "seeded symmetric")).unwrap();

    // A separate cluster, seeded with the same file, makes the ciphertexts.
    let (sym_ciphertext, mrk_ciphertext) = {
        let other = Regions::start_with(&[EAST, WEST], 1, seeded_options(&seed, &[])).await;
        let east = other.region(0).client(0);
        let encrypt = |key: &'static str| {
            let east = east.clone();
            async move {
                east.encrypt()
                    .key_id(key)
                    .plaintext(Blob::new(format!("secret of {key}")))
                    .encryption_context("purpose", "seed-test")
                    .send()
                    .await
                    .unwrap()
                    .ciphertext_blob
                    .unwrap()
                    .into_inner()
            }
        };
        (encrypt(SYM).await, encrypt(MRK).await)
    };

    let mut regions = Regions::start_with(&[EAST, WEST], 3, seeded_options(&seed, &[])).await;
    for (index, region) in [EAST, WEST].iter().enumerate() {
        let kms = regions.region(index).client(1);
        assert_eq!(
            decrypt(&kms, SYM, &sym_ciphertext).await,
            format!("secret of {SYM}").into_bytes(),
            "{region}"
        );
        assert_eq!(
            decrypt(&kms, MRK, &mrk_ciphertext).await,
            format!("secret of {MRK}").into_bytes(),
            "{region}"
        );
        assert_eq!(
            decrypt(&kms, RSA, &rsa_ciphertext).await,
            b"made by openssl",
            "{region}"
        );
        let public = kms.get_public_key().key_id(RSA).send().await.unwrap();
        assert_eq!(
            public.public_key.unwrap().into_inner(),
            public_der,
            "{region}"
        );
        for key in [SYM, RSA, MRK] {
            let meta = kms
                .describe_key()
                .key_id(key)
                .send()
                .await
                .unwrap()
                .key_metadata
                .unwrap();
            // Imported material, as AWS reports it, in every region of the key.
            assert_eq!(meta.origin(), Some(&OriginType::External), "{region} {key}");
            assert_eq!(meta.key_state(), Some(&KeyState::Enabled), "{region} {key}");
        }
        let mrk = kms
            .describe_key()
            .key_id("alias/seeded-mrk")
            .send()
            .await
            .unwrap();
        let mrk = mrk.key_metadata.unwrap();
        let expected = if index == 0 {
            MultiRegionKeyType::Primary
        } else {
            MultiRegionKeyType::Replica
        };
        assert_eq!(
            mrk.multi_region_configuration()
                .and_then(|c| c.multi_region_key_type()),
            Some(&expected)
        );
        let sym = kms
            .describe_key()
            .key_id("alias/seeded-sym")
            .send()
            .await
            .unwrap();
        let sym = sym.key_metadata.unwrap();
        assert_eq!(sym.description(), Some("seeded symmetric"));
        let tags = kms.list_resource_tags().key_id(SYM).send().await.unwrap();
        assert_eq!(tags.tags().len(), 1);
        assert_eq!(tags.tags()[0].tag_value(), "payments");
    }
    let east = regions.region(0).client(0);
    let generated = east.describe_key().key_id(GENERATED).send().await.unwrap();
    assert_eq!(
        generated.key_metadata.unwrap().origin(),
        Some(&OriginType::AwsKms)
    );
    let rotation = east
        .get_key_rotation_status()
        .key_id(GENERATED)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled());
    assert_eq!(rotation.rotation_period_in_days(), Some(180));
    assert!(
        regions
            .region(1)
            .client(0)
            .describe_key()
            .key_id(GENERATED)
            .send()
            .await
            .is_err(),
        "a key seeded for the east only is not in the west"
    );
    // Seeded material is never stored or logged in plaintext.
    let rsa_der = openssl(&["pkey", "-in", "rsa.pem", "-outform", "DER"], work);
    for region in &regions.regions {
        for node in 0..region.nodes.len() {
            let data = region.data_bytes(node);
            let log = region.log(node);
            for secret in [sym_material(), mrk_material(), rsa_der[..64].to_vec()] {
                assert!(!contains(&data, &secret), "plaintext material on disk");
                assert!(
                    !contains(log.as_bytes(), &secret),
                    "plaintext material logged"
                );
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(sym_material());
            assert!(!log.contains(&encoded), "seed material logged");
        }
    }

    let before = [
        snapshot(&regions.region(0).client(0)).await,
        snapshot(&regions.region(1).client(0)).await,
    ];

    // Restarting every node with the same seed changes nothing.
    for region in &mut regions.regions {
        for node in 0..region.nodes.len() {
            region.terminate(node);
        }
    }
    for region in &mut regions.regions {
        region.spawn_all();
    }
    for region in &regions.regions {
        region.wait_ready().await;
    }
    let after_restart = [
        snapshot(&regions.region(0).client(0)).await,
        snapshot(&regions.region(1).client(0)).await,
    ];
    assert_eq!(before, after_restart);

    // A conflicting seed stops the nodes, naming the key and the field, and writes nothing.
    let conflicting = work.join("conflicting.yaml");
    std::fs::write(&conflicting, seed_text(&rsa_pem, "another description")).unwrap();
    for region in &mut regions.regions {
        for node in 0..region.nodes.len() {
            region.terminate(node);
        }
        region.set_env("TRENT_SEED", &conflicting.display().to_string());
        region.spawn_all();
    }
    for region in &mut regions.regions {
        for node in 0..region.nodes.len() {
            let status = region.wait_exit(node, Duration::from_secs(60)).await;
            let status = status.unwrap_or_else(|| {
                panic!(
                    "{} node {node} did not refuse the seed:\n{}",
                    region.region,
                    region.log(node)
                )
            });
            assert!(!status.success());
            let log = region.log(node);
            assert!(
                log.contains(&format!("key {SYM}, field description")),
                "{}",
                log
            );
        }
    }
    for region in &mut regions.regions {
        region.set_env("TRENT_SEED", &seed.display().to_string());
        region.spawn_all();
    }
    for region in &regions.regions {
        region.wait_ready().await;
    }
    let after_conflict = [
        snapshot(&regions.region(0).client(0)).await,
        snapshot(&regions.region(1).client(0)).await,
    ];
    assert_eq!(before, after_conflict);
}

/// The reset endpoint at `path` of `node`: status and JSON body.
async fn post(addr: &str, path: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .body("")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// What a test suite sees: it creates a key and an alias for it in the east, a key in the
/// west, and lists both regions.
async fn suite(east: &aws_sdk_kms::Client, west: &aws_sdk_kms::Client) -> String {
    // The seeded replica is part of the fixture the suite starts from.
    eventually(
        Duration::from_secs(30),
        "the seeded replica is in the west",
        || async { west.describe_key().key_id(MRK).send().await.is_ok() },
    )
    .await;
    let key = trent_tests::new_key(east).await;
    let alias = east
        .create_alias()
        .alias_name("alias/suite")
        .target_key_id(&key)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{:?}", aws_sdk_kms::error::ProvideErrorMetadata::code(&e)));
    trent_tests::new_key(west).await;
    let east_keys = east.list_keys().send().await.unwrap().keys().len();
    let west_keys = west.list_keys().send().await.unwrap().keys().len();
    let mut aliases: Vec<String> = east
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name.clone())
        .collect();
    aliases.sort();
    format!("alias {alias:?}; east {east_keys} keys, aliases {aliases:?}; west {west_keys} keys")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suite_with_a_reset_between_runs_gives_the_same_result_in_every_region() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    // JSON is YAML too; a symmetric key everywhere and a multi-region key with a replica.
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let text = serde_json::json!({"keys": [
        {"id": SYM, "aliases": ["alias/fixture"], "material": b64(&sym_material())},
        {"id": MRK, "primary_region": EAST, "replica_regions": [WEST]},
    ]});
    std::fs::write(&seed, text.to_string()).unwrap();
    let options = seeded_options(&seed, &[("TRENT_ALLOW_RESET", "1")]);
    let regions = Regions::start_with(&[EAST, WEST], 1, options).await;
    let east = regions.region(0).client(0);
    let west = regions.region(1).client(0);
    let east_addr = regions.region(0).nodes[0].api_addr.clone();

    let first = suite(&east, &west).await;
    assert!(first.starts_with("alias Ok(())"), "{first}");
    // Without a reset the suite's second run differs (the alias exists: state leaks).
    let leaked = suite(&east, &west).await;
    assert_ne!(first, leaked);
    let west_key_before = trent_tests::new_key(&west).await;

    for path in [
        "/_localstack/state/reset",
        "/moto-api/reset",
        "/_localstack/state/kms/reset",
    ] {
        let (status, body) = post(&east_addr, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["reset"], serde_json::json!([EAST, WEST]), "{path}");
        let again = suite(&east, &west).await;
        assert_eq!(first, again, "after {path}");
        let (status, _) = post(&east_addr, path).await;
        assert_eq!(status, 200);
    }
    // The west was wiped by the reset called in the east, and its seed came back.
    assert!(west
        .describe_key()
        .key_id(&west_key_before)
        .send()
        .await
        .is_err());
    let fixture = east
        .describe_key()
        .key_id("alias/fixture")
        .send()
        .await
        .unwrap();
    assert_eq!(fixture.key_metadata.unwrap().key_id(), SYM);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_switch_the_reset_paths_are_unknown_paths() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start_with(ClusterOptions {
        nodes: 1,
        ..ClusterOptions::default()
    })
    .await;
    let kms = cluster.client(0);
    let key = trent_tests::new_key(&kms).await;
    let addr = &cluster.nodes[0].api_addr;
    let unknown = post(addr, "/no/such/path").await;
    assert_eq!(unknown.0, 400, "{unknown:?}");
    for path in [
        "/_localstack/state/reset",
        "/_localstack/state/kms/reset",
        "/moto-api/reset",
    ] {
        assert_eq!(post(addr, path).await, unknown, "{path}");
    }
    kms.describe_key().key_id(&key).send().await.unwrap();
}
