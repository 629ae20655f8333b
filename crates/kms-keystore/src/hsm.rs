//! PKCS#11 tokens as key stores (the `cryptoki` crate; any module, SoftHSM2 in tests): the
//! process-wide context of each module ([`module`], [`HsmModule`]), a logged-in user on one
//! token with a small pool of sessions ([`HsmToken`]), and what a key store does there:
//! AES-256 keys generated inside the token, sensitive and never extractable, used for AES-GCM
//! ([`HsmToken::encrypt_gcm`], [`HsmToken::decrypt_gcm`]) and random bytes from the token.
//!
//! A module is initialised once per process for all its users (the HSM key stores, the XKS
//! proxy's store, the PKCS#11 seal of the root key) and finalised only when the last of them
//! lets go of it: C_Finalize would end every session in the process. PKCS#11 logins belong to
//! the application, not to a session, so the module also keeps which tokens this process is
//! logged in to and with what PIN (as a MAC under a per-process key, never the PIN itself).
//!
//! Every call blocks; async callers use `spawn_blocking`. Nothing here logs or formats a PIN
//! or a plaintext.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

#[cfg(test)]
mod tests;

/// The AES-GCM IV length the token is given.
pub const GCM_IV_LEN: usize = 12;
/// The AES-GCM tag length.
pub const GCM_TAG_LEN: usize = 16;
/// The length of the AES keys made by [`HsmToken::create_aes_key`].
pub const AES_KEY_LEN: u64 = 32;
/// How many sessions an [`HsmToken`] opens at most; callers beyond that wait for one.
pub const MAX_SESSIONS: usize = 4;

/// Why a PKCS#11 call failed. Messages name labels and PKCS#11 return values, never a PIN or
/// a plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HsmError {
    /// The module could not be loaded or initialised, or was initialised differently.
    #[error("PKCS#11 module: {0}")]
    Module(String),
    /// No token with this label is present.
    #[error("no PKCS#11 token labelled {0:?}")]
    TokenNotFound(String),
    /// The token refused the PIN (or has no user PIN set).
    #[error("the PKCS#11 token refused the PIN")]
    PinIncorrect,
    /// The token's user PIN is locked.
    #[error("the PKCS#11 token's user PIN is locked")]
    PinLocked,
    /// The token's user (or its security officer) is logged in by something in this process
    /// that is not an [`HsmToken`].
    #[error("the PKCS#11 token is already logged in outside this key store")]
    UserAlreadyLoggedIn,
    /// The token holds no key with this label.
    #[error("the PKCS#11 token holds no key labelled {0:?}")]
    KeyNotFound(String),
    /// The token already holds a key with this label.
    #[error("the PKCS#11 token already holds a key labelled {0:?}")]
    KeyExists(String),
    /// Authenticated decryption failed: another key, IV or AAD, or altered ciphertext or tag.
    #[error("the PKCS#11 token could not decrypt: wrong key, IV or AAD, or an altered ciphertext or tag")]
    DecryptFailed,
    /// The caller's input was refused before reaching the token.
    #[error("{0}")]
    InvalidInput(String),
    /// The token or its session failed.
    #[error("PKCS#11 device: {0}")]
    Device(String),
}

impl HsmError {
    /// The AWS CloudHSM key store `ConnectionErrorCode` this failure to connect stands for.
    pub fn connection_error_code(&self) -> &'static str {
        match self {
            HsmError::TokenNotFound(_) => "CLUSTER_NOT_FOUND",
            HsmError::PinIncorrect => "INVALID_CREDENTIALS",
            HsmError::PinLocked => "USER_LOCKED_OUT",
            HsmError::UserAlreadyLoggedIn => "USER_LOGGED_IN",
            HsmError::Device(_) => "NETWORK_ERRORS",
            HsmError::Module(_)
            | HsmError::KeyNotFound(_)
            | HsmError::KeyExists(_)
            | HsmError::DecryptFailed
            | HsmError::InvalidInput(_) => "INTERNAL_ERROR",
        }
    }
}

