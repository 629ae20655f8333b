//! The proxy against AWS's XKS Proxy API specification (v1), as an independent client sees
//! it: raw HTTPS requests sent with curl (trusting the test CA), SigV4-signed the way AWS KMS
//! signs them (service `kms-xks-proxy`, `SignedHeaders=host;x-amz-date`), carrying the
//! spec's example request bodies; the answers are checked against the spec's example
//! responses (the same member names and JSON types) and its constraints, and each error case
//! against the status and `errorName` of the spec's error table. The backend is a SoftHSM2
//! token in a tempdir (the setup is `common`'s, shared with the end-to-end test).
//!
//! One test function: SoftHSM2 is initialised once per process with one config.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{setup, AKID, SECRET, URI_PATH};
use kms_api::sigv4::{sign, SigningInput};
use serde_json::{json, Map, Value};
use time::{Duration, OffsetDateTime};
use tokio::io::AsyncWriteExt;

// The spec's examples, used as test vectors. Health, metadata and encrypt requests are sent
// byte for byte; decrypt gets the proxy's own encryption of the encrypt example.

const HEALTH_REQUEST: &str = r#"{
    "requestMetadata": {
        "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
        "kmsOperation": "CreateCustomKeyStore"
    }
}"#;

const HEALTH_RESPONSE: &str = r#"{
    "xksProxyFleetSize": 2,
    "xksProxyVendor": "Acme Corp",
    "xksProxyModel": "Acme XKS Proxy 1.0",
    "ekmVendor": "Thales Group",
    "ekmFleetDetails": [
        {
            "id": "hsm-id-1",
            "model": "Luna 5.0",
            "healthStatus": "DEGRADED"
        },
        {
            "id": "hsm-id-2",
            "model": "Luna 5.1",
            "healthStatus": "ACTIVE"
        }
    ]
}"#;

const METADATA_REQUEST: &str = r#"{
    "requestMetadata": {
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsOperation": "CreateKey",
        "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae"
    }
}"#;

const METADATA_RESPONSE: &str = r#"{
    "keySpec": "AES_256",
    "keyUsage": ["ENCRYPT", "DECRYPT"],
    "keyStatus": "ENABLED"
}"#;

const ENCRYPT_REQUEST: &str = r#"{
    "requestMetadata": {
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": "Encrypt",
        "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
        "kmsViaService": "ebs"
    }, 
    "additionalAuthenticatedData": "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
    "plaintext": "SGVsbG8gV29ybGQh",
    "encryptionAlgorithm": "AES_GCM",
    "ciphertextDataIntegrityValueAlgorithm": "SHA_256"
}"#;

const ENCRYPT_RESPONSE: &str = r#"{
    "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ==",
    "ciphertext": "ghxkK1txeDNn3q8Y",
    "ciphertextDataIntegrityValue": "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=",
    "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
    "initializationVector": "HMrlRw85cAJUd5Ax"
}"#;

const DECRYPT_REQUEST: &str = r#"{
    "requestMetadata": { 
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": "Decrypt",
        "kmsRequestId": "5112f4d6-db54-4af4-ae30-c55a22a8dfae",
        "kmsViaService": "ebs"
    },
    "additionalAuthenticatedData": "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
    "encryptionAlgorithm": "AES_GCM",
    "ciphertext": "ghxkK1txeDNn3q8Y",
    "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
    "initializationVector": "HMrlRw85cAJUd5Ax",
    "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ=="
}"#;

const DECRYPT_RESPONSE: &str = r#"{
    "plaintext": "SGVsbG8gV29ybGQh"
}"#;

const ERROR_RESPONSE: &str = r#"{
    "errorName": "InvalidCiphertextException",
    "errorMessage": "The request was rejected because the specified ciphertext, or additional authenticated data is corrupted, missing, or otherwise invalid."
}"#;

/// The region AWS KMS calls from in the examples (their key ARN's).
const REGION: &str = "us-east-2";
/// The external key the examples run against, made in the token by `create_key`.
const KEY: &str = "key-1";
/// Served by the store but never made in the token.
const KEY_NOT_IN_TOKEN: &str = "key-2";
/// Period and underscore, as the spec allows in an `externalKeyId`.
const KEY_DOTTED: &str = "key-a.b_C";
/// An IAM user the store's allow rules do not name.
const MALLORY: &str = "arn:aws:iam::999999999999:user/Mallory";

