//! Which values are secret, and removing them from any text that may be shown. Used by
//! the client (child output), the profile summary and every report, so it depends on
//! nothing else.

/// Environment variable names whose values must never be shown: keys, tokens,
/// passwords, credentials, sessions, and headers (`OTEL_EXPORTER_OTLP_HEADERS` carries
/// a collector's bearer token). Access key *ids* count too: an id alone grants
/// nothing, but it names the account, and presigned URLs carry it, so it is hidden
/// with the rest.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["SECRET", "KEY", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "SESSION", "AUTH", "COOKIE", "PRIVATE"]
        .iter()
        .any(|w| n.contains(w))
        || n.ends_with("HEADERS")
}

/// Whether a value carries a credential whatever its variable is called: an
/// `Authorization`/bearer header, `user:password@` in a URL, or a `token=`,
/// `api-key=`, `password=`, `secret=`-style pair.
pub fn carries_credential(value: &str) -> bool {
    !credentials_in(value).is_empty()
}

/// The credential pieces of a value (see `carries_credential`), each to be hidden
/// wherever it appears, even apart from the value it came in.
fn credentials_in(value: &str) -> Vec<String> {
    let lower = value.to_ascii_lowercase();
    let mut out = Vec::new();
    // `scheme://user:password@host`: the password.
    let mut rest = lower.as_str();
    let mut base = 0;
    while let Some(i) = rest.find("://") {
        let start = base + i + 3;
        let tail = &value[start..];
        let end = tail.find(['/', '?', '#', ' ', ',']).unwrap_or(tail.len());
        if let Some((userinfo, _)) = tail[..end].rsplit_once('@')
            && let Some((_, pass)) = userinfo.split_once(':')
            && !pass.is_empty()
        {
            out.push(pass.to_string());
        }
        base = start;
        rest = &lower[start..];
    }
    // `Bearer X`, `Basic X`, and `NAME=X` / `NAME: X` for credential-like names.
    const NAMES: [&str; 9] =
        ["authorization", "token", "api-key", "api_key", "apikey", "password", "passwd", "secret", "x-api-key"];
    for piece in value.split([',', ';', '&', '\n', '?']) {
        let p = piece.trim();
        let pl = p.to_ascii_lowercase();
        for scheme in ["bearer ", "basic "] {
            if let Some(i) = pl.find(scheme) {
                let v = p[i + scheme.len()..].trim();
                if !v.is_empty() {
                    out.push(v.to_string());
                }
            }
        }
        if let Some((k, v)) = p.split_once(['=', ':']) {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            if !v.is_empty()
                && NAMES.iter().any(|n| k == *n || k.ends_with(&format!("-{n}")) || k.ends_with(&format!("_{n}")))
            {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// `%XX` decoded (as OTLP header values are); anything else kept as it is.
pub fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A value with its credential pieces (see `carries_credential`) replaced by `***`:
/// for URLs that are shown (an endpoint, a metrics URL) but may hold a password.
pub fn scrub(value: &str) -> String {
    let mut pieces = credentials_in(value);
    pieces.retain(|p| p.len() >= 3);
    pieces.sort_by_key(|p| std::cmp::Reverse(p.len()));
    pieces.iter().fold(value.to_string(), |v, p| v.replace(p.as_str(), "***"))
}

/// Whether a variable's value must be hidden: by its name or by what it holds.
pub fn is_secret(name: &str, value: &str) -> bool {
    is_secret_name(name) || carries_credential(value)
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
        let mut values: Vec<String> = Vec::new();
        for (k, v) in env {
            if is_secret(k, v) {
                values.push(v.to_string());
                // A header list's or URL's credential alone, wherever it shows up.
                values.extend(credentials_in(v));
                // Header lists are URL-encoded (`Bearer%20…`).
                let decoded = percent_decode(v);
                if decoded != v {
                    values.extend(credentials_in(&decoded));
                }
            }
        }
        values.retain(|v| v.len() >= 3);
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
    fn headers_and_values_that_carry_credentials_are_secret() {
        assert!(is_secret_name("OTEL_EXPORTER_OTLP_HEADERS"));
        assert!(is_secret_name("OTEL_EXPORTER_OTLP_METRICS_HEADERS"));
        assert!(is_secret_name("AUTHORIZATION"));
        assert!(is_secret_name("DB_PASSWD"));
        assert!(!is_secret_name("OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert!(!is_secret("OTEL_SERVICE_NAME", "obsctl"));
        assert!(!is_secret("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"));
        for v in [
            "Authorization=Bearer abc.def",
            "authorization: Basic dXNlcjpwYXNz",
            "https://user:hunter22@collector.example:4317",
            "service=x,token=zzz999",
            "x-api-key=k-123456",
            "dsn?password=pw12345",
        ] {
            assert!(is_secret("NOT_A_SECRET_NAME", v), "{v}");
        }
        let s = Secrets::from_env([
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20tok-1234567,x-team=blue"),
            ("COLLECTOR", "https://alice:hunter22@collector.example/v1"),
        ]);
        let shown = s.redact("sent authorization=Bearer%20tok-1234567,x-team=blue; then hunter22 failed; tok-1234567");
        assert!(!shown.contains("tok-1234567") && !shown.contains("hunter22"), "{shown}");
        assert_eq!(scrub("https://alice:hunter22@host/metrics"), "https://alice:***@host/metrics");
        assert_eq!(scrub("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }

    #[test]
    fn longest_secret_wins_so_no_tail_leaks() {
        let s = Secrets::from_env([("API_KEY", "abc"), ("OTHER_SECRET", "abc123"), ("OTEL_ENABLED", "true")]);
        assert_eq!(s.redact("x abc123 y abc z true"), "x *** y *** z true");
    }
}