/// `what` failed with `e`: the error the caller sees. PIN errors only come from logins.
fn ck(what: &str) -> impl Fn(CkError) -> HsmError + '_ {
    move |e| match e {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::PinIncorrect
            | RvError::PinInvalid
            | RvError::PinLenRange
            | RvError::PinExpired
            | RvError::UserPinNotInitialized => HsmError::PinIncorrect,
            RvError::PinLocked => HsmError::PinLocked,
            RvError::UserAlreadyLoggedIn
            | RvError::UserAnotherAlreadyLoggedIn
            | RvError::UserTooManyTypes => HsmError::UserAlreadyLoggedIn,
            RvError::CryptokiNotInitialized => HsmError::Module(format!("{what}: {e}")),
            _ => HsmError::Device(format!("{what}: {e}")),
        },
        CkError::LibraryLoading(_) => HsmError::Module(format!("{what}: {e}")),
        _ => HsmError::Device(format!("{what}: {e}")),
    }
}

/// Whether `e` means the session it happened in is gone (so it is not pooled again).
fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::CryptokiNotInitialized,
            _
        )
    )
}

// ---------------------------------------------------------------------------------------------
// The process-wide module registry.

/// A module's place in the registry: the live module, if any, and the SoftHSM2 config it was
/// initialised with.
struct Entry {
    module: Weak<HsmModule>,
    generation: u64,
    conf: Option<PathBuf>,
}

fn registry() -> MutexGuard<'static, HashMap<PathBuf, Entry>> {
    static REGISTRY: LazyLock<Mutex<HashMap<PathBuf, Entry>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Signalled whenever a module leaves the registry (its last user let go of it).
fn released() -> &'static Condvar {
    static RELEASED: Condvar = Condvar::new();
    &RELEASED
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// One initialised PKCS#11 module, shared by every user in the process (see [`module`]).
pub struct HsmModule {
    /// The module as its users named it.
    path: PathBuf,
    /// Its registry key: the canonical path, so two names of one library share one context.
    key: PathBuf,
    generation: u64,
    /// The `SOFTHSM2_CONF` in effect when it was initialised.
    conf: Option<PathBuf>,
    /// `Some` until dropped; taken in `drop` so C_Finalize runs under the registry lock.
    pkcs11: Option<Pkcs11>,
    /// The tokens (by slot) this process is logged in to as the user.
    logins: Mutex<HashMap<u64, Login>>,
    /// Serialises key creation, so two creators of one label cannot both pass the check.
    creating: Mutex<()>,
}

/// A user login on one token, shared by the [`HsmToken`]s connected to it.
struct Login {
    pin_mac: [u8; 32],
    holders: usize,
}

impl std::fmt::Debug for HsmModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmModule")
            .field("path", &self.path)
            .field("softhsm2_conf", &self.conf)
            .finish_non_exhaustive()
    }
}

/// The PKCS#11 module at `path`, initialised on first use (with OS locking) and shared by
/// every caller in the process; it stays initialised while anyone holds the returned `Arc`
/// (or an [`HsmToken`] on it) and is finalised when the last holder lets go.
///
/// SoftHSM2 reads `SOFTHSM2_CONF` in C_Initialize, so `softhsm2_conf`, when given, is set as
/// that variable before the first initialisation; asking for another config while the module
/// is initialised is an error naming both (see [`module_waiting`] to wait instead).
pub fn module(path: &Path, softhsm2_conf: Option<&Path>) -> Result<Arc<HsmModule>, HsmError> {
    acquire(path, softhsm2_conf, None)
}

