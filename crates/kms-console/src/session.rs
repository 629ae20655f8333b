//! Console sessions: the signed-in principal's credentials, held only in memory.
//!
//! A session id is 128 random bits; the credentials and CSRF token are zeroized when the session
//! ends (sign-out, idle or absolute expiry, or drop).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroize;

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, however active.
pub const MAX_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// What a session holds: the principal's credentials and the region it signs for.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key; never written anywhere but this struct.
    pub secret: String,
    /// The region requests are signed for.
    pub region: String,
    /// The session token of a role's temporary credentials (sign-in with a role to assume).
    pub session_token: Option<String>,
}

impl Credentials {
    /// The same credentials, signing for `region` (a multi-Region key's other regions).
    pub fn for_region(&self, region: &str) -> Credentials {
        let mut credentials = self.clone();
        credentials.region = region.to_string();
        credentials
    }
}

impl Drop for Credentials {
    fn drop(&mut self) {
        self.access_key_id.zeroize();
        self.secret.zeroize();
        self.region.zeroize();
        if let Some(token) = &mut self.session_token {
            token.zeroize();
        }
    }
}

/// One signed-in session.
pub struct Session {
    /// The credentials calls are signed with.
    pub credentials: Credentials,
    /// The per-session CSRF token (hex), checked on every POST.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.csrf.zeroize();
    }
}

/// The session map of one node's console.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// A copy of what a request needs from its session, taken under the lock.
pub struct Active {
    /// Access key id, secret, region.
    pub credentials: Credentials,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Sessions {
    /// Starts a session for `credentials`; returns its id.
    pub fn create(&self, credentials: Credentials) -> String {
        let id = hex::encode(kms_crypto::random_bytes(16));
        let now = Instant::now();
        let session = Session {
            credentials,
            csrf: hex::encode(kms_crypto::random_bytes(16)),
            created: now,
            last_seen: now,
        };
        let mut map = self.lock();
        map.retain(|_, s| alive(s, now));
        map.insert(id.clone(), session);
        id
    }

    /// The live session `id`, touched; `None` (and the session removed) if it expired.
    pub fn get(&self, id: &str) -> Option<Active> {
        let now = Instant::now();
        let mut map = self.lock();
        let session = map.get_mut(id)?;
        if !alive(session, now) {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(Active {
            credentials: session.credentials.clone(),
            csrf: session.csrf.clone(),
        })
    }

    /// Ends session `id` (its secrets are zeroized as it drops).
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// How many sessions are held (expired ones included until the next sign-in).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn alive(session: &Session, now: Instant) -> bool {
    now.duration_since(session.last_seen) < IDLE_TIMEOUT
        && now.duration_since(session.created) < MAX_LIFETIME
}

/// Whether the token a form sent equals the session's, in constant time.
pub fn csrf_matches(session: &Active, sent: &str) -> bool {
    kms_crypto::constant_time_eq(session.csrf.as_bytes(), sent.as_bytes())
}
