//! Assigned client ids: `<prefix>` + a UUID-shaped string of 16 pseudo-random bytes, as
//! Mosquitto makes them. The randomness is a SplitMix64 stream seeded by the runtime, so the
//! core stays deterministic for a given seed.

/// Generates assigned client ids.
#[derive(Clone, Debug)]
pub(crate) struct IdGenerator {
    state: u64,
}

impl IdGenerator {
    /// A generator seeded with `seed` (the runtime passes OS randomness).
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        // SplitMix64: tiny, full-period and good enough for unguessable-in-practice ids.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `prefix` + `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` (uppercase hex).
    pub(crate) fn generate(&mut self, prefix: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_uppercase_uuids_after_the_prefix() {
        let mut ids = IdGenerator::new(7);
        let id = ids.generate("auto-");
        let uuid = id.strip_prefix("auto-").expect("prefix kept");
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(id, ids.generate("auto-"), "each id is new");
    }
}
