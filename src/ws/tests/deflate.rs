//! permessage-deflate: the RFC 7692 §7.2.3 examples, round trips with and
//! without context takeover, negotiation, and the decompression limit.

use super::support::*;
use crate::ws::deflate::{InflateError, Inflater};
use crate::ws::*;
use flate2::{Compress, Compression, FlushCompress};

fn params() -> DeflateParams {
    DeflateParams::default()
}

/// A compressed client frame (RSV1 set) holding `payload` as given.
fn compressed(opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(0xC0 | opcode, payload)
}

/// Compresses with the stripped-tail convention, independently of `Deflater`.
fn client_compress(z: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    z.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// Decodes our compressed server frames with an independent inflater.
fn server_messages(output: &[u8], reset_each: bool) -> Vec<(u8, Vec<u8>)> {
    let mut inflater = Inflater::new(reset_each);
    server_frames(output)
        .into_iter()
        .map(|(b0, payload)| {
            if b0 & 0x40 == 0 {
                return (b0, payload);
            }
            let mut data = Vec::new();
            inflater.feed(&payload, &mut data, usize::MAX - 1).unwrap();
            inflater.finish(&mut data, usize::MAX - 1).unwrap();
            (b0, data)
        })
        .collect()
}

// ---------------------------------------------------------------- RFC 7692 §7.2.3

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc7692_hello_compressed() {
    // §7.2.3.1: "Hello" in one compressed frame.
    let t = transcript_with(&deflate_config(params()), &compressed(1, &HELLO), false);
    assert_eq!(t.events, vec![text("Hello")]);
    // And our compressor produces those very bytes.
    let mut c = WsConn::new(deflate_config(params()));
    let mut out = Vec::new();
    c.send_text("Hello", &mut out).unwrap();
    assert_eq!(out, cat(&[&[0xc1, 0x07], &HELLO]));
}

#[test]
fn rfc7692_fragmented() {
    // §7.2.3.1, second form: the compressed data split over two frames,
    // RSV1 on the first only.
    let input = cat(&[&raw_frame(0x41, &HELLO[..3]), &raw_frame(0x80, &HELLO[3..])]);
    let t = transcript_with(&deflate_config(params()), &input, false);
    assert_eq!(t.events, vec![text("Hello")]);
    // RSV1 on a continuation frame is an error.
    let input = cat(&[&raw_frame(0x41, &HELLO[..3]), &raw_frame(0xC0, &HELLO[3..])]);
    let t = transcript_with(&deflate_config(params()), &input, false);
    assert_eq!(t.events, vec![Ev::Error(1002), Ev::Closed]);
}

#[test]
fn rfc7692_sharing_the_window() {
    // §7.2.3.2: the second "Hello" refers back into the first message.
    let input = cat(&[
        &compressed(1, &HELLO),
        &compressed(1, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
    ]);
    let t = transcript_with(&deflate_config(params()), &input, false);
    assert_eq!(t.events, vec![text("Hello"), text("Hello")]);
    // Our compressor does the same with context takeover...
    let mut c = WsConn::new(deflate_config(params()));
    let mut out = Vec::new();
    c.send_text("Hello", &mut out).unwrap();
    c.send_text("Hello", &mut out).unwrap();
    let frames = server_frames(&out);
    assert_eq!(frames[0].1, HELLO);
    assert!(frames[1].1.len() < HELLO.len(), "{:x?}", frames[1].1);
    assert_eq!(
        server_messages(&out, false),
        vec![(0xc1, b"Hello".to_vec()), (0xc1, b"Hello".to_vec())]
    );
    // ...and not without it.
    let p = DeflateParams {
        server_no_context_takeover: true,
        ..params()
    };
    let mut c = WsConn::new(deflate_config(p));
    let mut out = Vec::new();
    c.send_text("Hello", &mut out).unwrap();
    c.send_text("Hello", &mut out).unwrap();
    assert_eq!(out, cat(&[&[0xc1, 0x07], &HELLO, &[0xc1, 0x07], &HELLO]));
}

#[test]
fn rfc7692_stored_block() {
    // §7.2.3.3: a DEFLATE block with no compression.
    let payload = [
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let t = transcript_with(&deflate_config(params()), &compressed(1, &payload), false);
    assert_eq!(t.events, vec![text("Hello")]);
}

#[test]
fn rfc7692_final_block() {
    // §7.2.3.4: BFINAL set; the rest of the message is ignored and the next
    // message starts a new stream.
    let payload = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let input = cat(&[
        &compressed(1, &payload),
        &compressed(1, &payload),
        &compressed(1, &HELLO),
    ]);
    let t = transcript_with(&deflate_config(params()), &input, false);
    assert_eq!(t.events, vec![text("Hello"), text("Hello"), text("Hello")]);
}

#[test]
fn rfc7692_two_blocks() {
    // §7.2.3.5: two DEFLATE blocks in one message.
    let payload = [
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let t = transcript_with(&deflate_config(params()), &compressed(1, &payload), false);
    assert_eq!(t.events, vec![text("Hello")]);
}

#[test]
fn empty_compressed_message() {
    // §7.2.3.6: an empty message may be sent as a single 0x00.
    let input = cat(&[&compressed(1, &[0x00]), &compressed(2, &[0x00])]);
    let t = transcript_with(&deflate_config(params()), &input, false);
    assert_eq!(t.events, vec![text(""), Ev::Binary(vec![])]);
    let mut c = WsConn::new(deflate_config(params()));
    let mut out = Vec::new();
    c.send_binary(b"", &mut out).unwrap();
    assert_eq!(server_messages(&out, false), vec![(0xc2, vec![])]);
}

// ---------------------------------------------------------------- round trips

fn sample(i: usize) -> Vec<u8> {
    format!("{{\"id\": {i}, \"name\": \"item {i}\", \"tags\": [\"a\", \"b\"], \"é\": true}}")
        .repeat(1 + i % 5)
        .into_bytes()
}

#[test]
fn round_trip_from_the_client() {
    for (client_takeover, reset_each) in [(true, false), (false, true), (false, false)] {
        let mut z = Compress::new(Compression::default(), false);
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for i in 0..20 {
            let data = sample(i);
            input.extend(compressed(1, &client_compress(&mut z, &data)));
            if !client_takeover {
                z.reset();
            }
            expected.push(Ev::Text(String::from_utf8(data).unwrap()));
        }
        // Plus a fragmented one.
        let data = sample(99);
        let c = client_compress(&mut z, &data);
        input.extend(raw_frame(0x41, &c[..c.len() / 2]));
        input.extend(frame(0x9, b"mid"));
        input.extend(raw_frame(0x80, &c[c.len() / 2..]));
        expected.push(Ev::Ping(b"mid".to_vec()));
        expected.push(Ev::Text(String::from_utf8(data).unwrap()));
        let p = DeflateParams {
            client_no_context_takeover: reset_each,
            ..params()
        };
        let t = transcript_with(&deflate_config(p), &input, false);
        assert_eq!(t.events, expected);
    }
}

#[test]
fn round_trip_to_the_client() {
    for no_takeover in [false, true] {
        let p = DeflateParams {
            server_no_context_takeover: no_takeover,
            ..params()
        };
        for level in [0, 1, 6, 9, 100] {
            let mut c = WsConn::new(WsConfig {
                compression_level: level,
                ..deflate_config(p)
            });
            let mut out = Vec::new();
            let mut expected = Vec::new();
            for i in 0..20 {
                let data = sample(i);
                if i % 2 == 0 {
                    c.send_binary(&data, &mut out).unwrap();
                    expected.push((0xc2, data));
                } else {
                    c.send_text(std::str::from_utf8(&data).unwrap(), &mut out)
                        .unwrap();
                    expected.push((0xc1, data));
                }
            }
            let big: Vec<u8> = (0..200_000u32).map(|i| (i % 7 + i / 1000) as u8).collect();
            c.send_binary(&big, &mut out).unwrap();
            expected.push((0xc2, big));
            // Decoding with a reset per message proves there was no takeover.
            assert_eq!(
                server_messages(&out, no_takeover),
                expected,
                "level {level}"
            );
        }
    }
}

#[test]
fn small_server_window_compresses_only_short_messages() {
    let offer = [Extension {
        name: "permessage-deflate".into(),
        params: vec![("server_max_window_bits".into(), Some("9".into()))],
    }];
    let p = DeflateParams::negotiate(&offer).unwrap();
    assert!(p.server_no_context_takeover);
    let mut c = WsConn::new(deflate_config(p));
    let mut out = Vec::new();
    c.send_binary(&[b'a'; 512], &mut out).unwrap();
    c.send_binary(&[b'a'; 513], &mut out).unwrap();
    let frames = server_messages(&out, true);
    assert_eq!(frames[0], (0xc2, vec![b'a'; 512]));
    assert_eq!(frames[1], (0x82, vec![b'a'; 513]), "sent uncompressed");
}

// ---------------------------------------------------------------- limits and errors

#[test]
fn zip_bomb_is_capped() {
    let mut z = Compress::new(Compression::best(), false);
    let bomb = client_compress(&mut z, &vec![0u8; 10 << 20]);
    assert!(bomb.len() < 20_000, "{}", bomb.len());
    let max = 1 << 20;
    // The inflater never holds more than the limit (plus one byte).
    let mut inflater = Inflater::new(false);
    let mut data = Vec::new();
    assert_eq!(
        inflater.feed(&bomb, &mut data, max),
        Err(InflateError::TooBig)
    );
    assert!(data.capacity() <= max + 1, "{}", data.capacity());
    // Through the connection, in one frame and in pieces.
    let cfg = WsConfig {
        max_message_size: max,
        ..deflate_config(params())
    };
    let t = run(&cfg, &compressed(2, &bomb), usize::MAX, false);
    assert_eq!(t.events, vec![Ev::Error(1009), Ev::Closed]);
    let t = run(&cfg, &compressed(2, &bomb), 100, false);
    assert_eq!(t.events, vec![Ev::Error(1009), Ev::Closed]);
    assert_eq!(server_frames(&t.output)[0].1[..2], 1009u16.to_be_bytes());
}

#[test]
fn decompressed_size_limit_is_exact() {
    let cfg = WsConfig {
        max_message_size: 1000,
        ..deflate_config(params())
    };
    let mut z = Compress::new(Compression::default(), false);
    let ok = client_compress(&mut z, &[b'x'; 1000]);
    let mut z = Compress::new(Compression::default(), false);
    let over = client_compress(&mut z, &[b'x'; 1001]);
    let t = transcript_with(&cfg, &compressed(2, &ok), false);
    assert_eq!(t.events, vec![Ev::Binary(vec![b'x'; 1000])]);
    let t = transcript_with(&cfg, &compressed(2, &over), false);
    assert_eq!(t.events, vec![Ev::Error(1009), Ev::Closed]);
}

#[test]
fn corrupt_data() {
    // BTYPE 11 is reserved.
    let t = transcript_with(
        &deflate_config(params()),
        &compressed(2, &[0xff, 0xff]),
        false,
    );
    assert_eq!(t.events, vec![Ev::Error(1007), Ev::Closed]);
    // A stored block whose NLEN does not match.
    let t = transcript_with(
        &deflate_config(params()),
        &compressed(2, &[0x00, 0x05, 0x00, 0x00, 0x00]),
        false,
    );
    assert_eq!(t.events, vec![Ev::Error(1007), Ev::Closed]);
}

#[test]
fn compressed_invalid_utf8() {
    let mut z = Compress::new(Compression::default(), false);
    let data = client_compress(&mut z, b"fine until \xff");
    let t = transcript_with(&deflate_config(params()), &compressed(1, &data), false);
    assert_eq!(t.events, vec![Ev::Error(1007), Ev::Closed]);
}

#[test]
fn rsv1_needs_negotiation() {
    let t = transcript_with(&WsConfig::default(), &compressed(1, &HELLO), false);
    assert_eq!(t.events, vec![Ev::Error(1002), Ev::Closed]);
    // Uncompressed messages are still fine when negotiated.
    let t = transcript_with(&deflate_config(params()), &frame(1, b"plain"), false);
    assert_eq!(t.events, vec![text("plain")]);
    // Control frames never have RSV1.
    let t = transcript_with(&deflate_config(params()), &raw_frame(0xC9, b""), false);
    assert_eq!(t.events, vec![Ev::Error(1002), Ev::Closed]);
}

// ---------------------------------------------------------------- negotiation

fn negotiate(header: &str) -> Option<DeflateParams> {
    let headers: Vec<(&[u8], &[u8])> = vec![
        (b"host", b"h"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-extensions", header.as_bytes()),
    ];
    match check_upgrade(b"GET", crate::http1::Version::Http11, headers) {
        Upgrade::WebSocket(offer) => offer.negotiate_deflate(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn negotiation() {
    let plain = DeflateParams::default();
    // What browsers send.
    assert_eq!(
        negotiate("permessage-deflate; client_max_window_bits"),
        Some(plain)
    );
    assert_eq!(negotiate("permessage-deflate"), Some(plain));
    assert_eq!(plain.response_value(), "permessage-deflate");
    let p = negotiate(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         client_max_window_bits=10",
    )
    .unwrap();
    assert!(p.server_no_context_takeover && p.client_no_context_takeover);
    assert_eq!(
        p.response_value(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    let p = negotiate("permessage-deflate; server_max_window_bits=\"10\"").unwrap();
    assert_eq!(
        p.response_value(),
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
    );
    let p = negotiate("permessage-deflate; server_max_window_bits=15").unwrap();
    assert_eq!(
        p.response_value(),
        "permessage-deflate; server_max_window_bits=15"
    );
    // Declined offers.
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; client_max_window_bits=1a",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
        "permessage-deflate; unknown",
        "x-webkit-deflate-frame",
        "",
    ] {
        assert_eq!(negotiate(bad), None, "{bad}");
    }
    // The first acceptable offer wins.
    let p = negotiate(
        "foo, permessage-deflate; bogus, permessage-deflate; client_no_context_takeover, \
         permessage-deflate",
    )
    .unwrap();
    assert!(p.client_no_context_takeover);
}
