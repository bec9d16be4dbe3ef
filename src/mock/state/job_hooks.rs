//! What a job carries besides its input: where its result goes (its own callback, or none at
//! all with `skip_callbacks`), the schedule that launched it, and its launch options.
//!
//! The callback's secret is kept sealed while the job waits, like endpoint secrets, bound to
//! the job's id (see `webhooks.rs`). The engine builds hooks from a `jobs/create` input or a
//! schedule, and reads them when the job ends (`engine/callbacks.rs`).

use uuid::Uuid;

use super::launch::LaunchOptions;

/// A job's own callback; the secret sealed.
#[derive(Clone)]
pub(crate) struct JobCallback {
    pub(crate) url: String,
    /// Sealed by the tenant's webhook store, owned by the job.
    pub(crate) sealed_secret: Vec<u8>,
}

impl std::fmt::Debug for JobCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobCallback")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What a job carries besides its input: where its result goes, the schedule that launched
/// it (if any), and the launch options it was given.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobHooks {
    pub(crate) callback: Option<JobCallback>,
    pub(crate) skip_callbacks: bool,
    /// The schedule that launched the job, which hears how it ended.
    pub(crate) schedule_id: Option<Uuid>,
    /// Kept with the job as given (for a scheduled job: the schedule's); the job engine takes
    /// the job's `timeout_seconds` from here.
    pub(crate) launch: LaunchOptions,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_debug_hides_the_secret() {
        let callback = JobCallback {
            url: "http://h/x".into(),
            sealed_secret: vec![1, 2, 3],
        };
        assert_eq!(
            format!("{callback:?}"),
            r#"JobCallback { url: "http://h/x", .. }"#
        );
    }
}