/// [`module`], except that while the module is held with another `SOFTHSM2_CONF` this waits
/// up to `wait` for its holders to let go of it (then initialises it with `softhsm2_conf`),
/// for short-lived users such as the seal of the root key.
pub fn module_waiting(
    path: &Path,
    softhsm2_conf: Option<&Path>,
    wait: Duration,
) -> Result<Arc<HsmModule>, HsmError> {
    acquire(path, softhsm2_conf, Some(Instant::now() + wait))
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn describe_conf(conf: Option<&Path>) -> String {
    match conf {
        Some(conf) => format!("SOFTHSM2_CONF={}", conf.display()),
        None => "no SOFTHSM2_CONF".to_string(),
    }
}

fn acquire(
    path: &Path,
    softhsm2_conf: Option<&Path>,
    deadline: Option<Instant>,
) -> Result<Arc<HsmModule>, HsmError> {
    let key = canonical(path);
    let wanted = softhsm2_conf.map(canonical);
    let mut map = registry();
    loop {
        let Some(entry) = map.get(&key) else {
            return initialise(map, path, key, softhsm2_conf, wanted);
        };
        let compatible = wanted.is_none() || wanted == entry.conf;
        if !compatible {
            if entry.module.strong_count() == 0 {
                // Its last holder is dropping it: it leaves the registry in a moment.
                map = released()
                    .wait(map)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            if let Some(deadline) = deadline {
                let now = Instant::now();
                if now < deadline {
                    map = released()
                        .wait_timeout(map, deadline - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0;
                    continue;
                }
            }
            return Err(HsmError::Module(format!(
                "{} is initialised in this process with {}, not {}",
                path.display(),
                describe_conf(entry.conf.as_deref()),
                describe_conf(softhsm2_conf),
            )));
        }
        match entry.module.upgrade() {
            // Returned to the caller, so never dropped under the registry lock here.
            Some(module) => return Ok(module),
            // Its last holder is dropping it right now: wait until it has left the registry.
            None => {
                map = released()
                    .wait(map)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
    }
}

fn initialise(
    mut map: MutexGuard<'static, HashMap<PathBuf, Entry>>,
    path: &Path,
    key: PathBuf,
    softhsm2_conf: Option<&Path>,
    wanted: Option<PathBuf>,
) -> Result<Arc<HsmModule>, HsmError> {
    let loading = |e: CkError| HsmError::Module(format!("loading {}: {e}", path.display()));
    if let Some(conf) = softhsm2_conf {
        // Read by SoftHSM2 in C_Initialize, which runs under the registry lock.
        std::env::set_var("SOFTHSM2_CONF", conf);
    }
    let conf = wanted.or_else(|| std::env::var_os("SOFTHSM2_CONF").map(|c| canonical(c.as_ref())));
    let pkcs11 = Pkcs11::new(path).map_err(loading)?;
    if let Err(e) = pkcs11.initialize(CInitializeArgs::OsThreads) {
        if matches!(e, CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) {
            // Someone in this process initialised it without this registry: dropping this
            // context would finalise theirs, so it is leaked instead.
            std::mem::forget(pkcs11);
            return Err(HsmError::Module(format!(
                "{} was initialised in this process outside the key store registry",
                path.display()
            )));
        }
        return Err(HsmError::Module(format!(
            "initialising {}: {e}",
            path.display()
        )));
    }
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    let module = Arc::new(HsmModule {
        path: path.to_path_buf(),
        key: key.clone(),
        generation,
        conf: conf.clone(),
        pkcs11: Some(pkcs11),
        logins: Mutex::new(HashMap::new()),
        creating: Mutex::new(()),
    });
    map.insert(
        key,
        Entry {
            module: Arc::downgrade(&module),
            generation,
            conf,
        },
    );
    Ok(module)
}

impl Drop for HsmModule {
    fn drop(&mut self) {
        let mut map = registry();
        if map.get(&self.key).map(|e| e.generation) == Some(self.generation) {
            map.remove(&self.key);
        }
        // C_Finalize (the last clone of the context: every session held one and is closed),
        // before another caller can initialise the module again.
        drop(self.pkcs11.take());
        drop(map);
        released().notify_all();
    }
}

impl HsmModule {
    /// The module's path, as its first user gave it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `SOFTHSM2_CONF` in effect when the module was initialised.
    pub fn softhsm2_conf(&self) -> Option<&Path> {
        self.conf.as_deref()
    }

    fn pkcs11(&self) -> &Pkcs11 {
        // Only `drop` takes it, and nothing borrows `self` then.
        self.pkcs11
            .as_ref()
            .unwrap_or_else(|| unreachable!("the PKCS#11 context is taken only in drop"))
    }

    /// The labels of the initialised tokens present.
    pub fn token_labels(&self) -> Result<Vec<String>, HsmError> {
        let pkcs11 = self.pkcs11();
        let slots = pkcs11
            .get_slots_with_initialized_token()
            .map_err(ck("listing the slots"))?;
        Ok(slots
            .into_iter()
            .filter_map(|slot| pkcs11.get_token_info(slot).ok())
            .map(|info| info.label().trim_end().to_string())
            .collect())
    }

    /// The slot of the initialised token labelled `label`.
    fn find_token(&self, label: &str) -> Result<Slot, HsmError> {
        let pkcs11 = self.pkcs11();
        let mut found = pkcs11
            .get_slots_with_initialized_token()
            .map_err(ck("listing the slots"))?
            .into_iter()
            .filter(|slot| {
                pkcs11
                    .get_token_info(*slot)
                    .map(|info| info.label().trim_end() == label)
                    .unwrap_or(false)
            });
        let slot = found
            .next()
            .ok_or_else(|| HsmError::TokenNotFound(label.to_string()))?;
        if found.next().is_some() {
            return Err(HsmError::Device(format!(
                "several tokens are labelled {label:?}"
            )));
        }
        Ok(slot)
    }

    /// Initialises a token labelled `token_label` in a free slot (SoftHSM2 always offers one)
    /// and sets its user PIN: for setting up a local token, not for production HSMs.
    pub fn init_token(
        &self,
        token_label: &str,
        so_pin: &str,
        user_pin: &str,
    ) -> Result<(), HsmError> {
        if token_label.is_empty() || token_label.len() > 32 {
            return Err(HsmError::InvalidInput(
                "a token label has 1 to 32 bytes".to_string(),
            ));
        }
        match self.find_token(token_label) {
            Err(HsmError::TokenNotFound(_)) => {}
            Err(e) => return Err(e),
            Ok(_) => {
                return Err(HsmError::InvalidInput(format!(
                    "a token labelled {token_label:?} exists already"
                )))
            }
        }
        let pkcs11 = self.pkcs11();
        let free = pkcs11
            .get_slots_with_token()
            .map_err(ck("listing the slots"))?
            .into_iter()
            .find(|slot| {
                pkcs11
                    .get_token_info(*slot)
                    .map(|info| !info.token_initialized())
                    .unwrap_or(false)
            })
            .ok_or_else(|| HsmError::Device("the module offers no free slot".to_string()))?;
        let so = AuthPin::new(so_pin.to_string());
        pkcs11
            .init_token(free, &so, token_label)
            .map_err(ck("initialising the token"))?;
        let slot = self.find_token(token_label)?;
        let session = pkcs11
            .open_rw_session(slot)
            .map_err(ck("opening a session"))?;
        session
            .login(UserType::So, Some(&so))
            .map_err(ck("logging in as the security officer"))?;
        let set = session
            .init_pin(&AuthPin::new(user_pin.to_string()))
            .map_err(ck("setting the user PIN"));
        let _ = session.logout();
        set
    }
}

/// The per-process key under which logins remember their PIN.
fn pin_mac(pin: &str) -> [u8; 32] {
    static KEY: OnceLock<Zeroizing<Vec<u8>>> = OnceLock::new();
    let key = KEY.get_or_init(|| Zeroizing::new(kms_crypto::random_bytes(32)));
    kms_crypto::hmac_sha256(key, pin.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Tokens.

/// A logged-in user on one token, with up to [`MAX_SESSIONS`] sessions shared by its callers.
///
/// Several `HsmToken`s in the process may connect to one token: they share its login (PKCS#11
/// logs in an application, not a session), each presenting the PIN; the last to go logs out.
pub struct HsmToken {
    // Declared (so dropped) before `module`: sessions close before the context can finalise.
    pool: Mutex<Pool>,
    available: Condvar,
    slot: Slot,
    label: String,
    module: Arc<HsmModule>,
}

struct Pool {
    idle: Vec<Session>,
    open: usize,
}

impl std::fmt::Debug for HsmToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmToken")
            .field("label", &self.label)
            .field("slot", &self.slot.id())
            .field("module", &self.module.path)
            .finish_non_exhaustive()
    }
}

/// What [`HsmToken::key_info`] reads of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsmKeyInfo {
    /// CKA_LABEL.
    pub label: String,
    /// CKA_KEY_TYPE is CKK_AES.
    pub key_type_aes: bool,
    /// CKA_VALUE_LEN, in bytes.
    pub value_len: u64,
    /// CKA_EXTRACTABLE.
    pub extractable: bool,
    /// CKA_SENSITIVE.
    pub sensitive: bool,
    /// CKA_ENCRYPT.
    pub can_encrypt: bool,
    /// CKA_DECRYPT.
    pub can_decrypt: bool,
}

/// What [`HsmToken::encrypt_gcm`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcmSealed {
    /// The IV, drawn from the token's RNG.
    pub iv: [u8; GCM_IV_LEN],
    /// The ciphertext (as long as the plaintext).
    pub ciphertext: Vec<u8>,
    /// The 128-bit tag.
    pub tag: [u8; GCM_TAG_LEN],
}

/// A session borrowed from a token's pool; back to the pool when dropped unless it was lost.
struct Lease<'a> {
    token: &'a HsmToken,
    session: Option<Session>,
}

impl Lease<'_> {
    fn session(&self) -> &Session {
        self.session
            .as_ref()
            .unwrap_or_else(|| unreachable!("a lease holds its session until dropped"))
    }

    /// Runs a PKCS#11 call, dropping the session if the call says it is gone.
    fn raw<T>(
        &mut self,
        f: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> cryptoki::error::Result<T> {
        let result = f(self.session());
        if let Err(e) = &result {
            if session_lost(e) {
                self.session = None;
            }
        }
        result
    }

    /// [`raw`](Self::raw), its error said as `what` failing.
    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> Result<T, HsmError> {
        self.raw(f).map_err(ck(what))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut pool = self.token.lock_pool();
        match self.session.take() {
            Some(session) => pool.idle.push(session),
            None => pool.open -= 1,
        }
        drop(pool);
        self.token.available.notify_one();
    }
}

fn validate_label(label: &str) -> Result<(), HsmError> {
    if label.is_empty() {
        return Err(HsmError::InvalidInput(
            "a key label is never empty".to_string(),
        ));
    }
    Ok(())
}

fn validate_aad(aad: &[u8]) -> Result<(), HsmError> {
    // SoftHSM2 crashes on AES-GCM with empty AAD (SoftHSMv2 issue #605).
    if aad.is_empty() {
        return Err(HsmError::InvalidInput(
            "AES-GCM in the HSM needs non-empty AAD".to_string(),
        ));
    }
    Ok(())
}

impl HsmToken {
    /// Logs in as the user (CKU_USER) on the token labelled `token_label`. When this process
    /// is logged in to that token already (another `HsmToken`), its login is shared provided
    /// `pin` is the PIN it logged in with; a login made outside `HsmToken` is
    /// [`HsmError::UserAlreadyLoggedIn`].
    pub fn connect(
        module: Arc<HsmModule>,
        token_label: &str,
        pin: &str,
    ) -> Result<HsmToken, HsmError> {
        let slot = module.find_token(token_label)?;
        let mac = pin_mac(pin);
        let mut logins = module
            .logins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let session = module
            .pkcs11()
            .open_rw_session(slot)
            .map_err(ck("opening a session"))?;
        let state = session
            .get_session_info()
            .map_err(ck("reading the session state"))?
            .session_state();
        // Logged in already: that is a login only if it is ours, and only with this PIN.
        let share = |logins: &mut HashMap<u64, Login>| match logins.get_mut(&slot.id()) {
            None => Err(HsmError::UserAlreadyLoggedIn),
            Some(login) if !kms_crypto::constant_time_eq(&login.pin_mac, &mac) => {
                Err(HsmError::PinIncorrect)
            }
            Some(login) => {
                login.holders += 1;
                Ok(())
            }
        };
        match state {
            SessionState::RwUser | SessionState::RoUser => share(&mut logins)?,
            SessionState::RwPublic | SessionState::RoPublic => {
                match session.login(UserType::User, Some(&AuthPin::new(pin.to_string()))) {
                    Ok(()) => {
                        // A login of ours that the token dropped (its sessions were lost) is
                        // renewed for its holders.
                        let holders = logins.get(&slot.id()).map_or(0, |l| l.holders);
                        logins.insert(
                            slot.id(),
                            Login {
                                pin_mac: mac,
                                holders: holders + 1,
                            },
                        );
                    }
                    Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => share(&mut logins)?,
                    Err(e) => return Err(ck("logging in")(e)),
                }
            }
            _ => return Err(HsmError::UserAlreadyLoggedIn),
        }
        drop(logins);
        Ok(HsmToken {
            pool: Mutex::new(Pool {
                idle: vec![session],
                open: 1,
            }),
            available: Condvar::new(),
            slot,
            label: token_label.to_string(),
            module,
        })
    }

    /// The label of the token.
    pub fn token_label(&self) -> &str {
        &self.label
    }

    /// The module the token is in.
    pub fn module(&self) -> &Arc<HsmModule> {
        &self.module
    }

    fn lock_pool(&self) -> MutexGuard<'_, Pool> {
        self.pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An idle session, a new one while fewer than [`MAX_SESSIONS`] are open, or else the
    /// next one another caller gives back.
    fn lease(&self) -> Result<Lease<'_>, HsmError> {
        let mut pool = self.lock_pool();
        loop {
            if let Some(session) = pool.idle.pop() {
                return Ok(Lease {
                    token: self,
                    session: Some(session),
                });
            }
            if pool.open < MAX_SESSIONS {
                pool.open += 1;
                drop(pool);
                return match self.module.pkcs11().open_rw_session(self.slot) {
                    Ok(session) => Ok(Lease {
                        token: self,
                        session: Some(session),
                    }),
                    Err(e) => {
                        self.lock_pool().open -= 1;
                        self.available.notify_one();
                        Err(ck("opening a session")(e))
                    }
                };
            }
            pool = self
                .available
                .wait(pool)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// The key labelled `label`, if any; several keys with one label are an error.
    fn find_key(lease: &mut Lease<'_>, label: &str) -> Result<Option<ObjectHandle>, HsmError> {
        let found = Self::find_keys(lease, label)?;
        if found.len() > 1 {
            return Err(HsmError::Device(format!(
                "the token holds {} keys labelled {label:?}",
                found.len()
            )));
        }
        Ok(found.into_iter().next())
    }

    fn find_keys(lease: &mut Lease<'_>, label: &str) -> Result<Vec<ObjectHandle>, HsmError> {
        lease.call("finding the key", |s| {
            s.find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
        })
    }

    fn key(lease: &mut Lease<'_>, label: &str) -> Result<ObjectHandle, HsmError> {
        Self::find_key(lease, label)?.ok_or_else(|| HsmError::KeyNotFound(label.to_string()))
    }

    /// Generates an AES-256 key labelled `label` inside the token: a token object, private,
    /// sensitive, never extractable, for encrypt and decrypt only.
    pub fn create_aes_key(&self, label: &str) -> Result<(), HsmError> {
        validate_label(label)?;
        let _creating = self
            .module
            .creating
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut lease = self.lease()?;
        if !Self::find_keys(&mut lease, label)?.is_empty() {
            return Err(HsmError::KeyExists(label.to_string()));
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(AES_KEY_LEN.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        lease
            .call("generating the key", |s| {
                s.generate_key(&Mechanism::AesKeyGen, &template)
            })
            .map(|_| ())
    }

    /// The attributes of the key labelled `label`, or `None` if the token has none.
    pub fn key_info(&self, label: &str) -> Result<Option<HsmKeyInfo>, HsmError> {
        validate_label(label)?;
        let mut lease = self.lease()?;
        let Some(key) = Self::find_key(&mut lease, label)? else {
            return Ok(None);
        };
        let attributes = lease.call("reading the key's attributes", |s| {
            s.get_attributes(
                key,
                &[
                    AttributeType::Label,
                    AttributeType::KeyType,
                    AttributeType::ValueLen,
                    AttributeType::Extractable,
                    AttributeType::Sensitive,
                    AttributeType::Encrypt,
                    AttributeType::Decrypt,
                ],
            )
        })?;
        let mut info = HsmKeyInfo {
            label: String::new(),
            key_type_aes: false,
            value_len: 0,
            extractable: false,
            sensitive: false,
            can_encrypt: false,
            can_decrypt: false,
        };
        for attribute in attributes {
            match attribute {
                Attribute::Label(bytes) => {
                    info.label = String::from_utf8_lossy(&bytes).into_owned()
                }
                Attribute::KeyType(kind) => info.key_type_aes = kind == KeyType::AES,
                Attribute::ValueLen(len) => info.value_len = len.into(),
                Attribute::Extractable(b) => info.extractable = b,
                Attribute::Sensitive(b) => info.sensitive = b,
                Attribute::Encrypt(b) => info.can_encrypt = b,
                Attribute::Decrypt(b) => info.can_decrypt = b,
                _ => {}
            }
        }
        Ok(Some(info))
    }

    /// Destroys the key labelled `label` (every key so labelled); `false` if there was none.
    pub fn destroy_key(&self, label: &str) -> Result<bool, HsmError> {
        validate_label(label)?;
        let mut lease = self.lease()?;
        let keys = Self::find_keys(&mut lease, label)?;
        for key in &keys {
            lease.call("destroying the key", |s| s.destroy_object(*key))?;
        }
        Ok(!keys.is_empty())
    }

    /// AES-GCM under the key labelled `label`, inside the token: a 12-byte IV from
    /// C_GenerateRandom, `aad` (never empty), a 128-bit tag.
    pub fn encrypt_gcm(
        &self,
        label: &str,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<GcmSealed, HsmError> {
        validate_label(label)?;
        validate_aad(aad)?;
        let mut lease = self.lease()?;
        let key = Self::key(&mut lease, label)?;
        let mut iv = [0u8; GCM_IV_LEN];
        lease.call("drawing the IV", |s| s.generate_random_slice(&mut iv))?;
        let params = GcmParams::new(&mut iv, aad, (GCM_TAG_LEN as u64 * 8).into())
            .map_err(|e| HsmError::InvalidInput(format!("AES-GCM parameters: {e}")))?;
        let mut sealed = lease.call("encrypting", |s| {
            s.encrypt(&Mechanism::AesGcm(params), key, plaintext)
        })?;
        if sealed.len() != plaintext.len() + GCM_TAG_LEN {
            return Err(HsmError::Device(format!(
                "AES-GCM returned {} bytes for {} of plaintext",
                sealed.len(),
                plaintext.len()
            )));
        }
        let mut tag = [0u8; GCM_TAG_LEN];
        tag.copy_from_slice(&sealed[plaintext.len()..]);
        sealed.truncate(plaintext.len());
        Ok(GcmSealed {
            iv,
            ciphertext: sealed,
            tag,
        })
    }

    /// Reverses [`encrypt_gcm`](Self::encrypt_gcm); any mismatch is [`HsmError::DecryptFailed`].
    pub fn decrypt_gcm(
        &self,
        label: &str,
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        validate_label(label)?;
        validate_aad(aad)?;
        if iv.len() != GCM_IV_LEN {
            return Err(HsmError::InvalidInput(format!(
                "the AES-GCM IV has {GCM_IV_LEN} bytes, not {}",
                iv.len()
            )));
        }
        if tag.len() != GCM_TAG_LEN {
            return Err(HsmError::InvalidInput(format!(
                "the AES-GCM tag has {GCM_TAG_LEN} bytes, not {}",
                tag.len()
            )));
        }
        let mut lease = self.lease()?;
        let key = Self::key(&mut lease, label)?;
        let mut iv = iv.to_vec();
        let params = GcmParams::new(&mut iv, aad, (GCM_TAG_LEN as u64 * 8).into())
            .map_err(|e| HsmError::InvalidInput(format!("AES-GCM parameters: {e}")))?;
        let mut sealed = Vec::with_capacity(ciphertext.len() + GCM_TAG_LEN);
        sealed.extend_from_slice(ciphertext);
        sealed.extend_from_slice(tag);
        let result = lease.raw(|s| s.decrypt(&Mechanism::AesGcm(params), key, &sealed));
        match result {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            Err(CkError::Pkcs11(
                RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange,
                _,
            )) => Err(HsmError::DecryptFailed),
            // SoftHSM2 says a GCM tag mismatch with CKR_GENERAL_ERROR from C_Decrypt (the key
            // and parameters were accepted by C_DecryptInit).
            Err(CkError::Pkcs11(RvError::GeneralError, Function::Decrypt)) => {
                Err(HsmError::DecryptFailed)
            }
            Err(e) => Err(ck("decrypting")(e)),
        }
    }

    /// `len` bytes from the token's RNG (C_GenerateRandom).
    pub fn random(&self, len: usize) -> Result<Vec<u8>, HsmError> {
        let mut out = vec![0u8; len];
        if len > 0 {
            let mut lease = self.lease()?;
            lease.call("drawing random bytes", |s| {
                s.generate_random_slice(&mut out)
            })?;
        }
        Ok(out)
    }

    /// A cheap call to the token (C_GetSessionInfo) proving a session is open and still
    /// logged in. The PIN is not kept, so a lost login is not renewed: reconnect.
    pub fn health_check(&self) -> Result<(), HsmError> {
        let mut lease = self.lease()?;
        let info = lease.call("reading the session state", |s| s.get_session_info())?;
        match info.session_state() {
            SessionState::RwUser | SessionState::RoUser => Ok(()),
            _ => Err(HsmError::Device(format!(
                "the session on token {:?} is no longer logged in",
                self.label
            ))),
        }
    }
}

impl Drop for HsmToken {
    fn drop(&mut self) {
        let mut logins = self
            .module
            .logins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pool = std::mem::replace(
            &mut *self.lock_pool(),
            Pool {
                idle: Vec::new(),
                open: 0,
            },
        );
        let last = match logins.get_mut(&self.slot.id()) {
            Some(login) => {
                login.holders = login.holders.saturating_sub(1);
                login.holders == 0
            }
            None => false,
        };
        if last {
            logins.remove(&self.slot.id());
            if let Some(session) = pool.idle.first() {
                let _ = session.logout();
            }
        }
        // Closed while the logins are locked, so no one connecting meanwhile counts on a
        // login these sessions were keeping.
        drop(pool);
        drop(logins);
    }
}
