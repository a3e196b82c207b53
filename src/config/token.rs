//! Who may speak for a child. The OTLP receiver listens on loopback, where any local
//! process can reach it, and a child's run id is visible in its command line: without
//! proof of origin, anyone could export numbers for `RUNID-N` and change the verdict.
//! So each child gets a token that it alone receives, in `OTEL_EXPORTER_OTLP_HEADERS`
//! (its environment, never its command line): `ID.MAC`, where MAC is a keyed hash of
//! the child's instance id under a random key drawn for this run and held only in
//! memory. A child cannot forge another's token, and no one else can forge any.
//!
//! The keyed hash is SipHash-2-4 (a PRF meant for exactly this: short inputs under a
//! secret key), computed twice under two independent 128-bit keys for a 128-bit MAC.

use std::fmt;

/// The gRPC metadata key (lower case, as HTTP/2 headers are) carrying the token.
pub const HEADER: &str = "x-trafficgen-token";

/// The run's secret. Never printed: its Debug form says so.
#[derive(Clone)]
pub struct Key([u64; 4]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(***)")
    }
}

impl Key {
    /// A fresh key from the operating system's randomness (rand's thread generator is
    /// a CSPRNG seeded from it).
    pub fn random() -> Key {
        Key(rand::random::<[u64; 4]>())
    }

    #[cfg(test)]
    pub fn fixed(k: [u64; 4]) -> Key {
        Key(k)
    }

    fn mac(&self, id: &str) -> String {
        let a = siphash24(self.0[0], self.0[1], id.as_bytes());
        let b = siphash24(self.0[2], self.0[3], id.as_bytes());
        format!("{a:016x}{b:016x}")
    }

    /// The token for the child whose instance id is `id`.
    pub fn token(&self, id: &str) -> String {
        format!("{id}.{}", self.mac(id))
    }

    /// The instance id a token speaks for, when it is genuine.
    pub fn verify<'t>(&self, token: &'t str) -> Option<&'t str> {
        let (id, mac) = token.rsplit_once('.')?;
        constant_time_eq(mac.as_bytes(), self.mac(id).as_bytes()).then_some(id)
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of a MAC.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SipHash-2-4 of `msg` under the key (k0, k1), from the `siphasher` crate (the
/// standard library's keyed SipHasher is deprecated).
pub fn siphash24(k0: u64, k1: u64, msg: &[u8]) -> u64 {
    siphasher::sip::SipHasher24::new_with_keys(k0, k1).hash(msg)
}

/// Header pairs as OpenTelemetry's exporters read `OTEL_EXPORTER_OTLP_HEADERS`:
/// comma-separated `key=value`, trimmed, values URL-decoded, empty keys or values
/// skipped. Our own token is left out (it is for the receiver, never for the user's
/// collector).
pub fn parse_headers(value: &str) -> Vec<(String, String)> {
    value
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), crate::model::secrets::percent_decode(v.trim())))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty() && k != HEADER)
        .collect()
}

/// A child's `OTEL_EXPORTER_OTLP_HEADERS`: the profile's own headers as written (for
/// the collector they name), less any header of ours, and the child's token.
pub fn child_headers(profile: Option<&str>, token: &str) -> String {
    let mut out: Vec<&str> = profile
        .unwrap_or("")
        .split(',')
        .filter(|kv| {
            let k = kv.split_once('=').map_or("", |(k, _)| k).trim();
            !kv.trim().is_empty() && !k.eq_ignore_ascii_case(HEADER)
        })
        .collect();
    let ours = format!("{HEADER}={token}");
    out.push(&ours);
    out.join(",")
}

/// `OTEL_RESOURCE_ATTRIBUTES` for one child: ours (instance id, run, user, operation)
/// merged into the profile's own value, whose keys win on a clash.
pub fn resource_attributes(profile: Option<&str>, ours: &[(&str, String)]) -> String {
    let theirs: Vec<(String, String)> = profile
        .unwrap_or("")
        .split(',')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .filter(|(k, _)| !k.is_empty())
        .collect();
    let mut out: Vec<String> = theirs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (k, v) in ours {
        if !theirs.iter().any(|(tk, _)| tk == k) {
            // Values are ours (ids, user names): no ',' or '=' to escape.
            out.push(format!("{k}={v}"));
        }
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // The paper's key 00..0f; messages 00, 00 01, …: vectors 0, 1, 8 and 15.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k0, k1, &msg[..0]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(k0, k1, &msg[..1]), 0x74f8_39c5_93dc_67fd);
        assert_eq!(siphash24(k0, k1, &msg[..8]), 0x93f5_f579_9a93_2462);
        assert_eq!(siphash24(k0, k1, &msg[..15]), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn a_token_speaks_for_its_child_alone() {
        let k = Key::fixed([1, 2, 3, 4]);
        let t = k.token("0badc0de-7");
        assert_eq!(k.verify(&t), Some("0badc0de-7"));
        // Another child's id with this MAC, a changed MAC, another key, garbage: no.
        let mac = t.rsplit_once('.').unwrap().1;
        assert_eq!(k.verify(&format!("0badc0de-8.{mac}")), None);
        assert_eq!(k.verify(&t.replace('.', ".0")), None);
        assert_eq!(Key::fixed([1, 2, 3, 5]).verify(&t), None);
        assert_eq!(k.verify("0badc0de-7"), None);
        assert_eq!(k.verify(""), None);
        assert!(!format!("{k:?}").contains('1'));
        assert_ne!(Key::random().token("a"), Key::random().token("a"));
    }

    #[test]
    fn the_profiles_headers_are_kept_and_ours_replaced() {
        assert_eq!(child_headers(None, "r-1.ab"), "x-trafficgen-token=r-1.ab");
        assert_eq!(
            child_headers(Some("authorization=Bearer%20xyz, X-TrafficGen-Token=forged"), "r-1.ab"),
            "authorization=Bearer%20xyz,x-trafficgen-token=r-1.ab"
        );
        assert_eq!(
            parse_headers("authorization=Bearer%20xyz , empty= ,=v,x-trafficgen-token=r-1.ab,Api-Key=a%3Db"),
            [("authorization".to_string(), "Bearer xyz".to_string()), ("api-key".into(), "a=b".into())]
        );
    }

    #[test]
    fn the_profiles_attributes_win_and_ours_are_added() {
        let ours = [("service.instance.id", "r1-7".to_string()), ("trafficgen.user", "alice-dev".to_string())];
        assert_eq!(
            resource_attributes(Some("deployment.environment=ci, service.instance.id=mine"), &ours),
            "deployment.environment=ci,service.instance.id=mine,trafficgen.user=alice-dev"
        );
        assert_eq!(resource_attributes(None, &ours), "service.instance.id=r1-7,trafficgen.user=alice-dev");
    }
}
