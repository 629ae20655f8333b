//! The JSON 1.1 protocol and SigV4 front door of a real node: every malformed or unauthenticated
//! request gets an AWS-shaped error with the right status, never a panic or a hang.
#![allow(clippy::unwrap_used)]

use trent_tests::{raw_request, Cluster, ACCESS_KEY, SECRET_KEY};

const JSON: &str = "application/x-amz-json-1.1";

/// One malformed-request case: name, target, content type, body, signing credentials,
/// expected status and expected `__type`.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    &'a str,
    Vec<u8>,
    Option<(&'a str, &'a str)>,
    u16,
    &'a str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unauthenticated_requests_get_aws_errors() {
    let cluster = Cluster::start_with(trent_tests::ClusterOptions {
        nodes: 1,
        ..Default::default()
    })
    .await;
    let addr = cluster.nodes[0].api_addr.clone();
    let creds = Some((ACCESS_KEY, SECRET_KEY));
    let cases: Vec<Case> = vec![
        (
            "no auth",
            Some("TrentService.ListKeys"),
            JSON,
            b"{}".to_vec(),
            None,
            403,
            "MissingAuthenticationTokenException",
        ),
        (
            "unknown key",
            Some("TrentService.ListKeys"),
            JSON,
            b"{}".to_vec(),
            Some(("AKIAUNKNOWN", "x")),
            400,
            "UnrecognizedClientException",
        ),
        (
            "bad secret",
            Some("TrentService.ListKeys"),
            JSON,
            b"{}".to_vec(),
            Some((ACCESS_KEY, "wrong")),
            400,
            "InvalidSignatureException",
        ),
        (
            "unknown op",
            Some("TrentService.Frobnicate"),
            JSON,
            b"{}".to_vec(),
            creds,
            400,
            "UnknownOperationException",
        ),
        (
            "no target",
            None,
            JSON,
            b"{}".to_vec(),
            creds,
            400,
            "UnknownOperationException",
        ),
        (
            "bad json",
            Some("TrentService.CreateKey"),
            JSON,
            b"{not json".to_vec(),
            creds,
            400,
            "SerializationException",
        ),
        (
            "array body",
            Some("TrentService.CreateKey"),
            JSON,
            b"[1,2]".to_vec(),
            creds,
            400,
            "SerializationException",
        ),
        (
            "wrong type",
            Some("TrentService.ListKeys"),
            JSON,
            br#"{"Limit":"ten"}"#.to_vec(),
            creds,
            400,
            "SerializationException",
        ),
        (
            "bad base64",
            Some("TrentService.Decrypt"),
            JSON,
            br#"{"CiphertextBlob":"!!!"}"#.to_vec(),
            creds,
            400,
            "SerializationException",
        ),
        (
            "missing member",
            Some("TrentService.DescribeKey"),
            JSON,
            b"{}".to_vec(),
            creds,
            400,
            "ValidationException",
        ),
        (
            "bad enum",
            Some("TrentService.CreateKey"),
            JSON,
            br#"{"KeySpec":"AES"}"#.to_vec(),
            creds,
            400,
            "ValidationException",
        ),
        (
            "a custom key store needs a name",
            Some("TrentService.CreateCustomKeyStore"),
            JSON,
            b"{}".to_vec(),
            creds,
            400,
            "ValidationException",
        ),
    ];
    for (name, target, content_type, body, sign, status, error) in cases {
        let (got_status, got) = raw_request(&addr, target, content_type, &body, sign).await;
        assert_eq!(got["__type"], error, "{name}: {got}");
        assert_eq!(got_status, status, "{name}: {got}");
        assert!(got["message"].is_string(), "{name}: {got}");
    }

    // An oversize body is refused from its Content-Length before it is read: the client gets a
    // 413 or, if it insists on writing the body, a closed connection. Never a buffered body.
    let oversize = vec![b' '; 2 * 1024 * 1024];
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/"))
        .header("content-type", JSON)
        .header("x-amz-target", "TrentService.ListKeys")
        .body(oversize)
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status().as_u16(), 413),
        Err(e) => assert!(e.is_request(), "unexpected error {e}"),
    }

    // The node is still healthy and never panicked.
    let (status, _) = raw_request(&addr, Some("TrentService.ListKeys"), JSON, b"{}", creds).await;
    assert_eq!(status, 200);
    assert!(!cluster.log(0).contains("panicked"), "{}", cluster.log(0));
}
