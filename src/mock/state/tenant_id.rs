//! Who owns a record: the [`TenantId`], the SHA-256 of an API key.
//!
//! Every distinct API key is its own tenant, as upstream, where the key's owner is the tenant.
//! The mock never keeps a key: it keeps the SHA-256 of it, so a memory dump yields no usable
//! key, and two requests with the same key land in the same tenant. The stores bind what they
//! seal to it, which is why it sits apart from the tenant's state (`tenant.rs`).

use sha2::{Digest, Sha256};

/// The hex SHA-256 of an API key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TenantId(String);

impl TenantId {
    /// The tenant owning `api_key`.
    pub(crate) fn from_api_key(api_key: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(api_key)))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_is_the_sha256_of_the_key() {
        assert_eq!(
            TenantId::from_api_key(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(
            TenantId::from_api_key(b"key-a"),
            TenantId::from_api_key(b"key-b")
        );
    }
}
