//! Byte-level tests of framing and the connection state machine. Every
//! input goes through `transcript_with`, which also feeds it one byte and
//! seven bytes at a time and requires the same events and output.

use super::support::*;
use crate::ws::*;

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

fn err(code: u16) -> Vec<Ev> {
    vec![Ev::Error(code), Ev::Closed]
}

/// The close frame we send for `code` (reason included), parsed.
fn sent_close_code(output: &[u8]) -> Option<u16> {
    let frames = server_frames(output);
    let (b0, payload) = frames.last()?;
    assert_eq!(*b0, 0x88);
    Some(u16::from_be_bytes([payload[0], payload[1]]))
}

fn failure(input: &[u8]) -> (u16, u16) {
    let t = transcript_with(&WsConfig::default(), input, false);
    let [Ev::Error(code), Ev::Closed] = t.events[..] else {
        panic!("expected an error: {:?}", t.events)
    };
    (code, sent_close_code(&t.output).expect("a close frame"))
}

// ---------------------------------------------------------------- messages

#[test]
fn rfc6455_masked_hello() {
    // RFC 6455 §5.7: a single-frame masked text message.
    let input = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(frame(TEXT, b"Hello"), input);
    let t = transcript_with(&WsConfig::default(), &input, false);
    assert_eq!(t.events, vec![text("Hello")]);
    assert!(t.output.is_empty());
}

#[test]
fn lengths_7_16_and_64_bit() {
    for len in [0, 1, 125, 126, 127, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let t = run(
            &WsConfig::default(),
            &frame(BINARY, &payload),
            usize::MAX,
            false,
        );
        assert_eq!(t.events, vec![Ev::Binary(payload.clone())], "len {len}");
        let t = run(&WsConfig::default(), &frame(BINARY, &payload), 1000, false);
        assert_eq!(t.events, vec![Ev::Binary(payload)], "len {len}");
    }
    assert_eq!(events(&frame(TEXT, b"")), vec![text("")]);
}

#[test]
fn non_minimal_length_is_accepted() {
    // "Hi" with a 16-bit length.
    let mut f = vec![0x81, 0x80 | 126, 0, 2];
    f.extend_from_slice(&MASK);
    f.extend([b'H' ^ MASK[0], b'i' ^ MASK[1]]);
    assert_eq!(events(&f), vec![text("Hi")]);
}

#[test]
fn several_messages_in_one_read() {
    let input = cat(&[
        &frame(TEXT, b"a"),
        &frame(BINARY, b"b"),
        &frame(TEXT, "é".as_bytes()),
    ]);
    assert_eq!(
        events(&input),
        vec![text("a"), Ev::Binary(b"b".to_vec()), text("é")]
    );
}

#[test]
fn fragmented_text() {
    // RFC 6455 §5.7's fragmented "Hello", masked.
    let input = cat(&[&raw_frame(0x01, b"Hel"), &raw_frame(0x80, b"lo")]);
    assert_eq!(events(&input), vec![text("Hello")]);
    // Three fragments, empty ones included.
    let input = cat(&[
        &raw_frame(0x02, b""),
        &raw_frame(0x00, b"ab"),
        &raw_frame(0x00, b""),
        &raw_frame(0x80, b"c"),
    ]);
    assert_eq!(events(&input), vec![Ev::Binary(b"abc".to_vec())]);
}

#[test]
fn text_split_inside_characters() {
    let s = "aé€😀z";
    let bytes = s.as_bytes();
    for cut1 in 0..=bytes.len() {
        for cut2 in cut1..=bytes.len() {
            let input = cat(&[
                &raw_frame(0x01, &bytes[..cut1]),
                &raw_frame(0x00, &bytes[cut1..cut2]),
                &raw_frame(0x80, &bytes[cut2..]),
            ]);
            assert_eq!(events(&input), vec![text(s)], "cuts {cut1} {cut2}");
        }
    }
}

#[test]
fn control_frames_inside_a_fragmented_message() {
    let input = cat(&[
        &raw_frame(0x01, b"Hel"),
        &frame(PING, b"p1"),
        &raw_frame(0x00, b"l"),
        &frame(PONG, b"q"),
        &frame(PING, b""),
        &raw_frame(0x80, b"o"),
    ]);
    let t = transcript_with(&WsConfig::default(), &input, false);
    assert_eq!(
        t.events,
        vec![
            Ev::Ping(b"p1".to_vec()),
            Ev::Pong(b"q".to_vec()),
            Ev::Ping(vec![]),
            text("Hello")
        ]
    );
    assert_eq!(
        server_frames(&t.output),
        vec![(0x8a, b"p1".to_vec()), (0x8a, vec![])]
    );
}

