//! Admission control: is this machine, not the server, now the bottleneck? A sampler
//! thread reads the kernel's counters every 200 ms; while the host is saturated (CPU
//! busy and more runnable tasks than cores, command latency ballooning while work in
//! flight piles up on a busy CPU, memory nearly gone, or file descriptors nearly used
//! up) new slots are not started and count as shortfall `host`. Results of such a
//! stretch measure the load generator, not the server: the run says so.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::model::events::HostReason;
use crate::model::host::{HostReport, OtherProcess, Party};
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

/// The load generator is the bottleneck when its own process tree used at least this
/// share of the machine's busy CPU; below it, other processes set the pace.
pub const OWN_MAJORITY: f64 = 0.5;
/// Other processes named in the report.
pub const TOP_OTHERS: usize = 3;
/// Processes read from /proc in one scan, at most (a bounded look on a crowded runner).
const MAX_PROCS: usize = 8192;
/// Ticks between two scans of /proc (one a second).
const SCAN_EVERY: u32 = 5;

/// Who the party is, from the CPU ticks trafficgen's tree and the machine used over the
/// same stretch: trafficgen when its tree took most of the busy CPU. None without data.
pub fn party(own_ticks: f64, busy_ticks: f64) -> Option<Party> {
    // NaN counts as no data, as zero does.
    if busy_ticks.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    Some(if own_ticks / busy_ticks >= OWN_MAJORITY { Party::Trafficgen } else { Party::Other })
}

/// Whether a saturated tick holds new slots back: always for memory and file
/// descriptors (this process's own limits), and for the CPU or latency only when
/// trafficgen is the party (or nobody can tell yet). Other work taking the CPU is not
/// the generator's bottleneck: holding back would only let it set the pace.
pub fn holds_back(reason: HostReason, party: Option<Party>) -> bool {
    match reason {
        HostReason::Memory | HostReason::Fds | HostReason::InFlightCap => true,
        HostReason::Cpu | HostReason::Latency => party != Some(Party::Other),
    }
}

/// One process as read from `/proc/PID/stat`: CPU in clock ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub name: String,
    /// utime + stime: its own threads.
    pub ticks: u64,
    /// cutime + cstime: its children that ended and were waited for.
    pub reaped: u64,
}

/// Parses one `/proc/PID/stat` line. The name is in parentheses and may hold spaces
/// or parentheses itself, so the fields are read after the last `)`.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let name = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    let field = |n: usize| -> Option<u64> { rest.get(n - 3)?.parse().ok() };
    Some(Proc {
        pid,
        ppid: u32::try_from(field(4)?).ok()?,
        name,
        ticks: field(14)? + field(15)?,
        reaped: field(16)? + field(17)?,
    })
}

/// CPU ticks between two scans: trafficgen's tree (`me` and its descendants, with the
/// children they reaped, so a client that ended between the scans still counts) and
/// each other process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    /// The tree's cumulative ticks at this scan (for the next delta).
    pub own_total: u64,
    /// Ticks per other process since the previous scan: (pid, name, ticks).
    pub others: Vec<(u32, String, u64)>,
}

