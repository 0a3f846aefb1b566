//! Assigned client ids: `<prefix>` + a UUID-shaped string of 16 random bytes, as Mosquitto
//! makes them. The bytes come from ChaCha20 used as a cryptographic generator: an attacker who
//! sees any number of assigned ids learns nothing about the next one (so cannot connect with
//! it first and take that client's session over). The runtime seeds it from the OS; tests seed
//! it with a constant, so the core stays deterministic for a given seed.

use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng, SeedableRng};

/// The seed of the assigned-id generator: 32 bytes, from the OS in the broker.
pub type IdSeed = [u8; 32];

/// Generates assigned client ids.
#[derive(Debug)]
pub(crate) struct IdGenerator {
    rng: ChaCha20Rng,
}

impl IdGenerator {
    /// A generator seeded with `seed` (the runtime passes OS randomness).
    pub(crate) fn new(seed: IdSeed) -> Self {
        Self { rng: ChaCha20Rng::from_seed(seed) }
    }

    /// `prefix` + `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` (uppercase hex).
    pub(crate) fn generate(&mut self, prefix: &str) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        format_id(prefix, &bytes)
    }
}

/// `prefix` followed by `bytes` in hex, grouped 8-4-4-4-12 like a UUID.
fn format_id(prefix: &str, bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut id = String::with_capacity(prefix.len() + 36);
    id.push_str(prefix);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0F)]));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_uppercase_uuids_after_the_prefix() {
        let mut ids = IdGenerator::new([7; 32]);
        let id = ids.generate("auto-");
        let uuid = id.strip_prefix("auto-").expect("prefix kept");
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(id, ids.generate("auto-"), "each id is new");
    }

    #[test]
    fn the_same_seed_gives_the_same_ids_and_another_seed_others() {
        let first: Vec<String> = {
            let mut ids = IdGenerator::new([1; 32]);
            (0..3).map(|_| ids.generate("p")).collect()
        };
        let mut again = IdGenerator::new([1; 32]);
        assert_eq!(first, (0..3).map(|_| again.generate("p")).collect::<Vec<_>>());
        assert_ne!(first[0], IdGenerator::new([2; 32]).generate("p"));
    }

    /// The generator culex used before: SplitMix64, whose output function is a bijection of its
    /// state. Kept here only to show the attack below works on it.
    struct SplitMix64(u64);

    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    impl SplitMix64 {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(GAMMA);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn generate(&mut self, prefix: &str) -> String {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
            bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
            format_id(prefix, &bytes)
        }
    }

    /// Undoes `z ^ (z >> shift)`.
    fn unxorshift(z: u64, shift: u32) -> u64 {
        let mut x = z;
        for _ in 0..(64 / shift) {
            x = z ^ (x >> shift);
        }
        x
    }

    /// The inverse of an odd number modulo 2^64 (Newton's iteration).
    fn inverse(a: u64) -> u64 {
        let mut x = a;
        for _ in 0..6 {
            x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        }
        x
    }

    /// The attack: read the first 8 bytes of one observed id, invert SplitMix64's output
    /// function to get its state, and compute the id assigned next.
    fn predict_next_id(prefix: &str, observed: &str) -> String {
        let hex: String = observed[prefix.len()..].chars().filter(|&c| c != '-').collect();
        let byte = |i: usize| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
        let first = u64::from_le_bytes(std::array::from_fn(byte));
        let mut z = unxorshift(first, 31);
        z = unxorshift(z.wrapping_mul(inverse(0x94D0_49BB_1331_11EB)), 27);
        z = unxorshift(z.wrapping_mul(inverse(0xBF58_476D_1CE4_E5B9)), 30);
        // `z` is the state that produced the first half; one more step gave the second.
        SplitMix64(z.wrapping_add(GAMMA)).generate(prefix)
    }

    #[test]
    fn one_assigned_id_predicts_the_next_with_splitmix64_but_not_with_chacha20() {
        let mut old = SplitMix64(0x0123_4567_89AB_CDEF);
        let seen = old.generate("auto-");
        assert_eq!(predict_next_id("auto-", &seen), old.generate("auto-"), "the old hole");

        let mut new = IdGenerator::new([0x5A; 32]);
        for _ in 0..100 {
            let seen = new.generate("auto-");
            assert_ne!(predict_next_id("auto-", &seen), new.generate("auto-"));
        }
    }
}