#[test]
fn ping_is_answered_with_the_same_payload() {
    let payload = [7u8; 125];
    let t = transcript_with(&WsConfig::default(), &frame(PING, &payload), false);
    assert_eq!(t.events, vec![Ev::Ping(payload.to_vec())]);
    assert_eq!(server_frames(&t.output), vec![(0x8a, payload.to_vec())]);
}

// ---------------------------------------------------------------- close

#[test]
fn peer_starts_the_close() {
    let input = cat(&[
        &frame(CLOSE, &close_payload(1000, "bye")),
        &frame(TEXT, b"late"),
    ]);
    let t = transcript_with(&WsConfig::default(), &input, false);
    assert_eq!(
        t.events,
        vec![Ev::Close(Some(1000), "bye".into()), Ev::Closed]
    );
    // Echoes the code, without the reason.
    assert_eq!(t.output, [0x88, 0x02, 0x03, 0xe8]);
}

#[test]
fn empty_close_is_answered_empty() {
    let t = transcript_with(&WsConfig::default(), &frame(CLOSE, b""), false);
    assert_eq!(t.events, vec![Ev::Close(None, String::new()), Ev::Closed]);
    assert_eq!(t.output, [0x88, 0x00]);
}

#[test]
fn close_codes() {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
        4999,
    ] {
        let t = transcript_with(
            &WsConfig::default(),
            &frame(CLOSE, &close_payload(code, "")),
            false,
        );
        assert_eq!(
            t.events,
            vec![Ev::Close(Some(code), String::new()), Ev::Closed],
            "{code}"
        );
        assert_eq!(sent_close_code(&t.output), Some(code));
    }
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        assert_eq!(
            failure(&frame(CLOSE, &close_payload(code, ""))),
            (1002, 1002),
            "{code}"
        );
    }
    assert_eq!(failure(&frame(CLOSE, b"\x03")), (1002, 1002));
    let mut bad_reason = close_payload(1000, "ok");
    bad_reason.extend_from_slice(b"\xff");
    assert_eq!(failure(&frame(CLOSE, &bad_reason)), (1007, 1007));
    // A reason split by the payload limit is still checked whole.
    let mut split = close_payload(1000, &"a".repeat(121));
    split.extend_from_slice("é".as_bytes());
    assert_eq!(split.len(), 125);
    let t = transcript_with(&WsConfig::default(), &frame(CLOSE, &split), false);
    assert!(matches!(&t.events[0], Ev::Close(Some(1000), r) if r.ends_with('é')));
}

#[test]
fn we_start_the_close() {
    let mut c = WsConn::new(WsConfig::default());
    let mut out = Vec::new();
    c.send_close(1001, "going away", &mut out).unwrap();
    assert!(c.close_sent() && !c.is_closed());
    assert_eq!(
        server_frames(&out),
        vec![(0x88, close_payload(1001, "going away"))]
    );
    out.clear();
    // Data is dropped (even a fragmented or oversized one), pings are
    // reported but not answered, the peer's close ends it.
    let input = cat(&[
        &frame(TEXT, b"dropped"),
        &raw_frame(0x01, b"frag"),
        &frame(PING, b"p"),
        &raw_frame(0x80, b"ment"),
        &frame(CLOSE, &close_payload(1000, "")),
    ]);
    c.recv_buf().extend_from_slice(&input);
    assert_eq!(
        c.next_event(&mut out),
        WsEvent::Ping(bytes::Bytes::from_static(b"p"))
    );
    assert_eq!(
        c.next_event(&mut out),
        WsEvent::Close {
            code: Some(1000),
            reason: String::new()
        }
    );
    assert!(c.is_closed());
    assert_eq!(c.next_event(&mut out), WsEvent::Closed);
    assert!(out.is_empty());
    assert!(c.send_text("x", &mut out).is_err());
    assert!(c.send_close(1000, "", &mut out).is_err());
}

#[test]
fn close_sent_while_a_message_is_in_progress_drops_it() {
    let mut c = WsConn::new(WsConfig::default());
    let mut out = Vec::new();
    c.recv_buf().extend_from_slice(&raw_frame(0x01, b"par"));
    assert_eq!(c.next_event(&mut out), WsEvent::NeedData);
    c.send_close(1000, "", &mut out).unwrap();
    c.recv_buf().extend_from_slice(&raw_frame(0x80, b"t"));
    c.recv_buf().extend_from_slice(&frame(CLOSE, b""));
    assert_eq!(
        c.next_event(&mut out),
        WsEvent::Close {
            code: None,
            reason: String::new()
        }
    );
}

