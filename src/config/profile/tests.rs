//! Every validation rule, checked against the shipped profile with one thing broken.

use super::*;
use crate::config::plan::UserPlan;
use crate::model::events::OpType;

use super::SHIPPED;

fn shipped() -> Plan {
    parse(Path::new("profiles.toml"), SHIPPED).expect("the shipped profile is valid")
}

/// The shipped profile with `from` (which must occur exactly once) replaced by `to`.
fn broken(from: &str, to: &str) -> ProfileError {
    assert_eq!(SHIPPED.matches(from).count(), 1, "{from:?} must occur once in profiles.toml");
    let text = SHIPPED.replacen(from, to, 1);
    parse(Path::new("profiles.toml"), &text).expect_err("the broken profile must be refused")
}

fn line_of(needle: &str) -> usize {
    SHIPPED.lines().position(|l| l.contains(needle)).expect("needle in profile") + 1
}

#[test]
fn shipped_profile_has_the_seed_users() {
    let p = shipped();
    let rows: Vec<(&str, &str, String)> =
        p.users.iter().map(|u| (u.id.as_str(), u.bucket.as_str(), u.peak.label())).collect();
    assert_eq!(
        rows,
        [
            ("alice-dev", "alice-development", "9-17".to_string()),
            ("bob-marketing", "bob-marketing-assets", "8-16".into()),
            ("carol-data", "carol-analytics", "10-18".into()),
            ("david-backup", "david-backups", "22-6".into()),
            ("eve-design", "eve-creative-work", "9-17".into()),
            ("frank-research", "frank-research-data", "8-20".into()),
            ("grace-sales", "grace-sales-materials", "7-15".into()),
            ("henry-ops", "henry-operations", "24/7".into()),
            ("iris-content", "iris-content-library", "8-16".into()),
            ("jack-mobile", "jack-mobile-apps", "10-18".into()),
        ]
    );
    assert_eq!(p.client.region, "us-east-1");
    assert_eq!(p.client.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(p.lifecycle.ttl.as_secs(), 3 * 3600);
    assert_eq!(p.lifecycle.large_ttl.as_secs(), 3600);
    assert_eq!(p.duration.as_secs(), 24 * 3600);
    assert!((p.rates.download_share - 0.2).abs() < 1e-9);
}

#[test]
fn each_users_two_heaviest_kinds_are_the_seeds_file_types() {
    let p = shipped();
    let seed: &[(&str, [&str; 2])] = &[
        ("alice-dev", ["code", "documents"]),
        ("bob-marketing", ["images", "media"]),
        ("carol-data", ["documents", "archives"]),
        ("david-backup", ["archives", "documents"]),
        ("eve-design", ["images", "media"]),
        ("frank-research", ["documents", "code"]),
        ("grace-sales", ["documents", "images"]),
        ("henry-ops", ["code", "archives"]),
        ("iris-content", ["images", "documents"]),
        ("jack-mobile", ["code", "images"]),
    ];
    for (id, kinds) in seed {
        let u = p.users.iter().find(|u| u.id == *id).unwrap();
        let w = |name: &str| u.kind_weights[p.kinds.iter().position(|k| k.name == name).unwrap()];
        let floor = w(kinds[0]).min(w(kinds[1]));
        for k in &p.kinds {
            if !kinds.contains(&k.name.as_str()) {
                assert!(w(&k.name) <= floor, "{id}: {} outweighs the seed's kinds", k.name);
            }
        }
    }
}

#[test]
fn shipped_rates_stay_within_the_seeds_range() {
    let p = shipped();
    let t = p.hourly_table();
    assert_eq!(t.hours.len(), 24);
    for h in &t.hours {
        assert!((25.0..=2000.0).contains(&h.total), "hour {}: {}", h.hour, h.total);
    }
    // Business hours overlap (10:00-15:00 UTC): at least 1500 ops/min.
    for hour in 10..15 {
        assert!(t.hours[hour].total >= 1500.0, "hour {hour}: {}", t.hours[hour].total);
    }
    // Off-hours are lower than peak, and henry-ops (24/7) never changes.
    assert!(t.hours[20].total < t.hours[12].total);
    let henry: Vec<f64> = t.hours.iter().map(|h| h.users["henry-ops"]).collect();
    assert!(henry.iter().all(|r| *r == henry[0]));
    // david-backup (22-6) is at peak at 02:00 and off-peak at 12:00.
    assert!(t.hours[2].users["david-backup"] > t.hours[12].users["david-backup"]);
}

#[test]
fn errors_name_file_line_and_field() {
    let e = broken("bucket = \"bob-marketing-assets\"", "bucket = \"Bob_Marketing\"");
    let line = line_of("bucket = \"bob-marketing-assets\"");
    assert_eq!(e.at.map(|a| a.0), Some(line));
    assert_eq!(e.field, "users[1].bucket");
    let text = e.to_string();
    assert!(text.starts_with(&format!("profiles.toml:{line}:")), "{text}");
    assert!(text.contains("users[1].bucket") && text.contains("Bob_Marketing"), "{text}");
}

#[test]
fn bucket_names_follow_s3_rules() {
    for bad in ["ab", "UPPER-case", "under_score", "-leading", "trailing-", "a..b", "192.168.1.1"] {
        assert!(check_bucket(bad).is_err(), "{bad} accepted");
    }
    assert!(check_bucket(&"a".repeat(64)).is_err());
    assert!(check_bucket(&"a".repeat(63)).is_ok());
    assert!(check_bucket("my.bucket-01").is_ok());
    let e = broken("bucket = \"david-backups\"", "bucket = \"db\"");
    assert!(e.message.contains("3-63"), "{e}");
    let e = broken("bucket = \"david-backups\"", "bucket = \"alice-development\"");
    assert!(e.message.contains("alice-dev's bucket"), "{e}");
}

#[test]
fn unknown_keys_are_refused_with_their_location() {
    let e = broken("activity = 2.5\n", "activity = 2.5\nactivty = 3\n");
    assert!(e.message.contains("unknown field") && e.message.contains("activty"), "{e}");
    assert_eq!(e.at.map(|a| a.0), Some(line_of("activity = 2.5") + 1));
    let e = broken("[limits]", "[limits]\nmax_inflight = 3");
    assert!(e.message.contains("max_inflight"), "{e}");
}

#[test]
fn type_errors_name_the_field() {
    let e = broken("activity = 3.5", "activity = \"high\"");
    assert_eq!(e.at.map(|a| a.0), Some(line_of("activity = 3.5")));
    assert!(e.field.ends_with("activity"), "{e}");
}

#[test]
fn toml_syntax_errors_have_a_line() {
    let e = broken("base_ops_per_min = 40.0", "base_ops_per_min = = 40");
    assert_eq!(e.at.map(|a| a.0), Some(line_of("base_ops_per_min = 40.0")));
}

#[test]
fn missing_sections_are_named() {
    let start = SHIPPED.find("[lifecycle]").unwrap();
    let end = SHIPPED.find("# File kinds").unwrap();
    let text = format!("{}{}", &SHIPPED[..start], &SHIPPED[end..]);
    let e = parse(Path::new("p.toml"), &text).unwrap_err();
    assert!(e.message.contains("lifecycle"), "{e}");
}

#[test]
fn weights_and_activity_must_be_positive() {
    let e = broken(
        "{ min = \"100B\", max = \"10KiB\", weight = 0.85 }",
        "{ min = \"100B\", max = \"10KiB\", weight = -1 }",
    );
    assert_eq!(e.field, "kinds.code.bands[0].weight");
    assert!(e.message.contains("positive"), "{e}");
    let e = broken("activity = 2.2", "activity = 0");
    assert_eq!(e.field, "users[4].activity");
    let e = broken(
        "kinds = { code = 0.5, documents = 0.3, images = 0.1, archives = 0.05, media = 0.05 }",
        "kinds = { code = 0.5, documents = -0.3 }",
    );
    assert_eq!(e.field, "users[0].kinds.documents");
    let e = broken("base_ops_per_min = 40.0", "base_ops_per_min = 0.0");
    assert_eq!(e.field, "rates.base_ops_per_min");
    let e = broken("download_share = 0.2", "download_share = 1.5");
    assert!(e.message.contains("between 0 and 1"), "{e}");
    let e = broken("error_share = 0.01", "error_share = 0.9");
    assert_eq!(e.field, "rates.error_share");
}

#[test]
fn kinds_must_exist() {
    let e = broken(
        "kinds = { code = 0.5, documents = 0.3, images = 0.1, archives = 0.05, media = 0.05 }",
        "kinds = { code = 0.5, videos = 0.3 }",
    );
    assert_eq!(e.field, "users[0].kinds.videos");
    assert!(e.message.contains("unknown kind"), "{e}");
}

#[test]
fn peak_hours_are_checked() {
    let e = broken("peak_hours = \"22-6\"", "peak_hours = \"25-3\"");
    assert_eq!(e.field, "users[3].peak_hours");
    assert_eq!(e.at.map(|a| a.0), Some(line_of("peak_hours = \"22-6\"")));
    let e = broken("peak_hours = \"24/7\"", "peak_hours = \"always\"");
    assert!(e.message.contains("not a peak window"), "{e}");
}

#[test]
fn templates_use_known_placeholders_and_make_clean_keys() {
    let e = broken("\"temp/builds\"", "\"temp/{branch}\"");
    assert_eq!(e.field, "users[0].subfolders");
    assert!(e.message.contains("unknown placeholder {branch}"), "{e}");
    for (bad, why) in [
        ("\"/temp/builds\"", "start or end"),
        ("\"temp//builds\"", "'//'"),
        ("\"temp/../builds\"", "'..'"),
        ("\"temp/builds/\"", "start or end"),
        ("\"temp/{project\"", "without"),
    ] {
        let e = broken("\"temp/builds\"", bad);
        assert!(e.message.contains(why), "{bad}: {e}");
    }
    let e = broken("env = [\"dev\", \"staging\", \"prod\"]", "env = [\"dev\", \"a/b\"]");
    assert_eq!(e.field, "words.env");
    let e = broken("env = [\"dev\", \"staging\", \"prod\"]", "env = [\"..\"]");
    assert_eq!(e.field, "words.env");
    let e = broken("env = [\"dev\", \"staging\", \"prod\"]", "date = [\"x\"]");
    assert!(e.message.contains("date placeholder"), "{e}");
}

#[test]
fn sizes_and_durations_must_parse() {
    let e = broken("upload_memory_budget = \"4GiB\"", "upload_memory_budget = \"4XB\"");
    assert_eq!(e.field, "limits.upload_memory_budget");
    assert!(e.message.contains("unknown unit"), "{e}");
    let e = broken(
        "{ min = \"2MiB\", max = \"10MiB\", weight = 0.05 }",
        "{ min = \"20MiB\", max = \"10MiB\", weight = 0.05 }",
    );
    assert_eq!(e.field, "kinds.documents.bands[2]");
    let e = broken("ttl = \"3h\"", "ttl = \"soon\"");
    assert_eq!(e.field, "lifecycle.ttl");
    assert!(e.message.contains("not a duration"), "{e}");
    let e = broken("large_ttl = \"60m\"", "large_ttl = \"0s\"");
    assert!(e.message.contains("longer than zero"), "{e}");
    let e = broken("command_timeout = \"120s\"", "command_timeout = \"2 minutes please\"");
    assert_eq!(e.field, "run.command_timeout");
}

#[test]
fn users_and_client_settings_are_checked() {
    let e = broken("id = \"carol-data\"", "id = \"alice-dev\"");
    assert!(e.message.contains("appears twice"), "{e}");
    let e = broken("id = \"carol-data\"", "id = \"carol data\"");
    assert_eq!(e.field, "users[2].id");
    let e = broken("flavor = \"obsctl\"", "flavor = \"s3cmd\"");
    assert_eq!(e.field, "obsctl.flavor");
    assert!(e.message.contains("\"obsctl\" or \"aws\""), "{e}");
    let e = broken("arrivals = \"poisson\"", "arrivals = \"bursty\"");
    assert_eq!(e.field, "rates.arrivals");
    let e = broken("region = \"us-east-1\"", "region = \"\"");
    assert!(e.message.contains("ru-moscow-1"), "{e}");
    let e = broken("endpoint = \"http://127.0.0.1:9000\"", "endpoint = \"127.0.0.1:9000\"");
    assert_eq!(e.field, "obsctl.endpoint");
    let e = broken("max_in_flight = 256", "max_in_flight = 0");
    assert_eq!(e.field, "limits.max_in_flight");
    let e =
        broken("extensions = [\".zip\", \".tar.gz\", \".rar\", \".7z\", \".tar\", \".gz\"]", "extensions = [\"zip\"]");
    assert_eq!(e.field, "kinds.archives.extensions");
}

/// The check summary's half of this rule is `commands::describe`'s test.
#[test]
fn secrets_never_appear_in_errors() {
    let e =
        broken("AWS_SECRET_ACCESS_KEY = \"${AWS_SECRET_ACCESS_KEY:-minioadmin123}\"", "AWS_SECRET_ACCESS_KEY = 123");
    assert!(!e.to_string().contains("minioadmin123"), "{e}");
}

#[test]
fn unreadable_file_is_a_clear_error() {
    let e = load(Path::new("/nonexistent/profiles.toml")).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/profiles.toml: cannot read the profile"), "{e}");
}

#[test]
fn env_values_expand_from_the_environment() {
    let env = |n: &str| match n {
        "KEY_ID" => Some("GK123".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    assert_eq!(expand_env("${KEY_ID}", env).unwrap(), "GK123");
    assert_eq!(expand_env("a-${KEY_ID}-b", env).unwrap(), "a-GK123-b");
    assert_eq!(expand_env("${NOPE:-fallback}", env).unwrap(), "fallback");
    assert_eq!(expand_env("${EMPTY:-fallback}", env).unwrap(), "fallback");
    assert_eq!(expand_env("plain $HOME stays", env).unwrap(), "plain $HOME stays");
    let e = expand_env("${NOPE}", env).unwrap_err().0;
    assert!(e.contains("${NOPE}") && e.contains("not set"), "{e}");
    assert!(expand_env("${bad name}", env).is_err());
    assert!(expand_env("${OPEN", env).is_err());
}

#[test]
fn an_unset_variable_in_the_profile_names_the_field_and_line() {
    let e = broken(
        "AWS_ACCESS_KEY_ID = \"${AWS_ACCESS_KEY_ID:-minioadmin}\"",
        "AWS_ACCESS_KEY_ID = \"${TRAFFICGEN_TEST_SURELY_UNSET_VAR}\"",
    );
    assert_eq!(e.field, "obsctl.env.AWS_ACCESS_KEY_ID");
    assert_eq!(e.at.unwrap().0, line_of("AWS_ACCESS_KEY_ID = "));
    assert!(e.message.contains("TRAFFICGEN_TEST_SURELY_UNSET_VAR"), "{e}");
}

#[test]
fn mix_expected_failures_verify_and_thresholds_are_checked() {
    let text = SHIPPED;
    // The shipped [mix], [verify] and [thresholds] tables make way for the test's own.
    let base: String = {
        let mut skip = false;
        let mut out = String::new();
        for line in text.lines() {
            if line.starts_with('[') {
                skip = ["[mix]", "[verify]", "[thresholds]", "[expected_failures]"].contains(&line.trim());
            }
            if !skip {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    };
    let with = |extra: &str| parse(Path::new("p.toml"), &format!("{base}\n{extra}\n"));
    let p = with("[mix]\nls = 0.1\npresign = 0.05\n[verify]\nconfirm_uploads = 1.0\n[thresholds]\nfailure_rate = \"<1%\"\n\"upload.p95\" = \"<8s\"").unwrap();
    assert_eq!(p.rates.extras, vec![(OpType::List, 0.1), (OpType::Presign, 0.05)]);
    assert_eq!(p.verify.confirm_uploads, 1.0);
    assert_eq!(p.thresholds.len(), 2);
    let e = with("[mix]\nls = 0.9").unwrap_err();
    assert_eq!(e.field, "mix");
    assert!(e.message.contains("room for uploads"), "{e}");
    let e = with("[mix]\ncopy = 0.1").unwrap_err();
    assert!(e.message.contains("copy"), "{e}");
    let e = with("[verify]\nconfirm_uploads = 2").unwrap_err();
    assert_eq!(e.field, "verify.confirm_uploads");
    let e = with("[thresholds]\nfailur_rate = \"<1%\"").unwrap_err();
    assert_eq!(e.field, "thresholds.failur_rate");
    assert!(e.at.is_some(), "{e}");
    let e = with("[expected_failures]\nmissing_key_download = 0").unwrap_err();
    assert_eq!(e.field, "expected_failures");
}

#[test]
fn replicas_expand_into_independent_users_of_one_persona() {
    let text = SHIPPED.replacen("id = \"alice-dev\"\n", "id = \"alice-dev\"\nreplicas = 12\n", 1);
    let p = parse(Path::new("profiles.toml"), &text).unwrap();
    assert_eq!(p.users.len(), 21);
    let alices: Vec<&UserPlan> = p.users.iter().filter(|u| u.persona == "alice-dev").collect();
    let ids: Vec<&str> = alices.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids.first(), Some(&"alice-dev-001"));
    assert_eq!(ids.last(), Some(&"alice-dev-012"));
    // One bucket for the persona; keys carry each replica's id, so they never collide.
    assert!(alices.iter().all(|u| u.bucket == "alice-development"));
    // Each user its own random streams, numbered across the whole profile.
    let streams: Vec<usize> = p.users.iter().map(|u| u.stream).collect();
    assert_eq!(streams, (0..21).collect::<Vec<_>>());

    let own = text.replacen("bucket = \"alice-development\"", "bucket = \"alice-dev-{replica}\"", 1);
    let p = parse(Path::new("profiles.toml"), &own).unwrap();
    assert_eq!(p.users[0].bucket, "alice-dev-001");
    assert_eq!(p.users[11].bucket, "alice-dev-012");
}

#[test]
fn bad_replica_counts_are_located() {
    for (value, says) in [("0", "between 1 and 10000"), ("10001", "between 1 and 10000"), ("\"many\"", "replicas")] {
        let text = SHIPPED.replacen("id = \"alice-dev\"\n", &format!("id = \"alice-dev\"\nreplicas = {value}\n"), 1);
        let e = parse(Path::new("profiles.toml"), &text).unwrap_err();
        assert!(e.to_string().contains(says), "{value}: {e}");
        assert_eq!(e.at.map(|(l, _)| l), Some(line_of("id = \"alice-dev\"") + 1), "{value}: {e}");
    }
    // Ten personas of 1,001 replicas: over the fleet's maximum, named at the last one.
    let text = SHIPPED.replace("role = ", "replicas = 1001\nrole = ");
    let e = parse(Path::new("profiles.toml"), &text).unwrap_err();
    assert!(e.to_string().contains("at most 10000"), "{e}");
}