/// Splits a scan into trafficgen's tree and the rest (pure: scans in, ticks out).
pub fn split(prev: &std::collections::HashMap<u32, u64>, now: &[Proc], me: u32) -> Split {
    let mut tree = std::collections::HashSet::from([me]);
    // Descendants, however deep: a bounded fixpoint over the parent links.
    for _ in 0..64 {
        let before = tree.len();
        for p in now {
            if tree.contains(&p.ppid) {
                tree.insert(p.pid);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    let mut out = Split::default();
    for p in now {
        if tree.contains(&p.pid) {
            out.own_total += p.ticks + p.reaped;
        } else {
            // A process new since the last scan counts from its start.
            let delta = p.ticks.saturating_sub(prev.get(&p.pid).copied().unwrap_or(0));
            if delta > 0 {
                out.others.push((p.pid, p.name.clone(), delta));
            }
        }
    }
    out
}

/// Whether a command name is a script interpreter (`python3`, `sh`, `node`, …).
fn is_interpreter(comm: &str) -> bool {
    const INTERPRETERS: &[&str] = &["python", "node", "java", "ruby", "perl", "sh", "bash", "dash"];
    INTERPRETERS
        .iter()
        .any(|i| comm == *i || comm.strip_prefix(i).is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit())))
}

/// The name a process is known by: its command name, or for an interpreter (`python3
/// moto_server …`, `sh script`) the file name of the script it runs, so a local server
/// shows as `moto_server`, not `python3`.
pub fn display_name(comm: &str, cmdline: &[&str]) -> String {
    let interpreted = is_interpreter(comm);
    if interpreted && let Some(script) = cmdline.iter().skip(1).find(|a| !a.starts_with('-')) {
        let base = script.rsplit('/').next().unwrap_or(script);
        if !base.is_empty() {
            return base.chars().take(32).collect();
        }
    }
    comm.to_string()
}

fn scan_procs() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .take(MAX_PROCS)
        .filter_map(|e| {
            let mut p = parse_stat(&std::fs::read_to_string(e.path().join("stat")).ok()?)?;
            if p.ticks > 0 && is_interpreter(&p.name) {
                // An interpreter: its script's name (cmdline read only for these).
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let text = String::from_utf8_lossy(&cmdline);
                let args: Vec<&str> = text.split('\0').filter(|a| !a.is_empty()).take(8).collect();
                p.name = display_name(&p.name, &args);
            }
            Some(p)
        })
        .collect()
}

/// Running sums of the attribution, while saturated and over the whole run.
#[derive(Default)]
struct Tally {
    busy: u64,
    own: u64,
    others: std::collections::HashMap<u32, (String, u64)>,
}

impl Tally {
    fn add(&mut self, busy: u64, own: u64, others: &[(u32, String, u64)]) {
        self.busy += busy;
        self.own += own.min(busy);
        for (pid, name, t) in others {
            // Bounded: a runner that forks without end cannot grow this past a limit.
            if self.others.len() < 4096 || self.others.contains_key(pid) {
                self.others.entry(*pid).or_insert_with(|| (name.clone(), 0)).1 += t;
            }
        }
    }

    fn shares(&self) -> Option<(f64, f64, Vec<OtherProcess>)> {
        if self.busy == 0 {
            return None;
        }
        let busy = self.busy as f64;
        let own = self.own as f64 / busy;
        // By name (four busy loops are one `yes 98 %`), with the pid that used the most.
        let mut by_name: std::collections::HashMap<&str, (u32, u64, u64)> = std::collections::HashMap::new();
        for (pid, (name, t)) in &self.others {
            let e = by_name.entry(name.as_str()).or_insert((*pid, 0, 0));
            e.2 += t;
            if *t > e.1 || (*t == e.1 && *pid < e.0) {
                (e.0, e.1) = (*pid, *t);
            }
        }
        let mut others: Vec<OtherProcess> = by_name
            .into_iter()
            .map(|(name, (pid, _, t))| OtherProcess { pid, name: name.to_string(), share: (t as f64 / busy).min(1.0) })
            .collect();
        others.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.pid.cmp(&b.pid)));
        others.truncate(TOP_OTHERS);
        Some((own, 1.0 - own, others))
    }
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
    let limit = crate::exec::client::open_files_limit().filter(|l| *l > 0)?;
    Some(open / limit as f64)
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
) -> Option<HostReason> {
    if mem_share < MEMORY_FLOOR {
        return Some(HostReason::Memory);
    }
    if fds > FD_CEILING {
        return Some(HostReason::Fds);
    }
    let threshold = if was { BUSY_OFF } else { BUSY_ON };
    if busy >= threshold && runnable > cores {
        return Some(HostReason::Cpu);
    }
    latency.is_some_and(|l| latency_saturated(l, busy, was)).then_some(HostReason::Latency)
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
            let mut sampler = Sampler::new(cores);
            while !me.stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let Some(s) = read_cpu() else { return };
                sampler.tick(&me, s);
            }
        });
    }
}

/// The sampler thread's memory between ticks: the window of CPU samples and command
/// counters, the adaptive cap, and the attribution of the CPU to its parties.
struct Sampler {
    cores: f64,
    per_window: usize,
    samples: VecDeque<(Cpu, u64)>,
    commands: VecDeque<(u64, u64, u64)>,
    best_ms: f64,
    last: Instant,
    limit: u64,
    last_cut: Instant,
    ticks: u32,
    /// Attribution: a scan of /proc a second; the last few scans' cumulative (machine
    /// busy, trafficgen's tree) ticks give the party of the window.
    pid: u32,
    prev_ticks: HashMap<u32, u64>,
    scans: VecDeque<(u64, u64)>,
    all: Tally,
    during: Tally,
    saturated_since_scan: bool,
    busy_sum: f64,
    runnable_sum: f64,
    saturated_ticks: u32,
}

