//! The PKCS#11 seal (the `cryptoki` crate; the module is loaded at run time): an AES-256 key
//! that never leaves the token wraps the root key with CKM_AES_GCM inside the HSM
//! ([`wrap`], [`unwrap`]), plus what a local cluster needs to set up SoftHSM2
//! ([`init_softhsm_token`], [`ensure_key`]).
//!
//! SoftHSM2 reads its config from the `SOFTHSM2_CONF` environment variable when the module is
//! initialised, so with `softhsm2_conf` set this module sets that variable. Every PKCS#11 use
//! in the process is serialised by one lock (initialise, work, finalise), so two configs never
//! mix.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::{secret_file, Pkcs11Config, SealError};

const NONCE_LEN: usize = 12;
const TAG_BITS: u64 = 128;

static PKCS11: Mutex<()> = Mutex::new(());

fn fail(what: &str) -> impl Fn(cryptoki::error::Error) -> SealError + '_ {
    move |e| SealError::new(format!("PKCS#11 {what}: {e}"))
}

/// Runs `f` in a logged-in user session on the configured token.
fn with_session<T>(
    config: &Pkcs11Config,
    f: impl FnOnce(&Session) -> Result<T, SealError>,
) -> Result<T, SealError> {
    let _serial = PKCS11
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pin = secret_file::read(&config.pin_file, "the PKCS#11 PIN file")?;
    let pkcs11 = open_module(&config.module, config.softhsm2_conf.as_deref())?;
    let slot = find_token(&pkcs11, &config.token_label)?;
    let session = pkcs11
        .open_rw_session(slot)
        .map_err(fail("opening a session"))?;
    session
        .login(UserType::User, Some(&AuthPin::new(pin.trim().to_string())))
        .map_err(fail("logging in"))?;
    let result = f(&session);
    let _ = session.logout();
    drop(session);
    pkcs11.finalize();
    result
}

fn open_module(module: &Path, softhsm2_conf: Option<&Path>) -> Result<Pkcs11, SealError> {
    if let Some(conf) = softhsm2_conf {
        // Read by SoftHSM2 in C_Initialize, under the lock above.
        std::env::set_var("SOFTHSM2_CONF", conf);
    }
    let pkcs11 = Pkcs11::new(module).map_err(|e| {
        SealError::new(format!(
            "loading the PKCS#11 module {}: {e}",
            module.display()
        ))
    })?;
    pkcs11
        .initialize(CInitializeArgs::OsThreads)
        .map_err(fail("initialising the module"))?;
    Ok(pkcs11)
}

fn find_token(pkcs11: &Pkcs11, label: &str) -> Result<cryptoki::slot::Slot, SealError> {
    for slot in pkcs11
        .get_slots_with_token()
        .map_err(fail("listing slots"))?
    {
        if let Ok(info) = pkcs11.get_token_info(slot) {
            if info.label().trim_end() == label {
                return Ok(slot);
            }
        }
    }
    Err(SealError::new(format!("no PKCS#11 token labelled {label}")))
}

fn find_key(session: &Session, label: &str) -> Result<Option<ObjectHandle>, SealError> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(fail("finding the wrapping key"))?;
    Ok(found.into_iter().next())
}

fn key(session: &Session, label: &str) -> Result<ObjectHandle, SealError> {
    find_key(session, label)?
        .ok_or_else(|| SealError::new(format!("the token holds no key labelled {label}")))
}

fn aad(region: &str) -> Vec<u8> {
    kms_crypto::WrapContext::sealed_root_key(region)
        .as_bytes()
        .to_vec()
}

/// Wraps the root key's bytes for `region` inside the HSM: `nonce | ciphertext and tag`.
pub fn wrap(config: &Pkcs11Config, region: &str, secret: &[u8]) -> Result<Vec<u8>, SealError> {
    with_session(config, |session| {
        let key = key(session, &config.key_label)?;
        let mut nonce = kms_crypto::random_bytes(NONCE_LEN);
        let aad = aad(region);
        let params = GcmParams::new(&mut nonce, &aad, TAG_BITS.into())
            .map_err(|e| SealError::new(format!("PKCS#11 GCM parameters: {e}")))?;
        let sealed = session
            .encrypt(&Mechanism::AesGcm(params), key, secret)
            .map_err(fail("wrapping the root key"))?;
        let mut out = nonce.clone();
        out.extend_from_slice(&sealed);
        Ok(out)
    })
}

/// Unwraps what [`wrap`] made for `region`.
pub fn unwrap(
    config: &Pkcs11Config,
    region: &str,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if blob.len() <= NONCE_LEN {
        return Err(SealError::new("the PKCS#11-sealed root key is truncated"));
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    with_session(config, |session| {
        let key = key(session, &config.key_label)?;
        let mut nonce = nonce.to_vec();
        let aad = aad(region);
        let params = GcmParams::new(&mut nonce, &aad, TAG_BITS.into())
            .map_err(|e| SealError::new(format!("PKCS#11 GCM parameters: {e}")))?;
        session
            .decrypt(&Mechanism::AesGcm(params), key, sealed)
            .map(Zeroizing::new)
            .map_err(fail("unwrapping the root key (wrong token key or region?)"))
    })
}

/// Creates the AES-256 wrapping key `config.key_label` in the token unless it exists:
/// sensitive, not extractable, for encrypt and decrypt only.
pub fn ensure_key(config: &Pkcs11Config) -> Result<(), SealError> {
    with_session(config, |session| {
        if find_key(session, &config.key_label)?.is_some() {
            return Ok(());
        }
        session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(config.key_label.as_bytes().to_vec()),
                ],
            )
            .map(|_| ())
            .map_err(fail("generating the wrapping key"))
    })
}

