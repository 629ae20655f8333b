//! The rustls [`CryptoProvider`] of every TLS configuration in Trent ([`tls_provider`]): rustls's
//! AWS-LC provider, so TLS runs on the same backend as the rest of this crate and no other
//! crate has to name it. [`install_tls_provider`] also makes it the process default, which
//! clients built without an explicit configuration (e.g. a plain `reqwest::Client`) pick up.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

/// The provider for rustls `ServerConfig`/`ClientConfig` builders (`builder_with_provider`) and
/// webpki verifiers. Every call returns the same `Arc`.
pub fn tls_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// Installs [`tls_provider`] as rustls's process-wide default, once; later calls (or a default
/// installed by someone else first) leave the installed one in place. Returns whether the
/// process default is now this provider.
pub fn install_tls_provider() -> bool {
    let ours = tls_provider();
    // Err means a default was already installed; it is checked below either way.
    let _ = CryptoProvider::install_default(CryptoProvider::clone(&ours));
    CryptoProvider::get_default().is_some_and(|installed| same_provider(installed, &ours))
}

/// Whether two providers offer the same cipher suites and key exchange groups in the same order
/// (providers have no identity of their own once copied).
fn same_provider(a: &CryptoProvider, b: &CryptoProvider) -> bool {
    let suites = |p: &CryptoProvider| {
        p.cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect::<Vec<_>>()
    };
    let groups = |p: &CryptoProvider| p.kx_groups.iter().map(|g| g.name()).collect::<Vec<_>>();
    suites(a) == suites(b) && groups(a) == groups(b) && a.fips() == b.fips()
}

#[cfg(test)]
mod tests {
    use rustls::{CipherSuite, NamedGroup};

    use super::*;

    #[test]
    fn one_provider_with_the_expected_suites_and_groups() {
        assert!(Arc::ptr_eq(&tls_provider(), &tls_provider()));
        let provider = tls_provider();
        let suites: Vec<_> = provider.cipher_suites.iter().map(|s| s.suite()).collect();
        for suite in [
            CipherSuite::TLS13_AES_256_GCM_SHA384,
            CipherSuite::TLS13_AES_128_GCM_SHA256,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ] {
            assert!(suites.contains(&suite), "{suite:?} missing from {suites:?}");
        }
        let groups: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        for group in [NamedGroup::X25519, NamedGroup::secp256r1] {
            assert!(groups.contains(&group), "{group:?} missing from {groups:?}");
        }
        // It loads the keys Trent's PKI writes (ECDSA P-256, PKCS#8).
        let key = crate::generate(crate::KeyKind::EccNistP256).unwrap();
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.material.as_bytes().to_vec().into());
        assert!(provider.key_provider.load_private_key(der).is_ok());
    }

    #[test]
    fn installing_makes_it_the_process_default() {
        assert!(install_tls_provider());
        assert!(install_tls_provider(), "a second install changes nothing");
        let installed = CryptoProvider::get_default().unwrap();
        assert!(same_provider(installed, &tls_provider()));
        // The comparison can fail: a provider without one suite is not the same.
        let mut fewer = CryptoProvider::clone(&tls_provider());
        fewer.cipher_suites.pop();
        assert!(!same_provider(&fewer, &tls_provider()));
    }
}