/// One tick's measurements and judgement, as the report records them.
struct Tick {
    busy: f64,
    runnable: f64,
    latency: Option<Latency>,
    /// Saturated at the previous tick.
    was: bool,
    /// The judgement, and what of it holds slots back (not when others' work saturates).
    candidate: Option<HostReason>,
    verdict: Option<HostReason>,
    in_flight: u64,
    /// Wall seconds since the previous tick.
    dt: f64,
}

impl Sampler {
    fn new(cores: f64) -> Sampler {
        Sampler {
            cores,
            per_window: (WINDOW as f64 / TICK.as_secs_f64()) as usize,
            samples: VecDeque::new(),
            commands: VecDeque::new(),
            best_ms: f64::INFINITY,
            last: Instant::now(),
            limit: u64::MAX,
            last_cut: Instant::now(),
            ticks: 0,
            pid: std::process::id(),
            prev_ticks: HashMap::new(),
            scans: VecDeque::new(),
            all: Tally::default(),
            during: Tally::default(),
            saturated_since_scan: false,
            busy_sum: 0.0,
            runnable_sum: 0.0,
            saturated_ticks: 0,
        }
    }

    /// One sample `s` of the CPU: judge, attribute, set the cap, and record it all.
    fn tick(&mut self, host: &Host, s: (Cpu, u64)) {
        let latency = self.observe(host, s);
        let (busy, runnable) = self.cpu(s);
        let was = host.saturated();
        let verdict = if self.samples.len() < 3 {
            None
        } else {
            let (mem, fds) = (memory_available_share().unwrap_or(1.0), fd_share().unwrap_or(0.0));
            judge(busy, runnable, self.cores, mem, fds, latency.as_ref(), was)
        };
        // A scan a second, and one early so the party is known by the time the first
        // judgement (three samples) can hold slots back.
        if self.ticks.is_multiple_of(SCAN_EVERY) || self.ticks == 2 {
            self.scan(s);
        }
        let who = self.whose_work();
        if verdict.is_some() {
            self.saturated_since_scan = true;
            self.busy_sum += busy;
            self.runnable_sum += runnable;
            self.saturated_ticks += 1;
        }
        let (candidate, verdict) = (verdict, verdict.filter(|r| holds_back(*r, who)));
        self.ticks = self.ticks.wrapping_add(1);
        let in_flight = self.adapt_limit(host, verdict);
        let dt = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        let t = Tick { busy, runnable, latency, was, candidate, verdict, in_flight, dt };
        let mut r = host.report.lock().unwrap_or_else(|e| e.into_inner());
        self.record(&mut r, &t);
        host.saturated.store(verdict.is_some(), Ordering::Relaxed);
    }

    /// Adds `s` and the command counters to the window; the window's latency once it
    /// has enough commands.
    fn observe(&mut self, host: &Host, s: (Cpu, u64)) -> Option<Latency> {
        self.samples.push_back(s);
        if self.samples.len() > self.per_window {
            self.samples.pop_front();
        }
        self.commands.push_back(host.commands());
        if self.commands.len() > self.per_window {
            self.commands.pop_front();
        }
        let (then, now) = (self.commands[0], self.commands[self.commands.len() - 1]);
        let ended = now.1 - then.1;
        (ended >= MIN_COMMANDS).then(|| {
            let recent_ms = (now.2 - then.2) as f64 / ended as f64 / 1000.0;
            self.best_ms = self.best_ms.min(recent_ms);
            Latency { best_ms: self.best_ms, recent_ms, in_flight_then: then.0 as f64, in_flight_now: now.0 as f64 }
        })
    }

    /// The window's CPU busy share and mean runnable tasks, up to the newest sample `s`.
    fn cpu(&self, s: (Cpu, u64)) -> (f64, f64) {
        let (first, newest) = (self.samples.front().copied().unwrap_or(s), s);
        let total = newest.0.total.saturating_sub(first.0.total).max(1) as f64;
        let busy = newest.0.busy.saturating_sub(first.0.busy) as f64 / total;
        let runnable = self.samples.iter().map(|x| x.1 as f64).sum::<f64>() / self.samples.len() as f64;
        (busy, runnable)
    }

