//! `F32Rows`: the growable buffer of a store's full-precision rows, held in RAM or, for
//! collections created with `on_disk`, in a memory-mapped file that the OS pages in as rows
//! are read (the int8 rescoring case: a search reads only its few dozen candidates).
//!
//! The file is created unlinked in a directory chosen by the caller, so nothing is left behind
//! by a crash: it is a cache of rows that the snapshot and the write-ahead log keep durably.
//! Its blocks are allocated (`posix_fallocate`) whenever it grows, so that writing a row into
//! the mapping can never fault on a full disk; growth is the only step that can fail, and
//! [`F32Rows::try_reserve`] lets the write path report that before it logs anything.

use std::fs::File;
use std::io;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;

use memmap2::MmapMut;

use crate::aligned::AlignedVec;

/// Full-precision rows, one after another.
#[derive(Debug)]
pub(crate) struct F32Rows {
    backing: Backing,
    /// Where the rows are now, refreshed by every change, so that reading a row (the hot
    /// path of every search) takes no branch on the backing.
    ptr: NonNull<f32>,
    len: usize,
}

#[derive(Debug)]
enum Backing {
    /// On the heap (aligned to cache lines, huge pages where the OS allows).
    Ram(AlignedVec<f32>),
    /// In a memory-mapped, unlinked file.
    Mapped(MappedRows),
}

// SAFETY: `ptr` points into memory that `backing` owns (a `Vec` or a private mapping), which
// is `Send` and `Sync`; it is only written through `&mut self`.
unsafe impl Send for F32Rows {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for F32Rows {}

impl Default for F32Rows {
    fn default() -> Self {
        Self::in_ram(AlignedVec::default())
    }
}

impl Clone for F32Rows {
    /// A copy in the same kind of memory (a mapped copy gets its own file; if that cannot be
    /// had, the copy stays in RAM and says so in the log).
    fn clone(&self) -> Self {
        let mut copy = self.empty_like();
        copy.extend_from_slice(self.as_slice());
        copy
    }
}

impl F32Rows {
    /// Rows in RAM.
    pub(crate) fn in_ram(rows: AlignedVec<f32>) -> Self {
        Self::with(Backing::Ram(rows))
    }

    /// Empty rows in RAM, or mapped from a file in `dir` (created at the first growth).
    pub(crate) fn new(on_disk: Option<Arc<Path>>) -> Self {
        match on_disk {
            Some(dir) => Self::with(Backing::Mapped(MappedRows { dir, file: None, map: None, len: 0 })),
            None => F32Rows::default(),
        }
    }

    fn with(backing: Backing) -> Self {
        let mut rows = F32Rows { backing, ptr: NonNull::dangling(), len: 0 };
        rows.sync();
        rows
    }

    /// Points the view at the backing's rows; called after every change to the backing.
    fn sync(&mut self) {
        let rows: &mut [f32] = match &mut self.backing {
            Backing::Ram(v) => v.as_mut_slice(),
            Backing::Mapped(m) => m.as_mut_slice(),
        };
        self.len = rows.len();
        self.ptr = NonNull::new(rows.as_mut_ptr()).unwrap_or(NonNull::dangling());
    }

    /// Empty rows kept where these are.
    pub(crate) fn empty_like(&self) -> Self {
        F32Rows::new(self.dir().cloned())
    }

    /// True when the rows are in a mapped file.
    #[cfg(test)]
    fn is_mapped(&self) -> bool {
        matches!(self.backing, Backing::Mapped(_))
    }

    /// The directory of the mapped file (`None`: in RAM).
    pub(crate) fn dir(&self) -> Option<&Arc<Path>> {
        match &self.backing {
            Backing::Ram(_) => None,
            Backing::Mapped(m) => Some(&m.dir),
        }
    }

