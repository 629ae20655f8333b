//! Mutual TLS for Trent's internal channels (rustls, with kms-crypto's provider): a node's
//! [`LinkIdentity`] (re-read from its files by [`LinkIdentity::reload`], without a restart), the
//! server side ([`server_config`], [`TlsListener`] for `axum::serve`, [`PeerInfo`] with the
//! verified peer region and node), the client side ([`client_for_region`]), the [`DenyList`] of
//! revoked nodes, and [`watch`], which reloads both while the node runs.
//!
//! Both sides require a certificate chaining to the CA. A certificate's region is its first DNS
//! SAN, its node the `<id>.<region>.node.trent` SAN (see [`crate::pki`]): the server reports
//! both, and a client accepts a server only if its certificate is valid for the region it meant
//! to reach, whatever host or IP address the URL names.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};
use crate::pki::{parse_node_name, OPERATOR_NAME};

/// How long an accepted connection may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect timeout of [`client_for_region`] clients.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Completed handshakes waiting for `axum::serve` to pick them up.
const ACCEPT_QUEUE: usize = 128;
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A node's credentials: the CA certificate(s) it trusts, its certificate chain and private
/// key, as read from three PEM files. Clones share one current value: every configuration
/// built from it ([`server_config`], [`client_for_region`]) uses what [`LinkIdentity::reload`]
/// last read, for new connections. `Debug` shows the certificate counts and region, never the
/// key.
#[derive(Clone)]
pub struct LinkIdentity {
    files: Arc<[PathBuf; 3]>,
    current: Arc<RwLock<Arc<Loaded>>>,
}

/// One reading of the files.
struct Loaded {
    /// The files' bytes, to tell whether they changed.
    raw: [Vec<u8>; 3],
    ca: Vec<CertificateDer<'static>>,
    certified: Arc<CertifiedKey>,
    client_verifier: Arc<dyn ClientCertVerifier>,
    server_verifier: Arc<WebPkiServerVerifier>,
    region: Option<String>,
    node: Option<u64>,
}

impl LinkIdentity {
    /// Loads PEM files: `ca_cert` (one or more CA certificates), `cert` (the node's
    /// certificate, optionally followed by intermediates) and `key` (its private key).
    pub fn load(ca_cert: &Path, cert: &Path, key: &Path) -> Result<Self> {
        let files = [ca_cert.to_path_buf(), cert.to_path_buf(), key.to_path_buf()];
        let loaded = Loaded::read(&files)?;
        Ok(LinkIdentity {
            files: Arc::new(files),
            current: Arc::new(RwLock::new(Arc::new(loaded))),
        })
    }

    /// Re-reads the files; if they changed and still form a valid identity, new connections
    /// use it from now on. `Ok(true)` when it changed; on an error the old identity stays.
    pub fn reload(&self) -> Result<bool> {
        let raw = read_all(&self.files)?;
        if raw == self.now().raw {
            return Ok(false);
        }
        let loaded = Loaded::read(&self.files)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
        Ok(true)
    }

    fn now(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The region this identity names: the first DNS SAN of its certificate.
    pub fn region(&self) -> Option<String> {
        self.now().region.clone()
    }

    /// The node id its certificate names for its region, if any.
    pub fn node(&self) -> Option<u64> {
        self.now().node
    }

    /// The CA certificates it trusts.
    pub fn ca_certificates(&self) -> Vec<CertificateDer<'static>> {
        self.now().ca.clone()
    }
}

fn read_all(files: &[PathBuf; 3]) -> Result<[Vec<u8>; 3]> {
    let read = |path: &PathBuf| std::fs::read(path).map_err(Error::io("read", path));
    Ok([read(&files[0])?, read(&files[1])?, read(&files[2])?])
}

