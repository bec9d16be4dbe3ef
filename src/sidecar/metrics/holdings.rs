//! What the sidecar holds in memory, read at each scrape: the credential cache, the known
//! secrets and the job memory, as gauges.
//!
//! These stores are the sidecar's memory that grows with use (everything else is per request
//! or per connection), so their gauges tell where resident memory goes:
//!
//! - `libretto_sidecar_cache_entries` and `libretto_sidecar_cache_weight_kib`: credential cache
//!   entries, and their weight in started KiB (what `--cache-capacity` bounds);
//! - `libretto_sidecar_known_secret_values` and `libretto_sidecar_known_secret_bytes`: the
//!   values the scrubber knows, and their pattern bytes (what the known-secrets budget bounds);
//! - `libretto_sidecar_job_memory_entries` and `libretto_sidecar_job_memory_weight_kib`: jobs
//!   remembered for echo restores, and their weight in started KiB (what `--remember-jobs`
//!   bounds).
//!
//! The stores are built after the [`Metrics`](super::Metrics) they report to, so the source is
//! attached later ([`Metrics::watch_holdings`](super::Metrics::watch_holdings)); until then
//! nothing is written. Counts from the caches are approximate, as moka counts lazily.

use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

/// One reading of the stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holdings {
    pub cache_entries: u64,
    pub cache_weight_kib: u64,
    pub known_secret_values: u64,
    pub known_secret_bytes: u64,
    pub job_memory_entries: u64,
    pub job_memory_weight_kib: u64,
}

/// Something that can say what it holds now.
pub trait Held: Send + Sync + 'static {
    fn holdings(&self) -> Holdings;
}

/// Writes the [`Holdings`] gauges on each scrape, once a source is attached.
#[derive(Clone, Default)]
pub struct HoldingsCollector {
    source: Arc<OnceLock<Box<dyn Held>>>,
}

impl std::fmt::Debug for HoldingsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoldingsCollector")
            .field("attached", &self.source.get().is_some())
            .finish()
    }
}

impl HoldingsCollector {
    /// Attaches the source; a second one is ignored (one sidecar, one set of stores).
    pub fn attach(&self, source: Box<dyn Held>) {
        let _ = self.source.set(source);
    }
}

impl Collector for HoldingsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(source) = self.source.get() else {
            return Ok(());
        };
        let now = source.holdings();
        let gauges = [
            (
                "libretto_sidecar_cache_entries",
                "Credential cache entries held",
                now.cache_entries,
            ),
            (
                "libretto_sidecar_cache_weight_kib",
                "Weight of the credential cache entries, in started KiB",
                now.cache_weight_kib,
            ),
            (
                "libretto_sidecar_known_secret_values",
                "Credential values the answer scrubber knows",
                now.known_secret_values,
            ),
            (
                "libretto_sidecar_known_secret_bytes",
                "Pattern bytes of the known credential values, with their escaped forms",
                now.known_secret_bytes,
            ),
            (
                "libretto_sidecar_job_memory_entries",
                "Jobs remembered for putting placeholders back into echoes",
                now.job_memory_entries,
            ),
            (
                "libretto_sidecar_job_memory_weight_kib",
                "Weight of the remembered jobs, in started KiB",
                now.job_memory_weight_kib,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::metrics::Metrics;

    struct Fixed;

    impl Held for Fixed {
        fn holdings(&self) -> Holdings {
            Holdings {
                cache_entries: 3,
                cache_weight_kib: 4,
                known_secret_values: 5,
                known_secret_bytes: 600,
                job_memory_entries: 7,
                job_memory_weight_kib: 8,
            }
        }
    }

    #[test]
    fn the_stores_show_once_attached() {
        let metrics = Metrics::new();
        assert!(!metrics.encode().contains("libretto_sidecar_cache_entries"));
        metrics.watch_holdings(Box::new(Fixed));
        let text = metrics.encode();
        for line in [
            "# TYPE libretto_sidecar_cache_entries gauge",
            "libretto_sidecar_cache_entries 3",
            "libretto_sidecar_cache_weight_kib 4",
            "libretto_sidecar_known_secret_values 5",
            "libretto_sidecar_known_secret_bytes 600",
            "libretto_sidecar_job_memory_entries 7",
            "libretto_sidecar_job_memory_weight_kib 8",
        ] {
            assert!(text.lines().any(|got| got == line), "{line} in {text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
