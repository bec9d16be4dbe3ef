//! The in-memory mock of the Libretto API (the parts that stand on their own so far).
pub mod cron;
pub mod delivery;
pub mod signature;