fn example(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn key_path(key: &str, operation: &str) -> String {
    format!("{URI_PATH}/keys/{key}/{operation}")
}

fn health_path() -> String {
    format!("{URI_PATH}/health")
}

fn b64(answer: &Value, member: &str) -> Vec<u8> {
    let text = answer[member]
        .as_str()
        .unwrap_or_else(|| panic!("{member} is a string: {answer}"));
    STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("{member} is standard Base64 ({e}): {answer}"))
}

/// The spec's CDIV: Base64 of SHA-256 over the concatenation, no lengths.
fn cdiv(parts: &[&[u8]]) -> String {
    STANDARD.encode(kms_crypto::sha256(&parts.concat()))
}

/// Who signs, for which region and service, at what time.
#[derive(Clone)]
struct Signer {
    access_key_id: String,
    secret: String,
    region: String,
    service: String,
    at: OffsetDateTime,
}

impl Signer {
    /// As AWS KMS in [`REGION`] signs with the store's credential, now.
    fn kms() -> Signer {
        Signer {
            access_key_id: AKID.to_string(),
            secret: SECRET.to_string(),
            region: REGION.to_string(),
            service: "kms-xks-proxy".to_string(),
            at: OffsetDateTime::now_utc(),
        }
    }
}

/// One HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    http_version: String,
    /// Lower-case header name to its values (curl's `%{header_json}`).
    headers: Map<String, Value>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.get(0)?.as_str()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, sent as `application/json` as the spec requires of every answer.
    fn json(&self) -> Value {
        let content_type = self.header("content-type").unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        assert!(
            media_type.eq_ignore_ascii_case("application/json"),
            "Content-Type {content_type:?} ({} {})",
            self.status,
            self.text()
        );
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A 200 answer's JSON body.
    fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.text());
        self.json()
    }

    /// An error answer as the spec's error table gives it: the status, a JSON body with
    /// `errorName` and at most an `errorMessage` of fewer than 512 printable ASCII characters.
    fn assert_error(&self, status: u16, error_name: &str, case: &str) {
        assert_eq!(self.status, status, "{case}: {}", self.text());
        let body = self.json();
        assert_shape(case, &body, &example(ERROR_RESPONSE), &["errorMessage"]);
        assert_eq!(body["errorName"], error_name, "{case}: {body}");
        if let Some(message) = body.get("errorMessage").and_then(Value::as_str) {
            assert!(message.len() < 512, "{case}: errorMessage too long");
            assert!(
                message.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "{case}: errorMessage is not printable ASCII: {message:?}"
            );
        }
    }
}

/// An HTTPS client of the proxy: curl, trusting the test CA, speaking HTTP/1.1.
struct Client {
    port: u16,
    ca_file: PathBuf,
}

impl Client {
    fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// The headers AWS KMS adds: `X-Amz-Date` and an `Authorization` signing only `host` and
    /// `x-amz-date` (the request's `Content-Type` is sent but not signed).
    fn signature(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        signer: &Signer,
    ) -> Vec<(String, String)> {
        let host = self.host();
        let signed = sign(
            &SigningInput {
                method,
                uri: path,
                headers: &[("host", &host)],
                body,
            },
            (&signer.access_key_id, &signer.secret),
            &signer.region,
            &signer.service,
            signer.at,
        );
        assert!(
            signed
                .authorization
                .contains(", SignedHeaders=host;x-amz-date, "),
            "{}",
            signed.authorization
        );
        vec![
            ("X-Amz-Date".to_string(), signed.x_amz_date),
            ("Authorization".to_string(), signed.authorization),
        ]
    }

