//! Byte mutations of real inputs for the fuzz-style tests (stable Rust, no fuzzing
//! engine): a seeded generator, so a failure names a seed and case that reproduce it.
//!
//! The number of cases is [`cases`]: a bounded count in the suite, more with
//! `LOCKSTEP_MUTATION_CASES` for a deeper run (the ignored `*_deep` tests use
//! [`DEEP_CASES`]).

/// The environment variable that sets the number of mutated inputs per test.
pub const CASES_VAR: &str = "LOCKSTEP_MUTATION_CASES";
/// The cases of an ignored deep run (`cargo test -- --ignored`).
pub const DEEP_CASES: usize = 20_000;

/// The number of mutated inputs a test tries: `LOCKSTEP_MUTATION_CASES`, or `default`.
pub fn cases(default: usize) -> usize {
    std::env::var(CASES_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A seeded source of mutations (SplitMix64: tiny, and the same sequence everywhere).
pub struct Mutator {
    state: u64,
}

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `bound` (which must not be 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    /// `input` changed in one to eight places: bytes flipped, set to boundary values,
    /// inserted, deleted, a range repeated, or the end cut off.
    pub fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..=self.below(8) {
            if out.is_empty() {
                out.push(b'<');
            }
            let at = self.below(out.len());
            match self.below(7) {
                0 => out[at] ^= 1 << self.below(8),
                1 => out[at] = [0x00, 0xFF, 0x7F, 0x80, b'<', b'>', b'"'][self.below(7)],
                2 => out.insert(at, self.next() as u8),
                3 => {
                    let end = (at + 1 + self.below(64)).min(out.len());
                    out.drain(at..end);
                }
                4 => {
                    let end = (at + 1 + self.below(256)).min(out.len());
                    let copy = out[at..end].to_vec();
                    let times = 1 + self.below(4);
                    for _ in 0..times {
                        out.splice(at..at, copy.iter().copied());
                    }
                }
                5 => out.truncate(at),
                _ => {
                    // Four bytes set to a little-endian boundary number (counts, offsets).
                    let value = [0u32, 1, 0x7FFF_FFFF, u32::MAX, 0x10000][self.below(5)];
                    for (i, b) in value.to_le_bytes().iter().enumerate() {
                        if let Some(slot) = out.get_mut(at + i) {
                            *slot = *b;
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_mutations() {
        let input = b"<AppLockerPolicy Version=\"1\"/>";
        let a: Vec<_> = (0..50).map(|_| Mutator::new(7).mutate(input)).collect();
        let b: Vec<_> = (0..50).map(|_| Mutator::new(7).mutate(input)).collect();
        assert_eq!(a, b);
        let mut m = Mutator::new(7);
        let distinct: std::collections::HashSet<_> = (0..50).map(|_| m.mutate(input)).collect();
        assert!(distinct.len() > 40, "{}", distinct.len());
    }
}