    /// Moves mapped rows into a file in `dir` (rows in RAM stay there). If that directory
    /// cannot hold them, they stay where they are, with a warning.
    pub(crate) fn place_in(&mut self, dir: &Arc<Path>) {
        if self.dir().is_none_or(|d| d == dir) {
            return;
        }
        let mut moved = F32Rows::new(Some(Arc::clone(dir)));
        match moved.try_reserve(self.len()) {
            Ok(()) => {
                moved.extend_from_slice(self.as_slice());
                *self = moved;
            }
            Err(e) => tracing::warn!(
                "cannot move on-disk rows to {} ({e}); they stay where they are",
                dir.display()
            ),
        }
    }

    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[f32] {
        // SAFETY: `sync` set `ptr` and `len` from the backing after its last change, and the
        // backing is not changed while this borrow of `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as in `as_slice`, with `self` borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Makes room for `additional` more values, reporting a file that cannot grow (disk full).
    pub(crate) fn try_reserve(&mut self, additional: usize) -> io::Result<()> {
        let grown = match &mut self.backing {
            Backing::Ram(v) => {
                v.reserve(additional);
                Ok(())
            }
            Backing::Mapped(m) => m.reserve(additional),
        };
        self.sync();
        grown
    }

    /// [`try_reserve`](Self::try_reserve) where no error can be returned (copies for a
    /// compaction): a file that cannot grow moves the rows to RAM, with a warning, rather
    /// than lose or refuse them.
    pub(crate) fn reserve(&mut self, additional: usize) {
        if let Err(e) = self.try_reserve(additional) {
            let dir = self.dir().map(|d| d.display().to_string()).unwrap_or_default();
            tracing::warn!("cannot grow the file of on-disk rows in {dir} ({e}); keeping them in RAM");
            let mut v = AlignedVec::default();
            v.reserve(self.len() + additional);
            v.extend_from_slice(self.as_slice());
            *self = F32Rows::in_ram(v);
        }
    }

    pub(crate) fn extend_from_slice(&mut self, values: &[f32]) {
        self.grow(values.len()).copy_from_slice(values);
    }

    /// Appends `count` zeros and returns them to be filled (file reads go straight in).
    pub(crate) fn grow(&mut self, count: usize) -> &mut [f32] {
        self.reserve(count);
        let start = self.len();
        match &mut self.backing {
            Backing::Ram(v) => v.resize(start + count, 0.0),
            // Reserved blocks read as zeros, and truncation zeroes what it drops.
            Backing::Mapped(m) => m.len = start + count,
        }
        self.sync();
        &mut self.as_mut_slice()[start..]
    }

    pub(crate) fn copy_within(&mut self, from: std::ops::Range<usize>, to: usize) {
        self.as_mut_slice().copy_within(from, to);
    }

    /// Keeps the first `len` values.
    pub(crate) fn truncate(&mut self, len: usize) {
        match &mut self.backing {
            Backing::Ram(v) => v.truncate(len),
            Backing::Mapped(m) => {
                let len = len.min(m.len);
                // Zeroed so that a later `grow` finds zeros, as in a fresh file.
                m.as_mut_slice()[len..].fill(0.0);
                m.len = len;
            }
        }
        self.sync();
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        if let Backing::Ram(v) = &mut self.backing {
            v.shrink_to_fit();
        }
        self.sync();
    }

    /// Heap bytes held (a mapped file holds none: its pages belong to the OS's cache).
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.backing {
            Backing::Ram(v) => v.heap_bytes(),
            Backing::Mapped(_) => 0,
        }
    }

    /// Bytes of the mapped file (0 in RAM).
    pub(crate) fn file_bytes(&self) -> usize {
        match &self.backing {
            Backing::Ram(_) => 0,
            Backing::Mapped(m) => m.map.as_ref().map_or(0, |map| map.len()),
        }
    }
}

/// Rows in a memory-mapped, unlinked file.
#[derive(Debug)]
pub(crate) struct MappedRows {
    dir: Arc<Path>,
    /// Created at the first growth, so an empty collection costs no file.
    file: Option<File>,
    /// The whole file; its length is the capacity in bytes.
    map: Option<MmapMut>,
    /// Values in use.
    len: usize,
}

/// Files grow by at least this much, so that small writes do not each remap.
const MIN_GROWTH_BYTES: usize = 4 << 20;

impl MappedRows {
    fn capacity(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len() / size_of::<f32>())
    }

    fn as_mut_slice(&mut self) -> &mut [f32] {
        match &mut self.map {
            Some(m) => &mut bytemuck::cast_slice_mut(&mut m[..])[..self.len],
            None => &mut [],
        }
    }