    /// Sends `body` with `headers` (and `Content-Type: application/json`) over HTTP/1.1, or
    /// with `curl_args` instead of `--http1.1` if there are any; `Err` if curl got no HTTP
    /// answer.
    async fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
        curl_args: &[&str],
    ) -> Result<Reply, String> {
        let mut command = tokio::process::Command::new("curl");
        command
            .args(["--silent", "--show-error", "--max-time", "10"])
            .arg("--cacert")
            .arg(&self.ca_file)
            .args(["--resolve", &format!("{}:127.0.0.1", self.host())])
            .args(["-X", method])
            .args(["-H", "Content-Type: application/json", "-H", "Expect:"]);
        for (name, value) in headers {
            command.args(["-H", &format!("{name}: {value}")]);
        }
        let url = format!("https://{}{path}", self.host());
        command
            .args(["--data-binary", "@-"])
            .args([
                "--write-out",
                "%{stderr}\n--- curl write-out ---\n%{http_code} %{http_version}\n%{header_json}",
            ])
            .args(if curl_args.is_empty() {
                &["--http1.1"][..]
            } else {
                curl_args
            })
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("curl is installed (make deps)");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(body).await.unwrap();
        drop(stdin);
        let output = child.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            return Err(stderr);
        }
        // curl's own messages (none with --silent unless it failed), then the write-out.
        let write_out = stderr
            .rsplit_once("\n--- curl write-out ---\n")
            .map(|(_, out)| out)
            .ok_or_else(|| format!("no write-out: {stderr}"))?;
        let (first, headers) = write_out.split_once('\n').unwrap_or((write_out, ""));
        let (status, http_version) = first.split_once(' ').unwrap_or((first, ""));
        Ok(Reply {
            status: status
                .trim()
                .parse()
                .map_err(|_| format!("no status: {stderr}"))?,
            http_version: http_version.trim().to_string(),
            headers: serde_json::from_str(headers)
                .map_err(|e| format!("no header JSON ({e}): {stderr}"))?,
            body: output.stdout,
        })
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Reply {
        self.try_send(method, path, headers, body, &[])
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: curl failed: {e}"))
    }

    /// `body` signed by `signer` and sent with `method`.
    async fn signed(&self, method: &str, path: &str, body: &[u8], signer: &Signer) -> Reply {
        let headers = self.signature(method, path, body, signer);
        self.send(method, path, &headers, body).await
    }

    /// POST `body` as AWS KMS would.
    async fn post_bytes(&self, path: &str, body: &[u8]) -> Reply {
        self.signed("POST", path, body, &Signer::kms()).await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_bytes(path, &serde_json::to_vec(body).unwrap())
            .await
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `actual` has every member of the spec's `example` but the `optional` ones, no member the
/// example lacks, and each with the example's JSON type (arrays element by element, against
/// the example's first element).
fn assert_shape(what: &str, actual: &Value, example: &Value, optional: &[&str]) {
    let (Some(got), Some(want)) = (actual.as_object(), example.as_object()) else {
        panic!("{what}: not an object: {actual}");
    };
    for name in want.keys() {
        assert!(
            got.contains_key(name) || optional.contains(&name.as_str()),
            "{what}: {name} is missing: {actual}"
        );
    }
    for (name, value) in got {
        let Some(expected) = want.get(name) else {
            panic!("{what}: {name} is not in the spec's example: {actual}");
        };
        assert_eq!(kind(value), kind(expected), "{what}: the type of {name}");
        if let (Value::Array(items), Value::Array(examples)) = (value, expected) {
            let first = &examples[0];
            for item in items {
                match first {
                    Value::Object(_) => assert_shape(&format!("{what}.{name}[]"), item, first, &[]),
                    _ => assert_eq!(kind(item), kind(first), "{what}: the items of {name}"),
                }
            }
        }
    }
}

/// The set of a JSON array's strings.
fn strings(value: &Value) -> BTreeSet<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// A decrypt request: the spec's example carrying the ciphertext, IV, tag and metadata of
/// the proxy's `encrypted` answer.
fn decrypt_request(encrypted: &Value) -> Value {
    let mut body = example(DECRYPT_REQUEST);
    for name in ["ciphertext", "initializationVector", "authenticationTag"] {
        body[name] = encrypted[name].clone();
    }
    match encrypted.get("ciphertextMetadata") {
        Some(metadata) => body["ciphertextMetadata"] = metadata.clone(),
        None => {
            body.as_object_mut().unwrap().remove("ciphertextMetadata");
        }
    }
    body
}

/// Checks the proxy's answer to the encrypt `request` against the spec.
fn check_encrypted(answer: &Value, request: &Value) {
    assert_shape(
        "Encrypt",
        answer,
        &example(ENCRYPT_RESPONSE),
        &["ciphertextMetadata", "ciphertextDataIntegrityValue"],
    );
    let plaintext = b64(request, "plaintext");
    let ciphertext = b64(answer, "ciphertext");
    let iv = b64(answer, "initializationVector");
    let tag = b64(answer, "authenticationTag");
    assert_eq!(ciphertext.len(), plaintext.len(), "GCM keeps the length");
    assert!(plaintext.len() < 4 || ciphertext != plaintext, "{answer}");
    assert!([12, 16].contains(&iv.len()), "IV of {} bytes", iv.len());
    assert_eq!(tag.len(), 16);
    let metadata = match answer.get("ciphertextMetadata") {
        Some(_) => b64(answer, "ciphertextMetadata"),
        None => Vec::new(),
    };
    assert!(
        metadata.len() <= 20,
        "ciphertextMetadata of {} bytes",
        metadata.len()
    );
    let aad = match request.get("additionalAuthenticatedData") {
        Some(_) => b64(request, "additionalAuthenticatedData"),
        None => Vec::new(),
    };
    let asked = request
        .get("ciphertextDataIntegrityValueAlgorithm")
        .is_some();
    assert_eq!(
        answer.get("ciphertextDataIntegrityValue").is_some(),
        asked,
        "a CDIV exactly when asked for: {answer}"
    );
    if asked {
        assert_eq!(
            answer["ciphertextDataIntegrityValue"],
            cdiv(&[&aad, &metadata, &iv, &ciphertext, &tag]),
            "CDIV = SHA-256(aad || metadata || iv || ciphertext || tag)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_follows_the_xks_proxy_api_spec() {
    let setup = setup();
    for key in [KEY, KEY_DOTTED] {
        assert!(kms_xks_proxy::create_key(&setup.config, key).unwrap());
    }
    let config = kms_xks_proxy::Config::load(&setup.config).unwrap();
    let proxy = kms_xks_proxy::start(&config).await.unwrap();
    let client = Client {
        port: proxy.addr().port(),
        ca_file: setup.ca_file.clone(),
    };

    transport(&client).await;
    health(&client).await;
    key_metadata(&client).await;
    let encrypted = encrypt_and_decrypt(&client).await;
    request_metadata(&client, &encrypted).await;
    key_not_found(&client, &encrypted).await;
    invalid_ciphertext(&client, &encrypted).await;
    authentication(&client).await;
    access_denied(&client, &encrypted).await;
    invalid_uri_path(&client).await;
    method_not_allowed(&client).await;
    validation(&client, &encrypted).await;

    proxy.stop().await;
}

/// HTTPS with at least one of the spec's cipher suites, HTTP/1.1, and a client offering
/// HTTP/2 as well gets an answer (the fallback to HTTP/1.1).
async fn transport(client: &Client) {
    let body = HEALTH_REQUEST.as_bytes();
    let path = health_path();
    // (TLS 1.3, the suite's OpenSSL name)
    let suites = [
        (true, "TLS_AES_256_GCM_SHA384"),
        (true, "TLS_CHACHA20_POLY1305_SHA256"),
        (false, "ECDHE-RSA-AES256-GCM-SHA384"),
        (false, "ECDHE-ECDSA-AES256-GCM-SHA384"),
    ];
    let mut served = Vec::new();
    for (tls13, suite) in suites {
        let args = match tls13 {
            true => ["--tlsv1.3", "--tls-max", "1.3", "--tls13-ciphers", suite],
            false => ["--tlsv1.2", "--tls-max", "1.2", "--ciphers", suite],
        };
        let headers = client.signature("POST", &path, body, &Signer::kms());
        let args = [&["--http1.1"][..], &args].concat();
        if let Ok(reply) = client.try_send("POST", &path, &headers, body, &args).await {
            assert_eq!(reply.status, 200, "{suite}: {}", reply.text());
            served.push(suite);
        }
    }
    assert!(
        !served.is_empty(),
        "none of the spec's cipher suites is served"
    );
    let headers = client.signature("POST", &path, body, &Signer::kms());
    let reply = client
        .try_send("POST", &path, &headers, body, &["--http2"])
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.http_version, "1.1");
}

/// GetHealthStatus: the spec's example (only `kmsRequestId` and `kmsOperation`), every
/// `kmsOperation` KMS sends and one it may send in future, an opaque request id; never
/// subject to the allow rules or to ValidationException (the error table excludes both).
async fn health(client: &Client) {
    // The example carries only these two.
    let request = example(HEALTH_REQUEST);
    let members: BTreeSet<&str> = request["requestMetadata"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(members, BTreeSet::from(["kmsOperation", "kmsRequestId"]));
    let answer = client
        .post_bytes(&health_path(), HEALTH_REQUEST.as_bytes())
        .await
        .ok();
    assert_shape("GetHealthStatus", &answer, &example(HEALTH_RESPONSE), &[]);
    let fleet_size = answer["xksProxyFleetSize"]
        .as_u64()
        .expect("xksProxyFleetSize is an integer");
    assert!(fleet_size > 0);
    for name in ["xksProxyVendor", "xksProxyModel", "ekmVendor"] {
        assert!(!answer[name].as_str().unwrap().is_empty(), "{name}");
    }
    let fleet = answer["ekmFleetDetails"].as_array().unwrap();
    assert!((1..=10).contains(&fleet.len()), "{answer}");
    for ekm in fleet {
        let status = ekm["healthStatus"].as_str().unwrap();
        assert!(
            ["ACTIVE", "DEGRADED", "UNAVAILABLE"].contains(&status),
            "{status}"
        );
    }
    // The token works, and the check is deep: ACTIVE.
    assert_eq!(fleet[0]["healthStatus"], "ACTIVE", "{answer}");

    for (operation, request_id) in [
        ("KmsHealthCheck", "4112f4d6-db54-4af4-ae30-c55a22a8dfae"),
        ("ConnectCustomKeyStore", "not a UUID at all"),
        ("UpdateCustomKeyStore", ""),
        ("SomeFutureKmsOperation", "r-1"),
    ] {
        let body =
            json!({"requestMetadata": {"kmsRequestId": request_id, "kmsOperation": operation}});
        let answer = client.post(&health_path(), &body).await.ok();
        assert_shape(operation, &answer, &example(HEALTH_RESPONSE), &[]);
    }
    let mut body = example(HEALTH_REQUEST);
    body["requestMetadata"]["awsPrincipalArn"] = json!(MALLORY);
    client.post(&health_path(), &body).await.ok();
    for body in [&b"{}"[..], b"not json"] {
        let answer = client.post_bytes(&health_path(), body).await.ok();
        assert_shape("health, odd body", &answer, &example(HEALTH_RESPONSE), &[]);
    }
}

/// GetKeyMetadata: the spec's example (CreateKey, no `kmsKeyArn`).
async fn key_metadata(client: &Client) {
    for key in [KEY, KEY_DOTTED] {
        let answer = client
            .post_bytes(&key_path(key, "metadata"), METADATA_REQUEST.as_bytes())
            .await
            .ok();
        assert_shape("GetKeyMetadata", &answer, &example(METADATA_RESPONSE), &[]);
        assert_eq!(answer["keySpec"], "AES_256");
        let usage = strings(&answer["keyUsage"]);
        assert!(
            usage.contains("ENCRYPT") && usage.contains("DECRYPT"),
            "{answer}"
        );
        assert!(answer["keyUsage"].as_array().unwrap().len() <= 10);
        assert_eq!(answer["keyStatus"], "ENABLED");
    }
}

/// Encrypt (the spec's example) and Decrypt of its answer; returns that answer.
async fn encrypt_and_decrypt(client: &Client) -> Value {
    // The spec's CDIV formula, as this test computes it, gives the spec's example value.
    let response = example(ENCRYPT_RESPONSE);
    let request = example(ENCRYPT_REQUEST);
    let parts = [
        b64(&request, "additionalAuthenticatedData"),
        b64(&response, "ciphertextMetadata"),
        b64(&response, "initializationVector"),
        b64(&response, "ciphertext"),
        b64(&response, "authenticationTag"),
    ];
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    assert_eq!(response["ciphertextDataIntegrityValue"], cdiv(&parts));

    let encrypted = client
        .post_bytes(&key_path(KEY, "encrypt"), ENCRYPT_REQUEST.as_bytes())
        .await
        .ok();
    check_encrypted(&encrypted, &request);

    let answer = client
        .post(&key_path(KEY, "decrypt"), &decrypt_request(&encrypted))
        .await
        .ok();
    assert_shape("Decrypt", &answer, &example(DECRYPT_RESPONSE), &[]);
    assert_eq!(answer, example(DECRYPT_RESPONSE), "the example's plaintext");

    // The same request again: a fresh IV, so another ciphertext.
    let again = client
        .post_bytes(&key_path(KEY, "encrypt"), ENCRYPT_REQUEST.as_bytes())
        .await
        .ok();
    check_encrypted(&again, &request);
    assert_ne!(
        again["initializationVector"],
        encrypted["initializationVector"]
    );

    // Without AAD and without a CDIV; then the largest inputs the spec requires: 4300 bytes
    // of plaintext and 8192 of AAD.
    let mut plain = request.clone();
    let members = plain.as_object_mut().unwrap();
    members.remove("additionalAuthenticatedData");
    members.remove("ciphertextDataIntegrityValueAlgorithm");
    let mut largest = request.clone();
    largest["plaintext"] = json!(STANDARD.encode([0xa5u8; 4300]));
    largest["additionalAuthenticatedData"] = json!(STANDARD.encode([0x3cu8; 8192]));
    for request in [plain, largest] {
        let encrypted = client.post(&key_path(KEY, "encrypt"), &request).await.ok();
        check_encrypted(&encrypted, &request);
        let mut decrypt = decrypt_request(&encrypted);
        match request.get("additionalAuthenticatedData") {
            Some(aad) => decrypt["additionalAuthenticatedData"] = aad.clone(),
            None => {
                decrypt
                    .as_object_mut()
                    .unwrap()
                    .remove("additionalAuthenticatedData");
            }
        }
        let answer = client.post(&key_path(KEY, "decrypt"), &decrypt).await.ok();
        assert_eq!(answer["plaintext"], request["plaintext"]);
    }
    encrypted
}

/// What the spec says of `requestMetadata`: unknown `kmsOperation` values and future fields
/// are accepted, `kmsRequestId` is opaque, the optional VPC fields may be present, and ARNs
/// of up to 2048 characters are supported.
async fn request_metadata(client: &Client, encrypted: &Value) {
    let long_principal = {
        let prefix = "arn:aws:iam::123456789012:user/";
        format!("{prefix}{}", "p".repeat(2048 - prefix.len()))
    };
    let long_key_arn = {
        let prefix = "arn:aws:kms:us-east-2:123456789012:key/";
        format!("{prefix}{}", "k".repeat(2048 - prefix.len()))
    };
    let variants = |body: &Value| -> Vec<(&'static str, Value)> {
        let mut cases = Vec::new();
        let mut b = body.clone();
        b["requestMetadata"]["kmsOperation"] = json!("BulkSomething");
        cases.push(("unknown kmsOperation", b));
        let mut b = body.clone();
        b["requestMetadata"]["kmsRequestId"] = json!("opaque, not a UUID");
        cases.push(("opaque kmsRequestId", b));
        let mut b = body.clone();
        b["requestMetadata"]["awsSourceVpc"] = json!("vpc-0123456789abcdef0");
        b["requestMetadata"]["awsSourceVpce"] = json!("vpce-0123456789abcdef0");
        cases.push(("VPC fields", b));
        let mut b = body.clone();
        b["requestMetadata"]["kmsRecipientAttestationImageSha384"] = json!("ab".repeat(48));
        cases.push(("a future field", b));
        let mut b = body.clone();
        b["requestMetadata"]["awsPrincipalArn"] = json!(long_principal);
        if b["requestMetadata"].get("kmsKeyArn").is_some() {
            b["requestMetadata"]["kmsKeyArn"] = json!(long_key_arn);
        }
        cases.push(("2048-character ARNs", b));
        cases
    };
    for (operation, body) in [
        ("metadata", example(METADATA_REQUEST)),
        ("encrypt", example(ENCRYPT_REQUEST)),
        ("decrypt", decrypt_request(encrypted)),
    ] {
        for (case, body) in variants(&body) {
            let reply = client.post(&key_path(KEY, operation), &body).await;
            assert_eq!(reply.status, 200, "{operation}, {case}: {}", reply.text());
            reply.json();
        }
    }
}

/// 404 KeyNotFoundException: a key the store does not serve, one it serves but the key
/// manager does not hold, and one with the longest id the spec allows.
async fn key_not_found(client: &Client, encrypted: &Value) {
    let longest = format!("key-{}", "x".repeat(124));
    for key in ["key-404", KEY_NOT_IN_TOKEN, longest.as_str()] {
        for (operation, body) in [
            ("metadata", example(METADATA_REQUEST)),
            ("encrypt", example(ENCRYPT_REQUEST)),
            ("decrypt", decrypt_request(encrypted)),
        ] {
            client
                .post(&key_path(key, operation), &body)
                .await
                .assert_error(404, "KeyNotFoundException", &format!("{operation} {key}"));
        }
    }
}

/// 400 InvalidCiphertextException for every alteration of what Encrypt returned.
async fn invalid_ciphertext(client: &Client, encrypted: &Value) {
    let flip = |member: &str, at: usize| {
        let mut bytes = b64(encrypted, member);
        bytes[at] ^= 0x01;
        let mut body = decrypt_request(encrypted);
        body[member] = json!(STANDARD.encode(bytes));
        body
    };
    let mut cases = vec![
        ("tampered tag", flip("authenticationTag", 15)),
        ("tampered ciphertext", flip("ciphertext", 0)),
        ("tampered IV", flip("initializationVector", 5)),
    ];
    let mut body = decrypt_request(encrypted);
    body["additionalAuthenticatedData"] = json!(STANDARD.encode("project=nile,department=sales"));
    cases.push(("other AAD", body));
    let mut body = decrypt_request(encrypted);
    body.as_object_mut()
        .unwrap()
        .remove("additionalAuthenticatedData");
    cases.push(("AAD left out", body));
    if encrypted.get("ciphertextMetadata").is_some() {
        let mut body = decrypt_request(encrypted);
        body["ciphertextMetadata"] = json!(STANDARD.encode("key_version=2"));
        cases.push(("other ciphertextMetadata", body));
        let mut body = decrypt_request(encrypted);
        body.as_object_mut().unwrap().remove("ciphertextMetadata");
        cases.push(("ciphertextMetadata left out", body));
    }
    // The spec's own example ciphertext, made by another key manager's key.
    cases.push(("the spec's example", example(DECRYPT_REQUEST)));
    for (case, body) in cases {
        client
            .post(&key_path(KEY, "decrypt"), &body)
            .await
            .assert_error(400, "InvalidCiphertextException", case);
    }

    // The spec's case for length-prefixing: encrypt without AAD, then pass the metadata as
    // the AAD and no metadata.
    let mut request = example(ENCRYPT_REQUEST);
    request
        .as_object_mut()
        .unwrap()
        .remove("additionalAuthenticatedData");
    let sealed = client.post(&key_path(KEY, "encrypt"), &request).await.ok();
    if let Some(metadata) = sealed.get("ciphertextMetadata") {
        let mut body = decrypt_request(&sealed);
        body["additionalAuthenticatedData"] = metadata.clone();
        body.as_object_mut().unwrap().remove("ciphertextMetadata");
        client
            .post(&key_path(KEY, "decrypt"), &body)
            .await
            .assert_error(400, "InvalidCiphertextException", "metadata moved into AAD");
    }
}

/// 401 AuthenticationFailedException for every signature that is not the store's, on every
/// operation; a clock 4 minutes off is tolerated, 6 minutes is not.
async fn authentication(client: &Client) {
    type Change = fn(&mut Signer);
    let signers: [(&str, Change); 5] = [
        ("wrong secret", |s| s.secret = "A".repeat(43)),
        ("unknown access key id", |s| {
            s.access_key_id = "AKIAZZZZZZZZZZZZZZZZ".into()
        }),
        ("service kms", |s| s.service = "kms".into()),
        ("6 minutes old", |s| s.at -= Duration::minutes(6)),
        ("6 minutes ahead", |s| s.at += Duration::minutes(6)),
    ];
    for (path, body) in [
        (health_path(), HEALTH_REQUEST),
        (key_path(KEY, "metadata"), METADATA_REQUEST),
        (key_path(KEY, "encrypt"), ENCRYPT_REQUEST),
    ] {
        let body = body.as_bytes();
        let fails = |case: &str, reply: Reply| {
            reply.assert_error(
                401,
                "AuthenticationFailedException",
                &format!("{path}: {case}"),
            )
        };
        for (case, change) in signers {
            let mut signer = Signer::kms();
            change(&mut signer);
            fails(case, client.signed("POST", &path, body, &signer).await);
        }
        let mut headers = client.signature("POST", &path, body, &Signer::kms());
        let altered = [body, b" "].concat();
        let reply = client.send("POST", &path, &headers, &altered).await;
        fails("body altered after signing", reply);
        let authorization = &mut headers[1].1;
        let last = authorization.pop().unwrap();
        authorization.push(if last == '0' { '1' } else { '0' });
        fails(
            "altered signature",
            client.send("POST", &path, &headers, body).await,
        );
        headers.truncate(1);
        fails(
            "no Authorization",
            client.send("POST", &path, &headers, body).await,
        );
        for minutes in [-4, 4] {
            let signer = Signer {
                at: OffsetDateTime::now_utc() + Duration::minutes(minutes),
                ..Signer::kms()
            };
            let reply = client.signed("POST", &path, body, &signer).await;
            assert_eq!(reply.status, 200, "{path}, {minutes} min: {}", reply.text());
        }
    }
}

/// 403 AccessDeniedException for a principal the store's allow rules do not name.
async fn access_denied(client: &Client, encrypted: &Value) {
    for (operation, mut body) in [
        ("metadata", example(METADATA_REQUEST)),
        ("encrypt", example(ENCRYPT_REQUEST)),
        ("decrypt", decrypt_request(encrypted)),
    ] {
        body["requestMetadata"]["awsPrincipalArn"] = json!(MALLORY);
        client
            .post(&key_path(KEY, operation), &body)
            .await
            .assert_error(403, "AccessDeniedException", operation);
    }
}

/// 404 InvalidUriPathException for paths that are not the store's API.
async fn invalid_uri_path(client: &Client) {
    let other = "/other/prefix/kms/xks/v1";
    let paths = [
        format!("{other}/health"),
        format!("{other}/keys/{KEY}/metadata"),
        format!("{other}/keys/{KEY}/encrypt"),
        format!("{other}/keys/{KEY}/decrypt"),
        "/kms/xks/v1/health".to_string(),
        URI_PATH.replace("/v1", "/v2") + "/health",
        key_path(KEY, "sign"),
        format!("{URI_PATH}/keys/{KEY}"),
    ];
    for path in &paths {
        client
            .post_bytes(path, METADATA_REQUEST.as_bytes())
            .await
            .assert_error(404, "InvalidUriPathException", path);
    }
}

/// 405 for a GET on any of the four API URIs.
async fn method_not_allowed(client: &Client) {
    for path in [
        health_path(),
        key_path(KEY, "metadata"),
        key_path(KEY, "encrypt"),
        key_path(KEY, "decrypt"),
    ] {
        let reply = client
            .signed("GET", &path, HEALTH_REQUEST.as_bytes(), &Signer::kms())
            .await;
        assert_eq!(reply.status, 405, "GET {path}: {}", reply.text());
        let allow = reply.header("allow").unwrap_or("");
        assert!(allow.contains("POST"), "Allow: {allow:?}");
    }
}

/// 400 ValidationException for malformed bodies, missing required members (the
/// `requestMetadata` among them), members that are not what the spec defines (Base64 other
/// than standard Base64 among them), and an encryption algorithm other than AES_GCM.
async fn validation(client: &Client, encrypted: &Value) {
    let requests = [
        ("metadata", example(METADATA_REQUEST)),
        ("encrypt", example(ENCRYPT_REQUEST)),
        ("decrypt", decrypt_request(encrypted)),
    ];
    // (operation, JSON pointer, None to remove the member or its new value)
    let mut edits: Vec<(&str, &str, Option<Value>)> = Vec::new();
    for (operation, _) in &requests {
        edits.extend([
            (*operation, "/requestMetadata", None),
            (*operation, "/requestMetadata", Some(json!("x"))),
            (*operation, "/requestMetadata/kmsRequestId", None),
            (*operation, "/requestMetadata/kmsOperation", None),
        ]);
    }
    for member in ["/plaintext", "/encryptionAlgorithm"] {
        edits.push(("encrypt", member, None));
    }
    for member in ["/ciphertext", "/initializationVector", "/authenticationTag"] {
        edits.push(("decrypt", member, None));
    }
    edits.push(("decrypt", "/encryptionAlgorithm", None));
    for algorithm in [
        "AES_CBC",
        "aes_gcm",
        "RSAES_OAEP_SHA_256",
        "SYMMETRIC_DEFAULT",
    ] {
        edits.push(("encrypt", "/encryptionAlgorithm", Some(json!(algorithm))));
        edits.push(("decrypt", "/encryptionAlgorithm", Some(json!(algorithm))));
    }
    edits.extend([
        ("encrypt", "/plaintext", Some(json!("Hello World!"))),
        ("encrypt", "/plaintext", Some(json!("_-_-"))),
        ("encrypt", "/plaintext", Some(json!(12))),
        (
            "encrypt",
            "/additionalAuthenticatedData",
            Some(json!("project=nile")),
        ),
        (
            "encrypt",
            "/ciphertextDataIntegrityValueAlgorithm",
            Some(json!("SHA_512")),
        ),
        ("decrypt", "/ciphertext", Some(json!("#!"))),
    ]);

    let mut cases: Vec<(&str, String, Vec<u8>)> = Vec::new();
    for (operation, request) in &requests {
        let text = serde_json::to_vec(request).unwrap();
        for (case, bytes) in [
            ("empty body", &b""[..]),
            ("not JSON", b"requestMetadata=x"),
            ("truncated JSON", &text[..text.len() / 2]),
            ("a JSON array", b"[]"),
        ] {
            cases.push((operation, case.to_string(), bytes.to_vec()));
        }
    }
    for (operation, pointer, value) in edits {
        let mut body = requests
            .iter()
            .find(|(op, _)| *op == operation)
            .unwrap()
            .1
            .clone();
        let (parent, member) = pointer.rsplit_once('/').unwrap();
        let case = match value {
            None => {
                body.pointer_mut(parent)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove(member);
                format!("no {pointer}")
            }
            Some(value) => {
                let case = format!("{pointer} = {value}");
                *body.pointer_mut(pointer).unwrap() = value;
                case
            }
        };
        cases.push((operation, case, serde_json::to_vec(&body).unwrap()));
    }
    for (operation, case, bytes) in cases {
        client
            .post_bytes(&key_path(KEY, operation), &bytes)
            .await
            .assert_error(400, "ValidationException", &format!("{operation}: {case}"));
    }
}