    /// Scans /proc: the CPU used since the last scan, by trafficgen's tree and by the
    /// others, goes to the tallies (the whole run's, and the saturated stretches').
    fn scan(&mut self, s: (Cpu, u64)) {
        let procs = scan_procs();
        let parts = split(&self.prev_ticks, &procs, self.pid);
        if let Some(&(busy_then, own_then)) = self.scans.back() {
            let (d_busy, d_own) = (s.0.busy.saturating_sub(busy_then), parts.own_total.saturating_sub(own_then));
            self.all.add(d_busy, d_own, &parts.others);
            if self.saturated_since_scan {
                self.during.add(d_busy, d_own, &parts.others);
            }
        }
        self.saturated_since_scan = false;
        self.prev_ticks = procs.iter().map(|p| (p.pid, p.ticks)).collect();
        self.scans.push_back((s.0.busy, parts.own_total));
        if self.scans.len() > WINDOW + 1 {
            self.scans.pop_front();
        }
    }

    /// Whose work fills the CPU over the last few seconds (None until two scans).
    fn whose_work(&self) -> Option<Party> {
        match (self.scans.front(), self.scans.back()) {
            (Some(a), Some(b)) if self.scans.len() >= 2 => {
                party(b.1.saturating_sub(a.1) as f64, b.0.saturating_sub(a.0) as f64)
            }
            _ => None,
        }
    }

    /// Moves the in-flight cap (`next_limit`) and publishes it; returns the commands in
    /// flight it was set against.
    fn adapt_limit(&mut self, host: &Host, verdict: Option<HostReason>) -> u64 {
        let may_cut = self.limit == u64::MAX || self.last_cut.elapsed().as_secs_f64() >= WINDOW as f64;
        let in_flight = host.in_flight.load(Ordering::Relaxed);
        let raise = self.ticks.is_multiple_of(RAISE_EVERY);
        let next = next_limit(self.limit, in_flight, verdict.is_some(), may_cut, raise, self.cores as u64);
        if next < self.limit {
            self.last_cut = Instant::now();
        }
        self.limit = next;
        host.limit.store(self.limit, Ordering::Relaxed);
        in_flight
    }

    /// The tick in the report: time saturated by others' work or held back, the CPU's
    /// attribution, the party, and the first warning of each party.
    fn record(&self, r: &mut HostReport, t: &Tick) {
        let cores = self.cores;
        r.cores = cores;
        if let (Some(reason), None) = (t.candidate, t.verdict) {
            // Saturated by other work: not held back, but the run shares the CPU.
            r.other_busy_s += t.dt;
            if r.warning_other.is_none() {
                let text = format!(
                    "this machine is saturated by other work ({}: CPU {:.0}% busy, {:.1} runnable on {cores} cores; trafficgen's own processes use less than half of it): slots are not held back, and capacity thresholds cannot be judged",
                    reason.name(),
                    t.busy * 100.0,
                    t.runnable
                );
                warn!("{text}");
                r.warning_other = Some(text);
            }
        }
        if self.ticks % SCAN_EVERY == 1 {
            self.record_attribution(r);
        }
        r.party = match (r.saturated_s, r.other_busy_s) {
            (held, other) if held == 0.0 && other == 0.0 => None,
            (held, other) if other > held => Some(Party::Other),
            _ => Some(Party::Trafficgen),
        };
        if t.verdict.is_none() && t.in_flight >= self.limit {
            // Not saturated now, but the cap set while it was holds slots back.
            r.saturated_s += t.dt;
            *r.by_reason.entry(HostReason::InFlightCap.into()).or_default() += t.dt;
        }
        if let Some(reason) = t.verdict {
            self.record_held_back(r, t, reason);
        }
        r.warning = match r.party {
            Some(Party::Other) => r.warning_other.clone().or_else(|| r.warning_own.clone()),
            _ => r.warning_own.clone().or_else(|| r.warning_other.clone()),
        };
    }

