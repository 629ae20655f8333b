//! The console's calls, made as the session's principal: KMS JSON 1.1 requests signed with SigV4
//! and sent to a node's API (its own, or another region's for a multi-Region key), so policies
//! and grants decide and the audit trail records them; and STS AssumeRole for a role sign-in.

use serde_json::Value;

use crate::session::Credentials;

/// AWS's answer to a refused call: its `__type` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The error's `__type`, e.g. `AccessDeniedException`.
    pub kind: String,
    /// The error's message.
    pub message: String,
}

/// `endpoint` (`host:port` or `http(s)://host:port`) as (base URL, host).
fn split_endpoint(endpoint: &str) -> (String, String) {
    let endpoint = endpoint.trim_end_matches('/');
    match endpoint.split_once("://") {
        Some((_, host)) => (endpoint.to_string(), host.to_string()),
        None => (format!("http://{endpoint}"), endpoint.to_string()),
    }
}

fn unreachable(e: reqwest::Error) -> AwsError {
    AwsError {
        kind: "ConsoleConnectionError".into(),
        message: format!("the node's API did not answer: {e}"),
    }
}

/// Calls `operation` (e.g. `CreateKey`) at `endpoint` with `body` as `credentials`.
pub async fn call(
    http: &reqwest::Client,
    endpoint: &str,
    credentials: &Credentials,
    operation: &str,
    body: &Value,
) -> Result<Value, AwsError> {
    let (url, host) = split_endpoint(endpoint);
    let target = format!("TrentService.{operation}");
    let bytes = body.to_string().into_bytes();
    let signed = kms_api::sigv4::sign_kms_call(
        &host,
        &target,
        &bytes,
        (&credentials.access_key_id, &credentials.secret),
        &credentials.region,
        time::OffsetDateTime::now_utc(),
    );
    let mut request = http
        .post(format!("{url}/"))
        .header("content-type", kms_api::JSON_CONTENT_TYPE)
        .header("x-amz-target", target)
        .header("x-amz-date", signed.x_amz_date)
        .header("authorization", signed.authorization);
    if let Some(token) = &credentials.session_token {
        request = request.header("x-amz-security-token", token);
    }
    let response = request.body(bytes).send().await.map_err(unreachable)?;
    let ok = response.status().is_success();
    let text = response.text().await.unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if ok {
        return Ok(value);
    }
    let kind = value["__type"].as_str().unwrap_or("UnknownError");
    let kind = kind.rsplit('#').next().unwrap_or(kind).to_string();
    let message = value["message"]
        .as_str()
        .or_else(|| value["Message"].as_str())
        .unwrap_or("")
        .to_string();
    Err(AwsError { kind, message })
}

/// The text of the first `<tag>...</tag>` in `xml`, unescaped.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// STS AssumeRole of `role_arn` at `endpoint` as `credentials`: the role session's temporary
/// credentials, for the same region.
pub async fn assume_role(
    http: &reqwest::Client,
    endpoint: &str,
    credentials: &Credentials,
    role_arn: &str,
) -> Result<Credentials, AwsError> {
    let (url, host) = split_endpoint(endpoint);
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRole")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", role_arn)
        .append_pair("RoleSessionName", "trent-console")
        .finish();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let headers = [("host", host.as_str()), ("content-type", content_type)];
    let input = kms_api::sigv4::SigningInput {
        method: "POST",
        uri: "/",
        headers: &headers,
        body: body.as_bytes(),
    };
    let signed = kms_api::sigv4::sign(
        &input,
        (&credentials.access_key_id, &credentials.secret),
        &credentials.region,
        "sts",
        time::OffsetDateTime::now_utc(),
    );
    let response = http
        .post(format!("{url}/"))
        .header("content-type", content_type)
        .header("x-amz-date", signed.x_amz_date)
        .header("authorization", signed.authorization)
        .body(body)
        .send()
        .await
        .map_err(unreachable)?;
    let ok = response.status().is_success();
    let xml = response.text().await.unwrap_or_default();
    if !ok {
        return Err(AwsError {
            kind: xml_text(&xml, "Code").unwrap_or_else(|| "UnknownError".into()),
            message: xml_text(&xml, "Message").unwrap_or_default(),
        });
    }
    let field = |tag: &str| {
        xml_text(&xml, tag).ok_or_else(|| AwsError {
            kind: "ConsoleProtocolError".into(),
            message: format!("AssumeRole answered without {tag}"),
        })
    };
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret: field("SecretAccessKey")?,
        region: credentials.region.clone(),
        session_token: Some(field("SessionToken")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_with_and_without_a_scheme() {
        assert_eq!(
            split_endpoint("127.0.0.1:8100"),
            ("http://127.0.0.1:8100".into(), "127.0.0.1:8100".into())
        );
        assert_eq!(
            split_endpoint("https://127.0.0.2:8110/"),
            ("https://127.0.0.2:8110".into(), "127.0.0.2:8110".into())
        );
    }

    #[test]
    fn xml_fields_are_found_and_unescaped() {
        let xml = "<R><Credentials><AccessKeyId>ASIA1</AccessKeyId>\
                   <SessionToken>a&amp;b</SessionToken></Credentials></R>";
        assert_eq!(xml_text(xml, "AccessKeyId").as_deref(), Some("ASIA1"));
        assert_eq!(xml_text(xml, "SessionToken").as_deref(), Some("a&b"));
        assert_eq!(xml_text(xml, "Code"), None);
    }
}
