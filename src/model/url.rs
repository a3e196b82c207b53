//! The one test of a URL's scheme: endpoints, collectors, metrics URLs and presigned
//! links are all plain http(s), and every place that checks one asks the same question.

/// True when `s` starts with `http://` or `https://`.
pub fn is_http(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_pass() {
        assert!(is_http("http://localhost:9000"));
        assert!(is_http("https://s3.example"));
        assert!(!is_http("ftp://x"));
        assert!(!is_http("localhost:9000"));
        assert!(!is_http(""));
        assert!(!is_http("HTTP://x"), "as before: the scheme is matched as written");
    }
}
