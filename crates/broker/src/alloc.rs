//! The `culex` binary's global allocator: the system allocator (glibc's malloc), except for
//! blocks of at most 256 bytes aligned to 128, which come from a pool of slots.
//!
//! tokio aligns every task and every socket's `ScheduledIo` to 128 bytes (cache-line
//! padding): 256 bytes each, two for every connection. glibc serves such a request by
//! carving an aligned chunk out of a larger one (the size, plus the alignment, plus 32 bytes)
//! and leaves the rest beside it as free fragments that other allocations fill only in part:
//! about 85 bytes of every idle connection's resident memory went there (docs/benchmarks.md,
//! "Idle connection memory"). The pool cuts 256-byte slots out of 64 KiB regions aligned to
//! 128 bytes: no header, no fragments. A freed slot goes on a free list for the next request
//! and is not returned to the system (as glibc keeps most of its heap after a peak of
//! connections).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The size of a pooled slot.
const SLOT: usize = 256;
/// The alignment the pool serves (any other goes to the system allocator).
const ALIGN: usize = 128;
/// The memory the pool takes from the system at a time: 256 slots.
const REGION: usize = 64 * 1024;

/// The global allocator (`#[global_allocator]` in `main.rs`).
#[derive(Debug)]
pub struct Allocator {
    pool: Mutex<Pool>,
}

/// Free slots and the unused rest of the newest region.
#[derive(Debug)]
struct Pool {
    /// The first free slot; each free slot holds the address of the next (null ends it).
    free: *mut u8,
    /// The next slot never handed out, in the newest region (null before the first).
    next: *mut u8,
    /// The end of the newest region.
    end: *mut u8,
}

// SAFETY: the pointers address memory that only the pool hands out, and they are read and
// written only under the allocator's mutex.
#[expect(unsafe_code, reason = "a raw pointer is not Send; the mutex guards these")]
unsafe impl Send for Pool {}

impl Allocator {
    /// An allocator with an empty pool.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            pool: Mutex::new(Pool {
                free: ptr::null_mut(),
                next: ptr::null_mut(),
                end: ptr::null_mut(),
            }),
        }
    }

    /// Whether `layout` is served by the pool.
    fn pooled(layout: Layout) -> bool {
        layout.align() == ALIGN && layout.size() <= SLOT
    }

    /// The pool. Nothing under the lock can panic, so a poisoned lock holds a sound pool.
    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Allocator {
    fn default() -> Self {
        Self::new()
    }
}

impl Pool {
    /// A slot: a free one, or the next one of the newest region, or the first of a new
    /// region; null when the system has no memory for a new region.
    #[expect(unsafe_code, reason = "reads the free list and takes regions from the system")]
    fn take(&mut self) -> *mut u8 {
        if !self.free.is_null() {
            let slot = self.free;
            // SAFETY: a free slot is 128-aligned, at least 256 bytes, and holds the address of
            // the next free slot, written by `give`.
            self.free = unsafe { slot.cast::<*mut u8>().read() };
            return slot;
        }
        if self.next == self.end {
            // SAFETY: the size is not zero; REGION and ALIGN are a valid layout.
            let region = unsafe { System.alloc(Layout::from_size_align_unchecked(REGION, ALIGN)) };
            if region.is_null() {
                return region;
            }
            self.next = region;
            // SAFETY: one past the end of the region just allocated.
            self.end = unsafe { region.add(REGION) };
        }
        let slot = self.next;
        // SAFETY: REGION is a multiple of SLOT, so `next` reaches `end` exactly.
        self.next = unsafe { slot.add(SLOT) };
        slot
    }

    /// Puts a slot that `take` handed out back on the free list.
    #[expect(unsafe_code, reason = "writes the free list's link into the freed slot")]
    fn give(&mut self, slot: *mut u8) {
        // SAFETY: the slot is 128-aligned, 256 bytes, and no longer in use.
        unsafe { slot.cast::<*mut u8>().write(self.free) };
        self.free = slot;
    }
}

