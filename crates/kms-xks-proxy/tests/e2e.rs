//! The proxy end to end: a real SoftHSM2 token in a tempdir (its own softhsm2.conf), keys
//! made with `create_key` (what `trent xks-proxy create-key` runs), the proxy serving TLS on
//! 127.0.0.1 with a certificate from a test CA, and a KMS node's client
//! (`kms_keystore::xks_client::XksClient`, trusting that CA) calling it; curl's own SigV4
//! signer calls health once, so the proxy is shown to accept a signer other than ours.
//!
//! One test function: SoftHSM2 is initialised once per process with one config (the
//! setup is `common`'s, shared with the conformance test).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{setup, Setup, AKID, PIN, SECRET, TOKEN, URI_PATH};
use kms_keystore::hsm::HsmToken;
use kms_keystore::xks_api::{EkmHealthStatus, RequestMetadata};
use kms_keystore::xks_client::{XksClient, XksEndpoint, XksError, XksTrust};
use zeroize::Zeroizing;

const ALICE: &str = "arn:aws:iam::123456789012:user/Alice";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// Generous for a loaded test machine; AWS KMS allows 250 ms.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

fn meta(operation: &str) -> RequestMetadata {
    RequestMetadata {
        aws_principal_arn: Some(ALICE.to_string()),
        kms_key_arn: Some(KEY_ARN.to_string()),
        kms_operation: operation.to_string(),
        kms_request_id: format!("e2e-{operation}"),
        ..RequestMetadata::default()
    }
}

fn health_meta() -> RequestMetadata {
    RequestMetadata {
        kms_operation: "KmsHealthCheck".to_string(),
        kms_request_id: "e2e-health".to_string(),
        ..RequestMetadata::default()
    }
}

fn endpoint(setup: &Setup, port: u16) -> XksEndpoint {
    XksEndpoint {
        uri_endpoint: "https://localhost".to_string(),
        port,
        uri_path: URI_PATH.to_string(),
        access_key_id: AKID.to_string(),
        secret: Zeroizing::new(SECRET.to_string()),
        region: "us-east-1".to_string(),
        trust: XksTrust::CaPem(setup.ca_pem.as_bytes().to_vec()),
    }
}

fn proxy_error(result: Result<impl std::fmt::Debug, XksError>) -> XksError {
    result.expect_err("the call fails")
}

