//! Tenants: who owns a credential or a job, and the state each owner has.
//!
//! Every distinct API key is its own tenant, as upstream, where the key's owner is the tenant.
//! The mock never keeps a key: it keeps the SHA-256 of it ([`TenantId`]), so a memory dump
//! yields no usable key, and two requests with the same key land in the same [`Tenant`]. A
//! tenant's credentials, jobs and logs live behind one lock, so the decisions that span them
//! (a job may start only on credentials that exist; a credential may go only when no live job
//! needs it) are made atomically.

use sha2::{Digest, Sha256};

use super::credentials::CredentialStore;
use super::job_store::JobStore;
use super::logs::LogStore;
use super::schedules::ScheduleStore;
use super::webhooks::WebhookStore;
use crate::seal::Sealer;

/// The hex SHA-256 of an API key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// The tenant owning `api_key`.
    pub fn from_api_key(api_key: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(api_key)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything one tenant owns. Always used under its tenant's lock.
pub struct Tenant {
    pub credentials: CredentialStore,
    pub jobs: JobStore,
    pub logs: LogStore,
    pub webhooks: WebhookStore,
    pub schedules: ScheduleStore,
    next_seq: u64,
}

impl Tenant {
    pub fn new(id: TenantId, sealer: Sealer) -> Self {
        Self {
            credentials: CredentialStore::new(id.clone(), sealer.clone()),
            jobs: JobStore::default(),
            logs: LogStore::default(),
            webhooks: WebhookStore::new(id, sealer),
            schedules: ScheduleStore::default(),
            next_seq: 0,
        }
    }

    /// A number that grows with every record this tenant makes; orders lists and backs cursors.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
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

    #[test]
    fn sequence_grows() {
        let mut tenant = Tenant::new(TenantId::from_api_key(b"k"), Sealer::random());
        let first = tenant.next_seq();
        assert!(tenant.next_seq() > first);
    }
}
