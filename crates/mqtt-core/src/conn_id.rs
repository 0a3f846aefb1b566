//! [`ConnId`], the runtime's name for one network connection. Apart from `event` (which
//! re-exports it) so that what shards tell each other (`shard_item`) can name a connection
//! without depending on the whole vocabulary between core and runtime.

/// Identifies one network connection. Chosen by the runtime, never reused while the process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);
