//! Admission control: is this machine, not the server, now the bottleneck? A sampler
//! thread reads the kernel's counters every 200 ms; while the host is saturated (CPU
//! busy and more runnable tasks than cores, memory nearly gone, or file descriptors
//! nearly used up) new slots are not started and count as shortfall `host`. Results of
//! such a stretch measure the load generator, not the server: the run says so.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::warn;

const TICK: Duration = Duration::from_millis(200);
/// Seconds of samples the CPU judgement looks at.
const WINDOW: usize = 5;
/// Saturated above this CPU busy share with more runnable tasks than cores; admitted
/// again below the lower figure (hysteresis, so the gate does not flap).
const BUSY_ON: f64 = 0.95;
const BUSY_OFF: f64 = 0.85;
const MEMORY_FLOOR: f64 = 0.05;
const FD_CEILING: f64 = 0.9;

/// Why the host was saturated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Cpu,
    Memory,
    Fds,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Cpu => "cpu",
            Reason::Memory => "memory",
            Reason::Fds => "file_descriptors",
        }
    }
}

/// What the summary says about the host.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HostReport {
    /// Wall seconds during which new slots were held back.
    pub saturated_s: f64,
    /// By reason, seconds.
    pub by_reason: std::collections::BTreeMap<&'static str, f64>,
    /// Set when the host was saturated at any time: the run measured this machine too.
    pub warning: Option<String>,
}

#[derive(Default)]
pub struct Host {
    saturated: AtomicBool,
    stop: AtomicBool,
    report: Mutex<HostReport>,
}

#[derive(Clone, Copy, Default)]
struct Cpu {
    busy: u64,
    total: u64,
}

fn read_cpu() -> Option<(Cpu, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let mut cpu = None;
    let mut running = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cpu ") {
            let v: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            let total: u64 = v.iter().take(8).sum();
            cpu = Some(Cpu { busy: total.saturating_sub(idle), total });
        } else if let Some(n) = line.strip_prefix("procs_running ") {
            running = n.trim().parse().unwrap_or(0);
        }
    }
    Some((cpu?, running))
}

fn memory_available_share() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<f64> {
        text.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
    };
    Some(field("MemAvailable:")? / field("MemTotal:")?)
}

fn fd_share() -> Option<f64> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit on our own process.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur == 0 {
        return None;
    }
    Some(open / lim.rlim_cur as f64)
}

/// The decision for one tick, from pure numbers (testable without a machine).
pub fn judge(busy: f64, runnable: f64, cores: f64, mem_share: f64, fds: f64, was: bool) -> Option<Reason> {
    if mem_share < MEMORY_FLOOR {
        return Some(Reason::Memory);
    }
    if fds > FD_CEILING {
        return Some(Reason::Fds);
    }
    let threshold = if was { BUSY_OFF } else { BUSY_ON };
    (busy >= threshold && runnable > cores).then_some(Reason::Cpu)
}

impl Host {
    pub fn saturated(&self) -> bool {
        self.saturated.load(Ordering::Relaxed)
    }

    pub fn report(&self) -> HostReport {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Starts the sampler thread.
    pub fn watch(self: &Arc<Self>) {
        let me = self.clone();
        let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        let _ = std::thread::Builder::new().name("host".into()).spawn(move || {
            let mut samples: std::collections::VecDeque<(Cpu, u64)> = std::collections::VecDeque::new();
            let per_window = (WINDOW as f64 / TICK.as_secs_f64()) as usize;
            let mut last = Instant::now();
            while !me.stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let Some(s) = read_cpu() else { return };
                samples.push_back(s);
                if samples.len() > per_window {
                    samples.pop_front();
                }
                let (first, newest) = (samples.front().copied().unwrap_or(s), s);
                let total = newest.0.total.saturating_sub(first.0.total).max(1) as f64;
                let busy = newest.0.busy.saturating_sub(first.0.busy) as f64 / total;
                let runnable = samples.iter().map(|x| x.1 as f64).sum::<f64>() / samples.len() as f64;
                let was = me.saturated();
                let verdict = if samples.len() < 3 {
                    None
                } else {
                    judge(busy, runnable, cores, memory_available_share().unwrap_or(1.0), fd_share().unwrap_or(0.0), was)
                };
                let dt = last.elapsed().as_secs_f64();
                last = Instant::now();
                let mut r = me.report.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(reason) = verdict {
                    r.saturated_s += dt;
                    *r.by_reason.entry(reason.name()).or_default() += dt;
                    if !was {
                        let text = format!(
                            "this machine is saturated ({}: CPU {:.0}% busy, {runnable:.1} runnable on {cores} cores): new slots are held back as shortfall `host`, and results from now on measure this machine, not the server",
                            reason.name(),
                            busy * 100.0
                        );
                        warn!("{text}");
                        r.warning.get_or_insert(text);
                    }
                }
                me.saturated.store(verdict.is_some(), Ordering::Relaxed);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_needs_a_busy_cpu_and_a_queue_and_releases_with_hysteresis() {
        assert_eq!(judge(0.99, 6.0, 2.0, 0.5, 0.1, false), Some(Reason::Cpu));
        assert_eq!(judge(0.99, 1.5, 2.0, 0.5, 0.1, false), None, "busy but no queue: the work fits");
        assert_eq!(judge(0.90, 6.0, 2.0, 0.5, 0.1, false), None, "below the bar to start holding back");
        assert_eq!(judge(0.90, 6.0, 2.0, 0.5, 0.1, true), Some(Reason::Cpu), "above the bar to stop");
        assert_eq!(judge(0.10, 0.0, 2.0, 0.01, 0.1, false), Some(Reason::Memory));
        assert_eq!(judge(0.10, 0.0, 2.0, 0.5, 0.95, false), Some(Reason::Fds));
    }
}