    fn reserve(&mut self, additional: usize) -> io::Result<()> {
        let needed = self.len.checked_add(additional).ok_or_else(|| io::Error::other("too many rows"))?;
        if needed <= self.capacity() {
            return Ok(());
        }
        let bytes = (needed.max(self.capacity().saturating_mul(2)) * size_of::<f32>())
            .max(MIN_GROWTH_BYTES)
            .next_multiple_of(MIN_GROWTH_BYTES);
        let file = match &self.file {
            Some(f) => f,
            None => self.file.insert(unlinked_file(&self.dir)?),
        };
        allocate(file, bytes as u64)?;
        // SAFETY: the file is ours alone (created unlinked, never shared), so nothing else can
        // change or truncate it under the mapping.
        let map = unsafe { MmapMut::map_mut(file) }?;
        // Replaced only once the new mapping exists, so a failure leaves the rows readable;
        // `&mut self` means no row of the old mapping is borrowed.
        self.map = Some(map);
        Ok(())
    }
}

/// A new file in `dir` that no other process can open: its name is removed at once, and the
/// space returns to the disk when the descriptor closes (also on a crash).
fn unlinked_file(dir: &Path) -> io::Result<File> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        dir.join(format!(".vectorlite-rows-{}-{n}-{:016x}", std::process::id(), rand::random::<u64>()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Sets the file's length to `bytes` with its blocks allocated, so that writes through the
/// mapping cannot meet a full disk (a fault there would kill the process).
#[cfg(target_os = "linux")]
fn allocate(file: &File, bytes: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(bytes).map_err(|_| io::Error::other("file too large"))?;
    // SAFETY: a plain syscall on a descriptor we own.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

#[cfg(not(target_os = "linux"))]
fn allocate(file: &File, bytes: u64) -> io::Result<()> {
    file.set_len(bytes)
}

/// The directory for the files of on-disk rows when the collection has no directory of its
/// own: the system's temporary directory.
pub(crate) fn default_dir() -> Arc<Path> {
    Arc::from(std::env::temp_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped() -> F32Rows {
        F32Rows::new(Some(default_dir()))
    }

    /// Mapped rows behave as a `Vec<f32>` through growth across several remaps, moves,
    /// truncation and regrowth (which must read zeros again).
    #[test]
    fn mapped_rows_match_a_vec_through_every_operation() {
        let mut rows = mapped();
        let mut want: Vec<f32> = Vec::new();
        let mut checked = 0;
        for round in 0..3 {
            for i in 0..700_000 {
                let row = [i as f32, round as f32, -(i as f32)];
                rows.extend_from_slice(&row);
                want.extend_from_slice(&row);
            }
            assert!(rows.file_bytes() >= want.len() * 4 && rows.heap_bytes() == 0);
            rows.copy_within(3..9, 0);
            want.copy_within(3..9, 0);
            let keep = want.len() / 3;
            rows.truncate(keep);
            want.truncate(keep);
            assert_eq!(rows.as_slice(), &want[..]);
            assert!(rows.grow(5).iter().all(|&x| x == 0.0), "regrown values read zeros");
            want.resize(keep + 5, 0.0);
            assert_eq!(rows.as_slice(), &want[..]);
            checked += want.len();
        }
        assert!(checked > 1_000_000);
        let copy = rows.clone();
        assert!(copy.is_mapped());
        assert_eq!(copy.as_slice(), rows.as_slice());
    }

    /// Rows placed in another directory keep their values; a directory that cannot hold them
    /// leaves them where they were.
    #[test]
    fn placed_rows_move_with_their_values() {
        let mut rows = mapped();
        rows.extend_from_slice(&[1.0, 2.0, 3.0]);
        let here: Arc<Path> = Arc::from(std::env::current_dir().expect("cwd").as_path());
        rows.place_in(&here);
        assert_eq!((rows.dir(), rows.as_slice()), (Some(&here), &[1.0, 2.0, 3.0][..]));
        let missing: Arc<Path> = Arc::from(Path::new("/nonexistent/vectorlite-rows"));
        rows.place_in(&missing);
        assert_eq!((rows.dir(), rows.as_slice()), (Some(&here), &[1.0, 2.0, 3.0][..]));
    }

    /// A directory where no file can be made is an error from `try_reserve`, and `reserve`
    /// keeps the rows in RAM instead.
    #[test]
    fn a_directory_that_cannot_hold_the_file_is_reported_or_falls_back_to_ram() {
        let missing: Arc<Path> = Arc::from(Path::new("/nonexistent/vectorlite-rows"));
        let mut rows = F32Rows::new(Some(missing));
        let e = rows.try_reserve(10).expect_err("no such directory");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        rows.extend_from_slice(&[1.0, 2.0]);
        assert!(!rows.is_mapped());
        assert_eq!(rows.as_slice(), &[1.0, 2.0]);
    }
}
