//! Latency percentiles and process memory.

/// Percentiles of a set of microsecond samples.
#[derive(Debug, Default, Clone)]
pub struct Latencies(pub Vec<u32>);

impl Latencies {
    /// The p-th percentile in milliseconds (0.0 when empty).
    pub fn pct_ms(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let i = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        f64::from(self.0[i.min(self.0.len() - 1)]) / 1000.0
    }

    /// "p50 x ms, p99 y ms, p999 z ms".
    pub fn summary(&mut self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms (n={})",
            self.pct_ms(50.0),
            self.pct_ms(99.0),
            self.pct_ms(99.9),
            self.0.len()
        )
    }
}

/// (current RSS, peak RSS) of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
