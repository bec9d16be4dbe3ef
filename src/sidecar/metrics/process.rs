//! The standard `process_*` metrics, read from `/proc` at each scrape (Linux only).
//!
//! The names and meanings are those of the Prometheus client libraries' process collectors:
//! `process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds` and
//! `process_start_time_seconds` (Unix time). On other systems, or when `/proc` cannot be read,
//! the collector writes nothing rather than a made-up value.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Writes the `process_*` metrics of this process on each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector {
    _private: (),
}

impl ProcessCollector {
    pub fn new() -> Self {
        Self::default()
    }
}

/// One reading of the process's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub start_time_seconds: f64,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sample) = read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(sample.cpu_seconds);
        let metric = encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?;
        cpu.encode(metric)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                Some(sample.resident_bytes),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                Some(sample.virtual_bytes),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                Some(sample.start_time_seconds),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                sample.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                sample.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            let Some(value) = value else { continue };
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

/// Reads this process's figures, or `None` where `/proc` is not there.
#[cfg(target_os = "linux")]
pub fn read() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let mut sample = parse(
        &stat,
        &boot,
        rustix::param::clock_ticks_per_second(),
        rustix::param::page_size(),
    )?;
    sample.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        // The directory handle being read counts itself; leave it out.
        .map(|entries| entries.count().saturating_sub(1) as f64);
    sample.max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map(|limit| limit as f64);
    Some(sample)
}

/// Reads this process's figures: not available off Linux.
#[cfg(not(target_os = "linux"))]
pub fn read() -> Option<Sample> {
    None
}

/// The figures in `/proc/self/stat` (`stat`) and the boot time in `/proc/stat` (`boot`), with
/// the system's clock ticks per second and page size. `None` when either text is not as the
/// kernel writes it.
pub fn parse(stat: &str, boot: &str, ticks_per_second: u64, page_size: usize) -> Option<Sample> {
    // The command name (field 2) is in parentheses and may hold spaces or parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3 (state): field N is `fields[N - 3]`.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = ticks_per_second.max(1) as f64;
    let utime = field(14)?;
    let stime = field(15)?;
    let start_ticks = field(22)?;
    let vsize = field(23)?;
    let rss_pages = field(24)?;
    let boot_time = boot
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Sample {
        cpu_seconds: (utime + stime) as f64 / ticks,
        resident_bytes: (rss_pages as f64) * page_size as f64,
        virtual_bytes: vsize as f64,
        start_time_seconds: boot_time as f64 + start_ticks as f64 / ticks,
        open_fds: None,
        max_fds: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (libretto (side) car) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                        150 50 0 0 20 0 9 0 360000 104857600 2560 18446744073709551615 1 1 0 0 \
                        0 0 0 4096 17920 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";

    #[test]
    fn stat_fields_are_read_past_a_name_with_parentheses() {
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";
        let sample = parse(STAT, boot, 100, 4096).unwrap();
        assert_eq!(sample.cpu_seconds, 2.0);
        assert_eq!(sample.resident_bytes, 2560.0 * 4096.0);
        assert_eq!(sample.virtual_bytes, 104_857_600.0);
        assert_eq!(sample.start_time_seconds, 1_700_003_600.0);
    }

    #[test]
    fn text_not_as_the_kernel_writes_it_gives_nothing() {
        assert!(parse("garbage", "btime 1", 100, 4096).is_none());
        assert!(parse(STAT, "no boot time", 100, 4096).is_none());
        assert!(parse("1 (x) S 1 2", "btime 1", 100, 4096).is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read() {
        let sample = read().unwrap();
        assert!(sample.resident_bytes > 0.0);
        assert!(sample.open_fds.unwrap() >= 3.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(sample.start_time_seconds <= now + 1.0);
        assert!(sample.start_time_seconds > now - 86_400.0 * 365.0);
    }
}
