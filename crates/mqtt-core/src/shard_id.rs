//! Shard identity: which shard a broker is ([`ShardId`]) and which shard owns a client id
//! ([`shard_of`]). Plain data and a pure function with no dependency, apart from the rest of
//! `shard` so that messages and the persistence files can use them without depending on the
//! broker's vocabulary.

/// Which shard a broker is, out of how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardId {
    /// This shard's index, below `count`.
    pub index: usize,
    /// How many shards the process runs (at least 1).
    pub count: usize,
}

impl ShardId {
    /// The only shard of an unsharded broker: 0 of 1.
    pub const SINGLE: Self = Self { index: 0, count: 1 };

    /// The most shards a broker may have: each shard keeps the set of shards a message must go
    /// to in one `u64`.
    pub const MAX: usize = 64;
}

/// A set of shards, one bit each (shard indices below [`ShardId::MAX`]).
pub(crate) type ShardSet = u64;

/// The set holding only `shard` (empty for a shard past [`ShardId::MAX`]).
pub(crate) fn shard_bit(shard: usize) -> ShardSet {
    u32::try_from(shard).ok().and_then(|shard| 1u64.checked_shl(shard)).unwrap_or(0)
}

/// FNV-1a 64's offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64's prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The shard, out of `count`, that owns the session of `client_id`: FNV-1a 64 of its UTF-8
/// bytes, modulo `count` (0 when `count` is 0 or 1).
///
/// Stable: the same id maps to the same shard on every run and in every version, since a
/// journal kept per shard will depend on it. Changing it is a change of file format.
#[must_use]
pub fn shard_of(client_id: &str, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    let hash = client_id
        .bytes()
        .fold(FNV_OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME));
    // The remainder is below `count`, a usize: the conversion back cannot truncate.
    (hash % count as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_of_is_fnv1a_64_and_stable() {
        // FNV-1a 64 test vectors: "" → cbf29ce484222325, "a" → af63dc4c8601ec8c.
        assert_eq!(shard_of("", 1 << 20), (0xcbf2_9ce4_8422_2325_u64 % (1 << 20)) as usize);
        assert_eq!(shard_of("a", 1000), (0xaf63_dc4c_8601_ec8c_u64 % 1000) as usize);
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("anything", 0), 0);
        // Pinned: a later journal depends on these.
        assert_eq!(["sensor", "pub", "sub", "c1"].map(|id| shard_of(id, 4)), [3, 0, 1, 1]);
    }
}
