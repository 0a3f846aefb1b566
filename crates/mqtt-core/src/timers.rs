//! Deadlines as data. Each entry says *when to look again* at a connection or session; the
//! broker re-checks the real state when an entry fires, so entries are never wrong, at worst
//! early (a keep-alive entry is not moved on every packet: it is re-armed when it fires).

use std::collections::BTreeSet;
use std::time::Instant;

use crate::conn::SessionKey;
use crate::event::ConnId;

/// What to look at when a deadline passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// CONNECT not received in time / keep alive of a connection.
    Conn(ConnId),
    /// Delayed will of a detached session.
    Will(SessionKey),
    /// Expiry of a detached session.
    SessionExpiry(SessionKey),
}

/// An ordered set of `(deadline, timer)`.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    entries: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    /// Schedules `timer` at `at`.
    pub(crate) fn set(&mut self, at: Instant, timer: Timer) {
        self.entries.insert((at, timer));
    }

    /// Removes a scheduled entry, if present.
    pub(crate) fn cancel(&mut self, at: Instant, timer: Timer) {
        self.entries.remove(&(at, timer));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.entries.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest entry due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        let first = *self.entries.first()?;
        if first.0 > now {
            return None;
        }
        self.entries.remove(&first);
        Some(first)
    }
}
