//! Test fixtures: one generated key per [`KeyKind`] per test binary, shared by every test
//! module (RSA-4096 generation takes seconds).

use std::sync::OnceLock;

use crate::{generate, GeneratedKey, KeyKind, KeyMaterial};

/// The shared key of `kind`.
pub(crate) fn key(kind: KeyKind) -> &'static GeneratedKey {
    static KEYS: [OnceLock<GeneratedKey>; KeyKind::ALL.len()] =
        [const { OnceLock::new() }; KeyKind::ALL.len()];
    let i = KeyKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("kind is in ALL");
    KEYS[i].get_or_init(|| generate(kind).expect("generate"))
}

/// The shared key's private material.
pub(crate) fn material(kind: KeyKind) -> &'static KeyMaterial {
    &key(kind).material
}

/// The shared key's SubjectPublicKeyInfo (panics for HMAC kinds).
pub(crate) fn public(kind: KeyKind) -> &'static [u8] {
    key(kind).public_key.as_deref().expect("asymmetric kind")
}

/// The asymmetric kinds.
pub(crate) fn asymmetric_kinds() -> impl Iterator<Item = KeyKind> {
    KeyKind::ALL.into_iter().filter(|k| k.is_asymmetric())
}
