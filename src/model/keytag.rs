//! trafficgen's mark on every object key it makes, so that `cleanup --all` can tell its
//! own objects from a user's beyond doubt: a user key that merely starts with a user id
//! (`alice-dev_notes.txt`) must never be taken for one of ours.
//!
//! The mark is `.tg` and 16 hex digits of a fixed 64-bit hash of the key without the
//! mark, placed before the file's extension: `docs/alice-dev_code_1751_3.tg0123456789abcdef.rs`.
//! A key matches only if its mark is the hash of the rest of it, which a key someone else
//! wrote does by a 1-in-2^64 accident. The hash is FNV-1a with a domain prefix, then a
//! finalizer that spreads every input bit over the output: fixed here, so a key made by
//! one version or machine is recognised by every other. Content seeds (`synth`) still
//! derive from the whole key, mark included.

use std::ops::Range;

/// What every mark starts with.
const MARK: &str = ".tg";
/// Hex digits of the hash in a mark.
const DIGITS: usize = 16;

/// The hash of a key without its mark.
fn digest(untagged: &str) -> u64 {
    let fnv = b"trafficgen key\0"
        .iter()
        .chain(untagged.as_bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3));
    // SplitMix64's finalizer: FNV alone leaves the last bytes in the low bits only.
    let mut z = fnv;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `stem` + `ext` with the mark between them (the mark hashes `stem` + `ext`).
pub fn tag(stem: &str, ext: &str) -> String {
    let hash = digest(&format!("{stem}{ext}"));
    format!("{stem}{MARK}{hash:016x}{ext}")
}

/// Where a well-formed mark sits in `name` (one path segment): `.tg`, 16 lower-case hex
/// digits, then the end or an extension. The last such place wins.
pub fn find(name: &str) -> Option<Range<usize>> {
    name.rmatch_indices(MARK).map(|(i, _)| i..i + MARK.len() + DIGITS).find(|r| {
        name.get(r.start + MARK.len()..r.end)
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            && name[r.end..].chars().next().is_none_or(|c| c == '.')
    })
}

/// Whether `key` carries a mark that is the hash of the rest of it.
pub fn verify(key: &str) -> bool {
    let seg = key.rfind('/').map_or(0, |i| i + 1);
    let Some(r) = find(&key[seg..]) else { return false };
    let (start, end) = (seg + r.start, seg + r.end);
    let untagged = format!("{}{}", &key[..start], &key[end..]);
    u64::from_str_radix(&key[start + MARK.len()..end], 16).is_ok_and(|h| h == digest(&untagged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_keys_verify_and_anything_else_does_not() {
        let k = tag("projects/api/alice-dev_code_1751415012000_3", ".rs");
        assert!(k.starts_with("projects/api/alice-dev_code_1751415012000_3.tg") && k.ends_with(".rs"), "{k}");
        assert_eq!(k.len(), "projects/api/alice-dev_code_1751415012000_3.rs".len() + 19);
        assert!(verify(&k));
        assert!(verify(&tag("a b/My Docs/x_1", "")));
        assert!(verify(&tag("b/henry-ops_archive_1_2", ".tar.gz")));
        assert!(verify(&tag("b/henry-ops_archive_1_2", ".tgz")), "an extension that starts like the mark");
        // One changed character anywhere, a moved key, or no mark: not ours.
        assert!(!verify(&k.replace("_3.", "_4.")));
        assert!(!verify(&format!("other/{k}")));
        assert!(!verify(&k.replace(".rs", ".py")));
        for user in ["alice-dev_personal-notes.txt", "backups/alice-dev_2024/db.sql", "logs/henry-ops_audit/2024.log"] {
            assert!(!verify(user), "{user}");
        }
        assert!(!verify("x/alice-dev_1.tg0123456789abcdef.rs"), "a mark that is not the hash");
        assert!(!verify("x/alice-dev_1.tg0123456789ABCDEF.rs"));
    }

    #[test]
    fn the_hash_is_fixed_across_versions_and_machines() {
        // If this changes, keys made by earlier versions are no longer recognised.
        assert_eq!(tag("a/u_k_1_2", ".rs"), "a/u_k_1_2.tgbccef40eb541f5d3.rs");
    }

    #[test]
    fn the_mark_is_found_before_the_extension() {
        let k = tag("u_k_1_2", ".tar.gz");
        let r = find(&k).unwrap();
        assert_eq!(&k[r.end..], ".tar.gz");
        assert_eq!(find("u_k_1_2.tgz"), None);
        assert_eq!(find(&tag("u", "")).map(|r| r.end), Some(1 + 19));
    }
}