/// Health through curl's SigV4 signer: (HTTP status, body).
async fn curl_health(setup: &Setup, port: u16) -> (u16, serde_json::Value) {
    let output = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(["--aws-sigv4", "aws:amz:us-east-1:kms-xks-proxy"])
        .args(["--user", &format!("{AKID}:{SECRET}")])
        .arg("--cacert")
        .arg(&setup.ca_file)
        .args(["-X", "POST", "-H", "Content-Type: application/json"])
        .args([
            "--data",
            r#"{"requestMetadata":{"kmsOperation":"KmsHealthCheck","kmsRequestId":"curl-1"}}"#,
        ])
        .args(["--write-out", "\n%{http_code}"])
        .arg(format!("https://localhost:{port}{URI_PATH}/health"))
        .output()
        .await
        .expect("curl is installed (make deps)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "curl failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    (
        status.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_serves_a_softhsm_token_to_the_xks_client() {
    let setup = setup();

    // `trent xks-proxy create-key`.
    assert!(kms_xks_proxy::create_key(&setup.config, "key-1").unwrap());
    assert!(kms_xks_proxy::create_key(&setup.config, "key-2").unwrap());
    assert!(!kms_xks_proxy::create_key(&setup.config, "key-unlisted").unwrap());
    let again = kms_xks_proxy::create_key(&setup.config, "key-1").unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");

    let config = kms_xks_proxy::Config::load(&setup.config).unwrap();
    let proxy = kms_xks_proxy::start(&config).await.unwrap();
    let port = proxy.addr().port();
    let client = XksClient::new(endpoint(&setup, port), CALL_TIMEOUT).unwrap();

    // Health: deep (the health key round trip), ACTIVE.
    let health = client.health(&health_meta()).await.unwrap();
    assert_eq!(health.ekm_fleet_details.len(), 1);
    assert_eq!(
        health.ekm_fleet_details[0].health_status,
        EkmHealthStatus::Active
    );
    assert_eq!(health.ekm_fleet_details[0].id, TOKEN);
    assert_eq!(health.connection_error_code(), None);

    // The same through curl's signer.
    let (status, body) = curl_health(&setup, port).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ekmFleetDetails"][0]["healthStatus"], "ACTIVE");
    assert_eq!(body["xksProxyFleetSize"], 1);

    // Metadata as CreateKey wants it.
    let mut create_key = meta("CreateKey");
    create_key.kms_key_arn = None;
    let metadata = client.key_metadata("key-1", &create_key).await.unwrap();
    assert!(metadata.usable_by_kms(), "{metadata:?}");

    // Encrypt / decrypt, the CDIV checked by the client.
    let aad = b"kms blob header and encryption context";
    let plaintext = [0x5au8; 4300];
    let sealed = client
        .encrypt("key-1", &meta("Encrypt"), &plaintext, aad)
        .await
        .unwrap();
    assert_eq!(sealed.ciphertext.len(), plaintext.len());
    assert_ne!(sealed.ciphertext, plaintext.to_vec());
    assert_eq!(sealed.metadata.as_deref(), Some(&b"trent-xks:v1"[..]));
    let blob = sealed.to_bytes();
    let sealed = kms_keystore::xks_client::XksCiphertext::from_bytes(&blob).unwrap();
    let opened = client
        .decrypt("key-1", &meta("Decrypt"), &sealed, aad)
        .await
        .unwrap();
    assert_eq!(opened.as_slice(), plaintext.as_slice());

    // A tampered tag, the wrong AAD, the wrong key.
    let mut tampered = sealed.clone();
    tampered.tag[3] ^= 0x80;
    for (key, ciphertext, aad) in [
        ("key-1", &tampered, &aad[..]),
        ("key-1", &sealed, &b"other context"[..]),
        ("key-2", &sealed, &aad[..]),
    ] {
        let err = proxy_error(client.decrypt(key, &meta("Decrypt"), ciphertext, aad).await);
        assert_eq!(
            err.error_name(),
            Some("InvalidCiphertextException"),
            "{err}"
        );
    }

    // A wrong secret: INVALID_CREDENTIALS.
    let wrong = XksClient::new(
        XksEndpoint {
            secret: Zeroizing::new("A".repeat(43)),
            ..endpoint(&setup, port)
        },
        CALL_TIMEOUT,
    )
    .unwrap();
    let err = proxy_error(wrong.health(&health_meta()).await);
    assert_eq!(err.error_name(), Some("AuthenticationFailedException"));
    assert_eq!(err.connection_error_code(), "INVALID_CREDENTIALS");

    // A URI path the proxy does not serve: XKS_PROXY_INVALID_CONFIGURATION.
    let elsewhere = XksClient::new(
        XksEndpoint {
            uri_path: "/other/prefix/kms/xks/v1".to_string(),
            ..endpoint(&setup, port)
        },
        CALL_TIMEOUT,
    )
    .unwrap();
    let err = proxy_error(elsewhere.health(&health_meta()).await);
    assert_eq!(err.error_name(), Some("InvalidUriPathException"));
    assert_eq!(
        err.connection_error_code(),
        "XKS_PROXY_INVALID_CONFIGURATION"
    );

    // A principal the allow rules do not name.
    let mut mallory = meta("Encrypt");
    mallory.aws_principal_arn = Some("arn:aws:iam::999999999999:user/Mallory".to_string());
    let err = proxy_error(client.encrypt("key-1", &mallory, b"x", aad).await);
    assert_eq!(err.error_name(), Some("AccessDeniedException"));
    assert_eq!(err.connection_error_code(), "XKS_PROXY_ACCESS_DENIED");

    // A client that trusts only the public web PKI refuses the test CA's certificate.
    let public = XksClient::new(
        XksEndpoint {
            trust: XksTrust::WebPki,
            ..endpoint(&setup, port)
        },
        CALL_TIMEOUT,
    )
    .unwrap();
    let err = proxy_error(public.health(&health_meta()).await);
    assert_eq!(
        err.connection_error_code(),
        "XKS_PROXY_INVALID_TLS_CONFIGURATION",
        "{err}"
    );

    // A key destroyed in the token: KeyNotFoundException.
    let token = HsmToken::connect(setup.module.clone(), TOKEN, PIN).unwrap();
    assert!(token.destroy_key("key-2").unwrap());
    let err = proxy_error(client.key_metadata("key-2", &meta("DescribeKey")).await);
    assert_eq!(err.error_name(), Some("KeyNotFoundException"), "{err}");
    let err = proxy_error(client.encrypt("key-2", &meta("Encrypt"), b"x", aad).await);
    assert_eq!(err.error_name(), Some("KeyNotFoundException"), "{err}");
    // The others still work.
    client
        .key_metadata("key-1", &meta("DescribeKey"))
        .await
        .unwrap();
    drop(token);

    // A stopped proxy: NOT_REACHABLE (polled: the listener closes as the server stops).
    proxy.stop().await;
    common::eventually("the stopped proxy became unreachable", || async {
        match client.health(&health_meta()).await {
            Err(err) if err.connection_error_code() == "XKS_PROXY_NOT_REACHABLE" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
