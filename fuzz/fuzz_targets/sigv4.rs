//! `kms_api::sigv4::verify` on fuzzed request heads and bodies. It must never panic, and:
//!
//! - Raw input (the text format of `trent_fuzz`): any `Ok` names the one known access key and
//!   region; any `Err` is an AWS-shaped error.
//! - `@sign [OFFSET_SECS] [REGION] [ACCESS_KEY_ID]` as the first line: the harness signs the
//!   request with `kms_api::sigv4::sign` (dated NOW + OFFSET, default 0) after removing any
//!   `Authorization`, `X-Amz-Date` and `X-Amz-Content-Sha256` lines, and expects `Ok` exactly
//!   when a `Host` header is present, |OFFSET| <= 900, and region and key are the accepted ones.
//!   A further `@tamper` line changes the body after signing: then `Err` is expected.
#![no_main]

use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::{HeaderName, HeaderValue};
use kms_api::sigv4::{self, SigningInput};
use kms_types::KmsError;
use libfuzzer_sys::fuzz_target;
use time::Duration;
use trent_fuzz::*;

fn check_error(error: &KmsError) {
    assert_aws_error_shape(error.aws_code(), &error.message());
    let status = error.http_status();
    assert!(
        status == 400 || status == 403,
        "auth error with status {status}: {error:?}"
    );
}

struct SignDirective<'a> {
    offset: i64,
    region: &'a str,
    akid: &'a str,
}

fn parse_sign_directive(directive: &[u8]) -> Option<SignDirective<'_>> {
    let text = std::str::from_utf8(directive.strip_prefix(b"sign")?).ok()?;
    let mut words = text.split(' ').filter(|w| !w.is_empty());
    let offset = match words.next() {
        Some(w) => w.parse::<i64>().ok()?.clamp(-1_000_000, 1_000_000),
        None => 0,
    };
    Some(SignDirective {
        offset,
        region: words.next().unwrap_or(REGION),
        akid: words.next().unwrap_or(AKID),
    })
}

fuzz_target!(|data: &[u8]| {
    let text = parse_text_request(data);
    let credentials = credentials();
    let regions = accepted_regions();
    let method = method_of(&text);
    let uri = uri_of(&text);
    let mut headers = headers_of(&text);

    let sign = text
        .directives
        .first()
        .and_then(|d| parse_sign_directive(d));
    let Some(sign) = sign else {
        // Raw: whatever the fuzzer wrote.
        let (parts, ()) = build_request(method, uri, &headers, ()).into_parts();
        match sigv4::verify(&parts, text.body, &credentials, &regions, NOW) {
            Ok(principal) => {
                assert_eq!(principal.access_key_id, AKID);
                assert_eq!(principal.region, REGION);
            }
            Err(error) => check_error(&error),
        }
        return;
    };

    // Signed by the harness.
    let tamper = text.directives.iter().any(|d| *d == b"tamper");
    let x_amz_date = HeaderName::from_static("x-amz-date");
    let content_sha = HeaderName::from_static("x-amz-content-sha256");
    headers
        .retain(|(name, _)| *name != AUTHORIZATION && *name != x_amz_date && *name != content_sha);
    let has_host = headers.iter().any(|(name, _)| *name == HOST);
    let owned: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let input = SigningInput {
        method: method.as_str(),
        uri: target,
        headers: &pairs,
        body: text.body,
    };
    let signed = sigv4::sign(
        &input,
        (sign.akid, SECRET),
        sign.region,
        sigv4::SERVICE,
        NOW + Duration::seconds(sign.offset),
    );
    let (Ok(authorization), Ok(date)) = (
        HeaderValue::from_str(&signed.authorization),
        HeaderValue::from_str(&signed.x_amz_date),
    ) else {
        return; // a region or key id no client could send
    };
    headers.push((AUTHORIZATION, authorization));
    headers.push((x_amz_date, date));
    let mut body = text.body.to_vec();
    if tamper {
        body.push(b'!');
    }
    let (parts, ()) = build_request(method, uri, &headers, ()).into_parts();
    let result = sigv4::verify(&parts, &body, &credentials, &regions, NOW);
    let expect_ok = has_host
        && sign.offset.abs() <= 900
        && sign.region == REGION
        && sign.akid == AKID
        && !tamper;
    match &result {
        Ok(principal) => {
            assert!(
                expect_ok,
                "verified a request that must fail: {principal:?}"
            );
            assert_eq!(principal.access_key_id, AKID);
            assert_eq!(principal.region, REGION);
        }
        Err(error) => {
            assert!(
                !expect_ok,
                "a correctly signed request was refused: {error:?}\nauthorization: {}",
                signed.authorization
            );
            check_error(error);
        }
    }
});
