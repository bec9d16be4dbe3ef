//! Answers that need no parse into a value: a JSON answer whose bytes hold no escape and no
//! known secret, and in which no job launched here is echoed.
//!
//! Without a backslash every string, key and number of such an answer is its raw bytes, and no
//! known secret is among them, so there is nothing to scrub; with no job of the job memory in
//! it, there is nothing to restore either, and the answer is sent as it came. What must still
//! be read (a created job's id; the ids of the jobs an echo route names) is read by a parse
//! that borrows it from the bytes and skips the rest. An answer that parse does not take (a key
//! twice, an id that is not a string, another shape) is left to the long way: parsed, restored,
//! scrubbed and serialized again.

use serde::Deserialize;

use super::job_memory::JobMemory;
use super::scrub::Scrubber;
use super::{Cleaned, Echo};

/// What cleaning `bytes` comes to when it needs no value: `Some` (the created job remembered)
/// when the answer may be sent as it came, `None` when it must go the long way.
pub(super) fn clean_plain(
    bytes: &[u8],
    echo: &Echo,
    success: bool,
    jobs: &JobMemory,
    scrubber: &Scrubber,
) -> Option<Cleaned> {
    let plain =
        !bytes.contains(&b'\\') && std::str::from_utf8(bytes).is_ok() && !scrubber.is_match(bytes);
    if !plain {
        return None;
    }
    if !success || *echo == Echo::None {
        // Only a successful answer has echoes restored or a created job remembered.
        return Some(Cleaned::default());
    }
    let output = serde_json::from_slice::<Answer<'_>>(bytes).ok()?.json;
    match echo {
        Echo::JobCreated(filled) => {
            let job_id = output.and_then(|output| output.job_id);
            if let Some(job_id) = job_id {
                jobs.remember(job_id, filled);
            }
            Some(Cleaned {
                job_id: job_id.map(str::to_owned),
                ..Cleaned::default()
            })
        }
        Echo::JobGet | Echo::DebugReport => {
            let known = output
                .and_then(|output| output.job_id.or(output.id))
                .is_some_and(|id| jobs.knows(id));
            (!known).then(Cleaned::default)
        }
        Echo::JobList => {
            let known = output.and_then(|output| output.jobs).is_some_and(|list| {
                list.iter()
                    .filter_map(|job| job.job_id.or(job.id))
                    .any(|id| jobs.knows(id))
            });
            (!known).then(Cleaned::default)
        }
        Echo::None => Some(Cleaned::default()),
    }
}

/// An answer's `json`, where the ids sit; every other member is skipped.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    json: Option<Output<'a>>,
}

#[derive(Deserialize)]
struct Output<'a> {
    /// A created job's id; the id of the job `jobs/get` and `jobs/debugReport` answer about.
    #[serde(borrow)]
    job_id: Option<&'a str>,
    #[serde(borrow)]
    id: Option<&'a str>,
    /// `jobs/list`: the jobs listed.
    #[serde(borrow)]
    jobs: Option<Vec<Job<'a>>>,
}

#[derive(Deserialize)]
struct Job<'a> {
    #[serde(borrow)]
    job_id: Option<&'a str>,
    #[serde(borrow)]
    id: Option<&'a str>,
}
