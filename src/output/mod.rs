//! What a person or a program reads: tables, the live status, the HTML report, the
//! exported files and the log. Reads `model` and `analysis` only.

pub mod ab;
pub mod compare;
pub mod export;
pub mod html;
pub mod live;
pub mod logging;
pub mod tables;
pub mod units;
