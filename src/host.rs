//! Admission control: is this machine, not the server, now the bottleneck? A sampler
//! thread reads the kernel's counters every 200 ms; while the host is saturated (CPU
//! busy and more runnable tasks than cores, command latency ballooning while work in
//! flight piles up on a busy CPU, memory nearly gone, or file descriptors nearly used
//! up) new slots are not started and count as shortfall `host`. Results of such a
//! stretch measure the load generator, not the server: the run says so.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
/// Latency: saturated when the window's mean command latency is this many times the
/// run's best window while in flight grew by `PILE_UP` (and at least `MIN_IN_FLIGHT`)
/// and the CPU is at least `LATENCY_BUSY` busy; admitted again below `LATENCY_OFF`
/// times the best window. A slow server also makes latency and in flight grow, but
/// leaves this machine idle: the CPU condition keeps that from being blamed on it.
const LATENCY_ON: f64 = 3.0;
const LATENCY_OFF: f64 = 2.0;
const PILE_UP: f64 = 1.5;
const MIN_IN_FLIGHT: f64 = 4.0;
const LATENCY_BUSY: f64 = 0.75;
/// Commands a window needs before its mean latency counts.
const MIN_COMMANDS: u64 = 10;
/// The in-flight cap rises once per this many ticks while the host keeps up.
const RAISE_EVERY: u32 = 5;

/// An adaptive cap on commands in flight, like TCP's congestion window: none until the
/// host first saturates, then halved (at most once per window) while it stays saturated
/// and raised by an eighth (at least one) a second while it keeps up. A yes/no gate alone let each window's
/// measurement lag through as a burst: the AWS CLI on 2 cores went to 130 in flight and
/// 30 s per command before the gate closed, again and again.
pub fn next_limit(limit: u64, in_flight: u64, saturated: bool, may_cut: bool, raise: bool, cores: u64) -> u64 {
    if saturated {
        if may_cut {
            return (in_flight / 2).max(cores).min(limit);
        }
        return limit;
    }
    // An eighth more a second: one command at a time at the AWS CLI's 8 or so on 2 cores,
    // back from a transient cut of obsctl's 60 (mostly its 2.5 s exit sleep) in seconds.
    if raise && limit != u64::MAX { limit + (limit / 8).max(1) } else { limit }
}

/// Why the host was saturated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Cpu,
    Latency,
    Memory,
    Fds,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Cpu => "cpu",
            Reason::Latency => "latency",
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
    /// Commands running now, and the commands ended so far with their summed latency.
    in_flight: AtomicU64,
    ended: AtomicU64,
    latency_us: AtomicU64,
    /// See `next_limit`; 0 until the sampler starts (read as none).
    limit: AtomicU64,
}

/// What the latency judgement looks at, over one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// The lowest window mean of the run so far, and this window's, in ms.
    pub best_ms: f64,
    pub recent_ms: f64,
    /// Commands in flight at the start and at the end of the window.
    pub in_flight_then: f64,
    pub in_flight_now: f64,
}

