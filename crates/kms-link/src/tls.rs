//! Mutual TLS between regions (rustls, with kms-crypto's provider): a region's [`LinkIdentity`], the
//! server side ([`server_config`], [`TlsListener`] for `axum::serve`, [`PeerInfo`] with the
//! verified peer region) and the client side ([`client_for_region`]).
//!
//! Both sides require a certificate chaining to the link CA. A region's identity is the first
//! DNS SAN of its certificate: the server reports it as [`PeerInfo::region`], and a client
//! accepts a server only if its certificate is valid for the region it meant to reach, whatever
//! host or IP address the URL names.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// How long an accepted connection may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect timeout of [`client_for_region`] clients.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Completed handshakes waiting for `axum::serve` to pick them up.
const ACCEPT_QUEUE: usize = 128;
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A region's credentials on the link: the CA certificate(s) it trusts, its certificate chain
/// and private key. `Debug` shows the certificate counts and region, never the key.
pub struct LinkIdentity {
    ca: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    region: Option<String>,
}

impl LinkIdentity {
    /// Loads PEM files: `ca_cert` (one or more CA certificates), `cert` (the region's
    /// certificate, optionally followed by intermediates) and `key` (its private key).
    pub fn load(ca_cert: &Path, cert: &Path, key: &Path) -> Result<Self> {
        let ca = load_certs(ca_cert)?;
        let chain = load_certs(cert)?;
        let key = load_key(key)?;
        let region = first_dns_name(&chain[0]);
        Ok(LinkIdentity {
            ca,
            chain,
            key,
            region,
        })
    }

    /// The region this identity names: the first DNS SAN of its certificate.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    fn roots(&self) -> Result<Arc<RootCertStore>> {
        let mut roots = RootCertStore::empty();
        for ca in &self.ca {
            roots
                .add(ca.clone())
                .map_err(Error::tls("invalid CA certificate for the link"))?;
        }
        Ok(Arc::new(roots))
    }
}

impl Clone for LinkIdentity {
    fn clone(&self) -> Self {
        LinkIdentity {
            ca: self.ca.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            region: self.region.clone(),
        }
    }
}

impl fmt::Debug for LinkIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkIdentity")
            .field("region", &self.region)
            .field("ca_certs", &self.ca.len())
            .field("chain_certs", &self.chain.len())
            .field("key", &"redacted")
            .finish()
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| Error::Pem {
            what: "certificates",
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| Error::Pem {
        what: "private key",
        path: path.to_path_buf(),
        source,
    })
}

/// The first DNS SAN of `cert`, if it parses.
fn first_dns_name(cert: &CertificateDer<'_>) -> Option<String> {
    let cert = webpki::EndEntityCert::try_from(cert).ok()?;
    cert.valid_dns_names().next().map(str::to_owned)
}

/// A TLS server configuration that requires a client certificate chaining to the identity's CA
/// and offers ALPN `http/1.1`.
pub fn server_config(identity: &LinkIdentity) -> Result<Arc<ServerConfig>> {
    let provider = kms_crypto::tls_provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(identity.roots()?, provider.clone())
        .build()
        .map_err(|source| Error::Verifier {
            side: "client",
            source,
        })?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::tls(
            "the TLS provider offers no safe protocol version",
        ))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(Error::tls("the link certificate does not match its key"))?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// A TLS server configuration for a public endpoint (the KMS API): the certificate chain and key
/// in the PEM files `cert` and `key`, no client certificate asked for, ALPN `http/1.1`.
pub fn api_server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let chain = load_certs(cert)?;
    let key = load_key(key)?;
    let mut config = ServerConfig::builder_with_provider(kms_crypto::tls_provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::tls(
            "the TLS provider offers no safe protocol version",
        ))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(Error::tls("the API certificate does not match its key"))?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// A `reqwest` client for talking to `region`: it presents `identity` as its client certificate
