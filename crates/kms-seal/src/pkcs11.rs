//! The PKCS#11 seal: an AES-256 key that never leaves the token wraps the root key with
//! CKM_AES_GCM inside the HSM ([`wrap`], [`unwrap`]), plus what a local cluster needs to set
//! up SoftHSM2 ([`init_softhsm_token`], [`ensure_key`]).
//!
//! The PKCS#11 calls are kms-keystore's ([`kms_keystore::hsm`]): the module is initialised
//! once per process for the seal and the HSM key stores alike, and finalised only when none
//! of them holds it (a C_Finalize of the seal's own would end the key stores' sessions).
//! SoftHSM2 reads `SOFTHSM2_CONF` when the module is initialised, so with `softhsm2_conf` set
//! the seal waits (up to [`MODULE_WAIT`]) while the module is held with another config, then
//! initialises it with its own; two configs never mix.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kms_keystore::hsm::{self, HsmError, HsmModule, HsmToken};
use zeroize::Zeroizing;

use crate::{secret_file, Pkcs11Config, SealError};

const NONCE_LEN: usize = hsm::GCM_IV_LEN;
const TAG_LEN: usize = hsm::GCM_TAG_LEN;

/// How long the seal waits for the PKCS#11 module while it is held with another SoftHSM2
/// config (by another seal, or by key stores).
pub const MODULE_WAIT: Duration = Duration::from_secs(60);

fn fail(what: &str) -> impl Fn(HsmError) -> SealError + '_ {
    move |e| SealError::new(format!("PKCS#11 {what}: {e}"))
}

fn open_module(module: &Path, softhsm2_conf: Option<&Path>) -> Result<Arc<HsmModule>, SealError> {
    hsm::module_waiting(module, softhsm2_conf, MODULE_WAIT).map_err(fail("module"))
}

/// A logged-in user on the configured token (logged out when the last user of the token in
/// the process lets go).
fn connect(config: &Pkcs11Config) -> Result<HsmToken, SealError> {
    let pin = secret_file::read(&config.pin_file, "the PKCS#11 PIN file")?;
    let module = open_module(&config.module, config.softhsm2_conf.as_deref())?;
    HsmToken::connect(module, &config.token_label, pin.trim())
        .map_err(fail("logging in to the token"))
}

fn aad(region: &str) -> Vec<u8> {
    kms_crypto::WrapContext::sealed_root_key(region)
        .as_bytes()
        .to_vec()
}

/// Wraps the root key's bytes for `region` inside the HSM: `nonce | ciphertext | tag`.
pub fn wrap(config: &Pkcs11Config, region: &str, secret: &[u8]) -> Result<Vec<u8>, SealError> {
    let token = connect(config)?;
    let sealed = token
        .encrypt_gcm(&config.key_label, &aad(region), secret)
        .map_err(fail("wrapping the root key"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.ciphertext.len() + TAG_LEN);
    out.extend_from_slice(&sealed.iv);
    out.extend_from_slice(&sealed.ciphertext);
    out.extend_from_slice(&sealed.tag);
    Ok(out)
}

/// Unwraps what [`wrap`] made for `region`.
pub fn unwrap(
    config: &Pkcs11Config,
    region: &str,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::new("the PKCS#11-sealed root key is truncated"));
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let token = connect(config)?;
    token
        .decrypt_gcm(&config.key_label, nonce, &aad(region), ciphertext, tag)
        .map_err(fail("unwrapping the root key (wrong token key or region?)"))
}

