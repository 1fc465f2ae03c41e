//! Small filesystem helpers every writer shares: atomic file replacement, directory syncs,
//! whole-file checksums, timestamps, and the clean-up of temporary files a crash left behind.
//! Every write and sync passes a fault-injection point (see `fault`).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use super::fault::{self, Fault};

/// Prefix and infix of temporary files: `.<target name>.tmp-<random>`.
const TMP_INFIX: &str = ".tmp-";

/// The time now as RFC 3339, to the second.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a rename or a new entry durable: the directory itself must reach the disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fault::check(dir, Fault::Sync)?;
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Creates `dir` (and its parents) and syncs the parent of each directory it created, so the
/// new entries survive a power cut.
pub(crate) fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = parent_dir(dir);
    if dir.parent().is_some_and(|p| !p.as_os_str().is_empty()) {
        create_dir_durably(&parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(&parent),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes a file through `write` into a temporary file beside `path`, syncs it, optionally
/// keeps the old file as `<path>.bak`, renames the new one over `path`, and syncs the
/// directory. A crash leaves either the old file or the new one, never a torn one; the
/// temporary name is random, so it cannot collide with one a crashed process left (a reused
/// pid, as in containers where every server is pid 1).
pub(crate) fn write_atomically(
    path: &Path,
    backup: bool,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent_dir(path);
    let file_name = path.file_name().ok_or_else(|| io::Error::other("the path has no file name"))?;
    let tmp = dir.join(format!(".{}{TMP_INFIX}{:016x}", file_name.to_string_lossy(), rand::random::<u64>()));
    let result = (|| {
        fault::check(&tmp, Fault::Write)?;
        let mut w = BufWriter::with_capacity(1 << 20, File::create_new(&tmp)?);
        write(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        fault::check(&tmp, Fault::Sync)?;
        file.sync_all()?;
        drop(file);
        if backup && path.exists() {
            let bak = with_suffix(path, ".bak");
            let _ = fs::remove_file(&bak);
            // A hard link keeps the old file reachable under `path` until the rename below.
            fs::hard_link(path, &bak).or_else(|_| fs::copy(path, &bak).map(drop))?;
        }
        fault::check(path, Fault::Rename)?;
        fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporary files of interrupted atomic writes in `dir` (best effort). Call only
/// while no writer can be using the directory (under the database lock).
pub(crate) fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(TMP_INFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// crc32c of a whole file, streamed.
pub(crate) fn file_checksum(path: &Path) -> io::Result<u32> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut crc = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(crc);
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files_and_stale_temps_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomically(&path, false, |w| io::Write::write_all(w, b"one")).unwrap();
        write_atomically(&path, true, |w| io::Write::write_all(w, b"two")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read(with_suffix(&path, ".bak")).unwrap(), b"one");
        // A failed write leaves the old file and no temporary behind.
        let failed = write_atomically(&path, false, |_| Err(io::Error::other("boom")));
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        // A crashed writer's temporary (even one named like ours would be) is cleaned up.
        fs::write(dir.path().join(".f.json.tmp-1-0"), b"{").unwrap();
        fs::write(dir.path().join(".f.json.tmp-00000000000000ab"), b"{").unwrap();
        remove_stale_temps(dir.path());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn nested_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_durably(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_durably(&deep).unwrap();
    }
}
