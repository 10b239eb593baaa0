//! permessage-deflate (RFC 7692): negotiation, and per-message compression
//! and decompression with raw DEFLATE.
//!
//! Negotiation takes the first `permessage-deflate` offer whose parameters
//! are all known, valid and not repeated (§7.1; a bad offer is declined and
//! the next one tried):
//! - `server_no_context_takeover`: honoured (our compressor is reset after
//!   each message) and echoed.
//! - `client_no_context_takeover`: echoed; our inflater is then reset after
//!   each message.
//! - `server_max_window_bits=N`: echoed. The backend (miniz_oxide) always
//!   uses a 32 KiB window, so for N < 15 we also answer
//!   `server_no_context_takeover` (allowed by §7.1.1.1) and compress only
//!   messages of at most 2^N bytes, whose back-references cannot reach
//!   further than 2^N - 1 bytes; longer messages are sent uncompressed
//!   (§6: a message need not be compressed).
//! - `client_max_window_bits[=N]`: accepted and never answered (§7.1.2.2
//!   lets us omit it); our inflater decodes any window up to 32 KiB.

use super::extensions::Extension;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The empty stored block that ends a sync flush, stripped from every
/// compressed message on the wire (§7.2.1) and added back before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflater output is grown geometrically from this size.
const CHUNK: usize = 16 * 1024;

/// Most output the backend produces in one step: miniz_oxide inflates into
/// its 32 KiB window, then copies out what fits. When a step fails, the part
/// of its output that did not fit is lost.
const STEP: usize = 32 * 1024;

/// What was agreed for permessage-deflate, from the server's side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeflateParams {
    /// We reset our compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The window the client allowed us (8..=15), echoed in the response.
    pub server_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// Picks the first acceptable `permessage-deflate` offer, if any.
    pub fn negotiate(offers: &[Extension]) -> Option<DeflateParams> {
        offers
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case("permessage-deflate"))
            .find_map(accept_offer)
    }

    /// The `Sec-WebSocket-Extensions` response value.
    pub fn response_value(&self) -> String {
        let mut s = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            s.push_str("; server_max_window_bits=");
            s.push_str(&bits.to_string());
        }
        s
    }

    /// Largest message we may compress: `None` for no limit (32 KiB window
    /// allowed), else 2^N for a smaller `server_max_window_bits`.
    pub(crate) fn compress_limit(&self) -> Option<usize> {
        match self.server_max_window_bits {
            Some(bits) if bits < 15 => Some(1usize << bits),
            _ => None,
        }
    }
}

