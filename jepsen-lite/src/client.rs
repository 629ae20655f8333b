//! A raw AWS JSON 1.1 client for one Trent node: `POST /` with `X-Amz-Target:
//! TrentService.<Op>`, SigV4-signed with [`kms_api::sigv4::sign`] (the public protocol's signer),
//! a per-request deadline, a fresh TCP connection per request and **no retries**.
//!
//! [`Reply`] is what came back on the wire; [`classify_error`] turns it into a Jepsen completion:
//! `200` is ok, a 4xx carrying a JSON `__type` is a definite fail, and a timeout or lost
//! connection after sending, or a 5xx (`KMSInternalException`, `DependencyTimeoutException`, ...)
//! is `info` for a mutation (it may still take effect) and `fail` for a read (reads have no
//! effect). A refused connection means nothing was sent, so it is a definite fail either way.

use serde_json::Value;
use std::time::Duration;

/// The region the harness's nodes serve (the first region with `--regions 2`).
pub const REGION: &str = "us-east-1";
/// The second region of `--regions 2`.
pub const WEST_REGION: &str = "us-west-2";
/// Every region the harness can start, in order (`--regions N` starts the first N).
pub const REGIONS: [&str; 2] = [REGION, WEST_REGION];
/// The account the harness's nodes use.
pub const ACCOUNT: &str = "111122223333";
/// The access key the harness signs with (written into every node's config).
pub const ACCESS_KEY: &str = "AKIAJEPSENLITE000001";
/// Its secret.
pub const SECRET_KEY: &str = "jepsen-lite-secret";

/// `error` of a request that could not connect (nothing was sent).
pub const ERR_CONNECT: &str = "jl:connect";
/// `error` of a request whose deadline passed after it was sent.
pub const ERR_TIMEOUT: &str = "jl:timeout";
/// `error` of a request that failed some other way after it may have been sent.
pub const ERR_TRANSPORT: &str = "jl:transport";
/// `error` of a 200 whose body was not the JSON the operation returns.
pub const ERR_BAD_RESPONSE: &str = "jl:bad-response";

/// What one request produced on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// HTTP 200 and its JSON body (`Null` for an empty body).
    Ok(Value),
    /// An HTTP error status with the AWS `__type` (or `HTTP<status>` if the body had none).
    Error {
        /// The HTTP status.
        status: u16,
        /// The error type, namespace prefix removed.
        error: String,
    },
    /// No HTTP response.
    Transport {
        /// Whether the request may have reached the server (false only for a refused connect).
        sent: bool,
        /// [`ERR_CONNECT`], [`ERR_TIMEOUT`] or [`ERR_TRANSPORT`].
        error: &'static str,
    },
}

/// A Jepsen completion for one operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Happened; the value is the observed output.
    Ok(Value),
    /// Definitely did not happen; the error code.
    Fail(String),
    /// Unknown whether it happened; the error code.
    Info(String),
}

/// Classifies a non-200 reply of an operation (`mutation` = it changes state).
pub fn classify_error(reply: &Reply, mutation: bool) -> Completion {
    match reply {
        Reply::Ok(_) => Completion::Fail(ERR_BAD_RESPONSE.to_string()),
        Reply::Error { status, error } if *status < 500 => Completion::Fail(error.clone()),
        Reply::Error { error, .. } => indefinite(error, mutation),
        Reply::Transport { sent: false, error } => Completion::Fail((*error).to_string()),
        Reply::Transport { sent: true, error } => indefinite(error, mutation),
    }
}

fn indefinite(error: &str, mutation: bool) -> Completion {
    if mutation {
        Completion::Info(error.to_string())
    } else {
        Completion::Fail(error.to_string())
    }
}

/// A client for one node.
#[derive(Debug, Clone)]
pub struct KmsClient {
    http: reqwest::Client,
    addr: String,
    timeout: Duration,
    region: String,
}

impl KmsClient {
    /// A client for the node whose API listens on `addr` (`host:port`), signing for [`REGION`].
    /// Refuses any address that is not loopback or one jepsen-lite assigned (`topology`).
    pub fn new(addr: &str, timeout: Duration) -> anyhow::Result<KmsClient> {
        KmsClient::in_region(addr, timeout, REGION)
    }

