//! Replays gunicorn's request corpus (`../shared/corpus/gunicorn-requests`,
//! see its README) against the parser.
//!
//! - A case gunicorn accepts must give the same requests (method, path,
//!   query, version, headers, body).
//! - A case gunicorn rejects must give an `Error` event, and still give one
//!   when a `Host` field is added, so that a missing Host (which this server
//!   rejects and gunicorn does not) cannot hide the real reason.
//! - Every deliberate difference is in [`DISAGREEMENTS`] with its reason, and
//!   is asserted like everything else, so the table cannot go stale.
//! - Cases that test a gunicorn option we do not have are in [`SKIPPED`].
//!
//! The replay runs with limits that mirror gunicorn's defaults, see
//! [`limits_for`].

use super::support::{run, Responder};
use crate::http1::{Event, Limits, ServerConn};
use serde_json::Value;
use std::path::PathBuf;

/// What we do instead of what gunicorn does.
#[derive(Debug, Clone, Copy)]
enum Ours {
    /// HTTP/1.1 without Host: gunicorn accepts, RFC 9112 §3.2 says 400. With
    /// `Host: x` added to each request we match gunicorn exactly.
    MissingHost,
    /// We answer this error where gunicorn accepts (checked with a Host
    /// field added where one is missing).
    Reject(u16, &'static str),
    /// gunicorn rejects, we accept (checked with a Host field added).
    Accept,
    /// Same requests as gunicorn, except that fields whose name contains `_`
    /// are passed on (gunicorn drops them).
    KeepUnderscoreFields,
    /// Same requests as gunicorn (with Host added where missing), except
    /// that the path is this.
    Path(&'static str),
}

use Ours::*;

const FRAGMENT: Ours = Reject(400, "Fragment in request target");
const CODING: Ours = Reject(501, "Unsupported transfer coding");

/// Every case where we deliberately differ from gunicorn, and why.
const DISAGREEMENTS: &[(&str, Ours, &str)] = &[
    ("valid/004.http", MissingHost, NO_HOST),
    ("valid/006.http", MissingHost, NO_HOST),
    ("valid/007.http", MissingHost, NO_HOST),
    ("valid/010.http", MissingHost, NO_HOST),
    ("valid/011.http", MissingHost, NO_HOST),
    ("valid/012.http", MissingHost, NO_HOST),
    ("valid/013.http", MissingHost, NO_HOST),
    ("valid/014.http", MissingHost, NO_HOST),
    ("valid/018.http", MissingHost, NO_HOST),
    ("valid/021.http", MissingHost, NO_HOST),
    ("valid/023.http", MissingHost, NO_HOST),
    ("valid/031.http", MissingHost, NO_HOST),
    ("valid/022.http", MissingHost, "(the second request) HTTP/1.1 request without Host: RFC 9112 §3.2 requires 400"),
    ("valid/100.http", Path("///keeping_slashes"), "the path is passed on as sent; gunicorn collapses the leading slashes (and the request has no Host: it is added for the check)"),
    ("valid/099.http", Reject(400, "Incomplete request body"), "the file ends 8599 bytes into a 17914-byte Content-Length body; gunicorn hands the app the short body, RFC 9112 §8 makes it an incomplete message"),
    ("valid/005.http", FRAGMENT, "a fragment is never sent on the wire (RFC 9112 §3.2, RFC 9110 §7.1); its presence means a broken or hostile client"),
    ("valid/009.http", FRAGMENT, "as valid/005 (the same request also has Transfer-Encoding: identity with Content-Length, also 400)"),
    ("valid/025.http", CODING, "gzip then chunked: framing is clear, but we do not decode gzip; RFC 9112 §6.1 answers an unknown coding with 501"),
    ("valid/025_line.http", CODING, "as valid/025, in one field"),
    ("valid/029.http", CODING, "`identity` is no longer a transfer coding (removed by RFC 7230): unknown coding, 501"),
    ("valid/030.http", CODING, "as valid/029"),
    ("valid/rfc9112_smuggle_gzip_chunked_01.http", CODING, "as valid/025"),
    ("valid/rfc9112_smuggle_te_identity_chunked_01.http", CODING, "as valid/029"),
    ("valid/rfc9112_target_authority_connect_01.http", Reject(400, "CONNECT is not supported"), "this server is not a proxy; CONNECT and the authority-form are refused"),
    ("valid/rfc9112_target_authority_ipv6_01.http", Reject(400, "CONNECT is not supported"), "as the previous"),
    ("valid/027.http", Reject(400, "Non-ASCII byte in request target"), "`/à%20k` with the `à` as raw UTF-8: a request-target is ASCII (RFC 9112 §3.2, RFC 3986 §2), other characters are percent-encoded; uvicorn and daphne refuse it too"),
    ("valid/040.http", KeepUnderscoreFields, "gunicorn drops `_` names because WSGI's environ maps `-` and `_` alike; ASGI passes names as bytes, so there is no ambiguity to guard against"),
    ("invalid/003c.http", Accept, "`-bl` is a valid token, so a valid method (RFC 9110 §9.1); gunicorn's extra method rules are its own policy"),
    ("invalid/041.http", Accept, "a repeated Content-Type is the application's to judge; the server only polices framing and routing fields (Content-Length, Transfer-Encoding, Host)"),
];

const NO_HOST: &str = "HTTP/1.1 request without Host: RFC 9112 §3.2 requires 400";

/// Cases for gunicorn options that have no equivalent here.
const SKIPPED: &[(&str, &str)] = &[
    (
        "valid/028.http",
        "strip_header_spaces: without it gunicorn rejects this too (invalid/020)",
    ),
    (
        "valid/031compat.http",
        "casefold_http_method: methods are case-sensitive (RFC 9110 §9.1)",
    ),
    (
        "valid/031compat2.http",
        "permit_unconventional_http_method option",
    ),
    ("valid/040_compat.http", "header_map=dangerous option"),
    (
        "valid/compat_obs_fold.http",
        "permit_obsolete_folding: obs-fold is always rejected (RFC 9112 §5.2 allows that)",
    ),
    (
        "valid/compat_obs_fold_huge.http",
        "permit_obsolete_folding, as above",
    ),
    ("valid/pp_01.http", "PROXY protocol is not supported"),
    ("valid/pp_02.http", "PROXY protocol is not supported"),
    ("valid/pp_03.http", "PROXY protocol is not supported"),
    ("valid/pp_04.http", "PROXY protocol is not supported"),
    ("valid/pp_05.http", "PROXY protocol is not supported"),
    (
        "invalid/013.http",
        "permit_obsolete_folding option (we reject obs-fold regardless)",
    ),
    (
        "invalid/019.http",
        "forwarded_allow_ips: X-Forwarded-* handling is not the parser's job",
    ),
    ("invalid/040.http", "header_map=refuse option"),
    ("invalid/chunked_07.http", "header_map=refuse option"),
    ("invalid/pp_01.http", "PROXY protocol is not supported"),
    ("invalid/pp_02.http", "PROXY protocol is not supported"),
    ("invalid/pp_03.http", "PROXY protocol is not supported"),
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/gunicorn-requests")
}

/// gunicorn's defaults, then the case's own limit settings.
/// `limit_request_field_size` is per field in gunicorn; our nearest bound is
/// the whole header block, which is stricter (0 means gunicorn's default).
fn limits_for(config: &serde_json::Map<String, Value>) -> Limits {
    let mut limits = Limits {
        max_request_line: 4094,
        max_headers: 100,
        max_header_bytes: 8190,
        ..Limits::default()
    };
    for (key, value) in config {
        let n = value
            .as_u64()
            .unwrap_or_else(|| panic!("config {key}: {value}")) as usize;
        match key.as_str() {
            "limit_request_line" => limits.max_request_line = n,
            "limit_request_fields" => limits.max_headers = n,
            "limit_request_field_size" if n > 0 => limits.max_header_bytes = n,
            "limit_request_field_size" => {}
            other => panic!("config {other} not mapped: add the case to SKIPPED"),
        }
    }
    limits
}

/// The README's decoding: drop real newlines, then `\r\n`, `\0`, `\n`, `\t`
/// and `\xHH` escapes. Other bytes (UTF-8 included) go on the wire as they are.
fn decode_http_file(text: &[u8]) -> Vec<u8> {
    let text: Vec<u8> = text.iter().copied().filter(|&b| b != b'\n').collect();
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        if rest.starts_with(b"\\r\\n") {
            out.extend_from_slice(b"\r\n");
            i += 4;
        } else if rest.starts_with(b"\\0") {
            out.push(0);
            i += 2;
        } else if rest.starts_with(b"\\n") {
            out.push(b'\n');
            i += 2;
        } else if rest.starts_with(b"\\t") {
            out.push(b'\t');
            i += 2;
        } else if rest.len() >= 4
            && rest.starts_with(b"\\x")
            && rest[2].is_ascii_hexdigit()
            && rest[3].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&rest[2..4]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 4;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// The manifest's strings are gunicorn's latin-1 view of the bytes.
fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
        .collect()
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("base64 {c}"),
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s.as_bytes().iter().filter(|&&c| c != b'=') {
        acc = (acc << 6) | u32::from(val(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[derive(PartialEq, Eq, Clone)]
struct Req {
    method: Vec<u8>,
    path: Vec<u8>,
    query: Vec<u8>,
    version: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Req {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| format!("{}: {}", l(n), l(v)))
            .collect();
        write!(
            f,
            "{} {} ? {} HTTP/{} {headers:?} body {} bytes",
            l(&self.method),
            l(&self.path),
            l(&self.query),
            self.version,
            self.body.len()
        )
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Requests parsed, then the connection ended cleanly.
    Requests(Vec<Req>),
    /// Requests parsed before the error (usually none), then the error.
    Error(Vec<Req>, u16, &'static str),
}

/// Feeds the whole input, answers each request, ends with end-of-input.
fn replay(input: &[u8], limits: &Limits) -> Outcome {
    let mut c = ServerConn::new(limits.clone());
    c.recv_buf().extend_from_slice(input);
    c.recv_eof();
    let mut reqs: Vec<Req> = Vec::new();
    let mut out = Vec::new();
    for _ in 0..10_000 {
        match c.next_event() {
            Event::Request(h) => reqs.push(Req {
                method: h.method().to_vec(),
                path: h.path().to_vec(),
                query: h.query().to_vec(),
                version: h.version.as_str().to_string(),
                headers: h.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
                body: Vec::new(),
            }),
            Event::Data(d) => reqs
                .last_mut()
                .expect("data before request")
                .body
                .extend_from_slice(&d),
            Event::EndOfBody | Event::NeedData => {}
            Event::AwaitingResponse => {
                let mut w = c.start_response(200).unwrap();
                w.header(b"content-length", b"0").unwrap();
                w.finish(&Default::default(), b"", &mut out).unwrap();
                c.send_body(b"", false, &mut out).unwrap();
            }
            Event::Close => return Outcome::Requests(reqs),
            Event::Error(e) => return Outcome::Error(reqs, e.status, e.reason),
        }
    }
    panic!("replay did not end");
}

fn expected_requests(expect: &[Value]) -> Vec<Req> {
    expect
        .iter()
        .map(|e| {
            let s = |v: &Value| latin1(v.as_str().expect("string"));
            let version = e["version"].as_array().expect("version");
            Req {
                method: s(&e["method"]),
                path: s(&e["uri"]["path"]),
                query: s(&e["uri"]["query"]),
                version: format!("{}.{}", version[0], version[1]),
                headers: e["headers"]
                    .as_array()
                    .expect("headers")
                    .iter()
                    .map(|h| (s(&h[0]).to_ascii_lowercase(), s(&h[1])))
                    .collect(),
                body: base64(e["body_base64"].as_str().unwrap_or("")),
            }
        })
        .collect()
}

fn has_host(head_fields: &[u8]) -> bool {
    head_fields
        .split(|&b| b == b'\n')
        .any(|line| line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"host:"))
}

/// Adds `Host: x` after the request line of each expected HTTP/1.1 request
/// that has none (found by its request line, in order). Returns the new
/// input and the expectations with that field added.
fn add_host_to_valid(
    input: &[u8],
    expected: &[Req],
    raw_targets: &[Vec<u8>],
) -> (Vec<u8>, Vec<Req>) {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut fixed = expected.to_vec();
    for (req, target) in fixed.iter_mut().zip(raw_targets) {
        let line = [
            &req.method[..],
            b" ",
            target,
            b" HTTP/",
            req.version.as_bytes(),
            b"\r\n",
        ]
        .concat();
        let at = pos + find(&input[pos..], &line).expect("request line in input");
        let after = at + line.len();
        out.extend_from_slice(&input[pos..after]);
        pos = after;
        let head_end = find(&input[pos..], b"\r\n\r\n").map_or(input.len(), |e| pos + e);
        let field_lines = if input[pos..].starts_with(b"\r\n") {
            &b""[..]
        } else {
            &input[pos..head_end]
        };
        if req.version == "1.1" && !has_host(field_lines) {
            out.extend_from_slice(b"Host: x\r\n");
            req.headers.insert(0, (b"host".to_vec(), b"x".to_vec()));
        }
    }
    out.extend_from_slice(&input[pos..]);
    (out, fixed)
}

/// Adds `Host: x` after the first line when it ends in HTTP/1.1 and no Host
/// field follows.
fn add_host_to_invalid(input: &[u8]) -> Vec<u8> {
    let Some(eol) = find(input, b"\r\n") else {
        return input.to_vec();
    };
    let head_end = find(input, b"\r\n\r\n").unwrap_or(input.len());
    if !input[..eol].ends_with(b"HTTP/1.1") || has_host(&input[eol..head_end.max(eol)]) {
        return input.to_vec();
    }
    [&input[..eol + 2], b"Host: x\r\n", &input[eol + 2..]].concat()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn gunicorn_corpus() {
    let dir = corpus_dir();
    let Ok(manifest) = std::fs::read(dir.join("manifest.json")) else {
        println!("SKIPPED: gunicorn corpus not found at {}", dir.display());
        return;
    };
    let manifest: serde_json::Map<String, Value> =
        serde_json::from_slice(&manifest).expect("manifest.json");
    let mut used_disagreements = Vec::new();
    let mut used_skips = Vec::new();
    let mut checked = 0;
    let mut failures = Vec::new();

    for (name, case) in &manifest {
        if let Some((_, why)) = SKIPPED.iter().find(|(n, _)| n == name) {
            println!("skip {name}: {why}");
            used_skips.push(name.clone());
            continue;
        }
        let input = decode_http_file(&std::fs::read(dir.join(name)).expect("case file"));
        let limits = limits_for(case["config"].as_object().expect("config"));
        let expect = case["expect"].as_array().expect("expect");
        let disagreement = DISAGREEMENTS
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|d| d.1);
        if disagreement.is_some() {
            used_disagreements.push(name.clone());
        }
        let result = if name.starts_with("valid/") {
            check_valid(&input, expect, &limits, disagreement)
        } else {
            check_invalid(&input, &limits, disagreement)
        };
        checked += 1;
        if std::env::var_os("CORPUS_VERBOSE").is_some() {
            println!("{name}: {:?}", result.as_ref().err());
        }
        if let Err(msg) = result {
            failures.push(format!("{name}: {msg}"));
        }
    }
    for (n, _, _) in DISAGREEMENTS {
        assert!(
            used_disagreements.iter().any(|u| u == n),
            "stale DISAGREEMENTS entry {n}"
        );
    }
    for (n, _) in SKIPPED {
        assert!(used_skips.iter().any(|u| u == n), "stale SKIPPED entry {n}");
    }
    assert!(checked + used_skips.len() == manifest.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!(
        "gunicorn corpus: {checked} cases checked, {} skipped",
        used_skips.len()
    );
}

fn check_valid(
    input: &[u8],
    expect: &[Value],
    limits: &Limits,
    ours: Option<Ours>,
) -> Result<(), String> {
    let expected = expected_requests(expect);
    let targets: Vec<Vec<u8>> = expect
        .iter()
        .map(|e| latin1(e["uri"]["raw"].as_str().unwrap_or("")))
        .collect();
    let (with_host, expected_with_host) = add_host_to_valid(input, &expected, &targets);
    let raw = replay(input, limits);
    let fixed = replay(&with_host, limits);
    let same = |got: &Outcome, want: &[Req]| match got {
        Outcome::Requests(reqs) if reqs == want => Ok(()),
        other => Err(format!("expected {want:?}\n got {other:?}")),
    };
    match ours {
        None => same(&raw, &expected),
        Some(MissingHost) => {
            if !matches!(raw, Outcome::Error(_, 400, "Missing Host header")) {
                return Err(format!("{NO_HOST}: expected that error, got {raw:?}"));
            }
            same(&fixed, &expected_with_host)
        }
        Some(Path(path)) => {
            let mut want = expected_with_host;
            for r in &mut want {
                r.path = path.as_bytes().to_vec();
            }
            same(&fixed, &want)
        }
        Some(Reject(status, reason)) => match fixed {
            Outcome::Error(_, s, r) if (s, r) == (status, reason) => Ok(()),
            other => Err(format!("expected error {status} {reason:?}, got {other:?}")),
        },
        Some(KeepUnderscoreFields) => match raw {
            Outcome::Requests(mut reqs) => {
                for r in &mut reqs {
                    r.headers.retain(|(n, _)| !n.contains(&b'_'));
                }
                same(&Outcome::Requests(reqs), &expected)
            }
            other => Err(format!("expected requests, got {other:?}")),
        },
        Some(Accept) => Err("Accept is for invalid cases".into()),
    }
}

fn check_invalid(input: &[u8], limits: &Limits, ours: Option<Ours>) -> Result<(), String> {
    let raw = replay(input, limits);
    let fixed = replay(&add_host_to_invalid(input), limits);
    if std::env::var_os("CORPUS_VERBOSE").is_some() {
        println!("  {raw:?}\n  with Host: {fixed:?}");
    }
    match ours {
        None => match (&raw, &fixed) {
            (Outcome::Error(..), Outcome::Error(..)) => Ok(()),
            _ => Err(format!(
                "expected an error, got {raw:?} / with Host: {fixed:?}"
            )),
        },
        Some(Accept) => match fixed {
            Outcome::Requests(reqs) if !reqs.is_empty() => Ok(()),
            other => Err(format!("expected acceptance (with Host), got {other:?}")),
        },
        Some(other) => Err(format!("{other:?} is for valid cases")),
    }
}

#[test]
fn http_file_decoding() {
    assert_eq!(
        decode_http_file(b"GET / HTTP/1.1\\r\\n\nA: \\x41\\t\\0\\n\n"),
        b"GET / HTTP/1.1\r\nA: A\t\0\n"
    );
    assert_eq!(base64("aGVsbG8gd29ybGQ="), b"hello world");
    assert_eq!(base64("SEVMTE8="), b"HELLO");
    // `run` is shared with the other tests; make sure it is usable here too.
    let t = run(
        b"GET / HTTP/1.0\r\n\r\n",
        1,
        Limits::default(),
        Responder::Ok,
    );
    assert!(!t.events.is_empty());
}
