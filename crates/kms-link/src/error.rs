//! [`Error`]: why link credentials could not be loaded, a TLS configuration or client built, or
//! the local PKI generated. `Display` says what was being done (and with which file); the
//! underlying error is its [`source`](std::error::Error::source).

use std::path::PathBuf;

/// Setting up the link failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PEM file (certificates or a private key) could not be read or parsed.
    #[error("cannot load {what} {}", path.display())]
    Pem {
        /// `certificates` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate file holds no certificate.
    #[error("no certificate in {}", .0.display())]
    NoCertificate(PathBuf),
    /// A region name that is not a DNS name (or is the reserved `ca`).
    #[error("invalid region name {0:?}: must be a DNS name (e.g. us-east-1) other than \"ca\"")]
    InvalidRegion(String),
    /// rustls refused part of a configuration (a CA certificate, a certificate and key pair).
    #[error("{what}")]
    Tls {
        /// What was refused.
        what: &'static str,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// A certificate verifier could not be built from the CA certificates.
    #[error("building the {side} certificate verifier")]
    Verifier {
        /// `client` or `server`.
        side: &'static str,
        /// rustls's reason.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// A deny-list line is not `<region>/<node id>`.
    #[error("{}: line {line} is not <region>/<node id>", path.display())]
    DenyList {
        /// The file.
        path: PathBuf,
        /// The line number (1-based).
        line: usize,
    },
    /// The HTTP client could not be built.
    #[error("building the link client")]
    Client(#[source] reqwest::Error),
    /// Generating a key or certificate of the local PKI failed.
    #[error("{what}")]
    Certificate {
        /// What was being generated.
        what: String,
        /// rcgen's reason.
        #[source]
        source: rcgen::Error,
    },
    /// Creating or writing a PKI file or directory failed.
    #[error("cannot {what} {}", path.display())]
    Io {
        /// `create`, `read` or `write`.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The result of setting up the link.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn tls(what: &'static str) -> impl FnOnce(rustls::Error) -> Error {
        move |source| Error::Tls { what, source }
    }

    pub(crate) fn certificate(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> Error {
        let what = what.into();
        move |source| Error::Certificate { what, source }
    }

    pub(crate) fn io(
        what: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io { what, path, source }
    }
}