#[test]
fn frame_rules_still_apply_while_closing() {
    let mut c = WsConn::new(WsConfig::default());
    let mut out = Vec::new();
    c.send_close(1000, "", &mut out).unwrap();
    out.clear();
    c.recv_buf().extend_from_slice(&unmasked(0x81, b"x"));
    assert!(matches!(
        c.next_event(&mut out),
        WsEvent::Error {
            close_code: 1002,
            ..
        }
    ));
    assert!(out.is_empty(), "no second close frame");
}

#[test]
fn send_close_checks_code_and_truncates_reason() {
    let mut out = Vec::new();
    let mut c = WsConn::new(WsConfig::default());
    for code in [0, 1005, 1006, 1015, 2000, 5000] {
        assert!(c.send_close(code, "", &mut out).is_err());
    }
    assert!(out.is_empty() && !c.close_sent());
    // 122 ASCII bytes then a 2-byte char: 124 > 123, cut before it.
    let reason = format!("{}é", "r".repeat(122));
    c.send_close(4000, &reason, &mut out).unwrap();
    let frames = server_frames(&out);
    assert_eq!(frames[0].1.len(), 2 + 122);
    let fits = format!("{}é", "r".repeat(121));
    let mut c = WsConn::new(WsConfig::default());
    out.clear();
    c.send_close(4000, &fits, &mut out).unwrap();
    assert_eq!(server_frames(&out)[0].1.len(), 125);
}

#[test]
fn end_of_input() {
    let cfg = WsConfig::default();
    // Between frames, inside a header, inside a payload, inside a fragmented message.
    for input in [
        vec![],
        frame(TEXT, b"hi")[..1].to_vec(),
        frame(TEXT, b"hello")[..8].to_vec(),
        raw_frame(0x01, b"he"),
    ] {
        let t = transcript_with(&cfg, &input, true);
        assert_eq!(t.events, err(1006), "{input:?}");
        assert!(t.output.is_empty(), "1006 is never sent");
    }
    let t = transcript_with(&cfg, &frame(TEXT, b"hi"), true);
    assert_eq!(t.events, vec![text("hi"), Ev::Error(1006), Ev::Closed]);
    // After the close handshake, end of input changes nothing.
    let t = transcript_with(&cfg, &frame(CLOSE, b""), true);
    assert_eq!(t.events, vec![Ev::Close(None, String::new()), Ev::Closed]);
}

// ---------------------------------------------------------------- rule breaking

#[test]
fn unmasked_client_frame() {
    assert_eq!(failure(&unmasked(0x81, b"Hello")), (1002, 1002));
    assert_eq!(failure(&unmasked(0x89, b"")), (1002, 1002));
}

#[test]
fn reserved_bits() {
    for b0 in [0xC1, 0xA1, 0x91, 0xC9, 0xC0] {
        assert_eq!(failure(&raw_frame(b0, b"x")), (1002, 1002), "{b0:#x}");
    }
}

#[test]
fn reserved_opcodes() {
    for op in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(failure(&frame(op, b"")), (1002, 1002), "{op}");
        // Decided on the first byte: no need to wait for the rest.
        let t = run(&WsConfig::default(), &[0x80 | op], 1, false);
        assert_eq!(t.events, err(1002));
    }
}

#[test]
fn control_frame_limits() {
    assert_eq!(failure(&frame(PING, &[0; 126])), (1002, 1002));
    assert_eq!(failure(&frame(CLOSE, &[0; 126])), (1002, 1002));
    // Fragmented control frames.
    assert_eq!(failure(&raw_frame(0x09, b"")), (1002, 1002));
    assert_eq!(failure(&raw_frame(0x08, b"")), (1002, 1002));
    assert_eq!(failure(&raw_frame(0x0A, b"")), (1002, 1002));
}

#[test]
fn fragmentation_sequence() {
    assert_eq!(failure(&raw_frame(0x80, b"x")), (1002, 1002));
    assert_eq!(failure(&raw_frame(0x00, b"x")), (1002, 1002));
    let input = cat(&[&raw_frame(0x01, b"a"), &frame(TEXT, b"b")]);
    assert_eq!(failure(&input), (1002, 1002));
    let input = cat(&[&raw_frame(0x02, b"a"), &raw_frame(0x01, b"b")]);
    assert_eq!(failure(&input), (1002, 1002));
    // A completed message does not leave anything to continue.
    let input = cat(&[&frame(TEXT, b"a"), &raw_frame(0x80, b"b")]);
    assert_eq!(events(&input), vec![text("a"), Ev::Error(1002), Ev::Closed]);
}

#[test]
fn length_with_top_bit_set() {
    let mut f = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1];
    f.extend_from_slice(&MASK);
    assert_eq!(failure(&f), (1002, 1002));
}