impl Loaded {
    fn read(files: &[PathBuf; 3]) -> Result<Loaded> {
        let raw = read_all(files)?;
        let ca = load_certs(&files[0])?;
        let chain = load_certs(&files[1])?;
        let key = load_key(&files[2])?;
        let provider = kms_crypto::tls_provider();
        let (region, node) = identity_of(&chain[0]);
        let certified = CertifiedKey::from_der(chain, key, &provider)
            .map_err(Error::tls("the certificate does not match its key"))?;
        let mut roots = RootCertStore::empty();
        for ca in &ca {
            roots
                .add(ca.clone())
                .map_err(Error::tls("invalid CA certificate"))?;
        }
        let roots = Arc::new(roots);
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|source| Error::Verifier {
                    side: "client",
                    source,
                })?;
        let server_verifier = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider)
            .build()
            .map_err(|source| Error::Verifier {
                side: "server",
                source,
            })?;
        Ok(Loaded {
            raw,
            ca,
            certified: Arc::new(certified),
            client_verifier,
            server_verifier,
            region,
            node,
        })
    }
}

impl fmt::Debug for LinkIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = self.now();
        f.debug_struct("LinkIdentity")
            .field("region", &now.region)
            .field("node", &now.node)
            .field("ca_certs", &now.ca.len())
            .field("chain_certs", &now.certified.cert.len())
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

/// Who a certificate names: its region (the first DNS SAN, unless it is the operator's) and
/// the node id of a `<id>.<region>.node.trent` SAN for that region.
fn identity_of(cert: &CertificateDer<'_>) -> (Option<String>, Option<u64>) {
    let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
        return (None, None);
    };
    let mut names = cert.valid_dns_names();
    let Some(region) = names.next().filter(|first| *first != OPERATOR_NAME) else {
        return (None, None);
    };
    let node = names
        .filter_map(parse_node_name)
        .find(|(named, _)| named == region)
        .map(|(_, id)| id);
    (Some(region.to_owned()), node)
}

/// True if `cert` is the operator certificate (its first DNS SAN is [`OPERATOR_NAME`]).
fn is_operator(cert: &CertificateDer<'_>) -> bool {
    webpki::EndEntityCert::try_from(cert)
        .ok()
        .and_then(|c| c.valid_dns_names().next().map(|n| n == OPERATOR_NAME))
        .unwrap_or(false)
}

/// Resolves this node's certificate and checks peers' with whatever the identity holds now.
#[derive(Debug)]
struct Current(LinkIdentity);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.now().certified.clone())
    }
}

impl ResolvesClientCert for Current {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.now().certified.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl ClientCertVerifier for Current {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Hints are optional; the roots can change under a reload.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0
            .now()
            .client_verifier
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .now()
            .client_verifier
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .now()
            .client_verifier
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.now().client_verifier.supported_verify_schemes()
    }
}