    /// A client for the node at `addr` whose requests are signed for `region` (a node runs a
    /// request in the region its SigV4 credential scope names).
    pub fn in_region(addr: &str, timeout: Duration, region: &str) -> anyhow::Result<KmsClient> {
        crate::topology::check_target(addr)?;
        let http = reqwest::Client::builder()
            // Test traffic goes straight to the nodes, never through an HTTP proxy.
            .no_proxy()
            // A fresh connection per request: a refused connect then reliably means "not sent",
            // and no request is ever written to a socket of a process that was killed meanwhile.
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(KmsClient {
            http,
            addr: addr.to_string(),
            timeout,
            region: region.to_string(),
        })
    }

    /// The region this client signs for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The per-request deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same client with another per-request deadline.
    pub fn with_timeout(&self, timeout: Duration) -> KmsClient {
        KmsClient {
            timeout,
            ..self.clone()
        }
    }

    /// Sends `TrentService.<operation>` with `body` and returns what came back.
    pub async fn call(&self, operation: &str, body: &Value) -> Reply {
        let content_type = "application/x-amz-json-1.1";
        let target = format!("TrentService.{operation}");
        let body = body.to_string().into_bytes();
        let signed = kms_api::sigv4::sign_kms_call(
            &self.addr,
            &target,
            &body,
            (ACCESS_KEY, SECRET_KEY),
            &self.region,
            time::OffsetDateTime::now_utc(),
        );
        let request = self
            .http
            .post(format!("http://{}/", self.addr))
            .header("content-type", content_type)
            .header("x-amz-target", &target)
            .header("x-amz-date", signed.x_amz_date)
            .header("authorization", signed.authorization)
            .timeout(self.timeout)
            .body(body);
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return transport(&e),
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return transport(&e),
        };
        let json: Option<Value> = if bytes.is_empty() {
            Some(Value::Null)
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        if status == 200 {
            return match json {
                Some(value) => Reply::Ok(value),
                None => Reply::Error {
                    status,
                    error: ERR_BAD_RESPONSE.to_string(),
                },
            };
        }
        let error = json
            .as_ref()
            .and_then(|v| v.get("__type"))
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
            .unwrap_or_else(|| format!("HTTP{status}"));
        Reply::Error { status, error }
    }
}

fn transport(e: &reqwest::Error) -> Reply {
    if e.is_connect() && !e.is_timeout() {
        Reply::Transport {
            sent: false,
            error: ERR_CONNECT,
        }
    } else if e.is_timeout() {
        Reply::Transport {
            sent: true,
            error: ERR_TIMEOUT,
        }
    } else {
        Reply::Transport {
            sent: true,
            error: ERR_TRANSPORT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_jepsen_rules() {
        let not_found = Reply::Error {
            status: 400,
            error: "NotFoundException".into(),
        };
        assert_eq!(
            classify_error(&not_found, true),
            Completion::Fail("NotFoundException".into())
        );
        let internal = Reply::Error {
            status: 503,
            error: "DependencyTimeoutException".into(),
        };
        assert_eq!(
            classify_error(&internal, true),
            Completion::Info("DependencyTimeoutException".into())
        );
        assert_eq!(
            classify_error(&internal, false),
            Completion::Fail("DependencyTimeoutException".into())
        );
        let refused = Reply::Transport {
            sent: false,
            error: ERR_CONNECT,
        };
        assert_eq!(
            classify_error(&refused, true),
            Completion::Fail(ERR_CONNECT.into())
        );
        let timeout = Reply::Transport {
            sent: true,
            error: ERR_TIMEOUT,
        };
        assert_eq!(
            classify_error(&timeout, true),
            Completion::Info(ERR_TIMEOUT.into())
        );
        assert_eq!(
            classify_error(&timeout, false),
            Completion::Fail(ERR_TIMEOUT.into())
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_sent() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let client = KmsClient::new(&format!("127.0.0.1:{port}"), Duration::from_secs(2)).unwrap();
        assert_eq!(
            client.call("ListKeys", &serde_json::json!({})).await,
            Reply::Transport {
                sent: false,
                error: ERR_CONNECT
            }
        );
    }
}
