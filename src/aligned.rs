//! `AlignedVec`: a growable buffer whose first element starts a cache line (64 bytes), for
//! the rows that SIMD kernels read.
//!
//! The allocator places large buffers 16 bytes past a page boundary, so with a plain `Vec`
//! every 64-byte load of a row straddles two cache lines. This buffer keeps a few values of
//! padding in front instead, chosen at each allocation, and grows like
//! [`crate::hugepage::reserve`] (huge pages for large buffers).

/// Bytes of a cache line.
const LINE: usize = 64;

/// A `Vec<T>` whose contents start on a cache line.
#[derive(Debug, Clone, Default)]
pub(crate) struct AlignedVec<T: Copy + Default> {
    /// Padding, then the contents.
    buffer: Vec<T>,
    /// Values of padding.
    pad: usize,
}

impl<T: Copy + Default> AlignedVec<T> {
    /// Padding values an allocation may need.
    const MAX_PAD: usize = LINE / size_of::<T>();

    /// An empty buffer with room for `capacity` values, failing cleanly (instead of
    /// aborting) when the memory cannot be had.
    pub(crate) fn try_with_capacity(capacity: usize) -> Result<Self, std::collections::TryReserveError> {
        let mut buffer = Vec::new();
        crate::hugepage::try_reserve_exact(&mut buffer, capacity.saturating_add(Self::MAX_PAD))?;
        Ok(Self::padded(buffer))
    }

    /// Pads an empty, allocated buffer up to the first cache line.
    fn padded(mut buffer: Vec<T>) -> Self {
        debug_assert!(buffer.is_empty());
        let pad = buffer.as_ptr().align_offset(LINE).min(Self::MAX_PAD).min(buffer.capacity());
        buffer.resize(pad, T::default());
        AlignedVec { buffer, pad }
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        &self.buffer[self.pad..]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.buffer[self.pad..]
    }

    pub(crate) fn len(&self) -> usize {
        self.buffer.len() - self.pad
    }

    /// Values it can hold without growing.
    pub(crate) fn capacity(&self) -> usize {
        self.buffer.capacity() - self.pad
    }

    /// Room for `additional` more values; growth doubles, so pushes stay amortised O(1).
    pub(crate) fn reserve(&mut self, additional: usize) {
        let needed = self.buffer.len().saturating_add(additional);
        if needed <= self.buffer.capacity() {
            return;
        }
        let capacity = needed.max(self.buffer.capacity().saturating_mul(2)) - self.pad;
        let mut fresh = Vec::new();
        crate::hugepage::reserve(&mut fresh, capacity + Self::MAX_PAD);
        let mut fresh = Self::padded(fresh);
        fresh.buffer.extend_from_slice(self.as_slice());
        *self = fresh;
    }

    pub(crate) fn extend_from_slice(&mut self, values: &[T]) {
        self.reserve(values.len());
        self.buffer.extend_from_slice(values);
    }

    /// Sets the length, filling new values with `value`.
    pub(crate) fn resize(&mut self, len: usize, value: T) {
        self.reserve(len.saturating_sub(self.len()));
        self.buffer.resize(self.pad + len, value);
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.buffer.truncate(self.pad + len);
    }

    /// Gives back spare capacity (a fresh, aligned allocation of the exact size).
    pub(crate) fn shrink_to_fit(&mut self) {
        if self.buffer.capacity() > self.buffer.len() + Self::MAX_PAD {
            let mut fresh = Self::padded(Vec::with_capacity(self.len() + Self::MAX_PAD));
            fresh.buffer.extend_from_slice(self.as_slice());
            *self = fresh;
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buffer.capacity() * size_of::<T>()
    }
}

impl<T: Copy + Default> std::ops::Deref for AlignedVec<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default> std::ops::DerefMut for AlignedVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Copy + Default> From<Vec<T>> for AlignedVec<T> {
    fn from(values: Vec<T>) -> Self {
        let mut v = Self::default();
        v.extend_from_slice(&values);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aligned<T: Copy + Default>(v: &AlignedVec<T>) -> bool {
        v.as_slice().as_ptr().align_offset(LINE) == 0
    }

    /// Through growth (small and huge-page sized), truncation and shrinking, contents stay
    /// and start on a cache line.
    #[test]
    fn contents_survive_growth_and_start_on_a_cache_line() {
        let mut v: AlignedVec<u16> = AlignedVec::default();
        let mut want: Vec<u16> = Vec::new();
        let mut checked = 0;
        for round in 0..4u16 {
            let batch: Vec<u16> = (0..(700_000 * (round as usize + 1))).map(|i| i as u16 ^ round).collect();
            v.extend_from_slice(&batch);
            want.extend_from_slice(&batch);
            assert!(aligned(&v) && v.as_slice() == &want[..]);
            v.truncate(want.len() / 2);
            want.truncate(want.len() / 2);
            v.shrink_to_fit();
            assert!(aligned(&v) && v.as_slice() == &want[..]);
            v.resize(want.len() + 3, 7);
            want.resize(want.len() + 3, 7);
            assert_eq!(v.as_slice(), &want[..]);
            checked += 1;
        }
        assert_eq!(checked, 4);
        let loaded = AlignedVec::try_with_capacity(1 << 20).expect("memory");
        assert!(aligned::<f32>(&loaded) && loaded.is_empty());
        assert!(aligned(&AlignedVec::from(vec![1.0f32; 100])));
    }
}
