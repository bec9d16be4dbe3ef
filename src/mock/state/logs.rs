//! Job log lines: the store behind `logs/list` and `jobs/debugReport`.
//!
//! Each job writes a few lines over its lifecycle (queued, started, completed, failed or
//! cancelled; `echo*` workflows also log their input), and every delivery attempt of its
//! result adds one. Lines are kept per tenant in the order they were written and leave with
//! their job when it is dropped, and count against the tenant's bytes (`budget.rs`).

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use uuid::Uuid;

use super::budget::overhead;
use super::stored_json::StoredJson;

/// What a log line says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LogMessage {
    Text(String),
    /// `Workflow input: <params>`, sharing the job's params text instead of copying it.
    Input(StoredJson),
}

impl std::fmt::Display for LogMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Input(params) => write!(f, "Workflow input: {}", params.as_str()),
        }
    }
}

impl From<String> for LogMessage {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

/// One log line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogLine {
    pub(crate) job_id: Uuid,
    pub(crate) workflow: String,
    pub(crate) level: &'static str,
    pub(crate) message: LogMessage,
    pub(crate) timestamp: String,
}

impl LogLine {
    /// Bytes it takes; an input line shares its job's params, which the job counts.
    fn bytes(&self) -> usize {
        let message = match &self.message {
            LogMessage::Text(text) => text.len(),
            LogMessage::Input(_) => 0,
        };
        overhead::LOG_LINE + self.workflow.len() + message + self.timestamp.len()
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "jobId": self.job_id,
            "workflow": self.workflow,
            "level": self.level,
            "message": self.message.to_string(),
            "timestamp": self.timestamp,
        })
    }
}

/// Which lines a listing wants.
#[derive(Debug, Default, Clone)]
pub(crate) struct LogFilter<'a> {
    pub(crate) job_id: Option<Uuid>,
    pub(crate) workflow: Option<&'a str>,
    pub(crate) level: Option<&'a str>,
}

impl LogFilter<'_> {
    fn matches(&self, line: &LogLine) -> bool {
        self.job_id.is_none_or(|id| id == line.job_id)
            && self.workflow.is_none_or(|w| w == line.workflow)
            && self.level.is_none_or(|l| l == line.level)
    }
}

/// One tenant's log lines, by sequence number.
#[derive(Default)]
pub(crate) struct LogStore {
    lines: BTreeMap<u64, LogLine>,
    by_job: HashMap<Uuid, Vec<u64>>,
    /// Bytes its lines take (see `budget.rs`).
    bytes: usize,
}

impl LogStore {
    pub(crate) fn push(&mut self, seq: u64, line: LogLine) {
        self.by_job.entry(line.job_id).or_default().push(seq);
        self.bytes += line.bytes();
        self.lines.insert(seq, line);
    }

    /// Bytes its lines take.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Forgets every line of a job.
    pub(crate) fn remove_job(&mut self, job_id: Uuid) {
        for seq in self.by_job.remove(&job_id).unwrap_or_default() {
            if let Some(line) = self.lines.remove(&seq) {
                self.bytes -= line.bytes();
            }
        }
    }

    /// All lines of one job, oldest first.
    pub(crate) fn of_job(&self, job_id: Uuid) -> Vec<&LogLine> {
        self.by_job
            .get(&job_id)
            .map(|seqs| seqs.iter().filter_map(|seq| self.lines.get(seq)).collect())
            .unwrap_or_default()
    }

    /// Up to `limit` matching lines from sequence `from` on, and where the next page starts.
    pub(crate) fn page(
        &self,
        filter: &LogFilter<'_>,
        from: u64,
        limit: usize,
    ) -> (Vec<&LogLine>, Option<u64>) {
        let mut matching = self
            .lines
            .range(from..)
            .filter(|(_, line)| filter.matches(line));
        let page: Vec<&LogLine> = matching
            .by_ref()
            .take(limit)
            .map(|(_, line)| line)
            .collect();
        let next = matching.next().map(|(seq, _)| *seq);
        (page, next)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(job_id: Uuid, level: &'static str) -> LogLine {
        LogLine {
            job_id,
            workflow: "w".into(),
            level,
            message: LogMessage::Text("m".into()),
            timestamp: "t".into(),
        }
    }

    #[test]
    fn pages_and_filters() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut store = LogStore::default();
        for seq in 1..=5 {
            store.push(seq, line(if seq % 2 == 0 { a } else { b }, "info"));
        }
        store.push(6, line(a, "error"));
        let all = LogFilter::default();
        let (page, next) = store.page(&all, 0, 4);
        assert_eq!(page.len(), 4);
        assert_eq!(next, Some(5));
        let (page, next) = store.page(&all, 5, 4);
        assert_eq!(page.len(), 2);
        assert_eq!(next, None);
        let only_a = LogFilter {
            job_id: Some(a),
            ..LogFilter::default()
        };
        assert_eq!(store.page(&only_a, 0, 10).0.len(), 3);
        let errors = LogFilter {
            level: Some("error"),
            ..LogFilter::default()
        };
        assert_eq!(store.page(&errors, 0, 10).0, vec![&line(a, "error")]);
    }

    #[test]
    fn dropping_a_job_drops_its_lines() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut store = LogStore::default();
        store.push(1, line(a, "info"));
        store.push(2, line(b, "info"));
        store.remove_job(a);
        assert_eq!(store.len(), 1);
        assert!(store.of_job(a).is_empty());
        assert_eq!(store.of_job(b).len(), 1);
    }
}