/// and accepts a server only if its certificate chains to the CA and is valid for the DNS name
/// `region`, whatever host or IP address the URL names. No proxies; connect timeout 2 s.
pub fn client_for_region(identity: &LinkIdentity, region: &str) -> Result<reqwest::Client> {
    let config = client_config(identity, region, true)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(CONNECT_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(Error::Client)
}

fn client_config(identity: &LinkIdentity, region: &str, client_auth: bool) -> Result<ClientConfig> {
    let provider = kms_crypto::tls_provider();
    let expected = ServerName::try_from(region.to_owned())
        .map_err(|_| Error::InvalidRegion(region.to_owned()))?;
    let inner = WebPkiServerVerifier::builder_with_provider(identity.roots()?, provider.clone())
        .build()
        .map_err(|source| Error::Verifier {
            side: "server",
            source,
        })?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::tls(
            "the TLS provider offers no safe protocol version",
        ))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RegionVerifier { inner, expected }));
    let mut config = if client_auth {
        builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(Error::tls("the link certificate does not match its key"))?
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

/// Checks the server certificate with webpki against the name of the region the client meant
/// to reach instead of the URL's host.
#[derive(Debug)]
struct RegionVerifier {
    inner: Arc<WebPkiServerVerifier>,
    expected: ServerName<'static>,
}

impl ServerCertVerifier for RegionVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(
            end_entity,
            intermediates,
            &self.expected,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The remote end of a link connection: its address and, once the TLS handshake verified its
/// client certificate, its region (the certificate's first DNS SAN). Handlers get it as
/// `ConnectInfo<PeerInfo>` with `router.into_make_service_with_connect_info::<PeerInfo>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's socket address (for [`Listener::local_addr`], the local one).
    pub addr: SocketAddr,
    /// The verified peer region; `None` only for a local address or a certificate without a
    /// DNS SAN.
    pub region: Option<String>,
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerInfo {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TLS listener for `axum::serve`. A background task accepts TCP connections and runs each
/// handshake in its own task (at most 5 s), so a slow or silent peer never holds up the others;
/// connections whose handshake fails (e.g. no or a foreign client certificate) are dropped and
/// never reach the server. Dropping the listener stops accepting.
pub struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, PeerInfo)>,
    accept_task: JoinHandle<()>,
}

impl TlsListener {
    /// Binds `addr` (e.g. `127.0.0.1:0`) and starts accepting with `config` (normally from
    /// [`server_config`]).
    pub async fn bind(addr: &str, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let tcp = TcpListener::bind(addr).await?;
        let local_addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(ACCEPT_QUEUE);
        let accept_task = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(TlsListener {
            local_addr,
            ready,
            accept_task,
        })
    }

    /// The address the listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = PeerInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task is gone (it only ends if the runtime shuts down): nothing will
            // ever connect again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(PeerInfo {
            addr: self.local_addr,
            region: None,
        })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, PeerInfo)>,
) {
    loop {
        let (stream, addr) = match tcp.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // As axum's own listener does: resource exhaustion (EMFILE etc.) is transient.
                tracing::warn!("link accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%addr, "link TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%addr, "link TLS handshake timed out");
                    return;
                }
            };
            let region = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(first_dns_name);
            let _ = tx.send((tls, PeerInfo { addr, region })).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::extract::{ConnectInfo, State};
    use axum::routing::get;
    use axum::Router;
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::pki::generate_local_pki;

    fn identity(dir: &Path, region: &str) -> LinkIdentity {
        LinkIdentity::load(
            &dir.join("ca.pem"),
            &dir.join(format!("{region}.pem")),
            &dir.join(format!("{region}.key")),
        )
        .unwrap()
    }

    struct Setup {
        _tmp: tempfile::TempDir,
        pki: PathBuf,
        foreign: PathBuf,
        base: String,
        hits: Arc<AtomicUsize>,
    }

    /// Two PKIs (the real one for a and b, a foreign one for b) and a server for region a
    /// whose `/peer` answers the caller's region.
    async fn setup() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let pki = tmp.path().join("pki");
        let foreign = tmp.path().join("foreign");
        generate_local_pki(&pki, &["a".to_owned(), "b".to_owned()]).unwrap();
        generate_local_pki(&foreign, &["b".to_owned()]).unwrap();

        let server = identity(&pki, "a");
        assert_eq!(server.region(), Some("a"));
        let listener = TlsListener::bind("127.0.0.1:0", server_config(&server).unwrap())
            .await
            .unwrap();
        let base = format!("https://127.0.0.1:{}", listener.addr().port());
        let hits = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route(
                "/peer",
                get(
                    |State(hits): State<Arc<AtomicUsize>>,
                     ConnectInfo(peer): ConnectInfo<PeerInfo>| async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        peer.region.unwrap_or_else(|| "none".to_owned())
                    },
                ),
            )
            .with_state(hits.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<PeerInfo>(),
            )
            .await
            .unwrap();
        });
        Setup {
            _tmp: tmp,
            pki,
            foreign,
            base,
            hits,
        }
    }

    async fn get_peer(client: &reqwest::Client, base: &str) -> reqwest::Result<String> {
        client
            .get(format!("{base}/peer"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await
    }

    /// Asserts the request failed in TLS for the reason `why` (a rustls error or alert name).
    async fn assert_refused(client: &reqwest::Client, base: &str, why: &str) {
        let err = get_peer(client, base)
            .await
            .expect_err("request was accepted");
        let shown = format!("{err:?}");
        assert!(shown.contains(why), "expected {why}, got {shown}");
    }

    #[tokio::test]
    async fn mutual_tls_identifies_the_peer_region() {
        let s = setup().await;
        let client = client_for_region(&identity(&s.pki, "b"), "a").unwrap();
        assert_eq!(get_peer(&client, &s.base).await.unwrap(), "b");
        // By name too: the URL's host does not matter, only the region.
        let by_name = s.base.replace("127.0.0.1", "localhost");
        assert_eq!(get_peer(&client, &by_name).await.unwrap(), "b");
        assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn client_refuses_a_server_of_another_region() {
        let s = setup().await;
        let client = client_for_region(&identity(&s.pki, "b"), "c").unwrap();
        assert_refused(&client, &s.base, "NotValidForName").await;
        assert_eq!(s.hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn server_refuses_a_client_without_certificate() {
        let s = setup().await;
        let config = client_config(&identity(&s.pki, "b"), "a", false).unwrap();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .no_proxy()
            .build()
            .unwrap();
        assert_refused(&client, &s.base, "CertificateRequired").await;
        assert_eq!(s.hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn server_refuses_a_client_certificate_from_another_ca() {
        let s = setup().await;
        // Trusts the right CA (so the server is accepted) but presents a foreign certificate.
        let foreign_cert = LinkIdentity::load(
            &s.pki.join("ca.pem"),
            &s.foreign.join("b.pem"),
            &s.foreign.join("b.key"),
        )
        .unwrap();
        let client = client_for_region(&foreign_cert, "a").unwrap();
        // The server's alert for a client certificate whose signature does not verify.
        assert_refused(&client, &s.base, "AlertReceived").await;
        // Entirely foreign: refuses the server, and the server refuses it.
        let client = client_for_region(&identity(&s.foreign, "b"), "a").unwrap();
        assert_refused(&client, &s.base, "InvalidCertificate").await;
        assert_eq!(s.hits.load(Ordering::SeqCst), 0);
        // The listener still serves good clients afterwards.
        let good = client_for_region(&identity(&s.pki, "b"), "a").unwrap();
        assert_eq!(get_peer(&good, &s.base).await.unwrap(), "b");
    }

    #[tokio::test]
    async fn a_stalled_handshake_does_not_block_others() {
        let s = setup().await;
        let addr = s.base.trim_start_matches("https://").to_owned();
        // Connected, but never says anything (and one that sends garbage).
        let _silent = TcpStream::connect(&addr).await.unwrap();
        let mut garbage = TcpStream::connect(&addr).await.unwrap();
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let client = client_for_region(&identity(&s.pki, "b"), "a").unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(3), get_peer(&client, &s.base))
            .await
            .expect("blocked behind a stalled handshake");
        assert_eq!(answer.unwrap(), "b");
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        generate_local_pki(tmp.path(), &["a".to_owned()]).unwrap();
        let id = identity(tmp.path(), "a");
        let shown = format!("{id:?}");
        assert!(
            shown.contains("redacted") && shown.contains("\"a\""),
            "{shown}"
        );
        let key_pem = std::fs::read_to_string(tmp.path().join("a.key")).unwrap();
        let key_b64: String = key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert!(!shown.contains(&key_b64[..16]));
        assert!(!shown.contains("PrivateKey"));
    }

    #[test]
    fn load_reports_missing_or_bad_files() {
        let tmp = tempfile::tempdir().unwrap();
        generate_local_pki(tmp.path(), &["a".to_owned()]).unwrap();
        let p = tmp.path();
        let missing = LinkIdentity::load(&p.join("nope.pem"), &p.join("a.pem"), &p.join("a.key"))
            .unwrap_err();
        assert!(
            matches!(&missing, Error::Pem { what: "certificates", path, .. } if path.ends_with("nope.pem")),
            "{missing:?}"
        );
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
        assert!(std::error::Error::source(&missing).is_some());
        // A key file given as the certificate, and a certificate as the key.
        let no_cert =
            LinkIdentity::load(&p.join("ca.pem"), &p.join("a.key"), &p.join("a.key")).unwrap_err();
        assert!(matches!(no_cert, Error::NoCertificate(_)), "{no_cert:?}");
        let no_key =
            LinkIdentity::load(&p.join("ca.pem"), &p.join("a.pem"), &p.join("a.pem")).unwrap_err();
        assert!(
            matches!(
                no_key,
                Error::Pem {
                    what: "private key",
                    ..
                }
            ),
            "{no_key:?}"
        );
        // A certificate with another region's key.
        generate_local_pki(p, &["a".to_owned(), "b".to_owned()]).unwrap();
        let mismatched =
            LinkIdentity::load(&p.join("ca.pem"), &p.join("a.pem"), &p.join("b.key")).unwrap();
        assert!(matches!(server_config(&mismatched), Err(Error::Tls { .. })));
        assert!(matches!(
            client_for_region(&identity(p, "a"), "not a name"),
            Err(Error::InvalidRegion(_))
        ));
    }

    /// Every configuration this crate builds runs on kms-crypto's provider, the one object
    /// `kms_crypto::tls_provider` hands out.
    #[test]
    fn every_config_uses_the_kms_crypto_provider() {
        let tmp = tempfile::tempdir().unwrap();
        generate_local_pki(tmp.path(), &["a".to_owned()]).unwrap();
        let id = identity(tmp.path(), "a");
        let ours = kms_crypto::tls_provider();
        let server = server_config(&id).unwrap();
        assert!(Arc::ptr_eq(server.crypto_provider(), &ours));
        let api = api_server_config(&tmp.path().join("a.pem"), &tmp.path().join("a.key")).unwrap();
        assert!(Arc::ptr_eq(api.crypto_provider(), &ours));
        for client_auth in [true, false] {
            let client = client_config(&id, "a", client_auth).unwrap();
            assert!(Arc::ptr_eq(client.crypto_provider(), &ours));
        }
    }
}