/// A TLS server configuration that requires a client certificate chaining to the identity's CA
/// and offers ALPN `http/1.1`; certificates and CA follow [`LinkIdentity::reload`].
pub fn server_config(identity: &LinkIdentity) -> Result<Arc<ServerConfig>> {
    let provider = kms_crypto::tls_provider();
    let current = Arc::new(Current(identity.clone()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::tls(
            "the TLS provider offers no safe protocol version",
        ))?
        .with_client_cert_verifier(current.clone())
        .with_cert_resolver(current);
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
/// Certificates and CA follow [`LinkIdentity::reload`] for new connections.
pub fn client_for_region(identity: &LinkIdentity, region: &str) -> Result<reqwest::Client> {
    let config = client_config(identity, region, true)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(CONNECT_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(Error::Client)
}

/// A `reqwest` client that accepts exactly the server certificate `cert` holds (its first): for
/// a node calling its own TLS API, as the web console does, whatever names the certificate
/// carries. The handshake signature is still checked, so only the holder of that
/// certificate's key passes. No proxies; connect timeout 2 s.
pub fn pinned_client(cert: &Path) -> Result<reqwest::Client> {
    let pinned = load_certs(cert)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::NoCertificate(cert.to_path_buf()))?;
    let provider = kms_crypto::tls_provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(Error::tls(
            "the TLS provider offers no safe protocol version",
        ))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { pinned, provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(CONNECT_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(Error::Client)
}

/// Accepts one certificate, byte for byte, and checks handshake signatures with the provider.
#[derive(Debug)]
struct Pinned {
    pinned: CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client_config(identity: &LinkIdentity, region: &str, client_auth: bool) -> Result<ClientConfig> {
    let provider = kms_crypto::tls_provider();
    let expected = ServerName::try_from(region.to_owned())
        .map_err(|_| Error::InvalidRegion(region.to_owned()))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::tls(
            "the TLS provider offers no safe protocol version",
        ))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RegionVerifier {
            identity: identity.clone(),
            expected,
        }));
    let mut config = if client_auth {
        builder.with_client_cert_resolver(Arc::new(Current(identity.clone())))
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

/// The revoked nodes: `<region>/<node id>` lines of a file (`#` starts a comment), re-read by
/// [`DenyList::reload`]. A server refuses a revoked node's requests; see [`PeerInfo::node`].
#[derive(Debug, Default)]
pub struct DenyList {
    path: Option<PathBuf>,
    current: RwLock<Revoked>,
}

/// The deny-list file as last read (to notice a change) and the `(region, node id)` it names.
#[derive(Debug, Default)]
struct Revoked {
    raw: Vec<u8>,
    nodes: BTreeSet<(String, u64)>,
}

impl DenyList {
    /// The list in `path` (`None`: nobody is revoked). A missing file or a malformed line is an
    /// error.
    pub fn load(path: Option<&Path>) -> Result<DenyList> {
        let list = DenyList {
            path: path.map(Path::to_path_buf),
            current: RwLock::default(),
        };
        list.reload()?;
        Ok(list)
    }

    /// Re-reads the file; `Ok(true)` if it changed. On an error the previous list stays.
    pub fn reload(&self) -> Result<bool> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let raw = std::fs::read(path).map_err(Error::io("read", path))?;
        if self.read().raw == raw {
            return Ok(false);
        }
        let mut entries = BTreeSet::new();
        for (number, line) in String::from_utf8_lossy(&raw).lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let entry = line
                .split_once('/')
                .and_then(|(region, id)| Some((region.trim().to_owned(), id.trim().parse().ok()?)))
                .ok_or_else(|| Error::DenyList {
                    path: path.clone(),
                    line: number + 1,
                })?;
            entries.insert(entry);
        }
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Revoked {
            raw,
            nodes: entries,
        };
        Ok(true)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Revoked> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True if node `node` of `region` is revoked.
    pub fn is_revoked(&self, region: &str, node: u64) -> bool {
        self.read().nodes.contains(&(region.to_owned(), node))
    }

    /// How many nodes are revoked.
    pub fn len(&self) -> usize {
        self.read().nodes.len()
    }

    /// True if no node is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Re-reads `identities` and `deny_list` every `period` for as long as the task runs, logging
/// what changed and any file that no longer loads (the previous value then stays in force).
pub async fn watch(identities: Vec<LinkIdentity>, deny_list: Arc<DenyList>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for identity in &identities {
            match identity.reload() {
                Ok(true) => tracing::info!(
                    cert = %identity.files[1].display(),
                    "reloaded the node certificate"
                ),
                Ok(false) => {}
                Err(e) => tracing::error!(
                    error = %e,
                    "the node certificate does not load; keeping the previous one"
                ),
            }
        }
        match deny_list.reload() {
            Ok(true) => tracing::warn!(revoked = deny_list.len(), "reloaded the deny-list"),
            Ok(false) => {}
            Err(e) => tracing::error!(
                error = %e,
                "the deny-list does not load; keeping the previous one"
            ),
        }
    }
}

/// Checks the server certificate with webpki against the name of the region the client meant
/// to reach instead of the URL's host.
#[derive(Debug)]
struct RegionVerifier {
    identity: LinkIdentity,
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
        self.identity.now().server_verifier.verify_server_cert(
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
        self.identity
            .now()
            .server_verifier
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.identity
            .now()
            .server_verifier
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.identity
            .now()
            .server_verifier
            .supported_verify_schemes()
    }
}

/// The remote end of a connection: its address and, once the TLS handshake verified its client
/// certificate, who that certificate names (see [`crate::pki`]). Handlers get it as
/// `ConnectInfo<PeerInfo>` with `router.into_make_service_with_connect_info::<PeerInfo>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's socket address (for [`Listener::local_addr`], the local one).
    pub addr: SocketAddr,
    /// The verified peer region; `None` only for a local address or a certificate without a
    /// DNS SAN, and for the operator certificate.
    pub region: Option<String>,
    /// The verified peer node (its id in [`PeerInfo::region`]), if the certificate names one.
    pub node: Option<u64>,
    /// True for the operator certificate (read-only status, no region).
    pub operator: bool,
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
            node: None,
            operator: false,
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
                    tracing::warn!(%addr, "refused a connection: TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%addr, "link TLS handshake timed out");
                    return;
                }
            };
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first());
            let (region, node) = cert.map(identity_of).unwrap_or((None, None));
            let operator = cert.is_some_and(is_operator);
            let peer = PeerInfo {
                addr,
                region,
                node,
                operator,
            };
            let _ = tx.send((tls, peer)).await;
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
    use crate::pki::{generate_local_pki, PkiLayout, RegionNodes};

    fn pki(dir: &Path, regions: &[&str]) {
        let regions: Vec<RegionNodes> = regions
            .iter()
            .map(|r| RegionNodes {
                region: (*r).to_owned(),
                nodes: vec![1, 2],
            })
            .collect();
        generate_local_pki(dir, &regions).unwrap();
    }

    /// Node 1 of `region`.
    fn identity(dir: &Path, region: &str) -> LinkIdentity {
        let layout = PkiLayout::new(dir);
        LinkIdentity::load(
            &layout.ca_cert(),
            &layout.node_cert(region, 1),
            &layout.node_key(region, 1),
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
        self::pki(&pki, &["a", "b"]);
        self::pki(&foreign, &["b"]);

        let server = identity(&pki, "a");
        assert_eq!(server.region().as_deref(), Some("a"));
        assert_eq!(server.node(), Some(1));
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
                        match (peer.region, peer.node, peer.operator) {
                            (_, _, true) => "operator".to_owned(),
                            (Some(region), Some(node), _) => format!("{region}/{node}"),
                            (region, _, _) => region.unwrap_or_else(|| "none".to_owned()),
                        }
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
        assert_eq!(get_peer(&client, &s.base).await.unwrap(), "b/1");
        // By name too: the URL's host does not matter, only the region.
        let by_name = s.base.replace("127.0.0.1", "localhost");
        assert_eq!(get_peer(&client, &by_name).await.unwrap(), "b/1");
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
        let foreign = PkiLayout::new(&s.foreign);
        let foreign_cert = LinkIdentity::load(
            &s.pki.join("ca.pem"),
            &foreign.node_cert("b", 1),
            &foreign.node_key("b", 1),
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
        assert_eq!(get_peer(&good, &s.base).await.unwrap(), "b/1");
    }

    #[tokio::test]
    async fn the_operator_certificate_names_no_region() {
        let s = setup().await;
        let layout = PkiLayout::new(&s.pki);
        let operator = LinkIdentity::load(
            &layout.ca_cert(),
            &layout.operator_cert(),
            &layout.operator_key(),
        )
        .unwrap();
        assert_eq!(operator.region(), None);
        let client = client_for_region(&operator, "a").unwrap();
        assert_eq!(get_peer(&client, &s.base).await.unwrap(), "operator");
    }

    /// A client whose certificate files change presents the new certificate on its next
    /// connection, without being rebuilt; files that stop loading leave the old one in force.
    #[tokio::test]
    async fn a_reloaded_identity_is_used_for_new_connections() {
        let s = setup().await;
        let layout = PkiLayout::new(&s.pki);
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("n.pem"), dir.path().join("n.key"));
        std::fs::copy(layout.node_cert("b", 1), &cert).unwrap();
        std::fs::copy(layout.node_key("b", 1), &key).unwrap();
        let id = LinkIdentity::load(&layout.ca_cert(), &cert, &key).unwrap();
        assert!(!id.reload().unwrap());
        let client = client_for_region(&id, "a").unwrap();
        assert_eq!(get_peer(&client, &s.base).await.unwrap(), "b/1");

        std::fs::copy(layout.node_cert("b", 2), &cert).unwrap();
        std::fs::copy(layout.node_key("b", 2), &key).unwrap();
        assert!(id.reload().unwrap());
        // A fresh connection (the pooled one still speaks for the old certificate).
        let fresh = client_for_region(&id, "a").unwrap();
        assert_eq!(get_peer(&fresh, &s.base).await.unwrap(), "b/2");

        std::fs::write(&key, "not a key").unwrap();
        assert!(id.reload().is_err());
        assert_eq!(id.node(), Some(2));
    }

    #[test]
    fn deny_list_parses_reloads_and_keeps_the_old_list_on_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.txt");
        std::fs::write(&path, "# none yet\n").unwrap();
        let list = DenyList::load(Some(&path)).unwrap();
        assert!(list.is_empty());
        std::fs::write(&path, "us-east-1/3 # lost laptop\n\n eu-west-1 / 1\n").unwrap();
        assert!(list.reload().unwrap());
        assert!(list.is_revoked("us-east-1", 3) && list.is_revoked("eu-west-1", 1));
        assert!(!list.is_revoked("us-east-1", 1));
        std::fs::write(&path, "us-east-1/three\n").unwrap();
        assert!(matches!(
            list.reload(),
            Err(Error::DenyList { line: 1, .. })
        ));
        assert!(list.is_revoked("us-east-1", 3));
        assert!(DenyList::load(Some(&dir.path().join("missing"))).is_err());
        assert!(!DenyList::load(None).unwrap().is_revoked("a", 1));
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
        assert_eq!(answer.unwrap(), "b/1");
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        pki(tmp.path(), &["a"]);
        let id = identity(tmp.path(), "a");
        let shown = format!("{id:?}");
        assert!(
            shown.contains("redacted") && shown.contains("\"a\""),
            "{shown}"
        );
        let key_pem = std::fs::read_to_string(PkiLayout::new(tmp.path()).node_key("a", 1)).unwrap();
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
        pki(tmp.path(), &["a", "b"]);
        let p = tmp.path();
        let l = PkiLayout::new(p);
        let (a_pem, a_key, b_key) = (l.node_cert("a", 1), l.node_key("a", 1), l.node_key("b", 1));
        let missing = LinkIdentity::load(&p.join("nope.pem"), &a_pem, &a_key).unwrap_err();
        assert!(
            matches!(&missing, Error::Io { what: "read", path, .. } if path.ends_with("nope.pem")),
            "{missing:?}"
        );
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
        assert!(std::error::Error::source(&missing).is_some());
        // A key file given as the certificate, and a certificate as the key.
        let no_cert = LinkIdentity::load(&p.join("ca.pem"), &a_key, &a_key).unwrap_err();
        assert!(matches!(no_cert, Error::NoCertificate(_)), "{no_cert:?}");
        let no_key = LinkIdentity::load(&p.join("ca.pem"), &a_pem, &a_pem).unwrap_err();
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
        let mismatched = LinkIdentity::load(&p.join("ca.pem"), &a_pem, &b_key).unwrap_err();
        assert!(matches!(mismatched, Error::Tls { .. }), "{mismatched:?}");
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
        pki(tmp.path(), &["a"]);
        let id = identity(tmp.path(), "a");
        let ours = kms_crypto::tls_provider();
        let server = server_config(&id).unwrap();
        assert!(Arc::ptr_eq(server.crypto_provider(), &ours));
        let l = PkiLayout::new(tmp.path());
        let api = api_server_config(&l.node_cert("a", 1), &l.node_key("a", 1)).unwrap();
        assert!(Arc::ptr_eq(api.crypto_provider(), &ours));
        for client_auth in [true, false] {
            let client = client_config(&id, "a", client_auth).unwrap();
            assert!(Arc::ptr_eq(client.crypto_provider(), &ours));
        }
    }
}
