//! SigV4 tests: vectors from the AWS SigV4 test suite, sign/verify round trips, and every
//! verifier error path.

use super::*;
use axum::http::{HeaderName, HeaderValue, Request};
use time::macros::datetime;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_TIME: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);

fn store() -> HashMap<String, String> {
    HashMap::from([(AKID.to_string(), SECRET.to_string())])
}

fn regions(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Verifies one test-suite request (already signed by AWS's reference signer).
fn verify_suite(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    region: &str,
    service: &str,
    now: OffsetDateTime,
) -> Result<Principal, KmsError> {
    verify_for_service(
        method,
        &uri.parse().unwrap(),
        &header_map(headers),
        body,
        &store(),
        &regions(&[region]),
        now,
        service,
    )
}

fn suite_auth(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders={signed_headers}, Signature={signature}"
    )
}

fn check_suite_get(uri: &str, extra: &[(&str, &str)], signed_headers: &str, signature: &str) {
    let auth = suite_auth(signed_headers, signature);
    let mut headers = vec![
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("Authorization", auth.as_str()),
    ];
    headers.extend_from_slice(extra);
    let principal = verify_suite(
        "GET",
        uri,
        &headers,
        b"",
        "us-east-1",
        "service",
        SUITE_TIME,
    )
    .unwrap_or_else(|e| panic!("{uri}: {e:?}"));
    let token = extra
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-security-token"))
        .map(|(_, value)| value.to_string());
    assert_eq!(
        principal,
        Principal {
            access_key_id: AKID.into(),
            region: "us-east-1".into(),
            session_token: token,
        }
    );
}

#[test]
fn sign_reproduces_get_vanilla() {
    let headers = [("Host", "example.amazonaws.com")];
    let input = SigningInput {
        method: "GET",
        uri: "/",
        headers: &headers,
        body: b"",
    };
    let signed = sign(&input, (AKID, SECRET), "us-east-1", "service", SUITE_TIME);
    assert_eq!(signed.x_amz_date, "20150830T123600Z");
    assert_eq!(
        signed.authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

#[test]
fn suite_get_vanilla() {
    check_suite_get(
        "/",
        &[],
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn suite_query_strings() {
    check_suite_get(
        "/?Param2=value2&Param1=value1",
        &[],
        "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    );
    check_suite_get(
        "/?Param1=value1",
        &[],
        "host;x-amz-date",
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    );
    check_suite_get(
        "/?%E1%88%B4=bar",
        &[],
        "host;x-amz-date",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    );
    check_suite_get(
        "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\
         =-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        &[],
        "host;x-amz-date",
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    );
}

#[test]
fn suite_paths() {
    check_suite_get(
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        &[],
        "host;x-amz-date",
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    );
    check_suite_get(
        "/example1/example2/../..",
        &[],
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
    check_suite_get(
        "/example/..",
        &[],
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
    check_suite_get(
        "/./",
        &[],
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
    assert_eq!(canonical_uri("//example//"), "/example/");
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/a/b/.."), "/a/");
    assert_eq!(canonical_uri("/a%20b/c"), "/a%2520b/c");
}

#[test]
fn suite_double_url_encoded_path() {
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20210511/us-east-2/lambda/aws4_request, \
                SignedHeaders=host;x-amz-date, \
                Signature=4b93abbcc68be32bd64c18e2c71150660ab4c29bbd6c32a383a7517a88fc1804";
    let principal = verify_suite(
        "POST",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A892717189312%3Afunction%3Amy-rusty-fun/invocations",
        &[
            ("Host", "lambda.us-east-2.amazonaws.com"),
            ("X-Amz-Date", "20210511T154045Z"),
            ("Authorization", auth),
        ],
        b"",
        "us-east-2",
        "lambda",
        datetime!(2021-05-11 15:40:45 UTC),
    )
    .unwrap();
    assert_eq!(principal.region, "us-east-2");
}

#[test]
fn suite_headers() {
    check_suite_get(
        "/",
        &[("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    );
    check_suite_get(
        "/",
        &[
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
        ],
        "host;my-header1;x-amz-date",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    );
    check_suite_get(
        "/",
        &[(
            "X-Amz-Security-Token",
            "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
        )],
        "host;x-amz-date;x-amz-security-token",
        "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    );
}

#[test]
fn suite_post_with_body_and_content_sha256() {
    let auth = suite_auth(
        "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
        "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
    );
    let sha = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Host", "example.amazonaws.com"),
        ("Content-Length", "13"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("x-amz-content-sha256", sha),
        ("Authorization", auth.as_str()),
    ];
    verify_suite(
        "POST",
        "/",
        &headers,
        b"Param1=value1",
        "us-east-1",
        "service",
        SUITE_TIME,
    )
    .unwrap();
    // A body that does not match x-amz-content-sha256 is refused before the signature check.
    let err = verify_suite(
        "POST",
        "/",
        &headers,
        b"Param1=value2",
        "us-east-1",
        "service",
        SUITE_TIME,
    )
    .unwrap_err();
    assert_eq!(
        err,
        KmsError::InvalidSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into()
        )
    );
}

#[test]
fn canonical_request_matches_suite_text() {
    let headers = vec![
        ("host".to_string(), "example.amazonaws.com".to_string()),
        ("my-header1".to_string(), " value1".to_string()),
        ("my-header2".to_string(), "\"a   b   c\"".to_string()),
        ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
    ];
    let signed = ["host", "my-header1", "my-header2", "x-amz-date"];
    let canonical = canonical_request(
        "GET",
        "/",
        "",
        &canonical_headers(&headers, &signed),
        &signed,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    assert_eq!(
        canonical,
        "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n\
         x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(canonical_query("b=2&a=2&a=1&c"), "a=1&a=2&b=2&c=");
    assert_eq!(canonical_query("k=a+b%20c%zz"), "k=a%2Bb%20c%25zz");
}

// ----- kms requests: round trip and error paths -----

const NOW: OffsetDateTime = datetime!(2024-05-01 12:00:00 UTC);
const KMS_REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const BODY: &[u8] = br#"{"KeyId":"alias/test"}"#;

/// A signed kms request; `edit` may change the headers after signing.
fn kms_parts(signed_at: OffsetDateTime, region: &str, edit: impl FnOnce(&mut HeaderMap)) -> Parts {
    let headers = [
        ("Host", "kms.us-east-1.amazonaws.com"),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("X-Amz-Target", "TrentService.DescribeKey"),
    ];
    let input = SigningInput {
        method: "POST",
        uri: "/",
        headers: &headers,
        body: BODY,
    };
    let signed = sign(&input, (AKID, SECRET), region, SERVICE, signed_at);
    let mut builder = Request::builder().method("POST").uri("/");
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let (mut parts, ()) = builder
        .header("Authorization", signed.authorization)
        .header("X-Amz-Date", signed.x_amz_date)
        .body(())
        .unwrap()
        .into_parts();
    edit(&mut parts.headers);
    parts
}

fn verify_kms(parts: &Parts, body: &[u8]) -> Result<Principal, KmsError> {
    verify(parts, body, &store(), &regions(&KMS_REGIONS), NOW)
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    headers.insert(name, HeaderValue::from_str(value).unwrap());
}

fn replace_auth(headers: &mut HeaderMap, from: &str, to: &str) {
    let auth = headers["authorization"].to_str().unwrap().replace(from, to);
    set(headers, "authorization", &auth);
}

fn incomplete(result: Result<Principal, KmsError>) -> String {
    match result {
        Err(KmsError::IncompleteSignature(message)) => message,
        other => panic!("expected IncompleteSignature, got {other:?}"),
    }
}

fn invalid(result: Result<Principal, KmsError>) -> String {
    match result {
        Err(KmsError::InvalidSignature(message)) => message,
        other => panic!("expected InvalidSignature, got {other:?}"),
    }
}

#[test]
fn sign_verify_round_trip() {
    let parts = kms_parts(NOW, "eu-west-1", |_| {});
    let auth = parts.headers["authorization"].to_str().unwrap();
    assert!(
        auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target,"),
        "{auth}"
    );
    assert_eq!(
        verify_kms(&parts, BODY).unwrap(),
        Principal {
            access_key_id: AKID.into(),
            region: "eu-west-1".into(),
            session_token: None,
        }
    );
    // Within the skew window either way.
    for skew in [Duration::minutes(-14), Duration::minutes(14)] {
        let parts = kms_parts(NOW + skew, "us-east-1", |_| {});
        verify_kms(&parts, BODY).unwrap();
    }
    // Unsigned extra headers and an unsigned security token are ignored.
    let parts = kms_parts(NOW, "us-east-1", |h| {
        set(h, "x-amz-security-token", "opaque-session-token");
        set(h, "user-agent", "test");
    });
    verify_kms(&parts, BODY).unwrap();
    // A matching x-amz-content-sha256 is fine.
    let sha = hex::encode(kms_crypto::sha256(BODY));
    let parts = kms_parts(NOW, "us-east-1", |h| set(h, "x-amz-content-sha256", &sha));
    verify_kms(&parts, BODY).unwrap();
}

#[test]
fn missing_authorization() {
    let parts = kms_parts(NOW, "us-east-1", |h| {
        h.remove("authorization");
    });
    assert_eq!(
        verify_kms(&parts, BODY),
        Err(KmsError::MissingAuthenticationToken(
            "Missing Authentication Token".into()
        ))
    );
}

#[test]
fn incomplete_authorization() {
    let message = incomplete(verify_kms(
        &kms_parts(NOW, "us-east-1", |h| {
            set(h, "authorization", "AWS4-HMAC-SHA256")
        }),
        BODY,
    ));
    assert!(
        message.contains("requires 'Credential' parameter"),
        "{message}"
    );
    assert!(
        message.contains("requires 'Signature' parameter"),
        "{message}"
    );
    assert!(
        message.contains("requires 'SignedHeaders' parameter"),
        "{message}"
    );

    for (part, name) in [
        ("Credential=", "Credential"),
        ("SignedHeaders=", "SignedHeaders"),
        ("Signature=", "Signature"),
    ] {
        let parts = kms_parts(NOW, "us-east-1", |h| replace_auth(h, part, "Other="));
        let message = incomplete(verify_kms(&parts, BODY));
        assert_eq!(
            message,
            format!("Authorization header requires '{name}' parameter.")
        );
    }

    let parts = kms_parts(NOW, "us-east-1", |h| {
        h.remove("x-amz-date");
    });
    let message = incomplete(verify_kms(&parts, BODY));
    assert!(message.contains("'X-Amz-Date'"), "{message}");

    let parts = kms_parts(NOW, "us-east-1", |h| {
        set(h, "x-amz-date", "2024-05-01T12:00:00Z")
    });
    let message = incomplete(verify_kms(&parts, BODY));
    assert!(
        message.starts_with("Date must be in ISO-8601 'basic format'"),
        "{message}"
    );
}

#[test]
fn bad_algorithm_and_scope_format() {
    let parts = kms_parts(NOW, "us-east-1", |h| {
        replace_auth(h, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")
    });
    let message = incomplete(verify_kms(&parts, BODY));
    assert!(message.contains("'AWS4-HMAC-SHA1'"), "{message}");

    let parts = kms_parts(NOW, "us-east-1", |h| {
        replace_auth(h, "/us-east-1/kms/", "/us-east-1/")
    });
    let message = incomplete(verify_kms(&parts, BODY));
    assert!(message.starts_with("Credential must have exactly 5 slash-delimited elements"));

    let parts = kms_parts(NOW, "us-east-1", |h| {
        replace_auth(h, "aws4_request", "aws5_request")
    });
    let message = incomplete(verify_kms(&parts, BODY));
    assert!(
        message.contains("'aws4_request', not 'aws5_request'"),
        "{message}"
    );
}

#[test]
fn host_must_be_signed() {
    let parts = kms_parts(NOW, "us-east-1", |h| {
        replace_auth(h, "content-type;host;x-amz-date", "content-type;x-amz-date")
    });
    assert_eq!(
        incomplete(verify_kms(&parts, BODY)),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
}

#[test]
fn unknown_access_key() {
    let parts = kms_parts(NOW, "us-east-1", |h| {
        replace_auth(h, "AKIDEXAMPLE/", "AKIDOTHER/")
    });
    assert_eq!(
        verify_kms(&parts, BODY),
        Err(KmsError::UnrecognizedClient(
            "The security token included in the request is invalid.".into()
        ))
    );
}

#[test]
fn wrong_service_region_or_date_in_scope() {
    let parts = kms_parts(NOW, "us-east-1", |h| replace_auth(h, "/kms/", "/s3/"));
    assert_eq!(
        invalid(verify_kms(&parts, BODY)),
        "Credential should be scoped to correct service: 'kms'. "
    );

    let parts = kms_parts(NOW, "ap-south-1", |_| {});
    assert_eq!(
        invalid(verify_kms(&parts, BODY)),
        "Credential should be scoped to a valid region. "
    );

    let parts = kms_parts(NOW, "us-east-1", |h| {
        replace_auth(h, "/20240501/", "/20240430/")
    });
    let message = invalid(verify_kms(&parts, BODY));
    assert!(
        message.starts_with("Date in Credential scope does not match"),
        "{message}"
    );
    assert!(message.contains("'20240430' != '20240501'"), "{message}");
}

#[test]
fn clock_skew() {
    let parts = kms_parts(NOW - Duration::minutes(16), "us-east-1", |_| {});
    assert_eq!(
        invalid(verify_kms(&parts, BODY)),
        "Signature expired: 20240501T114400Z is now earlier than 20240501T114500Z \
         (20240501T120000Z - 15 min.)"
    );
    let parts = kms_parts(NOW + Duration::minutes(16), "us-east-1", |_| {});
    assert_eq!(
        invalid(verify_kms(&parts, BODY)),
        "Signature not yet current: 20240501T121600Z is still later than 20240501T121500Z \
         (20240501T120000Z + 15 min.)"
    );
}

#[test]
fn signature_mismatch() {
    let mismatch = KmsError::InvalidSignature(SIGNATURE_MISMATCH.into());
    assert!(SIGNATURE_MISMATCH.starts_with(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    ));
    // Tampered body.
    let parts = kms_parts(NOW, "us-east-1", |_| {});
    assert_eq!(
        verify_kms(&parts, br#"{"KeyId":"alias/other"}"#),
        Err(mismatch.clone())
    );
    // Tampered signed header.
    let parts = kms_parts(NOW, "us-east-1", |h| {
        set(h, "x-amz-target", "TrentService.ScheduleKeyDeletion")
    });
    assert_eq!(verify_kms(&parts, BODY), Err(mismatch.clone()));
    // Wrong secret.
    let other: HashMap<String, String> =
        HashMap::from([(AKID.to_string(), "not-the-secret".to_string())]);
    let parts = kms_parts(NOW, "us-east-1", |_| {});
    assert_eq!(
        verify(&parts, BODY, &other, &regions(&KMS_REGIONS), NOW),
        Err(mismatch.clone())
    );
    // Tampered signature.
    let parts = kms_parts(NOW, "us-east-1", |h| {
        let auth = h["authorization"].to_str().unwrap().to_string();
        let (head, sig) = auth.split_at(auth.len() - 1);
        let last = if sig == "0" { "1" } else { "0" };
        set(h, "authorization", &format!("{head}{last}"));
    });
    assert_eq!(verify_kms(&parts, BODY), Err(mismatch));
    // A signed header that was removed.
    let parts = kms_parts(NOW, "us-east-1", |h| {
        h.remove("x-amz-target");
    });
    let message = invalid(verify_kms(&parts, BODY));
    assert!(message.contains("'x-amz-target'"), "{message}");
}

#[test]
fn content_sha256_mismatch() {
    let parts = kms_parts(NOW, "us-east-1", |h| {
        set(
            h,
            "x-amz-content-sha256",
            &hex::encode(kms_crypto::sha256(b"other")),
        )
    });
    let message = invalid(verify_kms(&parts, BODY));
    assert!(message.contains("x-amz-content-sha256"), "{message}");
}

#[test]
fn amz_date_format() {
    assert_eq!(format_amz_date(NOW), "20240501T120000Z");
    assert_eq!(parse_amz_date("20240501T120000Z"), Some(NOW));
    assert_eq!(parse_amz_date("20240501T120000"), None);
    assert_eq!(parse_amz_date("20241301T120000Z"), None);
}
