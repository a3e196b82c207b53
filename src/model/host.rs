//! What the summary says about the machine a run shared: whether it was saturated, for
//! how long, and by whose work. The admission control (`work::host`) fills it; the
//! verdict and the outputs read it.

use serde::{Deserialize, Serialize};

use crate::model::counts::Name;

/// Another process's part of the machine's busy CPU while it was saturated.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct OtherProcess {
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
    /// Its share of the CPU time used on the machine, 0..1.
    pub share: f64,
}

/// Who took the CPU: trafficgen's own process tree (itself and the clients it runs), or
/// other processes (a local S3 server, a neighbour on a CI runner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    Trafficgen,
    Other,
}

/// What the summary says about the host.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct HostReport {
    /// Wall seconds during which new slots were held back.
    pub saturated_s: f64,
    /// By reason, seconds.
    pub by_reason: std::collections::BTreeMap<Name, f64>,
    /// Set when the host was saturated at any time: the run measured this machine too.
    pub warning: Option<String>,
    /// Wall seconds the machine was saturated by other processes' work. Slots were not
    /// held back then (the generator was not the bottleneck), but the run shared the CPU.
    pub other_busy_s: f64,
    /// trafficgen's process tree's and the rest's shares of the CPU time used on the
    /// machine while it was saturated (over the whole run if it never was); None where
    /// /proc cannot tell.
    pub own_cpu_share: Option<f64>,
    pub other_cpu_share: Option<f64>,
    /// The other programs that used the most of it (at most `work::host::TOP_OTHERS`), by command
    /// name (processes of one name summed), each with the pid of its busiest process.
    pub others: Vec<OtherProcess>,
    /// Who saturated the machine: "trafficgen", "other", or null when it never was.
    pub party: Option<Party>,
    /// Mean CPU busy share (0..1) and runnable tasks while saturated, and the cores.
    pub cpu_busy: Option<f64>,
    pub runnable: Option<f64>,
    pub cores: f64,
    /// The first warning of each party: `warning` is the one of the party named at the
    /// end, so the text never blames the other work while the party is trafficgen.
    #[serde(skip)]
    pub warning_own: Option<String>,
    #[serde(skip)]
    pub warning_other: Option<String>,
}

impl HostReport {
    /// Whether the host limited the run: slots held back, or the machine saturated by
    /// other work while commands ran.
    pub fn limited(&self) -> bool {
        self.saturated_s > 0.0 || self.other_busy_s > 0.0
    }

    /// The other processes as people read them: `moto_server 61 %, stress 20 %`.
    pub fn others_text(&self) -> String {
        let list: Vec<String> = self.others.iter().map(|o| format!("{} {:.0} %", o.name, o.share * 100.0)).collect();
        list.join(", ")
    }

    /// One line on how the host limited the run, naming the party: the CPU busy share,
    /// runnable tasks, seconds saturated, and whose work it was. None when it did not.
    pub fn describe(&self) -> Option<String> {
        if !self.limited() {
            return None;
        }
        let cpu = match (self.cpu_busy, self.runnable) {
            (Some(b), Some(r)) => format!("CPU {:.0}% busy, {r:.1} runnable on {} cores", b * 100.0, self.cores),
            _ => "CPU saturated".to_string(),
        };
        let own =
            self.own_cpu_share.map(|s| format!(", trafficgen's own processes {:.0} %", s * 100.0)).unwrap_or_default();
        Some(match self.party {
            Some(Party::Other) => {
                let others = if self.others.is_empty() { "unnamed processes".to_string() } else { self.others_text() };
                format!(
                    "host busy with other work: {others} of the CPU used ({cpu}, {:.1} s saturated{own})",
                    self.other_busy_s.max(self.saturated_s)
                )
            }
            _ => format!(
                "host limited by trafficgen itself: {cpu}, {:.1} s with slots held back{own}",
                self.saturated_s.max(self.other_busy_s)
            ),
        })
    }
}
