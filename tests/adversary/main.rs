//! Adversarial tests: what a hostile profile, summary, local process, full disk or
//! signal does to trafficgen. Each module holds the cases of one rule: trafficgen
//! touches only what it made (`ours`, `outputs`, `journal`), believes no unauthenticated
//! witness (`witness`), judges only what happened (`verdict`), and stops when asked
//! (`stop`).

#[path = "../common/mod.rs"]
mod common;

mod journal;
mod ours;
mod outputs;
mod stop;
mod verdict;
mod witness;