/// Command latency has ballooned while work piled up on a busy CPU (or, once
/// saturated, has not come back down).
pub fn latency_saturated(l: &Latency, busy: f64, was: bool) -> bool {
    if !(l.best_ms > 0.0 && busy >= LATENCY_BUSY) {
        return false;
    }
    if was {
        // New slots are held back, so in flight no longer grows: latency alone decides.
        return l.recent_ms >= LATENCY_OFF * l.best_ms;
    }
    l.recent_ms >= LATENCY_ON * l.best_ms
        && l.in_flight_now >= MIN_IN_FLIGHT
        && l.in_flight_now >= PILE_UP * l.in_flight_then.max(1.0)
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
pub fn judge(
    busy: f64,
    runnable: f64,
    cores: f64,
    mem_share: f64,
    fds: f64,
    latency: Option<&Latency>,
    was: bool,
) -> Option<Reason> {
    if mem_share < MEMORY_FLOOR {
        return Some(Reason::Memory);
    }
    if fds > FD_CEILING {
        return Some(Reason::Fds);
    }
    let threshold = if was { BUSY_OFF } else { BUSY_ON };
    if busy >= threshold && runnable > cores {
        return Some(Reason::Cpu);
    }
    latency.is_some_and(|l| latency_saturated(l, busy, was)).then_some(Reason::Latency)
}

impl Host {
    pub fn saturated(&self) -> bool {
        self.saturated.load(Ordering::Relaxed)
    }

    /// Whether a new slot may start: the host is not saturated and the commands in
    /// flight are under the adaptive cap.
    pub fn admits(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        !self.saturated() && (limit == 0 || self.in_flight.load(Ordering::Relaxed) < limit)
    }

    pub fn report(&self) -> HostReport {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// A command of the run starts.
    pub fn command_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A command of the run ended after `took`.
    pub fn command_ended(&self, took: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.latency_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.ended.fetch_add(1, Ordering::Relaxed);
    }

    /// (in flight, commands ended, their summed latency in µs) now.
    fn commands(&self) -> (u64, u64, u64) {
        (
            self.in_flight.load(Ordering::Relaxed),
            self.ended.load(Ordering::Relaxed),
            self.latency_us.load(Ordering::Relaxed),
        )
    }

    /// Starts the sampler thread.
    pub fn watch(self: &Arc<Self>) {
        let me = self.clone();
        let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        let _ = std::thread::Builder::new().name("host".into()).spawn(move || {
            let mut samples: std::collections::VecDeque<(Cpu, u64)> = std::collections::VecDeque::new();
            let mut commands: std::collections::VecDeque<(u64, u64, u64)> = std::collections::VecDeque::new();
            let mut best_ms = f64::INFINITY;
            let per_window = (WINDOW as f64 / TICK.as_secs_f64()) as usize;
            let mut last = Instant::now();
            let (mut limit, mut last_cut, mut ticks) = (u64::MAX, Instant::now(), 0u32);
            while !me.stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let Some(s) = read_cpu() else { return };
                samples.push_back(s);
                if samples.len() > per_window {
                    samples.pop_front();
                }
                commands.push_back(me.commands());
                if commands.len() > per_window {
                    commands.pop_front();
                }
                let latency = {
                    let (then, now) = (commands[0], commands[commands.len() - 1]);
                    let ended = now.1 - then.1;
                    (ended >= MIN_COMMANDS).then(|| {
                        let recent_ms = (now.2 - then.2) as f64 / ended as f64 / 1000.0;
                        best_ms = best_ms.min(recent_ms);
                        Latency { best_ms, recent_ms, in_flight_then: then.0 as f64, in_flight_now: now.0 as f64 }
                    })
                };
                let (first, newest) = (samples.front().copied().unwrap_or(s), s);
                let total = newest.0.total.saturating_sub(first.0.total).max(1) as f64;
                let busy = newest.0.busy.saturating_sub(first.0.busy) as f64 / total;
                let runnable = samples.iter().map(|x| x.1 as f64).sum::<f64>() / samples.len() as f64;
                let was = me.saturated();
                let verdict = if samples.len() < 3 {
                    None
                } else {
                    let (mem, fds) = (memory_available_share().unwrap_or(1.0), fd_share().unwrap_or(0.0));
                    judge(busy, runnable, cores, mem, fds, latency.as_ref(), was)
                };
                ticks = ticks.wrapping_add(1);
                let may_cut = limit == u64::MAX || last_cut.elapsed().as_secs_f64() >= WINDOW as f64;
                let in_flight = me.in_flight.load(Ordering::Relaxed);
                let next = next_limit(limit, in_flight, verdict.is_some(), may_cut, ticks % RAISE_EVERY == 0, cores as u64);
                if next < limit {
                    last_cut = Instant::now();
                }
                limit = next;
                me.limit.store(limit, Ordering::Relaxed);
                let dt = last.elapsed().as_secs_f64();
                last = Instant::now();
                let mut r = me.report.lock().unwrap_or_else(|e| e.into_inner());
                if verdict.is_none() && in_flight >= limit {
                    // Not saturated now, but the cap set while it was holds slots back.
                    r.saturated_s += dt;
                    *r.by_reason.entry("in_flight_cap").or_default() += dt;
                }
                if let Some(reason) = verdict {
                    r.saturated_s += dt;
                    *r.by_reason.entry(reason.name()).or_default() += dt;
                    if !was {
                        let commands = match (reason, &latency) {
                            (Reason::Latency, Some(l)) => format!(
                                ", commands take {:.0} ms against {:.0} ms at best with {:.0} in flight (from {:.0})",
                                l.recent_ms, l.best_ms, l.in_flight_now, l.in_flight_then
                            ),
                            _ => String::new(),
                        };
                        let text = format!(
                            "this machine is saturated ({}: CPU {:.0}% busy, {runnable:.1} runnable on {cores} cores{commands}): new slots are held back as shortfall `host`, and results from now on measure this machine, not the server",
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
    fn the_in_flight_cap_halves_while_saturated_and_creeps_back_up() {
        // No cap until the first saturation; then half of what is in flight.
        assert_eq!(next_limit(u64::MAX, 130, false, true, true, 2), u64::MAX);
        assert_eq!(next_limit(u64::MAX, 130, true, true, false, 2), 65);
        // Held while a cut is recent; halved again a window later; never below the cores.
        assert_eq!(next_limit(65, 60, true, false, true, 2), 65);
        assert_eq!(next_limit(65, 60, true, true, false, 2), 30);
        assert_eq!(next_limit(4, 3, true, true, false, 2), 2);
        // A cut never raises the cap, even when more is in flight than it allows.
        assert_eq!(next_limit(10, 40, true, true, false, 2), 10);
        // Keeping up: an eighth more a second, at least one.
        assert_eq!(next_limit(6, 3, false, false, true, 2), 7);
        assert_eq!(next_limit(32, 10, false, false, true, 2), 36);
        assert_eq!(next_limit(30, 10, false, false, false, 2), 30);
    }

    #[test]
    fn saturation_needs_a_busy_cpu_and_a_queue_and_releases_with_hysteresis() {
        assert_eq!(judge(0.99, 6.0, 2.0, 0.5, 0.1, None, false), Some(Reason::Cpu));
        assert_eq!(judge(0.99, 1.5, 2.0, 0.5, 0.1, None, false), None, "busy but no queue: the work fits");
        assert_eq!(judge(0.90, 6.0, 2.0, 0.5, 0.1, None, false), None, "below the bar to start holding back");
        assert_eq!(judge(0.90, 6.0, 2.0, 0.5, 0.1, None, true), Some(Reason::Cpu), "above the bar to stop");
        assert_eq!(judge(0.10, 0.0, 2.0, 0.01, 0.1, None, false), Some(Reason::Memory));
        assert_eq!(judge(0.10, 0.0, 2.0, 0.5, 0.95, None, false), Some(Reason::Fds));
    }

    #[test]
    fn ballooning_latency_with_work_piling_up_on_a_busy_cpu_holds_back() {
        let l = |recent_ms: f64, then: f64, now: f64| Latency {
            best_ms: 400.0,
            recent_ms,
            in_flight_then: then,
            in_flight_now: now,
        };
        // The AWS CLI on 2 cores: 0.4 s calls became 2 s while in flight went 8 → 40.
        let piling = l(2000.0, 8.0, 40.0);
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&piling), false), Some(Reason::Latency));
        // The same numbers with this machine idle: the server is slow, which is what a
        // run must measure, not hide.
        assert_eq!(judge(0.30, 0.5, 2.0, 0.5, 0.1, Some(&piling), false), None);
        // Slow but not piling up (in flight steady), or piling up at normal latency.
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(2000.0, 30.0, 32.0)), false), None);
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(500.0, 8.0, 40.0)), false), None);
        // A handful of commands is not a pile.
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(2000.0, 1.0, 3.0)), false), None);
        // Once held back, in flight stops growing: latency alone decides, with hysteresis.
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(1000.0, 40.0, 20.0)), true), Some(Reason::Latency));
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(700.0, 40.0, 20.0)), true), None);
        assert_eq!(judge(0.50, 1.5, 2.0, 0.5, 0.1, Some(&l(1000.0, 40.0, 20.0)), true), None);
    }
}
