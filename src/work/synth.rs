//! Synthetic file content, streamed to disk in constant memory whatever the size.
//!
//! Binary kinds are incompressible random bytes behind the format's real magic number
//! (so `file(1)`, content sniffers and compression-aware servers see what they would see
//! in production). Code is code-like text in the file's language; documents are prose,
//! CSV or RTF. Each file's bytes come from its own seed, so files are distinct and
//! reproducible.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};

/// Write buffer. Large enough that syscalls are rare, small enough to be irrelevant
/// next to the generator's memory target.
const CHUNK: usize = 256 * 1024;

/// How the body of a file is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Random,
    Code(&'static str),
    Prose,
    Csv,
}

/// Leading bytes (magic number and, for text, a header) and the body style per extension.
fn format_for(ext: &str) -> (&'static [u8], Body) {
    match ext {
        // images
        ".jpg" | ".jpeg" => (b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00", Body::Random),
        ".png" => (b"\x89PNG\r\n\x1a\n", Body::Random),
        ".gif" => (b"GIF89a", Body::Random),
        ".bmp" => (b"BM", Body::Random),
        ".webp" => (b"RIFF\x00\x00\x00\x00WEBPVP8 ", Body::Random),
        ".tiff" | ".tif" => (b"II*\x00", Body::Random),
        ".svg" => (b"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 100 100\">\n", Body::Code("svg")),
        // archives (.tar has its magic at offset 257; see `overlay`)
        ".zip" | ".docx" | ".xlsx" | ".pptx" => (b"PK\x03\x04", Body::Random),
        ".tar.gz" | ".gz" | ".tgz" => (b"\x1f\x8b\x08\x00", Body::Random),
        ".rar" => (b"Rar!\x1a\x07\x01\x00", Body::Random),
        ".7z" => (b"7z\xbc\xaf\x27\x1c", Body::Random),
        ".tar" => (b"", Body::Random),
        // media
        ".mp4" => (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", Body::Random),
        ".mov" => (b"\x00\x00\x00\x14ftypqt  ", Body::Random),
        ".avi" => (b"RIFF\x00\x00\x00\x00AVI ", Body::Random),
        ".wav" => (b"RIFF\x00\x00\x00\x00WAVE", Body::Random),
        ".mkv" => (b"\x1a\x45\xdf\xa3", Body::Random),
        ".mp3" => (b"ID3\x04\x00", Body::Random),
        ".flac" => (b"fLaC", Body::Random),
        ".ogg" => (b"OggS", Body::Random),
        // documents
        ".pdf" => (b"%PDF-1.7\n", Body::Random),
        ".rtf" => (b"{\\rtf1\\ansi\\deff0 ", Body::Prose),
        ".csv" => (b"id,date,region,product,quantity,amount\n", Body::Csv),
        ".txt" | ".md" => (b"", Body::Prose),
        // code
        ".py" => (b"#!/usr/bin/env python3\n", Body::Code("py")),
        ".js" => (b"'use strict';\n", Body::Code("js")),
        ".html" => (b"<!DOCTYPE html>\n<html>\n", Body::Code("html")),
        ".css" => (b"/* styles */\n", Body::Code("css")),
        ".rs" => (b"// generated\n", Body::Code("rs")),
        ".go" => (b"package main\n\n", Body::Code("go")),
        ".java" => (b"package com.example;\n\n", Body::Code("java")),
        ".cpp" | ".c" => (b"#include <stdio.h>\n\n", Body::Code("c")),
        ".json" => (b"[\n", Body::Code("json")),
        ".xml" => (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<items>\n", Body::Code("xml")),
        ".yaml" => (b"---\n", Body::Code("yaml")),
        ".toml" => (b"# config\n", Body::Code("toml")),
        _ => (b"", Body::Random),
    }
}

const WORDS: &[&str] = &[
    "the",
    "data",
    "report",
    "quarter",
    "customer",
    "service",
    "growth",
    "team",
    "project",
    "analysis",
    "result",
    "model",
    "market",
    "system",
    "value",
    "review",
    "plan",
    "update",
    "network",
    "storage",
    "release",
    "design",
    "budget",
    "metric",
    "user",
    "request",
    "pipeline",
    "cluster",
    "latency",
    "throughput",
    "and",
    "of",
    "for",
    "with",
    "across",
    "improves",
    "shows",
    "requires",
    "supports",
    "reduces",
    "increases",
    "measures",
];

const IDENTS: &[&str] = &[
    "user", "count", "total", "items", "config", "buffer", "result", "index", "name", "value", "handler", "request",
    "response", "cache", "client", "bucket", "key", "size",
];

/// The content seed of an object: derived from its key (FNV-1a), so anyone holding
/// the key and size can regenerate the exact bytes (`trafficgen synth --key`) and
/// check a download end to end.
pub fn seed_for_key(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The extension that decides a key's format (`.tar.gz` counts as one). In a key
/// trafficgen made, it is what follows the key's mark (see `keytag`), so a key without
/// an extension has none rather than the mark.
pub fn ext_of(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    if let Some(r) = crate::model::keytag::find(name) {
        return &name[r.end..];
    }
    if name.ends_with(".tar.gz") {
        return &name[name.len() - 7..];
    }
    name.rfind('.').map_or("", |i| &name[i..])
}

/// Compares a file with the content `write_content` would produce, chunk by chunk.
pub fn matches(path: &Path, ext: &str, size: u64, seed: u64) -> io::Result<bool> {
    use std::io::Read;
    if std::fs::metadata(path)?.len() != size {
        return Ok(false);
    }
    struct Compare<R: Read> {
        file: R,
        buf: Vec<u8>,
        same: bool,
    }
    impl<R: Read> Write for Compare<R> {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.same {
                self.buf.resize(data.len(), 0);
                self.file.read_exact(&mut self.buf)?;
                self.same = self.buf == data;
            }
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut cmp = Compare { file: io::BufReader::with_capacity(CHUNK, File::open(path)?), buf: Vec::new(), same: true };
    write_content(&mut cmp, ext, size, seed)?;
    Ok(cmp.same)
}

/// Streams a file of exactly `size` bytes.
pub fn write_file(path: &Path, ext: &str, size: u64, seed: u64) -> io::Result<()> {
    let mut file = File::create(path)?;
    write_content(&mut file, ext, size, seed)?;
    file.flush()
}

/// Files at least this large are generated on a second thread while the previous
/// chunk is written, so random generation and the copy into the page cache overlap.
const PIPELINE_MIN: u64 = 8 * 1024 * 1024;

/// Produces a file's content chunk by chunk; the same seed gives the same bytes
/// whatever the chunking or threading.
struct Generator {
    rng: SmallRng,
    head: &'static [u8],
    body: Body,
    ext: String,
    /// Text that did not fit the last chunk (starts as the text header).
    carry: String,
    first: bool,
}

impl Generator {
    fn new(ext: &str, seed: u64) -> Generator {
        let (head, body) = format_for(ext);
        // Text files start with their header as the first line(s); binary ones get the
        // magic number laid over random bytes.
        let carry = match body {
            Body::Random => String::new(),
            _ => String::from_utf8_lossy(head).into_owned(),
        };
        Generator { rng: SmallRng::seed_from_u64(seed), head, body, ext: ext.to_string(), carry, first: true }
    }

    fn fill(&mut self, chunk: &mut [u8]) {
        match self.body {
            Body::Random => self.rng.fill_bytes(chunk),
            body => fill_text(chunk, body, &mut self.rng, &mut self.carry),
        }
        if self.first && self.body == Body::Random {
            overlay(chunk, self.head, &self.ext);
        }
        self.first = false;
    }
}

/// Writes exactly `size` bytes of `ext`-shaped content to `out`.
pub fn write_content<W: Write>(out: &mut W, ext: &str, size: u64, seed: u64) -> io::Result<()> {
    let mut generator = Generator::new(ext, seed);
    let chunk_len = |done: u64| (size - done).min(CHUNK as u64) as usize;
    if size < PIPELINE_MIN {
        // Small files (most of them): one buffer sized to the file, no thread.
        let mut buf = vec![0u8; chunk_len(0)];
        let mut written = 0;
        while written < size {
            let chunk = &mut buf[..chunk_len(written)];
            generator.fill(chunk);
            out.write_all(chunk)?;
            written += chunk.len() as u64;
        }
        return Ok(());
    }
    std::thread::scope(|scope| {
        // Three buffers circulate: one being filled, one being written, one spare so
        // neither side waits on the other's jitter.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 0..3 {
            let _ = empty_tx.send(vec![0u8; CHUNK]);
        }
        scope.spawn(move || {
            let mut produced = 0;
            while produced < size {
                let Ok(mut buf) = empty_rx.recv() else { return };
                buf.truncate(chunk_len(produced));
                generator.fill(&mut buf);
                produced += buf.len() as u64;
                if full_tx.send(buf).is_err() {
                    return;
                }
            }
        });
        let mut written = 0;
        while written < size {
            let buf = full_rx.recv().map_err(|_| io::Error::other("the generator thread stopped"))?;
            out.write_all(&buf)?;
            written += buf.len() as u64;
            let mut buf = buf;
            buf.resize(CHUNK, 0);
            let _ = empty_tx.send(buf);
        }
        Ok(())
    })
}

/// Puts the header over the start of the first chunk (truncated for tiny files).
fn overlay(chunk: &mut [u8], head: &[u8], ext: &str) {
    let n = head.len().min(chunk.len());
    chunk[..n].copy_from_slice(&head[..n]);
    if ext == ".tar" && chunk.len() >= 263 {
        chunk[257..263].copy_from_slice(b"ustar\0");
    }
}

/// Fills `chunk` with text lines. `carry` holds the part of the last line that did
/// not fit, so lines continue across chunks.
fn fill_text(chunk: &mut [u8], body: Body, rng: &mut SmallRng, carry: &mut String) {
    let mut pos = 0;
    while pos < chunk.len() {
        if carry.is_empty() {
            text_line(body, rng, carry);
        }
        let bytes = carry.as_bytes();
        let take = bytes.len().min(chunk.len() - pos);
        chunk[pos..pos + take].copy_from_slice(&bytes[..take]);
        pos += take;
        carry.drain(..take);
    }
}

fn pick<'a, R: Rng>(rng: &mut R, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

fn text_line<R: Rng>(body: Body, rng: &mut R, out: &mut String) {
    use std::fmt::Write as _;
    let a = pick(rng, IDENTS);
    let b = pick(rng, IDENTS);
    let n: u32 = rng.random_range(0..10_000);
    let _ = match body {
        Body::Prose => {
            let words = rng.random_range(6..18);
            let mut first = true;
            for _ in 0..words {
                let w = pick(rng, WORDS);
                if first {
                    let mut cs = w.chars();
                    if let Some(c) = cs.next() {
                        out.push(c.to_ascii_uppercase());
                        out.push_str(cs.as_str());
                    }
                    first = false;
                } else {
                    out.push(' ');
                    out.push_str(w);
                }
            }
            // Sentences run on into paragraphs of about four.
            out.push_str(if rng.random_bool(0.25) { ".\n" } else { ". " });
            Ok(())
        }
        Body::Csv => writeln!(
            out,
            "{n},2025-{:02}-{:02},{},{},{},{}.{:02}",
            rng.random_range(1..13),
            rng.random_range(1..29),
            pick(rng, &["emea", "apac", "americas"]),
            pick(rng, IDENTS),
            rng.random_range(1..500),
            rng.random_range(1..100_000),
            rng.random_range(0..100)
        ),
        Body::Code(lang) => match lang {
            "py" => writeln!(out, "def {a}_{n}({b}):\n    return {b} * {n}\n"),
            "js" => writeln!(out, "function {a}{n}({b}) {{ return {b} + {n}; }}"),
            "rs" => writeln!(out, "fn {a}_{n}({b}: u64) -> u64 {{ {b} + {n} }}"),
            "go" => writeln!(out, "func {a}{n}({b} int) int {{ return {b} * {n} }}"),
            "java" => writeln!(out, "    static int {a}{n}(int {b}) {{ return {b} + {n}; }}"),
            "c" => writeln!(out, "static int {a}_{n}(int {b}) {{ return {b} + {n}; }}"),
            "json" => writeln!(out, "  {{\"{a}\": {n}, \"{b}\": \"{a}-{n}\"}},"),
            "xml" | "html" => writeln!(out, "  <div class=\"{a}\" data-{b}=\"{n}\">{a} {b}</div>"),
            "svg" => writeln!(out, "  <rect x=\"{}\" y=\"{}\" width=\"{n}\" height=\"{}\"/>", n % 100, n % 37, n % 53),
            "css" => writeln!(out, ".{a}-{n} {{ margin: {}px; color: #{:06x}; }}", n % 40, n * 397 % 0xffffff),
            "yaml" => writeln!(out, "{a}_{n}:\n  {b}: {n}"),
            "toml" => writeln!(out, "{a}_{n} = {n}"),
            _ => writeln!(out, "{a} = {b} + {n}"),
        },
        Body::Random => Ok(()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_of_a_marked_key_is_what_follows_the_mark() {
        assert_eq!(ext_of(&crate::model::keytag::tag("a/u_k_1_2", ".tar.gz")), ".tar.gz");
        assert_eq!(ext_of(&crate::model::keytag::tag("a/u_k_1_2", ".rs")), ".rs");
        assert_eq!(ext_of(&crate::model::keytag::tag("a.b/u_k_1_2", "")), "");
        assert_eq!(ext_of("a/notes.txt"), ".txt");
    }

    fn content(ext: &str, size: u64, seed: u64) -> Vec<u8> {
        let mut v = Vec::new();
        write_content(&mut v, ext, size, seed).unwrap();
        v
    }

    #[test]
    fn every_binary_format_starts_with_its_magic() {
        let cases: &[(&str, &[u8])] = &[
            (".png", b"\x89PNG\r\n\x1a\n"),
            (".jpg", b"\xFF\xD8\xFF"),
            (".gif", b"GIF89a"),
            (".bmp", b"BM"),
            (".tiff", b"II*\x00"),
            (".pdf", b"%PDF-"),
            (".zip", b"PK\x03\x04"),
            (".docx", b"PK\x03\x04"),
            (".gz", b"\x1f\x8b"),
            (".tar.gz", b"\x1f\x8b"),
            (".rar", b"Rar!\x1a\x07"),
            (".7z", b"7z\xbc\xaf\x27\x1c"),
            (".mkv", b"\x1a\x45\xdf\xa3"),
            (".mp3", b"ID3"),
            (".flac", b"fLaC"),
            (".ogg", b"OggS"),
            (".svg", b"<svg"),
        ];
        for (ext, magic) in cases {
            let c = content(ext, 4096, 1);
            assert!(c.starts_with(magic), "{ext} starts with {:?}", &c[..8]);
        }
        let mp4 = content(".mp4", 4096, 1);
        assert_eq!(&mp4[4..8], b"ftyp");
        let wav = content(".wav", 4096, 1);
        assert_eq!((&wav[..4], &wav[8..12]), (&b"RIFF"[..], &b"WAVE"[..]));
        let webp = content(".webp", 4096, 1);
        assert_eq!(&webp[8..12], b"WEBP");
        let tar = content(".tar", 4096, 1);
        assert_eq!(&tar[257..262], b"ustar");
    }

    #[test]
    fn sizes_are_exact_even_across_chunks_and_below_the_header() {
        for size in [0u64, 1, 3, 100, CHUNK as u64 - 1, CHUNK as u64, CHUNK as u64 * 2 + 17, PIPELINE_MIN + 5] {
            for ext in [".png", ".py", ".csv", ".txt", ".tar"] {
                assert_eq!(content(ext, size, 9).len() as u64, size, "{ext} {size}");
            }
        }
    }

    #[test]
    fn text_kinds_are_text_and_binary_kinds_are_incompressible() {
        let py = content(".py", 20_000, 3);
        let s = std::str::from_utf8(&py).expect("code is UTF-8");
        assert!(s.starts_with("#!/usr/bin/env python3\ndef "));
        let md = content(".md", 20_000, 3);
        assert!(std::str::from_utf8(&md).unwrap().contains(". "));
        // Random bodies: every byte value appears about equally often.
        let bin = content(".zip", 1 << 20, 3);
        let mut hist = [0u32; 256];
        bin.iter().for_each(|b| hist[*b as usize] += 1);
        let (min, max) = (hist.iter().min().unwrap(), hist.iter().max().unwrap());
        assert!(*min > 3500 && *max < 4700, "byte histogram {min}..{max}");
    }

    #[test]
    fn downloads_are_checked_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let key = "projects/web-app/src/alice-dev_code_1_1.tar.gz";
        assert_eq!(ext_of(key), ".tar.gz");
        assert_eq!(ext_of("a/b_c.py"), ".py");
        let path = dir.path().join("f");
        let seed = seed_for_key(key);
        write_file(&path, ".tar.gz", 300_000, seed).unwrap();
        assert!(matches(&path, ".tar.gz", 300_000, seed).unwrap());
        assert!(!matches(&path, ".tar.gz", 300_001, seed).unwrap(), "size differs");
        assert!(!matches(&path, ".tar.gz", 300_000, seed + 1).unwrap(), "content differs");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[299_999] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(!matches(&path, ".tar.gz", 300_000, seed).unwrap(), "one flipped bit is caught");
        assert_ne!(seed_for_key("a"), seed_for_key("b"));
    }

    #[test]
    fn threaded_and_sequential_writers_agree() {
        // Above PIPELINE_MIN a second thread generates; the bytes must not change.
        let big = content(".mp4", PIPELINE_MIN + 1000, 42);
        let mut g = Generator::new(".mp4", 42);
        let mut seq = Vec::new();
        let mut done = 0;
        while done < big.len() {
            let mut chunk = vec![0u8; (big.len() - done).min(CHUNK)];
            g.fill(&mut chunk);
            done += chunk.len();
            seq.extend_from_slice(&chunk);
        }
        assert!(big == seq);
        let text = content(".py", PIPELINE_MIN + 7, 42);
        assert!(std::str::from_utf8(&text).unwrap().starts_with("#!/usr/bin/env python3\n"));
    }

    #[test]
    fn files_differ_by_seed_and_repeat_by_seed() {
        assert_eq!(content(".mp4", 10_000, 5), content(".mp4", 10_000, 5));
        assert_ne!(content(".mp4", 10_000, 5), content(".mp4", 10_000, 6));
        assert_ne!(content(".py", 10_000, 5), content(".py", 10_000, 6));
    }
}
