//! Which part of a body may hold placeholders.

/// Which part of a body may hold placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `jobs/create` (and schedules under `--resolve-schedules`): string values inside
    /// `/json/params`.
    JobParams,
    /// A body stored upstream and replayed later, away from the sidecar (schedules): no
    /// placeholder is allowed anywhere, since it would be stored unresolved.
    Stored,
}
