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

/// Samples a process's VmRSS on a timer until stopped.
pub struct RssSampler {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<RssSamples>,
}

/// What an [`RssSampler`] saw, in KiB.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RssSamples {
    pub peak_kib: u64,
    pub samples: usize,
}

impl RssSamples {
    /// Counts one reading.
    pub fn add(&mut self, rss_kib: u64) {
        self.peak_kib = self.peak_kib.max(rss_kib);
        self.samples += 1;
    }
}

impl RssSampler {
    /// Starts reading `pid`'s RSS every `every`. VmHWM alone would not do:
    /// it also holds the peak from before the measured window (startup,
    /// migrations), which this bounds to the window itself.
    pub fn start(pid: u32, every: std::time::Duration) -> RssSampler {
        let stop = tokio_util::sync::CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut seen = RssSamples::default();
            let mut tick = tokio::time::interval(every);
            // A late tick is skipped, not made up in a burst of readings.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                match rss_kib(pid) {
                    Some((rss, _)) => seen.add(rss),
                    None => break, // the process is gone
                }
            }
            seen
        });
        RssSampler { stop, task }
    }

    /// Stops sampling (after one last reading) and returns what was seen.
    pub async fn stop(self, pid: u32) -> RssSamples {
        self.stop.cancel();
        let mut seen = self.task.await.unwrap_or_default();
        if let Some((rss, _)) = rss_kib(pid) {
            seen.add(rss);
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_the_peak() {
        let mut s = RssSamples::default();
        for v in [10, 30, 20] {
            s.add(v);
        }
        assert_eq!(
            s,
            RssSamples {
                peak_kib: 30,
                samples: 3
            }
        );
    }

    #[tokio::test]
    async fn samples_this_process() {
        let pid = std::process::id();
        let sampler = RssSampler::start(pid, std::time::Duration::from_millis(5));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let seen = sampler.stop(pid).await;
        assert!(seen.samples >= 2, "{seen:?}");
        assert!(seen.peak_kib > 0);
    }
}
