//! [`KeyMaterial`] (secret bytes, zeroized on drop, never printed) and [`MaterialId`] (the
//! public 32-byte name of one piece of material, written into every ciphertext).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroize;

use crate::primitives::fill_random;

/// Plaintext key material. The only form in which material leaves this crate unwrapped.
///
/// Zeroized on drop (clones included); `Debug` prints `KeyMaterial(redacted)`.
#[derive(Clone)]
pub struct KeyMaterial(Vec<u8>);

impl KeyMaterial {
    /// Length in bytes of symmetric (AES-256) material.
    pub const SYMMETRIC_LEN: usize = 32;

    /// Fresh random AES-256 material (32 bytes from the system CSPRNG).
    pub fn generate_symmetric() -> KeyMaterial {
        let mut bytes = vec![0u8; Self::SYMMETRIC_LEN];
        fill_random(&mut bytes);
        KeyMaterial(bytes)
    }

    /// Takes ownership of `bytes` (they are zeroized when this value drops).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        KeyMaterial(bytes)
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the material is empty (never true for usable material).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial(redacted)")
    }
}

/// The public identifier of one piece of key material: 32 random bytes.
///
/// Displayed and serialized as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaterialId([u8; 32]);

impl MaterialId {
    /// A fresh random id.
    pub fn generate() -> MaterialId {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        MaterialId(bytes)
    }

    /// Wraps raw id bytes (e.g. read from a ciphertext header).
    pub fn from_bytes(bytes: [u8; 32]) -> MaterialId {
        MaterialId(bytes)
    }

    /// Parses the canonical form: exactly 64 lowercase hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(MaterialId(bytes))
    }

    /// The canonical form: 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw id bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for MaterialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for MaterialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaterialId({})", self.to_hex())
    }
}

impl Serialize for MaterialId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for MaterialId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl Visitor<'_> for HexVisitor {
            type Value = MaterialId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a material id: 64 lowercase hex characters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MaterialId, E> {
                MaterialId::from_hex(v)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_debug_is_redacted() {
        let m = KeyMaterial::from_bytes(vec![0xAB; 32]);
        assert_eq!(format!("{m:?}"), "KeyMaterial(redacted)");
        assert!(!format!("{m:?}").contains("171"));
    }

    #[test]
    fn generate_symmetric_is_32_fresh_bytes() {
        let a = KeyMaterial::generate_symmetric();
        let b = KeyMaterial::generate_symmetric();
        assert_eq!(a.len(), 32);
        assert!(!a.is_empty());
        assert_ne!(a.as_bytes(), b.as_bytes());
        let c = a.clone();
        assert_eq!(a.as_bytes(), c.as_bytes());
    }

    #[test]
    fn material_id_hex_round_trip() {
        let id = MaterialId::generate();
        let h = id.to_hex();
        assert_eq!(h.len(), 64);
        assert_eq!(h, h.to_lowercase());
        assert_eq!(id.to_string(), h);
        assert_eq!(MaterialId::from_hex(&h), Some(id));
        assert_ne!(MaterialId::generate(), id);
    }

    #[test]
    fn material_id_from_hex_rejects_non_canonical() {
        let h = MaterialId::generate().to_hex();
        assert_eq!(MaterialId::from_hex(&h[..63]), None);
        assert_eq!(MaterialId::from_hex(&format!("{h}0")), None);
        assert_eq!(MaterialId::from_hex(&"A".repeat(64)), None);
        assert_eq!(MaterialId::from_hex(&"g".repeat(64)), None);
        assert_eq!(MaterialId::from_hex(""), None);
        // Multi-byte UTF-8 of the right byte length must not panic.
        assert_eq!(MaterialId::from_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn material_id_serde_is_hex_string() {
        let id = MaterialId::from_bytes([0x0f; 32]);
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{}\"", "0f".repeat(32)));
        let back: MaterialId = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, id);
        assert!(serde_json::from_str::<MaterialId>("\"00\"").is_err());
        assert!(serde_json::from_str::<MaterialId>(&format!("\"{}\"", "0F".repeat(32))).is_err());
        assert!(serde_json::from_str::<MaterialId>("[1,2,3]").is_err());
    }
}