#[test]
fn invalid_utf8() {
    for bad in [
        &b"\xff"[..],
        b"\xc3\x28",
        b"\xed\xa0\x80",     // surrogate
        b"\xf4\x90\x80\x80", // beyond U+10FFFF
        b"\xc0\xaf",         // overlong
        b"ok\xe2\x82",       // ends inside a character
    ] {
        assert_eq!(failure(&frame(TEXT, bad)), (1007, 1007), "{bad:?}");
    }
    // Binary is not checked.
    assert_eq!(
        events(&frame(BINARY, b"\xff")),
        vec![Ev::Binary(vec![0xff])]
    );
    // A fragmented message ending inside a character.
    let input = cat(&[&raw_frame(0x01, b"a"), &raw_frame(0x80, b"\xe2\x82")]);
    assert_eq!(failure(&input), (1007, 1007));
}

#[test]
fn invalid_utf8_fails_at_its_fragment() {
    // The first fragment is enough: the message never needs to finish.
    let t = transcript_with(&WsConfig::default(), &raw_frame(0x01, b"ok\xff"), false);
    assert_eq!(t.events, err(1007));
    // A sequence that can never be completed fails before the next fragment.
    let t = transcript_with(&WsConfig::default(), &raw_frame(0x01, b"\xf4\x90"), false);
    assert_eq!(t.events, err(1007));
    // A valid prefix of a character waits for more.
    let t = transcript_with(&WsConfig::default(), &raw_frame(0x01, b"\xf0\x9f"), false);
    assert_eq!(t.events, vec![]);
}

#[test]
fn message_size_limit() {
    let cfg = WsConfig {
        max_message_size: 10,
        ..WsConfig::default()
    };
    let t = transcript_with(&cfg, &frame(BINARY, &[1; 10]), false);
    assert_eq!(t.events, vec![Ev::Binary(vec![1; 10])]);
    let t = transcript_with(&cfg, &frame(BINARY, &[1; 11]), false);
    assert_eq!(t.events, err(1009));
    assert_eq!(sent_close_code(&t.output), Some(1009));
    // Decided on the header alone: the payload never needs to arrive.
    let header = &frame(BINARY, &[0; 100_000])[..14];
    let t = transcript_with(&cfg, header, false);
    assert_eq!(t.events, err(1009));
    // Across fragments, before the message ends.
    let input = cat(&[&raw_frame(0x01, b"123456"), &raw_frame(0x00, b"78901")]);
    assert_eq!(transcript_with(&cfg, &input, false).events, err(1009));
    let input = cat(&[&raw_frame(0x01, b"123456"), &raw_frame(0x80, b"7890")]);
    assert_eq!(
        transcript_with(&cfg, &input, false).events,
        vec![text("1234567890")]
    );
}

#[test]
fn dead_connection_stays_dead() {
    let mut c = WsConn::new(WsConfig::default());
    let mut out = Vec::new();
    c.recv_buf().extend_from_slice(&unmasked(0x81, b"x"));
    assert!(matches!(
        c.next_event(&mut out),
        WsEvent::Error {
            close_code: 1002,
            ..
        }
    ));
    for _ in 0..3 {
        assert_eq!(c.next_event(&mut out), WsEvent::Closed);
    }
    out.clear();
    assert!(c.send_text("x", &mut out).is_err());
    assert!(c.send_binary(b"x", &mut out).is_err());
    assert!(c.send_ping(b"", &mut out).is_err());
    assert!(c.send_close(1000, "", &mut out).is_err());
    assert!(out.is_empty());
}

// ---------------------------------------------------------------- sending

#[test]
fn send_framing() {
    let mut c = WsConn::new(WsConfig::default());
    for len in [0usize, 125, 126, 65535, 65536] {
        let mut out = Vec::new();
        let data = vec![b'x'; len];
        c.send_binary(&data, &mut out).unwrap();
        let head_len = match len {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        };
        assert_eq!(out.len(), head_len + len);
        assert_eq!(server_frames(&out), vec![(0x82, data)]);
    }
    let mut out = Vec::new();
    c.send_text("Hello", &mut out).unwrap();
    assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']); // RFC 6455 §5.7
    out.clear();
    c.send_ping(b"Hello", &mut out).unwrap();
    assert_eq!(out, [0x89, 0x05, b'H', b'e', b'l', b'l', b'o']);
    assert!(c.send_ping(&[0; 126], &mut out).is_err());
}

#[test]
fn output_is_appended() {
    let mut c = WsConn::new(WsConfig::default());
    let mut out = b"before".to_vec();
    c.send_text("x", &mut out).unwrap();
    assert_eq!(out, b"before\x81\x01x");
}
