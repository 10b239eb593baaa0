//! Fuzzing support, shared by the seeded no-panic tests (`Rng`,
//! `Mutations`) and the cargo-fuzz targets in `fuzz/` (the drivers below).
//!
//! The drivers live here rather than in `fuzz/` so that a crashing input
//! found by cargo-fuzz replays on stable in the normal suite (`cargo test
//! --lib`): each regression test calls the same driver with the same bytes.
//! The module is compiled for tests and with the cargo feature `fuzzing`
//! (which `fuzz/Cargo.toml` turns on); without that feature the crate's
//! public API is unchanged.
//!
//! Every driver takes the fuzzer's bytes as `[options..., n, sizes[n]...,
//! stream...]` (see [`Input`]): option bytes pick limits and behaviour, the
//! sizes say where the stream is split into the pieces the protocol is fed,
//! so that the fuzzer chooses both the bytes and the read boundaries.
//! Each driver panics when an invariant breaks; that is what the fuzzer
//! reports as a crash.

pub mod chunked;
pub mod http1;
pub mod ws;

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
pub struct Rng(pub u64);

impl Rng {
    #[allow(clippy::should_implement_trait)] // not an iterator: it never ends
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What mutations draw on: bytes that matter to the parser under test, and
/// whole pieces (field lines, frames) worth splicing in.
pub struct Mutations<'a> {
    pub special: &'a [u8],
    pub splices: &'a [&'a [u8]],
}

impl Mutations<'_> {
    /// One to five random edits of `input`.
    pub fn apply(&self, rng: &mut Rng, input: &mut Vec<u8>) {
        for _ in 0..=rng.below(4) {
            let at = rng.below(input.len() + 1);
            match rng.below(7) {
                0 if !input.is_empty() => {
                    let i = at.min(input.len() - 1);
                    input[i] = rng.next() as u8;
                }
                1 if !input.is_empty() => {
                    let i = at.min(input.len() - 1);
                    input[i] = self.special[rng.below(self.special.len())];
                }
                2 if !input.is_empty() => {
                    let i = at.min(input.len() - 1);
                    input[i] ^= 1 << rng.below(8);
                }
                3 => input.insert(at, self.special[rng.below(self.special.len())]),
                4 if !input.is_empty() => {
                    let end = (at + rng.below(8)).min(input.len());
                    input.drain(at.min(end)..end);
                }
                5 if !self.splices.is_empty() => {
                    let s = self.splices[rng.below(self.splices.len())];
                    input.splice(at..at, s.iter().copied());
                }
                _ => {
                    // Duplicate a slice: repeated fields, pipelining, long lines.
                    let start = rng.below(input.len() + 1);
                    let end = (start + rng.below(64)).min(input.len());
                    let copy = input[start..end].to_vec();
                    input.splice(at..at, copy);
                }
            }
        }
    }
}

/// A cursor over a fuzz input: option bytes, length-prefixed sections, and
/// the rest. Reading past the end gives zeros and empty slices, so every
/// input is valid.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A section: one length byte (taken modulo `max + 1`), then that many
    /// bytes (fewer if the input ends).
    pub fn section(&mut self, max: usize) -> &'a [u8] {
        let n = (self.byte() as usize % (max + 1)).min(self.data.len());
        let (section, rest) = self.data.split_at(n);
        self.data = rest;
        section
    }

    /// Everything not read yet.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Where a stream is cut: piece `i` has `sizes[i % n] + 1` bytes; no sizes
/// means the whole stream at once.
pub struct Splitter<'a> {
    sizes: &'a [u8],
    next: usize,
}

impl<'a> Splitter<'a> {
    pub fn new(sizes: &'a [u8]) -> Self {
        Splitter { sizes, next: 0 }
    }

    /// The length of the next piece when `left` bytes remain.
    pub fn next_len(&mut self, left: usize) -> usize {
        if self.sizes.is_empty() {
            return left;
        }
        let n = usize::from(self.sizes[self.next % self.sizes.len()]) + 1;
        self.next += 1;
        n.min(left)
    }
}
