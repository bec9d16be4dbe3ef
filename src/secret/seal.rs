//! Sealing secrets at rest in memory with AES-SIV (RFC 5297).
//!
//! The mock stores credential values sealed, and the sidecar's cache keeps what it fetched
//! sealed, so a heap dump or a stray `Debug` finds only ciphertext. AES-SIV is deterministic
//! and misuse-resistant: no nonce to manage, and the associated data (tenant and id) binds a
//! ciphertext to its owner so it cannot be swapped between records.

use aes_siv::aead::KeyInit;
use aes_siv::siv::Aes256Siv;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::secret::Secret;

/// Length in bytes of an AES-256-SIV key.
pub const KEY_LEN: usize = 64;

/// Why a key could not be used or a value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the encryption key must be 64 bytes (raw) or 128 hex characters, got {0} bytes")]
    KeyLength(usize),
    #[error("sealed value failed authentication")]
    Open,
    #[error("value could not be sealed")]
    Seal,
}

/// Seals and opens values under one key. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<Zeroizing<[u8; KEY_LEN]>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer with a fresh random key, for the life of this process.
    pub fn random() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self {
            key: std::sync::Arc::new(key),
        }
    }

    /// A sealer from key material: 64 raw bytes, or 128 hex characters (whitespace trimmed).
    // The mock's `--encryption-key-file`; the sidecar seals with a random key.
    #[cfg_attr(not(feature = "mock"), allow(dead_code))]
    pub fn from_key_material(material: &Secret) -> Result<Self, SealError> {
        let raw = material.expose();
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let trimmed = std::str::from_utf8(raw).map(str::trim).ok();
        match trimmed {
            Some(text) if text.len() == KEY_LEN * 2 => {
                hex::decode_to_slice(text, key.as_mut())
                    .map_err(|_| SealError::KeyLength(raw.len()))?;
            }
            _ if raw.len() == KEY_LEN => key.copy_from_slice(raw),
            _ => return Err(SealError::KeyLength(raw.len())),
        }
        Ok(Self {
            key: std::sync::Arc::new(key),
        })
    }

    fn cipher(&self) -> Aes256Siv {
        Aes256Siv::new(aes_siv::aead::generic_array::GenericArray::from_slice(
            &self.key[..],
        ))
    }

    /// Seals `plaintext`, binding it to `associated` (for example tenant and record id).
    pub fn seal(&self, associated: &[&[u8]], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.cipher()
            .encrypt(associated, plaintext)
            .map_err(|_| SealError::Seal)
    }

    /// Opens a sealed value; fails if it was altered or sealed with other associated data.
    pub fn open(&self, associated: &[&[u8]], sealed: &[u8]) -> Result<Secret, SealError> {
        self.cipher()
            .decrypt(associated, sealed)
            .map(Secret::new)
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let sealer = Sealer::random();
        let sealed = sealer
            .seal(&[b"tenant", b"id"], b"{\"password\":\"x\"}")
            .unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"password"));
        let opened = sealer.open(&[b"tenant", b"id"], &sealed).unwrap();
        assert_eq!(opened.expose(), b"{\"password\":\"x\"}");
        assert!(sealer.open(&[b"other", b"id"], &sealed).is_err());
    }

    #[test]
    fn key_material_hex_or_raw() {
        let hex_key = Secret::new("ab".repeat(64));
        assert!(Sealer::from_key_material(&hex_key).is_ok());
        assert!(Sealer::from_key_material(&Secret::new(vec![7u8; 64])).is_ok());
        assert!(matches!(
            Sealer::from_key_material(&Secret::new("short")),
            Err(SealError::KeyLength(5))
        ));
    }
}
