//! Who may sign requests, and as whom: the access keys of the node config (each the root user
//! of its account: the one the config gives it, else, for an access key id of exactly twelve
//! digits, the account it names, else the node's account) plus an optional identities file of IAM users and roles with their access
//! keys and identity policies. The file is re-read when it changes (checked every second), so
//! users, keys and policies change without a restart; a file that does not parse is refused
//! and the previous identities stay in force.
//!
//! Identities file (TOML):
//! ```toml
//! [[users]]
//! account = "111122223333"
//! name = "alice"
//! policies = ['''{"Version": "2012-10-17", "Statement": [...]}''']
//! access_keys = [{ id = "AKIAALICE", secret = "..." }]
//!
//! [[roles]]
//! account = "111122223333"
//! name = "app"
//! trust_policy = '''{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "sts:AssumeRole"}]}'''
//! policies = ['''{...}''']
//! ```
//!
//! Roles are assumed through STS (`AssumeRole` on the KMS port). Temporary credentials are
//! stateless: the session token is the session (access key id, secret, role, session name,
//! expiry) sealed with the region's session keys ([`crate::session_token`]), which exist once
//! the node is unsealed, so any node of the region, and of its linked peer regions, can check
//! it. A session ends at its expiry, or when its role is removed from the identities file.
//! Secrets are held as given (SigV4 needs the secret itself to verify a signature); keep the file
//! mode 0600. They are never logged, and `Debug` does not print them.

use crate::session_token::SessionKeys;
use crate::{bail, setup_error, SetupError};
use kms_api::CredentialStore;
use kms_crypto::{KeyMaterial, RootKey, WrapContext};
use kms_policy::Policy;
use kms_types::{Clock, KmsError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// An access key of the node config: it signs as the root user of its account.
#[derive(Clone)]
pub struct RootCredential {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// The account it is the root user of, if the config names one.
    pub account: Option<String>,
}

impl RootCredential {
    /// The account this key signs for: the one given; else the access key id itself if it is
    /// twelve digits (LocalStack's convention); else `default`.
    pub fn account_or(&self, default: &str) -> String {
        match &self.account {
            Some(account) => account.clone(),
            None if is_account_id(&self.access_key_id) => self.access_key_id.clone(),
            None => default.to_string(),
        }
    }
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A principal requests run as.
#[derive(Debug)]
pub struct PrincipalInfo {
    /// The principal's ARN (`arn:aws:iam::ACCOUNT:root`, `...:user/NAME`).
    pub arn: String,
    /// Its account.
    pub account: String,
    /// Its identity policies (none for the root user, who needs none).
    pub policies: Arc<Vec<Policy>>,
    /// IAM's unique id of the caller (GetCallerIdentity's UserId).
    pub user_id: String,
}

/// The signer of one request, resolved: its principal and the access key it signed with.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The principal requests run as.
    pub principal: Arc<PrincipalInfo>,
    /// The access key that signed.
    pub access_key_id: String,
    /// Whether it signed with a role session's temporary credentials.
    pub assumed_role: bool,
}

impl kms_api::Caller for Signer {
    fn identity(&self) -> kms_api::Identity<'_> {
        let kind = if self.assumed_role {
            kms_api::IdentityKind::AssumedRole
        } else if self.principal.arn.ends_with(":root") {
            kms_api::IdentityKind::Root
        } else {
            kms_api::IdentityKind::IamUser
        };
        kms_api::Identity {
            kind,
            principal_id: &self.principal.user_id,
            arn: &self.principal.arn,
            account_id: &self.principal.account,
            access_key_id: &self.access_key_id,
        }
    }
}

/// A role that STS can hand out sessions of.
struct Role {
    arn: String,
    account: String,
    trust: Policy,
    policies: Arc<Vec<Policy>>,
}

struct AccessKey {
    secret: String,
    principal: Arc<PrincipalInfo>,
}

