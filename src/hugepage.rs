//! Growth of large buffers backed by transparent huge pages where the OS allows it.
//!
//! HNSW reads vectors at random across the whole store; with 4 KiB pages nearly every read
//! also misses the TLB. Linux backs a region with 2 MiB pages only when it is advised so (the
//! common `madvise` THP setting), and only pages touched *after* the advice. So buffers grow
//! by allocating fresh capacity, advising it, and only then copying the old contents in.

/// Buffers smaller than this stay on ordinary pages.
const MIN_BYTES: usize = 4 << 20;

/// Makes room for `additional` more elements, preferring huge pages for large buffers.
/// Growth doubles like `Vec::reserve`, so pushes stay amortised O(1).
pub(crate) fn reserve<T: Copy>(v: &mut Vec<T>, additional: usize) {
    let needed = v.len().saturating_add(additional);
    if needed <= v.capacity() {
        return;
    }
    let new_cap = needed.max(v.capacity().saturating_mul(2));
    if new_cap.saturating_mul(size_of::<T>()) < MIN_BYTES {
        v.reserve(additional);
        return;
    }
    let mut fresh: Vec<T> = Vec::with_capacity(new_cap);
    advise(fresh.as_ptr().cast(), new_cap * size_of::<T>());
    fresh.extend_from_slice(v);
    *v = fresh;
}

/// Reserves room for exactly `additional` more elements of an empty vector, failing cleanly
/// (instead of aborting) when the memory cannot be had; large buffers prefer huge pages.
pub(crate) fn try_reserve_exact<T: Copy>(
    v: &mut Vec<T>,
    additional: usize,
) -> Result<(), std::collections::TryReserveError> {
    v.try_reserve_exact(additional)?;
    let bytes = v.capacity().saturating_mul(size_of::<T>());
    if bytes >= MIN_BYTES {
        advise(v.as_ptr().cast(), bytes);
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn advise(ptr: *const u8, len: usize) {
    const PAGE: usize = 4096;
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize + len) / PAGE * PAGE;
    if end > start {
        // SAFETY: the range lies inside an allocation we own; MADV_HUGEPAGE only changes how
        // the kernel backs it and never its contents. Failure (THP off) is harmless.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_ptr: *const u8, _len: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn reserve_keeps_contents_and_grows_geometrically() {
        let mut v: Vec<f32> = (0..10).map(|i| i as f32).collect();
        super::reserve(&mut v, 3 << 20);
        assert!(v.capacity() >= 10 + (3 << 20));
        assert_eq!(v, (0..10).map(|i| i as f32).collect::<Vec<_>>());
        let cap = v.capacity();
        super::reserve(&mut v, 1);
        assert_eq!(v.capacity(), cap, "no reallocation while capacity suffices");
    }
}
