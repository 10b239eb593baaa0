//! Frame headers (RFC 6455 §5.2): parsing a client's, writing ours, masking,
//! and the close-code registry.

pub(crate) const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// Largest payload of a control frame (RFC 6455 §5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// A client frame's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub fin: bool,
    /// RSV1: "this message is compressed" (only ever set on the first frame
    /// of a data message, and only when deflate was negotiated).
    pub compressed: bool,
    pub opcode: u8,
    pub mask: [u8; 4],
    pub len: u64,
    /// Bytes of the header itself (2 to 14).
    pub header_len: usize,
}

impl FrameHead {
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Parses the client frame header at the start of `buf`: `Ok(None)` while
/// it is incomplete, `Err(reason)` for a frame that breaks a per-frame rule
/// (close code 1002). Rules that depend only on the first two bytes are
/// checked as soon as those arrive, so the result does not depend on how the
/// input was split.
pub(crate) fn parse_head(buf: &[u8], deflate: bool) -> Result<Option<FrameHead>, &'static str> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let rsv1 = b0 & 0x40 != 0;
    let opcode = b0 & 0x0F;
    if b0 & 0x30 != 0 {
        return Err("reserved bits RSV2/RSV3 set");
    }
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => {}
        _ => return Err("reserved opcode"),
    }
    let control = opcode & 0x8 != 0;
    if rsv1 && !(deflate && (opcode == OP_TEXT || opcode == OP_BINARY)) {
        return Err(if !deflate {
            "reserved bit RSV1 set without permessage-deflate"
        } else {
            "RSV1 set on a control or continuation frame"
        });
    }
    if control && !fin {
        return Err("fragmented control frame");
    }
    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    if b1 & 0x80 == 0 {
        return Err("client frame not masked");
    }
    let len7 = b1 & 0x7F;
    if control && usize::from(len7) > MAX_CONTROL_PAYLOAD {
        return Err("control frame payload over 125 bytes");
    }
    let (len, len_bytes) = match len7 {
        126 => (
            buf.get(2..4)
                .map(|b| u64::from(u16::from_be_bytes([b[0], b[1]]))),
            2,
        ),
        127 => (
            buf.get(2..10).map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_be_bytes(a)
            }),
            8,
        ),
        n => (Some(u64::from(n)), 0),
    };
    let Some(len) = len else {
        return Ok(None);
    };
    if len >> 63 != 0 {
        return Err("frame length with the most significant bit set");
    }
    let header_len = 2 + len_bytes + 4;
    let Some(m) = buf.get(2 + len_bytes..header_len) else {
        return Ok(None);
    };
    Ok(Some(FrameHead {
        fin,
        compressed: rsv1,
        opcode,
        mask: [m[0], m[1], m[2], m[3]],
        len,
        header_len,
    }))
}

/// XORs `data` with `mask`, `offset` being the position of `data[0]` in the
/// frame's payload. Eight bytes at a time.
pub(crate) fn unmask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let m = [
        mask[offset % 4],
        mask[(offset + 1) % 4],
        mask[(offset + 2) % 4],
        mask[(offset + 3) % 4],
    ];
    let wide = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // chunks of 8 keep the mask phase, so the tail starts at phase 0.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

/// Appends an unmasked (server) frame header.
pub(crate) fn write_head(out: &mut Vec<u8>, compressed: bool, opcode: u8, len: usize) {
    let (head, n) = head_bytes(compressed, opcode, len);
    out.extend_from_slice(&head[..n]);
}

/// The header length for a payload of `len` bytes.
pub(crate) fn head_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// A final frame's header (FIN set, never masked), in a 10-byte array of
/// which the first `head_len(len)` bytes count.
pub(crate) fn head_bytes(compressed: bool, opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | if compressed { 0x40 } else { 0 } | (opcode & 0x0F);
    match len {
        0..=125 => h[1] = len as u8,
        126..=0xFFFF => {
            h[1] = 126;
            h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h[1] = 127;
            h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        }
    }
    (h, head_len(len))
}

/// Whether `code` may appear in a close frame (RFC 6455 §7.4 and the IANA
/// registry): 1000–1003, 1007–1014, 3000–4999. 1005, 1006 and 1015 are
/// reserved for reporting and never sent.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Appends a close frame; `reason` is cut to fit the 125-byte control
/// payload on a character boundary. `code` `None` sends an empty payload.
pub(crate) fn write_close(out: &mut Vec<u8>, code: Option<u16>, reason: &str) {
    let Some(code) = code else {
        write_head(out, false, OP_CLOSE, 0);
        return;
    };
    let reason = truncate_utf8(reason, MAX_CONTROL_PAYLOAD - 2);
    write_head(out, false, OP_CLOSE, 2 + reason.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
}

/// The longest prefix of `s` of at most `max` bytes ending on a char boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