/// A SoftHSM2 token made for a local cluster.
#[derive(Debug, Clone)]
pub struct SoftHsmToken {
    /// Its `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    /// The user PIN file (0600).
    pub pin_file: PathBuf,
}

/// Sets up (once) a SoftHSM2 token labelled `token_label` whose files live under `dir`: its
/// config, its token directory, and a random user PIN in a 0600 file. The security officer
/// PIN is random and not kept.
pub fn init_softhsm_token(
    module: &Path,
    dir: &Path,
    token_label: &str,
) -> Result<SoftHsmToken, SealError> {
    let io = |e: std::io::Error| SealError::new(format!("preparing {}: {e}", dir.display()));
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).map_err(io)?;
    let dir = std::fs::canonicalize(dir).map_err(io)?;
    let token = SoftHsmToken {
        conf: dir.join("softhsm2.conf"),
        pin_file: dir.join("user.pin"),
    };
    if token.conf.exists() && token.pin_file.exists() {
        return Ok(token);
    }
    let conf = format!(
        "# SoftHSM2 token of a local Trent cluster (trent up).\n\
         directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        dir.join("tokens").display()
    );
    std::fs::write(&token.conf, conf).map_err(io)?;
    let user_pin = Zeroizing::new(hex::encode(kms_crypto::random_bytes(16)));
    let so_pin = Zeroizing::new(hex::encode(kms_crypto::random_bytes(16)));
    let _serial = PKCS11
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pkcs11 = open_module(module, Some(&token.conf))?;
    let slot = pkcs11
        .get_slots_with_token()
        .map_err(fail("listing slots"))?
        .into_iter()
        .find(|slot| {
            pkcs11
                .get_token_info(*slot)
                .map(|info| !info.token_initialized())
                .unwrap_or(false)
        })
        .ok_or_else(|| SealError::new("SoftHSM2 offers no free slot"))?;
    let so = AuthPin::new(so_pin.to_string());
    pkcs11
        .init_token(slot, &so, token_label)
        .map_err(fail("initialising the token"))?;
    let slot = find_token(&pkcs11, token_label)?;
    let session = pkcs11
        .open_rw_session(slot)
        .map_err(fail("opening a session"))?;
    session
        .login(UserType::So, Some(&so))
        .map_err(fail("logging in as SO"))?;
    session
        .init_pin(&AuthPin::new(user_pin.to_string()))
        .map_err(fail("setting the user PIN"))?;
    let _ = session.logout();
    drop(session);
    pkcs11.finalize();
    secret_file::create(&token.pin_file, user_pin.as_bytes())?;
    Ok(token)
}

/// Where Debian's `softhsm2` package installs the module.
pub const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Where distributions put SoftHSM2's module, most likely first.
const SOFTHSM2_CANDIDATES: &[&str] = &[
    SOFTHSM2_MODULE,
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 module on this machine: `TRENT_SOFTHSM2_MODULE` if set, else the first of the
/// usual install paths that exists, else the path `dpkg -L softhsm2` lists.
pub fn find_softhsm2_module() -> Result<PathBuf, SealError> {
    if let Some(path) = std::env::var_os("TRENT_SOFTHSM2_MODULE") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(SealError::new(format!(
                "TRENT_SOFTHSM2_MODULE names {}, which is not a file",
                path.display()
            )))
        };
    }
    if let Some(found) = SOFTHSM2_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    {
        return Ok(found);
    }
    let listed = std::process::Command::new("dpkg")
        .args(["-L", "softhsm2", "libsofthsm2"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    listed
        .lines()
        .map(PathBuf::from)
        .find(|p| p.ends_with("libsofthsm2.so") && p.is_file())
        .ok_or_else(|| {
            SealError::new(
                "SoftHSM2 is not installed (make deps installs Debian's softhsm2; or set \
                 TRENT_SOFTHSM2_MODULE to libsofthsm2.so)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softhsm_wraps_and_unwraps_bound_to_the_region() {
        let module = find_softhsm2_module().expect("SoftHSM2 is installed (make deps)");
        let dir = tempfile::tempdir().unwrap();
        let token = init_softhsm_token(&module, &dir.path().join("hsm"), "trent-test").unwrap();
        let config = Pkcs11Config {
            sealed_root_key: dir.path().join("root.sealed"),
            module,
            token_label: "trent-test".into(),
            key_label: "trent-root-wrap-r1".into(),
            pin_file: token.pin_file.clone(),
            softhsm2_conf: Some(token.conf.clone()),
        };
        ensure_key(&config).unwrap();
        ensure_key(&config).unwrap();
        let secret = [7u8; 32];
        let blob = wrap(&config, "r1", &secret).unwrap();
        assert!(!blob.windows(32).any(|w| w == secret));
        assert_eq!(unwrap(&config, "r1", &blob).unwrap().as_slice(), &secret);
        assert!(unwrap(&config, "r2", &blob).is_err());
    }
}
