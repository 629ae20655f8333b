//! A local PKI for Trent's internal channels (Raft between a region's nodes, the link between
//! regions): one self-signed CA and, per node, a certificate naming the node's region and id,
//! plus an operator certificate for the read-only status endpoint.
//!
//! Identities are DNS SANs, so webpki checks them:
//! - the first DNS SAN of a node certificate is its region (`us-east-1`): a client accepts a
//!   server only if its certificate is valid for the region it meant to reach;
//! - a node certificate also names `<id>.<region>.node.trent` ([`node_name`]): a server learns
//!   which node of which region is calling ([`crate::tls::PeerInfo::node`]);
//! - the operator certificate names only [`OPERATOR_NAME`].
//!
//! Meant for local and test clusters; a production deployment brings its own CA and
//! certificates in the same shape (see [`generate_local_pki`]).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::{Error, Result};

/// The DNS SAN of the operator certificate (no region, no node).
pub const OPERATOR_NAME: &str = "operator.trent";
/// The suffix of a node's identity name, `<id>.<region>.node.trent`.
const NODE_SUFFIX: &str = ".node.trent";

/// The DNS name that identifies node `id` of `region` in its certificate.
pub fn node_name(region: &str, id: u64) -> String {
    format!("{id}.{region}{NODE_SUFFIX}")
}

/// The (region, node id) a DNS name of the [`node_name`] shape names.
pub fn parse_node_name(name: &str) -> Option<(String, u64)> {
    let (id, region) = name.strip_suffix(NODE_SUFFIX)?.split_once('.')?;
    if id.starts_with('0') && id != "0" {
        return None;
    }
    Some((region.to_owned(), id.parse().ok()?))
}

/// The nodes of one region a PKI issues certificates for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionNodes {
    /// The region name (a DNS name other than `ca`).
    pub region: String,
    /// Its node ids.
    pub nodes: Vec<u64>,
}

/// Where [`generate_local_pki`] puts the files of `dir`'s PKI.
#[derive(Debug, Clone)]
pub struct PkiLayout {
    dir: PathBuf,
}

impl PkiLayout {
    /// The layout of the PKI in `dir`.
    pub fn new(dir: &Path) -> PkiLayout {
        PkiLayout {
            dir: dir.to_path_buf(),
        }
    }

    /// The CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA's private key.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// Node `id` of `region`'s certificate.
    pub fn node_cert(&self, region: &str, id: u64) -> PathBuf {
        self.dir.join(region).join(format!("node{id}.pem"))
    }

    /// Node `id` of `region`'s private key.
    pub fn node_key(&self, region: &str, id: u64) -> PathBuf {
        self.dir.join(region).join(format!("node{id}.key"))
    }

    /// The operator certificate (for `/raft/status`).
    pub fn operator_cert(&self) -> PathBuf {
        self.dir.join("operator.pem")
    }

    /// The operator's private key.
    pub fn operator_key(&self) -> PathBuf {
        self.dir.join("operator.key")
    }

    /// The deny-list of revoked nodes (see [`crate::tls::DenyList`]); created empty.
    pub fn deny_list(&self) -> PathBuf {
        self.dir.join("revoked.txt")
    }
}

/// Creates `dir` (if needed) and writes a local PKI into it ([`PkiLayout`] names the files):
///
/// - `ca.pem`, `ca.key`: a self-signed CA (ECDSA P-256), kept if both already exist;
/// - per node of every region, `<region>/node<id>.pem` and `.key`: a certificate signed by the
///   CA with the DNS SANs `<region>` (first), [`node_name`], `localhost` and the IP SAN
///   `127.0.0.1`, valid as both TLS server and client certificate;
/// - `operator.pem`, `.key`: a client certificate naming [`OPERATOR_NAME`];
/// - `revoked.txt`: an empty deny-list, if there is none.
///
/// Private keys are written with mode `0600`. Idempotent: with the CA in place only missing
/// certificates are issued, so adding a node issues just its certificate. Without the CA
/// (or with only half of it) everything is regenerated.
///
/// Region names must be valid DNS names (e.g. `us-east-1`); `ca` is reserved.
pub fn generate_local_pki(dir: &Path, regions: &[RegionNodes]) -> Result<()> {
    for region in regions {
        validate_region(&region.region)?;
    }
    fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let layout = PkiLayout::new(dir);
    let issuer = match load_ca(&layout)? {
        Some(issuer) => issuer,
        None => {
            let (issuer, pem) = new_ca()?;
            // Every certificate of an old CA is stale now.
            for region in regions {
                for id in &region.nodes {
                    let _ = fs::remove_file(layout.node_cert(&region.region, *id));
                }
            }
            let _ = fs::remove_file(layout.operator_cert());
            write_file(&layout.ca_key(), &issuer.key().serialize_pem(), true)?;
            write_file(&layout.ca_cert(), &pem, false)?;
            issuer
        }
    };
    for region in regions {
        let region_dir = dir.join(&region.region);
        fs::create_dir_all(&region_dir).map_err(Error::io("create", &region_dir))?;
        for &id in &region.nodes {
            let (cert, key) = (
                layout.node_cert(&region.region, id),
                layout.node_key(&region.region, id),
            );
            if cert.is_file() && key.is_file() {
                continue;
            }
            let names = [
                region.region.clone(),
                node_name(&region.region, id),
                "localhost".to_owned(),
            ];
            let what = format!("node {id} of region {}", region.region);
            issue(&issuer, &names, true, &what, &cert, &key)?;
        }
    }
    let (cert, key) = (layout.operator_cert(), layout.operator_key());
    if !(cert.is_file() && key.is_file()) {
        issue(
            &issuer,
            &[OPERATOR_NAME.to_owned()],
            false,
            "the operator",
            &cert,
            &key,
        )?;
    }
    if !layout.deny_list().exists() {
        write_file(
            &layout.deny_list(),
            "# Revoked nodes, one `<region>/<node id>` per line; re-read while running.\n",
            false,
        )?;
    }
    Ok(())
}

