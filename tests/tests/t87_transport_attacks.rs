//! An attacker on the Raft port of a running region (real `trent` processes, mutual TLS by
//! default): each attempt below is refused, and the node's log says so. A client without a
//! certificate, a node certificate of another region (same CA), the operator certificate
//! writing, a member revoked through the deny-list while the node runs, and an oversized
//! body from a member. The region keeps serving through it.
#![allow(clippy::unwrap_used)]

use kms_types::wire_version::{LINK, RAFT};
use std::time::Duration;
use trent_tests::{eventually, Cluster, REGION};

/// A client for the region's Raft ports presenting `cert`/`key` from the cluster's PKI.
fn client_with(
    cluster: &Cluster,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> reqwest::Client {
    let identity =
        kms_config::LinkIdentity::load(&cluster.ca_path(), cert, key).expect("identity loads");
    kms_config::client_for_region(&identity, REGION).expect("client builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raft_port_refuses_and_logs_every_attack() {
    let cluster = Cluster::start().await;
    let url = |path: &str| format!("https://{}/raft/{path}", cluster.nodes[0].raft_addr);
    let pki = kms_config::Topology::pki_layout_of(&cluster.pki_dir());

    // 1. No client certificate: the handshake fails, nothing reaches a handler.
    let anonymous = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let refused = anonymous
        .post(url("write"))
        .body(vec![0u8; 16])
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client without certificate got {refused:?}"
    );
    let plain = reqwest::Client::new()
        .post(format!("http://{}/raft/write", cluster.nodes[0].raft_addr))
        .body(vec![0u8; 16])
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    // 2. A node certificate of another region, from the same CA.
    let made = std::process::Command::new(trent_tests::trent_binary())
        .args(["pki", "--dir"])
        .arg(cluster.pki_dir())
        .args(["--regions", "eu-west-1", "--nodes", "1"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let foreign = client_with(
        &cluster,
        &pki.node_cert("eu-west-1", 1),
        &pki.node_key("eu-west-1", 1),
    );
    let answer = foreign
        .post(url("write"))
        .body(vec![0u8; 16])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("not of this region"));

    // 3. The operator certificate reads the status but may not write.
    let (operator, _) = cluster.raft_client();
    let status = operator.get(url("status")).send().await.unwrap();
    assert_eq!(status.status(), 200);
    let write = operator
        .post(url("write"))
        .body(vec![0u8; 16])
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);

    // 4. A member's certificate: an oversized vote is refused unread (413), a small malformed
    //    one is admitted and answered 400.
    let member = client_with(
        &cluster,
        &pki.node_cert(REGION, 3),
        &pki.node_key(REGION, 3),
    );
    // The server answers 413 without reading the body and may close the connection while the
    // client still writes it; then the client sees the reset instead of the answer. Either
    // way the refusal must be in the log (checked below).
    let huge = member
        .post(url("vote"))
        .header(RAFT.header, RAFT.version)
        .body(vec![0u8; 1024 * 1024])
        .send()
        .await;
    if let Ok(huge) = huge {
        assert_eq!(huge.status(), 413);
    }
    // A new connection: the server may close the one whose body it refused unread.
    let member = client_with(
        &cluster,
        &pki.node_cert(REGION, 3),
        &pki.node_key(REGION, 3),
    );
    let garbage = member
        .post(url("vote"))
        .header(RAFT.header, RAFT.version)
        .body(vec![0xffu8; 16])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    // A member of another Raft wire version (or of a release before versions) is refused
    // before its body is read, with both versions named.
    for (sent, named) in [
        (Some("7"), "Raft wire version 7"),
        (None, "no Raft wire version"),
    ] {
        let mut request = member.post(url("vote")).body(vec![0xffu8; 16]);
        if let Some(version) = sent {
            request = request.header(RAFT.header, version);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 409);
        assert_eq!(
            answer.headers()[RAFT.header].to_str().unwrap(),
            RAFT.version.to_string()
        );
        let why = answer.text().await.unwrap();
        assert!(
            why.contains(named) && why.contains(&RAFT.version.to_string()),
            "{why}"
        );
    }

    // 5. Revoke node 3 while node 1 runs: its requests are refused from then on.
    std::fs::write(pki.deny_list(), format!("{REGION}/3\n")).unwrap();
    eventually(Duration::from_secs(10), "node 3 is refused", || async {
        let answer = member
            .post(url("vote"))
            .header(RAFT.header, RAFT.version)
            .body(vec![0xffu8; 16])
            .send()
            .await;
        answer.is_ok_and(|a| a.status() == 403)
    })
    .await;
    let answer = member
        .post(url("vote"))
        .body(vec![0xffu8; 16])
        .send()
        .await
        .unwrap();
    assert!(answer.text().await.unwrap().contains("revoked"));

    // Nodes 1 and 2 still form a majority and serve.
    let key = trent_tests::new_key(&cluster.client(0)).await;
    assert!(cluster
        .client(1)
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .is_ok());

    let log = cluster.log(0);
    for expected in [
        "TLS handshake failed",
        "the certificate is not of this region",
        "the operator certificate may only read /raft/status",
        "body over the endpoint's limit",
        "the node is revoked (deny-list)",
        "reloaded the deny-list",
    ] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }
    assert!(!log.contains("panicked"), "{log}");
}