/// One consistent set of access keys.
#[derive(Default)]
struct Identities {
    keys: HashMap<String, AccessKey>,
    roles: HashMap<String, Arc<Role>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitiesFile {
    #[serde(default)]
    users: Vec<UserEntry>,
    #[serde(default)]
    roles: Vec<RoleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleEntry {
    account: String,
    name: String,
    trust_policy: String,
    #[serde(default)]
    policies: Vec<String>,
}

/// What a session token holds (sealed).
#[derive(Serialize, Deserialize)]
struct Session {
    access_key_id: String,
    secret: String,
    role_arn: String,
    session_name: String,
    expires_ms: i64,
}

/// Temporary credentials as AssumeRole returns them.
pub struct SessionCredentials {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// Expiry, ms since the epoch.
    pub expires_ms: i64,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub assumed_role_arn: String,
    /// `AROA...:SESSION`.
    pub assumed_role_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    account: String,
    name: String,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    access_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    /// The secret as it is (keep the file mode 0600).
    #[serde(default)]
    secret: Option<String>,
    /// The secret sealed with the node's secrets key (`secrets_key`, made by `trent
    /// seal-secret`), so the file holds no usable secret without that key.
    #[serde(default)]
    secret_sealed: Option<String>,
}

/// Seals an access key's secret for the identities file (`secret_sealed`), with the secrets
/// key the nodes hold (`secrets_key` in the node config).
pub fn seal_secret(secrets_key: &RootKey, access_key_id: &str, secret: &str) -> String {
    use base64::Engine;
    let sealed = secrets_key.wrap(
        &KeyMaterial::from_bytes(secret.as_bytes().to_vec()),
        &WrapContext::identity_secret(access_key_id),
    );
    base64::engine::general_purpose::STANDARD.encode(sealed)
}

fn unseal_secret(
    secrets_key: Option<&RootKey>,
    access_key_id: &str,
    sealed: &str,
) -> Result<String, SetupError> {
    use base64::Engine;
    let Some(key) = secrets_key else {
        bail!("access key {access_key_id}: secret_sealed needs the node's secrets_key");
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sealed.trim())
        .map_err(|_| setup_error!("access key {access_key_id}: secret_sealed is not base64"))?;
    let context = WrapContext::identity_secret(access_key_id);
    let plain = key.unwrap(&bytes, &context).map_err(|_| {
        setup_error!(
            "access key {access_key_id}: secret_sealed does not open with this secrets_key"
        )
    })?;
    String::from_utf8(plain.as_bytes().to_vec())
        .map_err(|_| setup_error!("access key {access_key_id}: sealed secret is not text"))
}

/// The identities a node authenticates and authorizes against.
pub struct IdentityStore {
    account: String,
    secrets_key: Option<RootKey>,
    /// The region's STS session keys, from the unseal on.
    session_keys: RwLock<Option<SessionKeys>>,
    clock: Clock,
    root_credentials: Vec<RootCredential>,
    path: Option<PathBuf>,
    current: RwLock<Arc<Identities>>,
    loaded_mtime: Mutex<Option<SystemTime>>,
}

impl std::fmt::Debug for IdentityStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityStore")
            .field("account", &self.account)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl IdentityStore {
    /// The node config's credentials (as the account's root user) and, if `path` is given, the
    /// identities file. Sealed secrets in the file open with `secrets_key`; sessions expire by
    /// `clock`, and are made and checked once [`IdentityStore::set_session_keys`] has given
    /// the region's keys. Fails if the file does not parse.
    pub fn new(
        account: &str,
        root_credentials: &[RootCredential],
        path: Option<&Path>,
        secrets_key: Option<RootKey>,
        clock: Clock,
    ) -> Result<IdentityStore, SetupError> {
        let store = IdentityStore {
            account: account.to_string(),
            secrets_key,
            session_keys: RwLock::new(None),
            clock,
            root_credentials: root_credentials.to_vec(),
            path: path.map(Path::to_path_buf),
            current: RwLock::new(Arc::new(Identities::default())),
            loaded_mtime: Mutex::new(None),
        };
        store.reload()?;
        Ok(store)
    }

    /// Re-reads the identities file if its modification time changed. Returns whether it did.
    pub fn reload_if_changed(&self) -> Result<bool, SetupError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let unchanged = self
            .loaded_mtime
            .lock()
            .map(|loaded| *loaded == mtime)
            .unwrap_or(false);
        if unchanged {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    fn reload(&self) -> Result<(), SetupError> {
        let mut identities = Identities::default();
        let root = |account: String| {
            Arc::new(PrincipalInfo {
                arn: format!("arn:aws:iam::{account}:root"),
                policies: Arc::new(Vec::new()),
                user_id: account.clone(),
                account,
            })
        };
        for credential in &self.root_credentials {
            let account = credential.account_or(&self.account);
            if !is_account_id(&account) {
                bail!(
                    "access key {}: account must be 12 digits",
                    credential.access_key_id
                );
            }
            identities.keys.insert(
                credential.access_key_id.clone(),
                AccessKey {
                    secret: credential.secret_access_key.clone(),
                    principal: root(account),
                },
            );
        }
        let mut mtime = None;
        if let Some(path) = &self.path {
            mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            let text = std::fs::read_to_string(path)
                .map_err(|e| setup_error!("reading the identities file {}: {e}", path.display()))?;
            let file: IdentitiesFile = toml::from_str(&text)
                .map_err(|e| setup_error!("parsing the identities file {}: {e}", path.display()))?;
            for user in file.users {
                if !is_account_id(&user.account) {
                    bail!("user {}: account must be 12 digits", user.name);
                }
                let policies = user
                    .policies
                    .iter()
                    .map(|p| Policy::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| setup_error!("user {}: {e}", user.name))?;
                let principal = Arc::new(PrincipalInfo {
                    arn: format!("arn:aws:iam::{}:user/{}", user.account, user.name),
                    account: user.account.clone(),
                    policies: Arc::new(policies),
                    user_id: unique_id("AIDA", &user.name),
                });
                for key in user.access_keys {
                    if identities.keys.contains_key(&key.id) {
                        bail!("access key {} is listed twice", key.id);
                    }
                    let secret = match (key.secret, key.secret_sealed) {
                        (Some(secret), None) => secret,
                        (None, Some(sealed)) => {
                            unseal_secret(self.secrets_key.as_ref(), &key.id, &sealed)?
                        }
                        _ => bail!(
                            "access key {}: give exactly one of secret and secret_sealed",
                            key.id
                        ),
                    };
                    identities.keys.insert(
                        key.id,
                        AccessKey {
                            secret,
                            principal: principal.clone(),
                        },
                    );
                }
            }
            for role in file.roles {
                if !is_account_id(&role.account) {
                    bail!("role {}: account must be 12 digits", role.name);
                }
                let trust = Policy::parse_key_policy(&trust_as_resource_policy(&role.trust_policy))
                    .map_err(|e| setup_error!("role {} trust policy: {e}", role.name))?;
                let policies = role
                    .policies
                    .iter()
                    .map(|p| Policy::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| setup_error!("role {}: {e}", role.name))?;
                let arn = format!("arn:aws:iam::{}:role/{}", role.account, role.name);
                identities.roles.insert(
                    arn.clone(),
                    Arc::new(Role {
                        arn,
                        account: role.account,
                        trust,
                        policies: Arc::new(policies),
                    }),
                );
            }
        }
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(identities);
        }
        if let Ok(mut loaded) = self.loaded_mtime.lock() {
            *loaded = mtime;
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Identities> {
        self.current.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// The ARNs of the IAM users (those with access keys) and roles of `account`, sorted: the
    /// principals a console offers as key administrators and users.
    pub fn principal_arns(&self, account: &str) -> Vec<String> {
        let identities = self.snapshot();
        let users = identities
            .keys
            .values()
            .map(|k| &k.principal)
            .filter(|p| p.account == account && !p.arn.ends_with(":root"))
            .map(|p| p.arn.clone());
        let roles = identities
            .roles
            .values()
            .filter(|r| r.account == account)
            .map(|r| r.arn.clone());
        let arns: std::collections::BTreeSet<String> = users.chain(roles).collect();
        arns.into_iter().collect()
    }

    /// The principal an access key belongs to.
    pub fn principal(&self, access_key_id: &str) -> Option<Arc<PrincipalInfo>> {
        self.snapshot()
            .keys
            .get(access_key_id)
            .map(|k| k.principal.clone())
    }

    /// The principal behind a verified signature: the access key's user (or the account's
    /// root user), or the assumed role of a session token. Each request resolves it once.
    pub fn resolve(&self, signer: &kms_api::Principal) -> Result<Signer, KmsError> {
        let principal = match &signer.session_token {
            Some(token) => self.session_principal(token),
            None => self.principal(&signer.access_key_id),
        };
        let principal = principal.ok_or_else(|| {
            KmsError::UnrecognizedClient(
                "The security token included in the request is invalid.".into(),
            )
        })?;
        Ok(Signer {
            principal,
            access_key_id: signer.access_key_id.clone(),
            assumed_role: signer.session_token.is_some(),
        })
    }
}

impl IdentityStore {
    fn session_keys(&self) -> std::sync::RwLockReadGuard<'_, Option<SessionKeys>> {
        self.session_keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn session_keys_mut(&self) -> std::sync::RwLockWriteGuard<'_, Option<SessionKeys>> {
        self.session_keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands over the region's own session key (after the unseal): from now on the node makes
    /// sessions and checks the ones its region made.
    pub fn set_session_keys(&self, region: &str, own: RootKey) {
        *self.session_keys_mut() = Some(SessionKeys::new(region, own));
    }

    /// Adds the session key shared with `peer` (a linked region): sessions made from now on
    /// hold an entry for it, and sessions it made open here. Ignored before
    /// [`IdentityStore::set_session_keys`].
    pub fn add_peer_session_key(&self, peer: &str, key: RootKey) {
        if let Some(keys) = self.session_keys_mut().as_mut() {
            keys.add_peer(peer, key);
        }
    }

    /// The peer regions whose session key is known.
    pub fn session_peers(&self) -> Vec<String> {
        self.session_keys()
            .as_ref()
            .map(|keys| keys.peers().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Issues temporary credentials for `role_arn` to `caller`, if the role's trust policy
    /// (and, where it delegates to the account, the caller's identity policies) allows
    /// `sts:AssumeRole`.
    pub fn assume_role(
        &self,
        caller: &PrincipalInfo,
        role_arn: &str,
        session_name: &str,
        duration_s: i64,
    ) -> Result<SessionCredentials, KmsError> {
        let denied = || {
            KmsError::AccessDenied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn
            ))
        };
        let role = self
            .snapshot()
            .roles
            .get(role_arn)
            .cloned()
            .ok_or_else(denied)?;
        let request = kms_policy::Request::new(&caller.arn, "sts:AssumeRole", &role.arn);
        if kms_policy::evaluate(&request, &role.trust, &caller.policies)
            != kms_policy::Decision::Allow
        {
            return Err(denied());
        }
        let access_key_id = format!("ASIA{}", random_upper(16));
        let secret = random_upper(40);
        let expires_ms = self.clock.now_ms() + duration_s * 1000;
        let session = Session {
            access_key_id: access_key_id.clone(),
            secret: secret.clone(),
            role_arn: role.arn.clone(),
            session_name: session_name.to_string(),
            expires_ms,
        };
        let json =
            serde_json::to_vec(&session).map_err(|e| KmsError::KmsInternal(e.to_string()))?;
        let token = match self.session_keys().as_ref() {
            Some(keys) => keys.seal(&json),
            None => {
                return Err(KmsError::KmsInternal(
                    "STS sessions are made once the node is unsealed.".into(),
                ))
            }
        };
        let role_name = role.arn.rsplit('/').next().unwrap_or_default();
        Ok(SessionCredentials {
            access_key_id,
            secret_access_key: secret,
            session_token: token,
            expires_ms,
            assumed_role_arn: format!(
                "arn:aws:sts::{}:assumed-role/{role_name}/{session_name}",
                role.account
            ),
            assumed_role_id: format!("{}:{session_name}", unique_id("AROA", &role.arn)),
        })
    }

    /// Opens a session token: the session, if the token is genuine, belongs to
    /// `access_key_id` (when given) and its role still exists.
    fn open_session(&self, token: &str) -> Option<(Session, Arc<Role>)> {
        let json = self.session_keys().as_ref()?.open(token)?;
        let session: Session = serde_json::from_slice(json.as_bytes()).ok()?;
        let role = self.snapshot().roles.get(&session.role_arn).cloned()?;
        Some((session, role))
    }

    /// The principal of a session token (the assumed role, with the role's policies).
    pub fn session_principal(&self, token: &str) -> Option<Arc<PrincipalInfo>> {
        let (session, role) = self.open_session(token)?;
        let role_name = role.arn.rsplit('/').next().unwrap_or_default();
        Some(Arc::new(PrincipalInfo {
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{role_name}/{}",
                role.account, session.session_name
            ),
            account: role.account.clone(),
            policies: role.policies.clone(),
            user_id: format!("{}:{}", unique_id("AROA", &role.arn), session.session_name),
        }))
    }
}

/// A trust policy names no Resource (the role is the resource); IAM's evaluator applies resource
/// policies statement by statement with a resource, so each statement gets `"Resource": "*"`.
fn trust_as_resource_policy(text: &str) -> String {
    let Ok(mut document) = serde_json::from_str::<serde_json::Value>(text) else {
        return text.to_string();
    };
    let add = |statement: &mut serde_json::Value| {
        if let Some(object) = statement.as_object_mut() {
            if !object.contains_key("Resource") && !object.contains_key("NotResource") {
                object.insert("Resource".into(), "*".into());
            }
        }
    };
    match document.get_mut("Statement") {
        Some(serde_json::Value::Array(list)) => list.iter_mut().for_each(add),
        Some(one) => add(one),
        None => {}
    }
    document.to_string()
}

/// `prefix` and 17 characters derived from `name`, in the shape of IAM's unique ids.
fn unique_id(prefix: &str, name: &str) -> String {
    let digest = hex::encode_upper(kms_crypto::sha256(name.as_bytes()));
    format!("{prefix}{}", &digest[..17])
}

/// `n` random characters from A–Z and 0–9.
fn random_upper(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // Rejection sampling keeps every character equally likely (252 = 7 * 36).
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in kms_crypto::random_bytes(2 * n) {
            if b < 252 && out.len() < n {
                out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

impl CredentialStore for IdentityStore {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.snapshot()
            .keys
            .get(access_key_id)
            .map(|k| k.secret.clone())
    }

    fn session_secret(&self, access_key_id: &str, token: &str) -> Result<Option<String>, KmsError> {
        let Some((session, _)) = self.open_session(token) else {
            return Ok(None);
        };
        if session.access_key_id != access_key_id {
            return Ok(None);
        }
        if self.clock.now_ms() >= session.expires_ms {
            return Err(KmsError::ExpiredToken(
                "The security token included in the request is expired".into(),
            ));
        }
        Ok(Some(session.secret))
    }
}

/// Re-reads the identities file every second while the process runs.
pub async fn watch(store: Arc<IdentityStore>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        ticker.tick().await;
        match store.reload_if_changed() {
            Ok(true) => tracing::info!("reloaded the identities file"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "keeping the previous identities"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Vec<RootCredential> {
        vec![
            RootCredential {
                access_key_id: "ROOT".into(),
                secret_access_key: "root-secret".into(),
                account: None,
            },
            RootCredential {
                access_key_id: "ROOT2".into(),
                secret_access_key: "s".into(),
                account: Some("000000000002".into()),
            },
            RootCredential {
                access_key_id: "000000000003".into(),
                secret_access_key: "s".into(),
                account: None,
            },
        ]
    }

    /// Regions `us-east-1` and `us-west-2` (linked) and `eu-north-1` (not), each a store over
    /// one identities file with role `app` that alice may assume.
    fn regions_with_a_role(dir: &Path) -> Vec<IdentityStore> {
        let path = dir.join("identities.toml");
        std::fs::write(
            &path,
            r#"
[[users]]
account = "111122223333"
name = "alice"
access_keys = [{ id = "A1", secret = "s1" }]

[[roles]]
account = "111122223333"
name = "app"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}]}'
"#,
        )
        .unwrap();
        let roots: Vec<RootKey> = (0..3).map(|_| RootKey::generate()).collect();
        let names = ["us-east-1", "us-west-2", "eu-north-1"];
        let stores: Vec<IdentityStore> = (0..3)
            .map(|i| {
                let store =
                    IdentityStore::new("111122223333", &root(), Some(&path), None, Clock::system())
                        .unwrap();
                store.set_session_keys(names[i], roots[i].sts_session_key());
                store
            })
            .collect();
        let (east, west) = (roots[0].transport_key(), roots[1].transport_key());
        stores[0].add_peer_session_key(
            names[1],
            east.peer_session_key(names[0], names[1], &west.public_key())
                .unwrap(),
        );
        stores[1].add_peer_session_key(
            names[0],
            west.peer_session_key(names[1], names[0], &east.public_key())
                .unwrap(),
        );
        stores
    }

    #[test]
    fn sessions_sign_in_their_region_and_its_linked_peers_only() {
        let dir = tempfile::tempdir().unwrap();
        let stores = regions_with_a_role(dir.path());
        let alice = stores[0].principal("A1").unwrap();
        let role = "arn:aws:iam::111122223333:role/app";
        let made = stores[0].assume_role(&alice, role, "s1", 900).unwrap();
        for store in &stores[..2] {
            assert_eq!(
                store
                    .session_secret(&made.access_key_id, &made.session_token)
                    .unwrap()
                    .as_deref(),
                Some(made.secret_access_key.as_str())
            );
            assert_eq!(
                store.session_principal(&made.session_token).unwrap().arn,
                "arn:aws:sts::111122223333:assumed-role/app/s1"
            );
            // Bound to its access key id.
            assert!(store
                .session_secret("ASIAOTHER", &made.session_token)
                .unwrap()
                .is_none());
        }
        // The unlinked region cannot open it.
        assert!(stores[2]
            .session_secret(&made.access_key_id, &made.session_token)
            .unwrap()
            .is_none());
        assert!(stores[2].session_principal(&made.session_token).is_none());
        // A session made in the peer opens back in the first region.
        let back = stores[1].assume_role(&alice, role, "s2", 900).unwrap();
        assert!(stores[0].session_principal(&back.session_token).is_some());
        assert_eq!(stores[0].session_peers(), ["us-west-2"]);
    }

    #[test]
    fn no_session_is_made_or_opened_before_the_unseal() {
        let dir = tempfile::tempdir().unwrap();
        let stores = regions_with_a_role(dir.path());
        let alice = stores[0].principal("A1").unwrap();
        let made = stores[0]
            .assume_role(&alice, "arn:aws:iam::111122223333:role/app", "s1", 900)
            .unwrap();
        let sealed = IdentityStore::new(
            "111122223333",
            &root(),
            Some(&dir.path().join("identities.toml")),
            None,
            Clock::system(),
        )
        .unwrap();
        assert!(sealed.session_principal(&made.session_token).is_none());
        assert!(matches!(
            sealed.assume_role(&alice, "arn:aws:iam::111122223333:role/app", "s1", 900),
            Err(KmsError::KmsInternal(_))
        ));
    }

    #[test]
    fn root_credentials_and_users_resolve_and_the_file_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identities.toml");
        std::fs::write(
            &path,
            "[[users]]\naccount = \"111122223333\"\nname = \"alice\"\naccess_keys = [{ id = \"A1\", secret = \"s1\" }]\n",
        )
        .unwrap();
        let store = IdentityStore::new("111122223333", &root(), Some(&path), None, Clock::system())
            .unwrap();
        assert_eq!(
            store.principal("ROOT").unwrap().arn,
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(
            store.principal("A1").unwrap().arn,
            "arn:aws:iam::111122223333:user/alice"
        );
        assert_eq!(store.secret_for("A1").as_deref(), Some("s1"));
        assert!(store.principal("B1").is_none());
        // The console's principals: the account's users, not its root or other accounts.
        assert_eq!(
            store.principal_arns("111122223333"),
            ["arn:aws:iam::111122223333:user/alice"]
        );
        assert!(store.principal_arns("000000000002").is_empty());
        // Root credentials of other accounts: given, or named by a twelve-digit key id.
        assert_eq!(
            store.principal("ROOT2").unwrap().arn,
            "arn:aws:iam::000000000002:root"
        );
        assert_eq!(
            store.principal("000000000003").unwrap().account,
            "000000000003"
        );

        // A new key appears without a restart; a broken file keeps the old set.
        std::fs::write(
            &path,
            "[[users]]\naccount = \"111122223333\"\nname = \"bob\"\naccess_keys = [{ id = \"B1\", secret = \"s2\" }]\n",
        )
        .unwrap();
        filetime_bump(&path);
        assert!(store.reload_if_changed().unwrap());
        assert!(store.principal("A1").is_none());
        assert!(store.principal("B1").is_some());
        std::fs::write(&path, "[[users]]\nnope = 1\n").unwrap();
        filetime_bump(&path);
        assert!(store.reload_if_changed().is_err());
        assert!(store.principal("B1").is_some());
    }

    #[test]
    fn malformed_policies_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identities.toml");
        std::fs::write(
            &path,
            "[[users]]\naccount = \"111122223333\"\nname = \"eve\"\npolicies = ['{\"Statement\": 3}']\n",
        )
        .unwrap();
        assert!(
            IdentityStore::new("111122223333", &root(), Some(&path), None, Clock::system())
                .is_err()
        );
    }

    #[test]
    fn sealed_secrets_open_with_the_secrets_key_and_only_for_their_access_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identities.toml");
        let sts = RootKey::generate();
        // A secret long enough that base64 noise cannot contain it by chance.
        let secret = "s1-wJalrXUtnFEMI-K7MDENG-bPxRfiCY";
        let sealed = seal_secret(&sts, "A1", secret);
        assert!(!sealed.contains(secret));
        std::fs::write(
            &path,
            format!("[[users]]\naccount = \"111122223333\"\nname = \"alice\"\naccess_keys = [{{ id = \"A1\", secret_sealed = \"{sealed}\" }}]\n"),
        )
        .unwrap();
        let clock = Clock::system();
        let store = IdentityStore::new(
            "111122223333",
            &root(),
            Some(&path),
            Some(sts),
            clock.clone(),
        )
        .unwrap();
        assert_eq!(store.secret_for("A1").as_deref(), Some(secret));
        // Another key, or the sealed secret moved to another access key id, does not open.
        assert!(IdentityStore::new(
            "111122223333",
            &root(),
            Some(&path),
            Some(RootKey::generate()),
            clock.clone()
        )
        .is_err());
        std::fs::write(
            &path,
            format!("[[users]]\naccount = \"111122223333\"\nname = \"eve\"\naccess_keys = [{{ id = \"B1\", secret_sealed = \"{sealed}\" }}]\n"),
        )
        .unwrap();
        let sts = RootKey::generate();
        assert!(
            IdentityStore::new("111122223333", &root(), Some(&path), Some(sts), clock).is_err()
        );
    }

    /// Moves the file's mtime forward so a rewrite within the same clock tick is noticed.
    fn filetime_bump(path: &Path) {
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(later).unwrap();
    }
}
