//! A fuzzer without cargo-fuzz: deterministic pseudo-random mutations of
//! client frame streams (and of handshake fields), fed in random pieces with
//! random sends in between. Every run must end (bounded number of events)
//! without a panic, and everything we write must be well-formed frames.

use super::support::*;
use crate::fuzzing::{Mutations, Rng};
use crate::http1::{ResponseDefaults, Version};
use crate::ws::*;

/// Bytes that matter to the frame parser, the deflate decoder and UTF-8.
const SPECIAL: &[u8] = &[
    0x00, 0x01, 0x02, 0x08, 0x09, 0x0A, 0x0B, 0x7D, 0x7E, 0x7F, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8A,
    0xC1, 0xC2, 0xE2, 0xED, 0xF0, 0xF4, 0xFE, 0xFF,
];

pub(super) fn seeds() -> Vec<Vec<u8>> {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut big = vec![0u8; 300];
    big[0] = 1;
    vec![
        frame(0x1, b"Hello"),
        frame(0x2, &big),
        frame(0x1, "héllo wörld €😀".as_bytes()),
        cat(&[
            &raw_frame(0x01, b"Hel"),
            &frame(0x9, b"p"),
            &raw_frame(0x80, b"lo"),
        ]),
        cat(&[
            &raw_frame(0x01, "é".as_bytes()[..1].as_ref()),
            &raw_frame(0x80, &"é".as_bytes()[1..]),
        ]),
        frame(0x8, &close_payload(1000, "bye")),
        frame(0x8, b""),
        cat(&[
            &frame(0x9, b"ping"),
            &frame(0xA, b"pong"),
            &frame(0x1, b"x"),
        ]),
        raw_frame(0xC1, &hello),
        cat(&[
            &raw_frame(0xC1, &hello),
            &raw_frame(0xC1, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
        ]),
        cat(&[&raw_frame(0x41, &hello[..3]), &raw_frame(0x80, &hello[3..])]),
        raw_frame(
            0xC2,
            &[
                0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
        ),
        raw_frame(0xC1, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]),
        cat(&[
            &frame(0x1, b"a"),
            &frame(0x2, b"b"),
            &frame(0x8, &close_payload(1001, "")),
        ]),
    ]
}

/// Mutations splicing in whole seed streams.
fn mutations<'a>(splices: &'a [&'a [u8]]) -> Mutations<'a> {
    Mutations {
        special: SPECIAL,
        splices,
    }
}

#[derive(Default, Debug)]
struct Seen {
    messages: usize,
    controls: usize,
    closes: usize,
    errors: [usize; 4], // 1002, 1007, 1009, 1006
}

fn configs() -> Vec<WsConfig> {
    let deflate = DeflateParams::default();
    vec![
        WsConfig::default(),
        WsConfig {
            max_message_size: 16,
            ..WsConfig::default()
        },
        deflate_config(deflate),
        WsConfig {
            max_message_size: 8,
            ..deflate_config(DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(9),
            })
        },
    ]
}

fn drive(rng: &mut Rng, config: &WsConfig, input: &[u8], seen: &mut Seen) {
    let mut c = WsConn::new(config.clone());
    let mut out = Vec::new();
    let mut fed = 0;
    let eof = rng.below(2) == 0;
    let mut eof_sent = false;
    for _ in 0..input.len() * 2 + 20 {
        if rng.below(6) == 0 {
            let _ = match rng.below(5) {
                0 => c.send_text("héllo", &mut out),
                1 => c.send_binary(&input[..rng.below(input.len() + 1)], &mut out),
                2 => c.send_ping(&[1; 130][..rng.below(130)], &mut out),
                3 => c.send_close([1000, 1005, 4000, 0][rng.below(4)], "bye 😀", &mut out),
                _ => Ok(()),
            };
        }
        match c.next_event(&mut out) {
            WsEvent::NeedData => {
                assert!(!eof_sent, "NeedData after end of input");
                if fed < input.len() {
                    let n = (1 + rng.below(40)).min(input.len() - fed);
                    c.recv_buf().extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                } else if eof {
                    c.recv_eof();
                    eof_sent = true;
                } else {
                    break;
                }
            }
            WsEvent::Text(_) | WsEvent::Binary(_) => seen.messages += 1,
            WsEvent::Ping(_) | WsEvent::Pong(_) => seen.controls += 1,
            WsEvent::Close { .. } => seen.closes += 1,
            WsEvent::Error { close_code, .. } => {
                seen.errors[match close_code {
                    1002 => 0,
                    1007 => 1,
                    1009 => 2,
                    1006 => 3,
                    other => panic!("unexpected close code {other}"),
                }] += 1;
            }
            WsEvent::Closed => {
                assert!(c.is_closed());
                assert_eq!(c.next_event(&mut out), WsEvent::Closed);
                server_frames(&out);
                return;
            }
        }
    }
    // Everything we wrote is a sequence of whole, unmasked frames.
    server_frames(&out);
    assert!(
        !eof_sent || c.is_closed(),
        "end of input must end the connection"
    );
}

#[test]
fn random_mutations_never_panic_or_hang() {
    let seeds = seeds();
    let splices: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    let mutations = mutations(&splices);
    let configs = configs();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = Seen::default();
    for i in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        if rng.below(2) == 0 {
            input.extend_from_slice(&seeds[rng.below(seeds.len())]);
        }
        if rng.below(5) != 0 {
            mutations.apply(&mut rng, &mut input);
        }
        drive(&mut rng, &configs[i % configs.len()], &input, &mut seen);
    }
    println!("{seen:?}");
    assert!(
        seen.messages > 5_000 && seen.controls > 1_000 && seen.closes > 1_000,
        "{seen:?}"
    );
    assert!(seen.errors.iter().all(|&n| n > 200), "{seen:?}");
}