/// Without `[raft_tls]` a node refuses to start unless plain HTTP is asked for explicitly, and
/// then it warns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_raft_must_be_asked_for_and_warns() {
    let options = trent_tests::ClusterOptions {
        nodes: 1,
        raft_tls: false,
        ..trent_tests::ClusterOptions::default()
    };
    let mut cluster = Cluster::start_with(options).await;
    assert!(cluster.log(0).contains("insecure_plaintext_raft = true"));
    cluster.kill(0);
    let config = std::fs::read_to_string(cluster.config_path(0)).unwrap();
    let without_flag = config.replace("insecure_plaintext_raft = true\n", "");
    assert_ne!(config, without_flag);
    std::fs::write(cluster.config_path(0), without_flag).unwrap();
    let out = std::process::Command::new(trent_tests::trent_binary())
        .args(["serve", "--config"])
        .arg(cluster.config_path(0))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[raft_tls]"), "{stderr}");
}

/// A peer region holding a valid link certificate (a node certificate of us-west-2 from the
/// deployment's CA) cannot act as a principal of us-east-1: a claimed access key id, a request
/// signed with the wrong secret, an unsigned one, a real signature past the clock-skew window
/// and one scoped to another region are each refused by us-east-1, which verifies the caller's
/// signature itself, and logged. A call a real caller signed for
/// us-east-1 and sent to us-west-2 is forwarded, verified and executed in us-east-1, and is in
/// us-east-1's audit trail with the forwarding region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_region_proves_nothing_on_a_callers_behalf() {
    const EAST: &str = "us-east-1";
    const WEST: &str = "us-west-2";
    let regions = trent_tests::Regions::start(&[EAST, WEST], 1).await;
    let (east, west) = (regions.region(0), regions.region(1));

    // The honest path: signed for us-east-1, sent to us-west-2's node, run in us-east-1.
    let via_west = west.client_in(0, EAST);
    let created = via_west.create_key().send().await.unwrap();
    let key = created.key_metadata.unwrap().key_id;
    assert!(east
        .client(0)
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .is_ok());
    let east_audit = east.data_dir(0).join("audit.jsonl");
    eventually(
        Duration::from_secs(10),
        "the forwarded CreateKey is in us-east-1's audit trail with its forwarder",
        || async {
            std::fs::read_to_string(&east_audit)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .any(|e| {
                    e["eventName"] == "CreateKey"
                        && e["errorCode"].is_null()
                        && e["additionalEventData"]["forwardedBy"]["region"] == WEST
                        && e["userIdentity"]["accessKeyId"] == trent_tests::ACCESS_KEY
                })
        },
    )
    .await;

    // The attacker: us-west-2's node certificate, straight to us-east-1's link listener.
    let pki = kms_config::Topology::pki_layout_of(&east.pki_dir());
    let identity = kms_config::LinkIdentity::load(
        &east.ca_path(),
        &pki.node_cert(WEST, 1),
        &pki.node_key(WEST, 1),
    )
    .unwrap();
    let link = kms_config::client_for_region(&identity, EAST).unwrap();
    let url = format!(
        "https://{}/link/v1/kms",
        east.nodes[0].link_addr.as_ref().unwrap()
    );
    let keys_before = east
        .client(0)
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys()
        .len();

    // 1. The old claim: "this is ACCESS_KEY calling" with nothing to prove it.
    let claim = serde_json::json!({
        "operation": "CreateKey",
        "access_key_id": trent_tests::ACCESS_KEY,
        "session_token": null,
        "request_id": "attacker-1",
        "body": "{}",
        "source_ip": "127.0.0.1",
        "secure_transport": true,
    });
    let answer = link
        .post(&url)
        .header(LINK.header, LINK.version)
        .body(claim.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    // Without the link wire version (a release before versions) it is refused unread.
    let unversioned = link
        .post(&url)
        .body(claim.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unversioned.status(), 409);
    assert!(unversioned
        .text()
        .await
        .unwrap()
        .contains("no link wire version"));

    // 2. A request in the caller's name signed with a secret that is not the caller's, and
    // 3. the same request unsigned.
    let host = east.nodes[0].api_addr.clone();
    let target = "TrentService.CreateKey";
    let body = b"{}";
    let forged = kms_api::sigv4::sign_kms_call(
        &host,
        target,
        body,
        (trent_tests::ACCESS_KEY, "not-the-callers-secret"),
        EAST,
        time::OffsetDateTime::now_utc(),
    );
    let forwarded = |signed: Option<&kms_api::sigv4::SignedHeaders>, id: &str| {
        let mut headers = vec![
            ("host".to_string(), host.clone()),
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            ("x-amz-target".to_string(), target.to_string()),
        ];
        if let Some(signed) = signed {
            headers.push(("authorization".into(), signed.authorization.clone()));
            headers.push(("x-amz-date".into(), signed.x_amz_date.clone()));
        }
        serde_json::json!({
            "request_id": id,
            "method": "POST",
            "uri": "/",
            "headers": headers,
            "body_hex": "7b7d",
        })
    };
    // 4. A request the caller really signed, but 20 minutes ago (outside the 15-minute window
    //    of us-east-1's clock), and 5. one the caller signed for us-west-2, not us-east-1.
    let real = (trent_tests::ACCESS_KEY, trent_tests::SECRET_KEY);
    let stale = kms_api::sigv4::sign_kms_call(
        &host,
        target,
        body,
        real,
        EAST,
        time::OffsetDateTime::now_utc() - time::Duration::minutes(20),
    );
    let for_west = kms_api::sigv4::sign_kms_call(
        &host,
        target,
        body,
        real,
        WEST,
        time::OffsetDateTime::now_utc(),
    );
    for (call, expected) in [
        (forwarded(Some(&forged), "attacker-2"), "does not match"),
        (forwarded(None, "attacker-3"), "MissingAuthenticationToken"),
        (forwarded(Some(&stale), "attacker-4"), "Signature expired"),
        (forwarded(Some(&for_west), "attacker-5"), "valid region"),
    ] {
        let answer = link
            .post(&url)
            .header(LINK.header, LINK.version)
            .body(call.to_string())
            .send()
            .await
            .unwrap();
        let text = answer.text().await.unwrap();
        assert!(text.contains("Err") && text.contains(expected), "{text}");
    }
    let keys_after = east
        .client(0)
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys()
        .len();
    assert_eq!(keys_before, keys_after, "an attacker's CreateKey ran");

    let log = east.log(0);
    for expected in [
        "refused a forwarded call that is not a signed request",
        "refused a forwarded call: the caller's signature does not verify in this region",
    ] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }
    eventually(
        Duration::from_secs(10),
        "the refused forwarded calls are in us-east-1's audit trail",
        || async {
            let trail = std::fs::read_to_string(&east_audit).unwrap_or_default();
            let refused: Vec<serde_json::Value> = trail
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|e| {
                    e["additionalEventData"]["forwardedBy"]["region"] == WEST
                        && e["userIdentity"].is_null()
                })
                .collect();
            refused.iter().any(|e| {
                e["requestID"] == "attacker-2" && e["errorCode"] == "InvalidSignatureException"
            }) && refused.iter().any(|e| {
                e["requestID"] == "attacker-3"
                    && e["errorCode"] == "MissingAuthenticationTokenException"
            })
        },
    )
    .await;
    assert!(!log.contains("panicked"), "{log}");
}
