//! A local PKI for the links between regions: one self-signed CA and, per region, a certificate
//! whose first DNS SAN is the region name (the region's identity on the link).
//!
//! Meant for local and test clusters; a production deployment brings its own CA and
//! certificates in the same shape (see [`generate_local_pki`]).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::{Error, Result};

/// Creates `dir` (if needed) and writes a local PKI into it:
///
/// - `ca.pem`, `ca.key`: a self-signed CA (ECDSA P-256);
/// - per region, `<region>.pem` and `<region>.key`: a certificate signed by that CA with the DNS
///   SANs `<region>` (first: the region's identity) and `localhost` and the IP SAN `127.0.0.1`,
///   valid as both TLS server and client certificate (EKU serverAuth + clientAuth).
///
/// Private keys are written with mode `0600`. Idempotent: if `ca.pem`, `ca.key` and both files
/// of every requested region already exist, nothing is touched. Otherwise everything is
/// regenerated: a new CA and new certificates for all of `regions`, replacing the old files.
/// Files of regions not in `regions` are left in place but no longer chain to the new CA.
///
/// Region names must be valid DNS names (e.g. `us-east-1`); `ca` is reserved.
pub fn generate_local_pki(dir: &Path, regions: &[String]) -> Result<()> {
    for region in regions {
        validate_region(region)?;
    }
    fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let complete = ["ca.pem", "ca.key"]
        .into_iter()
        .map(String::from)
        .chain(
            regions
                .iter()
                .flat_map(|r| [format!("{r}.pem"), format!("{r}.key")]),
        )
        .all(|name| dir.join(name).is_file());
    if complete {
        return Ok(());
    }

    let ca_key = KeyPair::generate().map_err(Error::certificate("generating the CA key"))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())
        .map_err(Error::certificate("the CA's parameters"))?;
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Trent inter-region CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(Error::certificate("self-signing the CA"))?;
    let issuer = Issuer::new(ca_params, ca_key);

    for region in regions {
        let what = |step: &str| Error::certificate(format!("{step} of region {region}"));
        let key = KeyPair::generate().map_err(what("generating the key"))?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(what("the certificate parameters"))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, region.as_str());
        params.subject_alt_names = vec![
            SanType::DnsName(region.as_str().try_into().map_err(what("the DNS name"))?),
            SanType::DnsName("localhost".try_into().map_err(what("the DNS name"))?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(what("signing the certificate"))?;
        write_file(dir, &format!("{region}.key"), &key.serialize_pem(), true)?;
        write_file(dir, &format!("{region}.pem"), &cert.pem(), false)?;
    }
    // The CA last: a crash midway leaves the set incomplete, so the next call starts over.
    write_file(dir, "ca.key", &issuer.key().serialize_pem(), true)?;
    write_file(dir, "ca.pem", &ca_cert.pem(), false)?;
    Ok(())
}

fn validate_region(region: &str) -> Result<()> {
    if region == "ca" || rustls_pki_types::DnsName::try_from(region).is_err() {
        return Err(Error::InvalidRegion(region.to_owned()));
    }
    Ok(())
}

/// Writes `name` in `dir` via a temporary file and a rename, so a reader never sees a partial
/// file; private keys get mode `0600` from creation on.
fn write_file(dir: &Path, name: &str, contents: &str, private: bool) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
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
    fs::rename(&tmp, &path).map_err(Error::io("write", &path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn regions(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn writes_ca_and_region_files_with_private_keys_0600() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        generate_local_pki(&pki, &regions(&["us-east-1", "eu-west-1"])).unwrap();
        for name in ["ca", "us-east-1", "eu-west-1"] {
            let pem = fs::read_to_string(pki.join(format!("{name}.pem"))).unwrap();
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{name}");
            let key = pki.join(format!("{name}.key"));
            let mode = fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}.key");
        }
        assert!(fs::read_dir(&pki).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));
    }

    #[test]
    fn is_idempotent_and_regenerates_when_a_region_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        generate_local_pki(dir.path(), &regions(&["a", "b"])).unwrap();
        let ca = fs::read(dir.path().join("ca.pem")).unwrap();
        let a = fs::read(dir.path().join("a.key")).unwrap();
        generate_local_pki(dir.path(), &regions(&["a", "b"])).unwrap();
        generate_local_pki(dir.path(), &regions(&["b"])).unwrap();
        assert_eq!(fs::read(dir.path().join("ca.pem")).unwrap(), ca);
        assert_eq!(fs::read(dir.path().join("a.key")).unwrap(), a);

        generate_local_pki(dir.path(), &regions(&["a", "b", "c"])).unwrap();
        assert_ne!(fs::read(dir.path().join("ca.pem")).unwrap(), ca);
        assert_ne!(fs::read(dir.path().join("a.key")).unwrap(), a);
        assert!(dir.path().join("c.pem").is_file());
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
