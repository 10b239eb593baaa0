//! A fuzzer without cargo-fuzz: deterministic pseudo-random mutations of
//! corpus and hand-written requests, fed in random pieces. Every run must end
//! (bounded number of events) without a panic, whatever the input.

use super::support::sample_inputs;
use crate::fuzzing::http1::small_limits;
use crate::fuzzing::{Mutations, Rng};
use crate::http1::{error_response, Event, Limits, ResponseDefaults, ServerConn};
use std::path::PathBuf;

/// Bytes that matter to the parsers, so mutations hit interesting paths.
const SPECIAL: &[u8] = b"\r\n\0 \t:;=\"\\,/?#*%0123456789abcdefABCDEF-_\x7f\x80\xff";
const SNIPPETS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Host: h\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffff\r\n",
    b";ext=\"v\"",
    b"GET / HTTP/1.1\r\n",
    b" HTTP/1.0",
];

const MUTATIONS: Mutations<'static> = Mutations {
    special: SPECIAL,
    splices: SNIPPETS,
};

fn corpus_inputs() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/gunicorn-requests");
    let mut out = Vec::new();
    for sub in ["valid", "invalid"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort(); // deterministic order
        for p in paths {
            if let Ok(text) = std::fs::read(&p) {
                // A rough decoding is enough to seed mutations.
                let text: Vec<u8> = text.into_iter().filter(|&b| b != b'\n').collect();
                let s = String::from_utf8_lossy(&text)
                    .replace("\\r\\n", "\r\n")
                    .replace("\\0", "\0");
                out.push(s.into_bytes());
            }
        }
    }
    out
}

/// What the runs went through, to show the mutations reach deep paths.
#[derive(Default, Debug)]
struct Seen {
    requests: usize,
    data: usize,
    errors: usize,
    closes: usize,
}

/// Drives one connection like a driver would, with random read sizes and
/// random (sometimes wrong) answers; returns the number of events.
fn drive(rng: &mut Rng, input: &[u8], limits: &Limits, seen: &mut Seen) -> usize {
    let mut c = ServerConn::new(limits.clone());
    let mut out = Vec::new();
    let mut fed = 0;
    let mut eof = false;
    let max_events = input.len() * 4 + 100;
    for events in 0..max_events {
        let _ = c.wants_read(rng.below(2 * limits.body_buffer));
        let event = c.next_event();
        match event {
            Event::Close | Event::Error(_) => {
                if let Event::Error(e) = &event {
                    error_response(e, &mut out);
                    seen.errors += 1;
                } else {
                    seen.closes += 1;
                }
                // Dead connections stay dead.
                assert!(matches!(c.next_event(), Event::Close));
                return events;
            }
            Event::NeedData => {
                assert!(!eof, "NeedData after end of input");
                if fed < input.len() {
                    let n = (1 + rng.below(40)).min(input.len() - fed);
                    c.recv_buf().extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                } else {
                    c.recv_eof();
                    eof = true;
                }
            }
            Event::Request(_) | Event::Data(_) | Event::EndOfBody | Event::AwaitingResponse => {
                seen.requests += usize::from(matches!(event, Event::Request(_)));
                seen.data += usize::from(matches!(event, Event::Data(_)));
                if rng.below(3) == 0 {
                    c.send_continue(&mut out);
                }
                if !c.response_complete()
                    && (matches!(event, Event::AwaitingResponse) || rng.below(4) == 0)
                {
                    answer(rng, &mut c, &mut out);
                }
            }
        }
        out.clear();
    }
    panic!(
        "no end after {max_events} events for {:?}",
        String::from_utf8_lossy(input)
    );
}

/// Sends a response that is sometimes wrong: errors must be reported, not panics.
fn answer(rng: &mut Rng, c: &mut ServerConn, out: &mut Vec<u8>) {
    if rng.below(8) == 0 {
        c.close_after_response();
    }
    let status = [200, 204, 304, 404, 100, 1000][rng.below(6)];
    if !c.response_started() {
        let Ok(mut w) = c.start_response(status) else {
            return;
        };
        let len = rng.below(6);
        match rng.below(4) {
            0 => {
                let _ = w.header(b"content-length", len.to_string().as_bytes());
            }
            1 => {
                let _ = w.header(b"transfer-encoding", b"chunked");
            }
            2 => {
                let _ = w.header(b"bad name", b"x\r\n");
            }
            _ => {}
        }
        let _ = w.finish(&ResponseDefaults::default(), b"", out);
    }
    let _ = c.send_body(&b"hello"[..rng.below(6)], rng.below(3) == 0, out);
    if rng.below(2) == 0 {
        let _ = c.send_body(b"", false, out);
    }
}

#[test]
fn random_mutations_never_panic_or_hang() {
    let mut seeds = sample_inputs();
    seeds.extend(corpus_inputs());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let small = small_limits();
    let default = Limits::default();
    let mut seen = Seen::default();
    let mut events = 0;
    for i in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        if rng.below(2) == 0 {
            // Many corpus requests lack Host; give them one to get deeper.
            if let Some(eol) = input.windows(2).position(|w| w == b"\r\n") {
                input.splice(eol + 2..eol + 2, b"Host: h\r\n".iter().copied());
            }
        }
        if rng.below(4) != 0 {
            MUTATIONS.apply(&mut rng, &mut input);
        }
        let limits = if i % 2 == 0 { &small } else { &default };
        events += drive(&mut rng, &input, limits, &mut seen);
    }
    println!("{events} events, {seen:?}");
    assert!(
        seen.requests > 2_000 && seen.data > 1_000 && seen.errors > 5_000 && seen.closes > 1_000,
        "{seen:?}"
    );
}
