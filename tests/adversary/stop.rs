//! Adversarial cases: see main.rs.