#[test]
fn random_handshakes_never_panic() {
    let base: Vec<(&[u8], Vec<u8>)> = vec![
        (b"upgrade", b"websocket".to_vec()),
        (b"connection", b"keep-alive, Upgrade".to_vec()),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ==".to_vec()),
        (b"sec-websocket-version", b"13".to_vec()),
        (b"sec-websocket-protocol", b"chat, superchat".to_vec()),
        (
            b"sec-websocket-extensions",
            b"permessage-deflate; client_max_window_bits; server_max_window_bits=10, x; y=\"z\""
                .to_vec(),
        ),
    ];
    let splices: Vec<&[u8]> = base.iter().map(|(_, v)| v.as_slice()).collect();
    let mutations = mutations(&splices);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut accepted, mut deflate, mut invalid) = (0, 0, 0);
    for _ in 0..5_000 {
        let mut headers = base.clone();
        for _ in 0..=rng.below(2) {
            let i = rng.below(headers.len());
            if rng.below(8) == 0 {
                headers.remove(i);
            } else {
                mutations.apply(&mut rng, &mut headers[i].1);
                if rng.below(4) == 0 {
                    // Quoting and separators where they hurt.
                    let at = rng.below(headers[i].1.len() + 1);
                    let s = [b'"', b'\\', b';', b',', b'='][rng.below(5)];
                    headers[i].1.insert(at, s);
                }
            }
        }
        let view: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        match check_upgrade(b"GET", Version::Http11, view.iter().copied()) {
            Upgrade::WebSocket(offer) => {
                accepted += 1;
                let params = offer.negotiate_deflate();
                deflate += usize::from(params.is_some());
                let proto = offer.subprotocols.first().map(String::as_str);
                let mut w = offer.accept(proto).expect("an offered subprotocol");
                let _ = w.header(b"x-app", &headers[0].1);
                let mut out = Vec::new();
                w.finish(params.as_ref(), &ResponseDefaults::default(), b"", &mut out);
                assert!(out.ends_with(b"\r\n\r\n"));
            }
            Upgrade::Invalid(err) => {
                invalid += 1;
                let mut out = Vec::new();
                reject_response(&err, &mut out);
            }
            Upgrade::NotWebSocket => {}
        }
    }
    // Most mutations break a required field; enough get through.
    assert!(
        accepted > 300 && deflate > 200 && invalid > 2_000,
        "{accepted} {deflate} {invalid}"
    );
}