/// One offer's parameters checked and turned into our answer; `None`
/// declines it.
fn accept_offer(ext: &Extension) -> Option<DeflateParams> {
    let mut params = DeflateParams::default();
    let mut client_max_window_bits = false;
    for (name, value) in &ext.params {
        let name = name.to_ascii_lowercase();
        match (name.as_str(), value.as_deref()) {
            ("server_no_context_takeover", None) if !params.server_no_context_takeover => {
                params.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !params.client_no_context_takeover => {
                params.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) if params.server_max_window_bits.is_none() => {
                params.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", v) if !client_max_window_bits => {
                if let Some(v) = v {
                    window_bits(v)?;
                }
                client_max_window_bits = true;
            }
            // Unknown, repeated, or with a value where none belongs (or
            // the reverse): decline this offer.
            _ => return None,
        }
    }
    if params.compress_limit().is_some() {
        params.server_no_context_takeover = true;
    }
    Some(params)
}

/// `8` to `15`, written without leading zeros (§7.1.2.1).
fn window_bits(v: &str) -> Option<u8> {
    match v {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => v.parse().ok(),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// Output would pass the message size limit (1009).
    TooBig,
    /// Not valid DEFLATE data (1007).
    Corrupt,
}

/// The peer's messages, decompressed as their frames arrive.
pub(crate) struct Inflater {
    z: Decompress,
    /// Reset after each message (client_no_context_takeover).
    reset_each: bool,
    /// The message's data had a final block: the rest of its input (the
    /// remains of the empty stored block, §7.2.3.4) is ignored, and the
    /// inflater restarts with the next message.
    ended: bool,
}

impl Inflater {
    pub fn new(reset_each: bool) -> Self {
        Inflater {
            z: Decompress::new(false),
            reset_each,
            ended: false,
        }
    }

    /// Inflates one piece of a message's payload onto `out`, never letting
    /// `out` grow past `max + 1` bytes.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), InflateError> {
        if self.ended {
            return Ok(());
        }
        loop {
            let room = max.saturating_add(1).saturating_sub(out.len());
            if room == 0 {
                return Err(InflateError::TooBig);
            }
            if out.len() == out.capacity() {
                // Exact, geometric growth: capacity stays within max + 1.
                // Within a step of the limit, straight to it: then output
                // lost to a failing step cannot hide that the limit was
                // passed (see below).
                let mut grow = room.min(out.len().max(CHUNK));
                if room - grow <= STEP {
                    grow = room;
                }
                out.reserve_exact(grow);
            }
            let before_in = self.z.total_in();
            let before_out = out.len();
            let status = match self.z.decompress_vec(input, out, FlushDecompress::None) {
                Ok(status) => status,
                // Output inflated before the bad data comes first in the
                // stream: past the limit it is "too big", as it would be
                // had the input come in smaller pieces.
                Err(_) if out.len() > max => return Err(InflateError::TooBig),
                Err(_) => return Err(InflateError::Corrupt),
            };
            let used = usize::try_from(self.z.total_in() - before_in).unwrap_or(usize::MAX);
            input = input.get(used..).unwrap_or(&[]);
            if out.len() > max {
                return Err(InflateError::TooBig);
            }
            if status == Status::StreamEnd {
                self.ended = true;
                return Ok(());
            }
            if out.len() < out.capacity() {
                // Output was not the limit: the inflater took what it could.
                if input.is_empty() {
                    return Ok(());
                }
                if used == 0 && out.len() == before_out {
                    return Err(InflateError::Corrupt);
                }
            }
        }
    }

    /// Ends a message: inflates the stripped tail, and resets if needed.
    pub fn finish(&mut self, out: &mut Vec<u8>, max: usize) -> Result<(), InflateError> {
        let result = self.feed(&TAIL, out, max);
        if self.ended || self.reset_each || result.is_err() {
            self.z.reset(false);
        }
        self.ended = false;
        result
    }
}

/// Our messages, compressed one at a time.
pub(crate) struct Deflater {
    z: Compress,
    reset_each: bool,
}

impl Deflater {
    pub fn new(level: u32, reset_each: bool) -> Self {
        Deflater {
            z: Compress::new(Compression::new(level.min(9)), false),
            reset_each,
        }
    }

    /// Appends `input` compressed (sync flush, tail stripped) to `out`.
    /// Returns false, with `out` as it was, if the backend failed: the
    /// message is then sent uncompressed.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let in_start = self.z.total_in();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(input.len() / 2 + 64);
            }
            let consumed = usize::try_from(self.z.total_in() - in_start).unwrap_or(usize::MAX);
            let before_out = out.len();
            let rest = input.get(consumed..).unwrap_or(&[]);
            if self.z.compress_vec(rest, out, FlushCompress::Sync).is_err() {
                break;
            }
            let now = usize::try_from(self.z.total_in() - in_start).unwrap_or(usize::MAX);
            if now >= input.len() && out.len() < out.capacity() {
                // All input taken and room left: the flush is complete.
                if out[start..].ends_with(&TAIL) {
                    out.truncate(out.len() - TAIL.len());
                    if self.reset_each {
                        self.z.reset();
                    }
                    return true;
                }
                break;
            }
            if now == consumed && out.len() == before_out {
                break; // no progress: give up rather than spin
            }
        }
        out.truncate(start);
        self.z.reset();
        false
    }
}
