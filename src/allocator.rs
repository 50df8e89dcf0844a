//! How the long streaming commands (`tailer`, `run`) ask glibc's allocator to behave, so
//! that their memory stays flat as their input grows.
//!
//! Batches are built on some threads and freed on others. glibc gives every thread that
//! allocates an arena of its own (up to 8 per core) and raises its mmap threshold as large
//! blocks are freed, so freed batch memory stayed in its heaps and a long run grew: the
//! tailer used 194 MiB after 1M events and 237 MiB after 16M. With two arenas and blocks of
//! 1 MiB or more in mappings of their own (returned on free), memory tracks what is live.
//!
//! An arena also unmaps a whole heap (64 MiB) as soon as the top of it is free, and the
//! next batch faults the same pages in again: at every flush the tailer gave back most of
//! what it had just used, and a tenth of its time went to page faults (about 110,000 for
//! 1M events). Keeping 8 MiB free at the top of each arena stops the churn and costs a few
//! MiB of peak memory.

/// Sets the allocator up as the module doc says; call it before the first thread starts.
pub fn tune_for_streaming() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; any thread may call it at any time.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TOP_PAD, 8 << 20);
    }
}