/// Creates the AES-256 wrapping key `config.key_label` in the token unless it exists:
/// sensitive, not extractable, for encrypt and decrypt only.
pub fn ensure_key(config: &Pkcs11Config) -> Result<(), SealError> {
    let token = connect(config)?;
    if token
        .key_info(&config.key_label)
        .map_err(fail("finding the wrapping key"))?
        .is_some()
    {
        return Ok(());
    }
    match token.create_aes_key(&config.key_label) {
        Ok(()) | Err(HsmError::KeyExists(_)) => Ok(()),
        Err(e) => Err(fail("generating the wrapping key")(e)),
    }
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
    let conf = format!(
        "# SoftHSM2 token of a local Trent cluster (trent up).\n\
         directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        dir.join("tokens").display()
    );
    if token.conf.exists() && token.pin_file.exists() {
        // The directory may have moved since (a data directory copied or restored elsewhere):
        // the config names its token directory by absolute path.
        if std::fs::read_to_string(&token.conf).map_err(io)? != conf {
            std::fs::write(&token.conf, &conf).map_err(io)?;
        }
        return Ok(token);
    }
    std::fs::write(&token.conf, conf).map_err(io)?;
    let user_pin = Zeroizing::new(hex::encode(kms_crypto::random_bytes(16)));
    let so_pin = Zeroizing::new(hex::encode(kms_crypto::random_bytes(16)));
    open_module(module, Some(&token.conf))?
        .init_token(token_label, &so_pin, &user_pin)
        .map_err(fail("initialising the token"))?;
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

    /// A SoftHSM2 token of its own under `dir` (so its own `SOFTHSM2_CONF`) and a wrapping
    /// key for `region`.
    fn softhsm_seal(dir: &Path, label: &str, region: &str) -> Pkcs11Config {
        let module = find_softhsm2_module().expect("SoftHSM2 is installed (make deps)");
        let token = init_softhsm_token(&module, &dir.join("hsm"), label).unwrap();
        let config = Pkcs11Config {
            sealed_root_key: dir.join("root.sealed"),
            module,
            token_label: label.into(),
            key_label: format!("trent-root-wrap-{region}"),
            pin_file: token.pin_file.clone(),
            softhsm2_conf: Some(token.conf.clone()),
        };
        ensure_key(&config).unwrap();
        ensure_key(&config).unwrap();
        config
    }

    #[test]
    fn softhsm_wraps_and_unwraps_bound_to_the_region() {
        let dir = tempfile::tempdir().unwrap();
        let config = softhsm_seal(dir.path(), "trent-test", "r1");
        let secret = [7u8; 32];
        let blob = wrap(&config, "r1", &secret).unwrap();
        assert_eq!(blob.len(), NONCE_LEN + 32 + TAG_LEN);
        assert!(!blob.windows(32).any(|w| w == secret));
        assert_eq!(unwrap(&config, "r1", &blob).unwrap().as_slice(), &secret);
        assert!(unwrap(&config, "r2", &blob).is_err());
        assert!(unwrap(&config, "r1", &blob[..NONCE_LEN + TAG_LEN - 1])
            .unwrap_err()
            .0
            .contains("truncated"));
    }

    #[test]
    fn seals_with_other_softhsm_configs_take_turns_in_one_process() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        std::thread::scope(|scope| {
            for (i, dir) in dirs.iter().enumerate() {
                scope.spawn(move || {
                    let region = format!("r{i}");
                    let config = softhsm_seal(dir.path(), "trent-turns", &region);
                    for round in 0..3u8 {
                        let secret = [round; 32];
                        let blob = wrap(&config, &region, &secret).unwrap();
                        assert_eq!(unwrap(&config, &region, &blob).unwrap().as_slice(), &secret);
                    }
                });
            }
        });
    }

    #[test]
    fn the_seal_leaves_a_key_store_on_the_same_token_logged_in() {
        let dir = tempfile::tempdir().unwrap();
        let config = softhsm_seal(dir.path(), "trent-shared", "r1");
        let pin = secret_file::read(&config.pin_file, "the PIN").unwrap();
        let module = open_module(&config.module, config.softhsm2_conf.as_deref()).unwrap();
        let store = HsmToken::connect(module, &config.token_label, pin.trim()).unwrap();
        store
            .create_aes_key("arn:aws:kms:r1:111122223333:key/k")
            .unwrap();

        let blob = wrap(&config, "r1", &[9u8; 32]).unwrap();
        assert_eq!(unwrap(&config, "r1", &blob).unwrap().as_slice(), &[9u8; 32]);
        ensure_key(&config).unwrap();

        // No C_Finalize, no C_Logout under the key store's feet.
        store.health_check().unwrap();
        let sealed = store
            .encrypt_gcm("arn:aws:kms:r1:111122223333:key/k", b"aad", b"data key")
            .unwrap();
        let opened = store
            .decrypt_gcm(
                "arn:aws:kms:r1:111122223333:key/k",
                &sealed.iv,
                b"aad",
                &sealed.ciphertext,
                &sealed.tag,
            )
            .unwrap();
        assert_eq!(opened.as_slice(), b"data key");
    }

    #[test]
    fn a_token_directory_that_moved_still_opens() {
        let first = tempfile::tempdir().unwrap();
        let config = softhsm_seal(first.path(), "trent-moved", "r1");
        let blob = wrap(&config, "r1", &[5u8; 32]).unwrap();
        // The whole directory is moved, as `mv data elsewhere` would.
        let second = tempfile::tempdir().unwrap();
        let moved = second.path().join("data");
        std::fs::rename(first.path(), &moved).unwrap();
        let module = find_softhsm2_module().unwrap();
        let token = init_softhsm_token(&module, &moved.join("hsm"), "trent-moved").unwrap();
        let conf = std::fs::read_to_string(&token.conf).unwrap();
        assert!(
            conf.contains(
                &moved
                    .canonicalize()
                    .unwrap()
                    .join("hsm/tokens")
                    .display()
                    .to_string()
            ),
            "{conf}"
        );
        let config = Pkcs11Config {
            sealed_root_key: moved.join("root.sealed"),
            pin_file: token.pin_file.clone(),
            softhsm2_conf: Some(token.conf.clone()),
            ..config
        };
        assert_eq!(unwrap(&config, "r1", &blob).unwrap().as_slice(), &[5u8; 32]);
    }
}
