//! The logs route: `logs/list`.
//!
//! It speaks camelCase as upstream does, filters by `jobId`, `workflow` and `level`, and pages
//! with an opaque `pageToken`, oldest line first, over the tenant's log store
//! (`state/logs.rs`).

use serde_json::{json, Value};

use crate::http::envelope::{ApiError, Issue};
use crate::mock::cursor;
use crate::mock::engine::core::Core;
use crate::mock::input::Fields;
use crate::mock::state::logs::{LogFilter, LogLine};
use crate::mock::state::tenant_id::TenantId;

/// Log levels, as upstream names them.
const LEVELS: &[&str] = &["info", "warn", "error"];

/// `logs/list`: optional `jobId`, `workflow`, `level`, `pageToken`, `limit` → `logs`,
/// `nextPageToken`.
pub(crate) fn list(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, true);
    let job_id = fields.uuid("jobId", false);
    let workflow = fields.string("workflow", false);
    let level = fields.one_of("level", LEVELS);
    let limit = fields.integer("limit", 1, 1000).unwrap_or(100);
    let from = match fields.string("pageToken", false) {
        Some(token) => cursor::decode(token).unwrap_or_else(|| {
            fields.push(Issue::new(
                "custom",
                "Invalid page token",
                vec![json!("pageToken")],
            ));
            0
        }),
        None => 0,
    };
    fields.finish()?;
    let filter = LogFilter {
        job_id,
        workflow,
        level,
    };
    let tenant = core.tenant_or_empty(tenant);
    let tenant = tenant.lock();
    let (page, next) = tenant
        .logs
        .page(&filter, from, usize::try_from(limit).unwrap_or(100));
    Ok(json!({
        "logs": page.into_iter().map(LogLine::to_json).collect::<Vec<_>>(),
        "nextPageToken": next.map(cursor::encode),
    }))
}
