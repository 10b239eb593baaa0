//! Shared by the protocols' no-panic tests: a tiny deterministic random
//! source and one set of byte-level mutations.

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
pub struct Rng(pub u64);

impl Rng {
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
