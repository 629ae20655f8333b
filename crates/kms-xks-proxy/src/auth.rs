//! SigV4 authentication of a request to one store: the signature is checked with
//! `kms_api::sigv4::verify_for_service` for service `kms-xks-proxy` against the store's one or
//! two credentials and accepted regions (any region when the store names none), and
//! `X-Amz-Date` must be within 5 minutes of the proxy's clock either way. Every failure is
//! AuthenticationFailedException (HTTP 401).

use std::collections::HashMap;

use axum::http::{HeaderMap, Uri};
use kms_api::sigv4::{verify_for_service, CredentialStore};
use kms_keystore::xks_api::ErrorName;
use kms_keystore::xks_client::SIGV4_SERVICE;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};
use zeroize::Zeroizing;

use crate::config::Store;
use crate::failure::Failure;

/// How far `X-Amz-Date` may be from the proxy's clock.
pub const MAX_SKEW: Duration = Duration::minutes(5);

/// The access key id of a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Which of the store's credentials signed it.
    pub access_key_id: String,
}

struct Credentials<'a>(&'a HashMap<String, Zeroizing<String>>);

impl CredentialStore for Credentials<'_> {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.0.get(access_key_id).map(|s| s.to_string())
    }
}

/// Verifies the SigV4 signature of a request to `store` at `now`.
pub fn authenticate(
    store: &Store,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Authenticated, Failure> {
    let fail = |message: String| Failure::new(ErrorName::AuthenticationFailed, message);
    let regions = match &store.regions {
        Some(regions) => regions.clone(),
        // Any region: the one the request is scoped to (checked for shape by the verifier).
        None => scope_region(headers).into_iter().collect(),
    };
    let principal = verify_for_service(
        method,
        uri,
        headers,
        body,
        &Credentials(&store.credentials),
        &regions,
        now,
        SIGV4_SERVICE,
    )
    .map_err(|e| fail(e.to_string()))?;
    // The verifier allows AWS's 15 minutes; the XKS spec wants 5.
    let date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_amz_date)
        .ok_or_else(|| fail("X-Amz-Date is not YYYYMMDDTHHMMSSZ".to_string()))?;
    if date < now - MAX_SKEW || date > now + MAX_SKEW {
        return Err(fail(
            "X-Amz-Date is more than 5 minutes away from the proxy's clock".to_string(),
        ));
    }
    Ok(Authenticated {
        access_key_id: principal.access_key_id,
    })
}

/// The region of the `Authorization` header's credential scope, if it has one.
fn scope_region(headers: &HeaderMap) -> Option<String> {
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let credential = auth
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    let region = credential.split('/').nth(2)?;
    (!region.is_empty()).then(|| region.to_string())
}

fn parse_amz_date(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::HeaderValue;
    use kms_api::sigv4::{sign, SigningInput};

    use super::*;
    use crate::config::tests::{AKID, SECRET};
    use crate::policy::Policy;

    const PATH: &str = "/example/prefix/kms/xks/v1/health";

    fn store(regions: Option<Vec<String>>) -> Store {
        Store {
            uri_path: "/example/prefix/kms/xks/v1".into(),
            regions,
            credentials: [
                (AKID.to_string(), Zeroizing::new(SECRET.to_string())),
                (
                    "NEWKEY2SFODNN7EXAMPLE".to_string(),
                    Zeroizing::new("b".repeat(43)),
                ),
            ]
            .into(),
            keys: Default::default(),
            policy: Policy::default(),
        }
    }

    fn signed(
        akid: &str,
        secret: &str,
        region: &str,
        service: &str,
        at: OffsetDateTime,
        body: &[u8],
    ) -> HeaderMap {
        let signature = sign(
            &SigningInput {
                method: "POST",
                uri: PATH,
                headers: &[("host", "xks.example.com")],
                body,
            },
            (akid, secret),
            region,
            service,
            at,
        );
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("xks.example.com"));
        headers.insert(
            "x-amz-date",
            HeaderValue::from_str(&signature.x_amz_date).unwrap(),
        );
        headers.insert(
            "authorization",
            HeaderValue::from_str(&signature.authorization).unwrap(),
        );
        headers
    }

    fn check(
        store: &Store,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Authenticated, Failure> {
        authenticate(store, "POST", &PATH.parse().unwrap(), headers, body, now)
    }

    #[test]
    fn either_credential_signs_in_any_region_unless_restricted() {
        let now = OffsetDateTime::now_utc();
        let body = br#"{"requestMetadata":{}}"#;
        let any = store(None);
        let h = signed(AKID, SECRET, "eu-west-1", SIGV4_SERVICE, now, body);
        assert_eq!(check(&any, &h, body, now).unwrap().access_key_id, AKID);
        let second = "b".repeat(43);
        let h = signed(
            "NEWKEY2SFODNN7EXAMPLE",
            &second,
            "us-east-1",
            SIGV4_SERVICE,
            now,
            body,
        );
        assert!(check(&any, &h, body, now).is_ok());
        let restricted = store(Some(vec!["us-east-1".into()]));
        let h = signed(AKID, SECRET, "eu-west-1", SIGV4_SERVICE, now, body);
        assert!(check(&restricted, &h, body, now).is_err());
    }

    #[test]
    fn every_failure_is_authentication_failed() {
        let now = OffsetDateTime::now_utc();
        let body = br#"{"requestMetadata":{}}"#;
        let s = store(None);
        let cases = [
            (
                "wrong secret",
                signed(AKID, &"x".repeat(43), "us-east-1", SIGV4_SERVICE, now, body),
                &body[..],
            ),
            (
                "unknown key",
                signed(
                    "UNKNOWN2SFODNN7EXAMPLE",
                    SECRET,
                    "us-east-1",
                    SIGV4_SERVICE,
                    now,
                    body,
                ),
                &body[..],
            ),
            (
                "other service",
                signed(AKID, SECRET, "us-east-1", "kms", now, body),
                &body[..],
            ),
            (
                "altered body",
                signed(AKID, SECRET, "us-east-1", SIGV4_SERVICE, now, body),
                &b"{}"[..],
            ),
            (
                "six minutes old",
                signed(
                    AKID,
                    SECRET,
                    "us-east-1",
                    SIGV4_SERVICE,
                    now - Duration::minutes(6),
                    body,
                ),
                &body[..],
            ),
            (
                "six minutes ahead",
                signed(
                    AKID,
                    SECRET,
                    "us-east-1",
                    SIGV4_SERVICE,
                    now + Duration::minutes(6),
                    body,
                ),
                &body[..],
            ),
            ("unsigned", HeaderMap::new(), &body[..]),
        ];
        for (what, headers, sent) in cases {
            let failure = check(&s, &headers, sent, now).unwrap_err();
            assert_eq!(failure.name, ErrorName::AuthenticationFailed, "{what}");
        }
        // Four minutes of skew is fine.
        let h = signed(
            AKID,
            SECRET,
            "us-east-1",
            SIGV4_SERVICE,
            now - Duration::minutes(4),
            body,
        );
        assert!(check(&s, &h, body, now).is_ok());
    }
}