    /// The CPU's shares (while saturated, else over the run) and the saturated means.
    fn record_attribution(&self, r: &mut HostReport) {
        if let Some((own, other, others)) = self.during.shares().or_else(|| self.all.shares()) {
            r.own_cpu_share = Some((own * 1000.0).round() / 1000.0);
            r.other_cpu_share = Some((other * 1000.0).round() / 1000.0);
            r.others = others;
        }
        if self.saturated_ticks > 0 {
            r.cpu_busy = Some(((self.busy_sum / self.saturated_ticks as f64) * 1000.0).round() / 1000.0);
            r.runnable = Some(((self.runnable_sum / self.saturated_ticks as f64) * 10.0).round() / 10.0);
        }
    }

    /// A tick of slots held back for `reason`; the warning when saturation begins.
    fn record_held_back(&self, r: &mut HostReport, t: &Tick, reason: HostReason) {
        let cores = self.cores;
        r.saturated_s += t.dt;
        *r.by_reason.entry(reason.into()).or_default() += t.dt;
        if t.was {
            return;
        }
        let commands = match (reason, &t.latency) {
            (HostReason::Latency, Some(l)) => format!(
                ", commands take {:.0} ms against {:.0} ms at best with {:.0} in flight (from {:.0})",
                l.recent_ms, l.best_ms, l.in_flight_now, l.in_flight_then
            ),
            _ => String::new(),
        };
        let text = format!(
            "this machine is saturated ({}: CPU {:.0}% busy, {:.1} runnable on {cores} cores{commands}): new slots are held back as shortfall `host`, and results from now on measure this machine, not the server",
            reason.name(),
            t.busy * 100.0,
            t.runnable
        );
        warn!("{text}");
        r.warning_own.get_or_insert(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, ppid: u32, name: &str, ticks: u64, reaped: u64) -> Proc {
        Proc { pid, ppid, name: name.to_string(), ticks, reaped }
    }

    #[test]
    fn stat_lines_are_read_past_names_with_spaces_and_parentheses() {
        let line = "4242 (moto (server) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 700 55 3 4 20 0 5 0 100 0 0";
        assert_eq!(parse_stat(line), Some(proc(4242, 1, "moto (server) x", 755, 7)));
        assert_eq!(parse_stat("12 (sh) R 7"), None, "a cut line is no reading");
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn an_interpreter_is_named_by_the_script_it_runs() {
        let moto = ["/work/main/.venv/bin/python3", "/work/main/.venv/bin/moto_server", "-p", "9000"];
        assert_eq!(display_name("python3", &moto), "moto_server");
        assert_eq!(display_name("python", &["python", "-u", "serve.py"]), "serve.py");
        assert_eq!(display_name("sh", &["/bin/sh", "/repo/tests/bin/fake-obsctl", "cp"]), "fake-obsctl");
        assert_eq!(display_name("python3", &["python3"]), "python3", "no script: the interpreter");
        assert_eq!(display_name("rustc", &["rustc", "main.rs"]), "rustc", "not an interpreter");
        assert_eq!(display_name("shellcheck", &["shellcheck", "x"]), "shellcheck");
    }

    #[test]
    fn the_tree_is_trafficgen_and_its_descendants_and_the_rest_is_other_work() {
        // trafficgen (100) runs sh (200) which runs a child (300); moto (50) and a hog (60)
        // are not ours. Our reaped children count for the tree, not others' (they would
        // be counted twice).
        let now = [
            proc(100, 1, "trafficgen", 500, 40),
            proc(200, 100, "sh", 30, 5),
            proc(300, 200, "obsctl", 20, 0),
            proc(50, 1, "moto_server", 900, 1000),
            proc(60, 1, "yes", 400, 0),
        ];
        let prev = std::collections::HashMap::from([(50, 300), (60, 400), (100, 450)]);
        let s = split(&prev, &now, 100);
        assert_eq!(s.own_total, 500 + 40 + 30 + 5 + 20);
        assert_eq!(s.others, [(50, "moto_server".to_string(), 600)], "the idle hog used nothing since");
    }

    #[test]
    fn the_party_is_whoever_took_most_of_the_busy_cpu_and_only_trafficgen_is_held_back() {
        assert_eq!(party(150.0, 200.0), Some(Party::Trafficgen));
        assert_eq!(party(100.0, 200.0), Some(Party::Trafficgen), "half is the generator's bottleneck");
        assert_eq!(party(60.0, 200.0), Some(Party::Other));
        assert_eq!(party(0.0, 0.0), None, "no busy CPU, no party");
        // A local server taking the CPU: not held back (it would only set the pace);
        // the generator itself: held back; unknown yet: held back as before.
        assert!(!holds_back(HostReason::Cpu, Some(Party::Other)));
        assert!(!holds_back(HostReason::Latency, Some(Party::Other)));
        assert!(holds_back(HostReason::Cpu, Some(Party::Trafficgen)));
        assert!(holds_back(HostReason::Cpu, None));
        assert!(holds_back(HostReason::Memory, Some(Party::Other)) && holds_back(HostReason::Fds, Some(Party::Other)));
    }

    #[test]
    fn the_tally_names_the_top_other_processes_by_share() {
        let mut t = Tally::default();
        let others = |v: &[(u32, &str, u64)]| -> Vec<(u32, String, u64)> {
            v.iter().map(|(p, n, t)| (*p, n.to_string(), *t)).collect()
        };
        t.add(200, 40, &others(&[(50, "moto_server", 122), (60, "yes", 20), (61, "yes", 10), (70, "cc1", 8)]));
        let (own, other, top) = t.shares().unwrap();
        assert_eq!((own, other), (0.2, 0.8));
        let names: Vec<(&str, f64)> = top.iter().map(|o| (o.name.as_str(), o.share)).collect();
        assert_eq!(names, [("moto_server", 0.61), ("yes", 0.15), ("cc1", 0.04)]);
        assert_eq!(top[1].pid, 60, "the busiest of the two");
        let r = HostReport {
            other_busy_s: 14.2,
            own_cpu_share: Some(own),
            other_cpu_share: Some(other),
            others: top,
            party: Some(Party::Other),
            cpu_busy: Some(0.99),
            runnable: Some(6.0),
            cores: 2.0,
            ..Default::default()
        };
        let text = r.describe().unwrap();
        assert!(text.starts_with("host busy with other work: moto_server 61 %, yes 15 %, cc1 4 %"), "{text}");
        assert!(text.contains("CPU 99% busy, 6.0 runnable on 2 cores, 14.2 s saturated"), "{text}");
        assert_eq!(HostReport::default().describe(), None);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["party"], "other");
        assert_eq!(json["others"][0]["name"], "moto_server");
        assert_eq!(Tally::default().shares(), None);
    }

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
        assert_eq!(judge(0.99, 6.0, 2.0, 0.5, 0.1, None, false), Some(HostReason::Cpu));
        assert_eq!(judge(0.99, 1.5, 2.0, 0.5, 0.1, None, false), None, "busy but no queue: the work fits");
        assert_eq!(judge(0.90, 6.0, 2.0, 0.5, 0.1, None, false), None, "below the bar to start holding back");
        assert_eq!(judge(0.90, 6.0, 2.0, 0.5, 0.1, None, true), Some(HostReason::Cpu), "above the bar to stop");
        assert_eq!(judge(0.10, 0.0, 2.0, 0.01, 0.1, None, false), Some(HostReason::Memory));
        assert_eq!(judge(0.10, 0.0, 2.0, 0.5, 0.95, None, false), Some(HostReason::Fds));
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
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&piling), false), Some(HostReason::Latency));
        // The same numbers with this machine idle: the server is slow, which is what a
        // run must measure, not hide.
        assert_eq!(judge(0.30, 0.5, 2.0, 0.5, 0.1, Some(&piling), false), None);
        // Slow but not piling up (in flight steady), or piling up at normal latency.
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(2000.0, 30.0, 32.0)), false), None);
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(500.0, 8.0, 40.0)), false), None);
        // A handful of commands is not a pile.
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(2000.0, 1.0, 3.0)), false), None);
        // Once held back, in flight stops growing: latency alone decides, with hysteresis.
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(1000.0, 40.0, 20.0)), true), Some(HostReason::Latency));
        assert_eq!(judge(0.85, 1.5, 2.0, 0.5, 0.1, Some(&l(700.0, 40.0, 20.0)), true), None);
        assert_eq!(judge(0.50, 1.5, 2.0, 0.5, 0.1, Some(&l(1000.0, 40.0, 20.0)), true), None);
    }
}
