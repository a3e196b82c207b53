//! Which values are secret, and removing them from any text that may be shown. Used by
//! the client (child output), the profile summary and every report, so it depends on
//! nothing else.

/// Environment variable names whose values must never be shown.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["SECRET", "KEY", "TOKEN", "PASSWORD", "CREDENTIAL", "SESSION"].iter().any(|w| n.contains(w))
}

/// The secret values of one environment, ready to be removed from text.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Longest first: a secret that starts with another secret's value must be replaced
    /// whole, or its tail would survive the shorter one's replacement (`***123`).
    values: Vec<String>,
}

impl Secrets {
    pub fn from_env<'a>(env: impl IntoIterator<Item = (&'a str, &'a str)>) -> Secrets {
        // Values under 3 characters would turn ordinary text into asterisks.
        let mut values: Vec<String> =
            env.into_iter().filter(|(k, v)| is_secret_name(k) && v.len() >= 3).map(|(_, v)| v.to_string()).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    /// Replaces every secret value with `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.values {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        assert!(is_secret_name("AWS_SECRET_ACCESS_KEY"));
        assert!(is_secret_name("AWS_SESSION_TOKEN"));
        assert!(is_secret_name("aws_access_key_id"));
        assert!(!is_secret_name("OTEL_ENABLED"));
    }

    #[test]
    fn longest_secret_wins_so_no_tail_leaks() {
        let s = Secrets::from_env([("API_KEY", "abc"), ("OTHER_SECRET", "abc123"), ("OTEL_ENABLED", "true")]);
        assert_eq!(s.redact("x abc123 y abc z true"), "x *** y *** z true");
    }
}
