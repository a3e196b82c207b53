//! A run's verdict as JUnit XML, so CI systems (GitLab, Jenkins, GitHub test reporters)
//! show each threshold and check as a test case. Built as a string: the format is small
//! and fixed, and an XML crate would be a dependency for a few dozen lines.

use std::fmt::Write;

/// One test case: a threshold, an integrity check, an expected failure, ….
pub struct Case {
    pub name: String,
    /// Groups cases in CI views: "thresholds", "integrity", "expected_failures", ….
    pub classname: String,
    /// Why it failed; None when it passed.
    pub failure: Option<String>,
    /// Why it could not be judged (INCONCLUSIVE: nothing measured); None otherwise.
    pub skipped: Option<String>,
    /// Shown as the case's output (measured value, counts); empty for none.
    pub detail: String,
}

/// The whole document: one `<testsuite>` named `suite` inside `<testsuites>`. `time_s` is
/// the run's duration; cases carry time 0 because they are checks on the finished run,
/// not timed steps.
pub fn render(suite: &str, cases: &[Case], time_s: f64) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases.iter().filter(|c| c.failure.is_none() && c.skipped.is_some()).count();
    // A NaN or negative time would make some readers reject the whole file.
    let time = if time_s.is_finite() && time_s > 0.0 { time_s } else { 0.0 };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (name, tests) = (attr(suite), cases.len());
    let _ = writeln!(
        out,
        "<testsuites name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">"
    );
    for case in cases {
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
            attr(&case.name),
            attr(&case.classname)
        );
        if case.failure.is_none() && case.skipped.is_none() && case.detail.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        if let Some(message) = &case.failure {
            let _ = writeln!(out, "      <failure message=\"{}\">{}</failure>", attr(message), text(message));
        } else if let Some(message) = &case.skipped {
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", attr(message));
        }
        if !case.detail.is_empty() {
            let _ = writeln!(out, "      <system-out>{}</system-out>", text(&case.detail));
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Characters XML 1.0 allows at all: tab, newline, carriage return, and the ranges from
/// space up, minus U+FFFE/U+FFFF. Anything else (a stray ESC from a client's colored
/// output, NUL) would make the document unreadable, so it is dropped.
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn escape(s: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| allowed(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Parsers turn raw whitespace in attributes into spaces; references keep a
            // multi-line failure message intact.
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' if in_attribute => out.push_str("&#13;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            // A raw CR in text would be folded into LF by the parser.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

fn attr(s: &str) -> String {
    escape(s, true)
}

fn text(s: &str) -> String {
    escape(s, false)
}

/// The verdict of a run: one case per threshold, one per integrity class.
pub fn from_summary(s: &crate::model::summary::Summary) -> String {
    let mut cases = Vec::new();
    if let Some(v) = &s.verdict {
        for o in &v.thresholds {
            let value = o.value.map_or("not measured".to_string(), |x| crate::model::verdict::show(x, o.unit));
            let why = o.reason.as_deref().unwrap_or("no sample");
            // Measured but not judged (a limited host, a run too short), or not measured.
            let unjudged = match o.value {
                Some(_) => format!("INCONCLUSIVE: {} measured {value}, not judged ({why})", o.threshold),
                None => format!("INCONCLUSIVE: {} not measured ({why})", o.threshold),
            };
            cases.push(Case {
                name: o.threshold.clone(),
                // thresholds.correctness or thresholds.capacity, so CI views group them.
                classname: format!("thresholds.{}", o.class.name()),
                failure: (o.status == crate::model::verdict::Judgement::Fail)
                    .then(|| format!("{} measured {value}", o.threshold)),
                skipped: (o.status == crate::model::verdict::Judgement::Inconclusive).then_some(unjudged),
                detail: format!("measured {value}"),
            });
        }
        if v.thresholds.iter().all(|o| o.status != crate::model::verdict::Judgement::Inconclusive)
            && v.result == crate::model::verdict::Judgement::Inconclusive
        {
            // The run as a whole measured nothing: say so where CI looks.
            let why = v.reasons.iter().find(|r| r.starts_with("nothing measured")).cloned().unwrap_or_default();
            cases.push(Case {
                name: "measured".into(),
                classname: "run".into(),
                failure: None,
                skipped: Some(format!("INCONCLUSIVE: {why}")),
                detail: why,
            });
        }
        for (class, n) in &v.integrity {
            cases.push(Case {
                name: format!("integrity.{class}"),
                classname: "integrity".into(),
                failure: (*n > 0).then(|| format!("{n} {class}: the client's word was contradicted by the server")),
                skipped: None,
                detail: format!("{n} {class}"),
            });
        }
    }
    let suite = format!("trafficgen ({} {})", s.client.flavor, s.client.version);
    render(&suite, &cases, s.duration_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, failure: Option<&str>, detail: &str) -> Case {
        Case {
            name: name.to_string(),
            classname: "thresholds".to_string(),
            failure: failure.map(str::to_string),
            skipped: None,
            detail: detail.to_string(),
        }
    }

    /// A small well-formedness check: after the declaration, tags nest and close in
    /// order, attribute values are quoted, and text holds no raw `<`, and every `&`
    /// starts a known reference. Returns the element names in document order.
    fn well_formed(doc: &str) -> Vec<String> {
        let body = doc.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").expect("declaration first");
        let (mut stack, mut seen): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        let mut rest = body;
        while !rest.is_empty() {
            let lt = rest.find('<').unwrap_or(rest.len());
            check_text(&rest[..lt]);
            rest = &rest[lt..];
            if rest.is_empty() {
                break;
            }
            let gt = rest.find('>').expect("tag closes");
            let tag = &rest[1..gt];
            assert!(!tag.contains('<'), "raw < inside a tag: {tag}");
            rest = &rest[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "close tag out of order");
                continue;
            }
            let empty = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().expect("element name").to_string();
            let mut attrs = tag[name.len()..].trim();
            while !attrs.is_empty() {
                let eq = attrs.find("=\"").expect("attribute is name=\"value\"");
                let close = attrs[eq + 2..].find('"').expect("attribute value closes") + eq + 2;
                check_text(&attrs[eq + 2..close]);
                attrs = attrs[close + 1..].trim_start();
            }
            seen.push(name.clone());
            if !empty {
                stack.push(name);
            }
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        seen
    }

    fn check_text(t: &str) {
        assert!(!t.contains('<'), "raw < in {t:?}");
        let mut parts = t.split('&');
        parts.next();
        for p in parts {
            let known = ["amp;", "lt;", "gt;", "quot;", "apos;", "#10;", "#13;", "#9;"];
            assert!(known.iter().any(|k| p.starts_with(k)), "bare & in {t:?}");
        }
        assert!(t.chars().all(allowed), "forbidden char in {t:?}");
    }

    #[test]
    fn counts_cases_and_failures() {
        let cases = [
            case("failure_rate<1%", None, "0.20% (limit 1.00%)"),
            case("upload.p95<8s", Some("upload.p95 was 9120 ms, limit 8000 ms"), ""),
            case("integrity_failures==0", None, ""),
        ];
        let doc = render("trafficgen", &cases, 612.25);
        assert!(doc.contains(
            "<testsuite name=\"trafficgen\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"612.250\">"
        ));
        assert!(doc.contains("<testsuites name=\"trafficgen\" tests=\"3\" failures=\"1\""));
        assert_eq!(doc.matches("<failure ").count(), 1);
        assert!(doc.contains("<system-out>0.20% (limit 1.00%)</system-out>"));
        let names = well_formed(&doc);
        assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 3);
        assert_eq!(names[..2], ["testsuites", "testsuite"]);
    }

    #[test]
    fn escapes_markup_and_drops_forbidden_characters() {
        let nasty = "a<&\"'>b";
        let cases = [case(nasty, Some("line one\nline <two>"), "esc\u{1b}[31mred\u{0} tab\tcr\r")];
        let doc = render("suite \"x\" & <y>", &cases, f64::NAN);
        assert!(doc.contains("name=\"a&lt;&amp;&quot;&apos;&gt;b\""), "{doc}");
        assert!(doc.contains("message=\"line one&#10;line &lt;two&gt;\""), "{doc}");
        assert!(doc.contains(">line one\nline &lt;two&gt;</failure>"), "{doc}");
        assert!(doc.contains("<system-out>esc[31mred tab\tcr&#13;</system-out>"), "{doc}");
        assert!(!doc.contains('\u{1b}') && !doc.contains('\u{0}'));
        assert!(doc.contains("name=\"suite &quot;x&quot; &amp; &lt;y&gt;\"") && doc.contains("time=\"0.000\""));
        well_formed(&doc);
    }

    #[test]
    fn an_inconclusive_case_is_skipped_with_its_reason() {
        let mut c = case("failure_rate<1%", None, "measured not measured");
        c.skipped = Some("INCONCLUSIVE: failure_rate<1% not measured (no command ran)".into());
        let doc = render("trafficgen", &[c], 1.0);
        assert!(doc.contains("skipped=\"1\"") && doc.contains("failures=\"0\""), "{doc}");
        assert!(
            doc.contains("<skipped message=\"INCONCLUSIVE: failure_rate&lt;1% not measured (no command ran)\"/>"),
            "{doc}"
        );
        well_formed(&doc);
    }

    #[test]
    fn an_empty_run_is_still_a_document() {
        let doc = render("trafficgen", &[], 0.0);
        assert!(doc.contains("tests=\"0\" failures=\"0\""));
        assert_eq!(well_formed(&doc), ["testsuites", "testsuite"]);
    }
}