/// The CA's parameters; the same every time, so a CA read back from its key signs exactly as
/// the one that was generated.
fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(Error::certificate("the CA's parameters"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "Trent inter-region CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn new_ca() -> Result<(Issuer<'static, KeyPair>, String)> {
    let key = KeyPair::generate().map_err(Error::certificate("generating the CA key"))?;
    let params = ca_params()?;
    let cert = params
        .self_signed(&key)
        .map_err(Error::certificate("self-signing the CA"))?;
    Ok((Issuer::new(params, key), cert.pem()))
}

/// The CA of an existing PKI, if both of its files are there.
fn load_ca(layout: &PkiLayout) -> Result<Option<Issuer<'static, KeyPair>>> {
    let (cert, key) = (layout.ca_cert(), layout.ca_key());
    if !(cert.is_file() && key.is_file()) {
        return Ok(None);
    }
    let pem = fs::read_to_string(&key).map_err(Error::io("read", &key))?;
    let key = KeyPair::from_pem(&pem).map_err(Error::certificate("reading the CA key"))?;
    Ok(Some(Issuer::new(ca_params()?, key)))
}

/// Issues a certificate for the DNS `names` (plus `127.0.0.1` for a server) and writes it and
/// its key.
fn issue(
    issuer: &Issuer<'static, KeyPair>,
    names: &[String],
    server: bool,
    what: &str,
    cert_path: &Path,
    key_path: &Path,
) -> Result<()> {
    let step = |step: &str| Error::certificate(format!("{step} of {what}"));
    let key = KeyPair::generate().map_err(step("generating the key"))?;
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(step("the certificate parameters"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    for name in names {
        params.subject_alt_names.push(SanType::DnsName(
            name.as_str().try_into().map_err(step("the DNS name"))?,
        ));
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if server {
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(step("signing the certificate"))?;
    write_file(key_path, &key.serialize_pem(), true)?;
    write_file(cert_path, &cert.pem(), false)?;
    Ok(())
}

fn validate_region(region: &str) -> Result<()> {
    if region == "ca" || rustls_pki_types::DnsName::try_from(region).is_err() {
        return Err(Error::InvalidRegion(region.to_owned()));
    }
    Ok(())
}

/// Writes `path` via a temporary file and a rename, so a reader never sees a partial file;
/// private keys get mode `0600` from creation on.
fn write_file(path: &Path, contents: &str, private: bool) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(Error::io("create", &tmp))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(Error::io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(Error::io("write", path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn regions(names: &[&str]) -> Vec<RegionNodes> {
        names
            .iter()
            .map(|s| RegionNodes {
                region: (*s).to_owned(),
                nodes: vec![1, 2],
            })
            .collect()
    }

    #[test]
    fn writes_ca_node_and_operator_files_with_private_keys_0600() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        generate_local_pki(&pki, &regions(&["us-east-1", "eu-west-1"])).unwrap();
        let layout = PkiLayout::new(&pki);
        let mut pairs = vec![
            (layout.ca_cert(), layout.ca_key()),
            (layout.operator_cert(), layout.operator_key()),
        ];
        for region in ["us-east-1", "eu-west-1"] {
            for id in [1, 2] {
                pairs.push((layout.node_cert(region, id), layout.node_key(region, id)));
            }
        }
        for (cert, key) in pairs {
            let pem = fs::read_to_string(&cert).unwrap();
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{cert:?}");
            let mode = fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{key:?}");
        }
        assert!(layout.deny_list().is_file());
        assert!(fs::read_dir(&pki).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));
    }

    #[test]
    fn keeps_the_ca_and_issues_only_missing_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let layout = PkiLayout::new(dir.path());
        generate_local_pki(dir.path(), &regions(&["a", "b"])).unwrap();
        let ca = fs::read(layout.ca_cert()).unwrap();
        let a1 = fs::read(layout.node_key("a", 1)).unwrap();
        generate_local_pki(dir.path(), &regions(&["a", "b"])).unwrap();
        generate_local_pki(dir.path(), &regions(&["a", "b", "c"])).unwrap();
        assert_eq!(fs::read(layout.ca_cert()).unwrap(), ca);
        assert_eq!(fs::read(layout.node_key("a", 1)).unwrap(), a1);
        assert!(layout.node_cert("c", 2).is_file());

        // Without the CA key, everything is new.
        fs::remove_file(layout.ca_key()).unwrap();
        generate_local_pki(dir.path(), &regions(&["a"])).unwrap();
        assert_ne!(fs::read(layout.ca_cert()).unwrap(), ca);
        assert_ne!(fs::read(layout.node_key("a", 1)).unwrap(), a1);
    }

    #[test]
    fn node_names_round_trip() {
        assert_eq!(node_name("us-east-1", 3), "3.us-east-1.node.trent");
        assert_eq!(
            parse_node_name("3.us-east-1.node.trent"),
            Some(("us-east-1".to_owned(), 3))
        );
        for bad in [
            "us-east-1",
            "x.us-east-1.node.trent",
            "03.a.node.trent",
            OPERATOR_NAME,
        ] {
            assert_eq!(parse_node_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn rejects_bad_region_names() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "ca", "../x", "a/b", "a b"] {
            assert!(
                matches!(
                    generate_local_pki(dir.path(), &regions(&[bad])),
                    Err(Error::InvalidRegion(name)) if name == bad
                ),
                "{bad:?} accepted"
            );
        }
        assert!(!dir.path().join("ca.pem").exists());
    }
}