// SAFETY: pooled slots are SLOT bytes aligned to ALIGN, which covers every layout `pooled`
// accepts, and each is handed out once until it is given back; everything else is the
// system allocator's.
#[expect(unsafe_code, reason = "a global allocator")]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::pooled(layout) {
            return self.pool().take();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::pooled(layout) {
            let slot = self.pool().take();
            if !slot.is_null() {
                // SAFETY: the slot has room for `layout.size()` bytes.
                unsafe { slot.write_bytes(0, layout.size()) };
            }
            return slot;
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::pooled(layout) {
            self.pool().give(ptr);
        } else {
            // SAFETY: not pooled, so `ptr` came from the system allocator with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees that `new_size`, rounded up to the alignment, does not
        // overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (Self::pooled(layout), Self::pooled(new_layout)) {
            // SAFETY: the caller's contract, passed on.
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            // The slot holds either size.
            (true, true) => ptr,
            _ => {
                // SAFETY: `new_layout` is valid (above) and not zero-sized (the caller's
                // contract).
                let new = unsafe { self.alloc(new_layout) };
                if !new.is_null() {
                    // SAFETY: both blocks hold at least the smaller size and do not overlap;
                    // `ptr` was allocated by this allocator with `layout`.
                    unsafe {
                        ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new
            }
        }
    }
}

#[cfg(test)]
#[expect(unsafe_code, reason = "drives the allocator's unsafe interface")]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn aligned_blocks_come_from_slots_that_are_reused() {
        let allocator = Allocator::new();
        let task = layout(256, 128);
        let slots: Vec<*mut u8> = (0..300).map(|_| unsafe { allocator.alloc(task) }).collect();
        for (n, &slot) in slots.iter().enumerate() {
            assert!(!slot.is_null() && slot as usize % ALIGN == 0);
            unsafe { slot.write_bytes(n as u8, SLOT) };
        }
        // Neighbours in one region, and no slot overlaps another: each kept its own bytes.
        assert_eq!(slots[1] as usize - slots[0] as usize, SLOT);
        for (n, &slot) in slots.iter().enumerate() {
            assert!(
                unsafe { std::slice::from_raw_parts(slot, SLOT) }.iter().all(|&b| b == n as u8)
            );
        }
        unsafe { allocator.dealloc(slots[7], task) };
        unsafe { allocator.dealloc(slots[3], task) };
        assert_eq!(unsafe { allocator.alloc(layout(128, 128)) }, slots[3]);
        let zeroed = unsafe { allocator.alloc_zeroed(task) };
        assert_eq!(zeroed, slots[7]);
        assert!(unsafe { std::slice::from_raw_parts(zeroed, SLOT) }.iter().all(|&b| b == 0));
    }

    #[test]
    fn other_layouts_and_growth_beyond_a_slot_go_to_the_system() {
        let allocator = Allocator::new();
        let plain = unsafe { allocator.alloc(layout(256, 8)) };
        assert!(!plain.is_null());
        unsafe { allocator.dealloc(plain, layout(256, 8)) };
        assert!(allocator.pool().next.is_null(), "no region for an unaligned block");
        let slot = unsafe { allocator.alloc(layout(200, 128)) };
        unsafe { slot.write_bytes(7, 200) };
        assert_eq!(unsafe { allocator.realloc(slot, layout(200, 128), 256) }, slot);
        let grown = unsafe { allocator.realloc(slot, layout(256, 128), 1024) };
        assert!(!grown.is_null() && grown != slot && grown as usize % ALIGN == 0);
        assert!(unsafe { std::slice::from_raw_parts(grown, 200) }.iter().all(|&b| b == 7));
        assert_eq!(allocator.pool().free, slot, "the slot was given back");
        unsafe { allocator.dealloc(grown, layout(1024, 128)) };
    }
}
