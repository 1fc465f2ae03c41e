//! The one little-endian byte codec of every file vectorlite writes: snapshot headers and
//! sections, log frames and logged operations. Writers append fixed-width little-endian
//! values; [`LeReader`] reads them back from a slice with bounds checks and length limits, so
//! no byte sequence can make a reader index out of range or allocate more than its input holds.

use std::io::{self, Read, Write};

/// Marks an absent optional byte string.
pub(crate) const NONE_LEN: u32 = u32::MAX;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodecError {
    /// The input ends inside a value.
    Truncated,
    /// The bytes are inconsistent.
    Invalid(String),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::Truncated => f.write_str("cut short"),
            CodecError::Invalid(why) => f.write_str(why),
        }
    }
}

pub(crate) fn invalid(why: impl Into<String>) -> CodecError {
    CodecError::Invalid(why.into())
}

/// Appends little-endian values to a byte buffer.
pub(crate) trait PutLe {
    /// Appends one byte.
    fn put_u8(&mut self, v: u8);
    /// Appends a `u32`.
    fn put_u32(&mut self, v: u32);
    /// Appends a `u64`.
    fn put_u64(&mut self, v: u64);
    /// Appends `f32`s.
    fn put_f32s(&mut self, v: &[f32]);
    /// Appends a `u32` length and the bytes; errors past `limit` (or `u32::MAX - 1`).
    fn put_bytes(&mut self, bytes: &[u8], limit: usize) -> Result<(), CodecError>;
    /// Appends an optional byte string: [`NONE_LEN`] for none, else as [`put_bytes`](Self::put_bytes).
    fn put_opt_bytes(&mut self, bytes: Option<&[u8]>, limit: usize) -> Result<(), CodecError>;
}

impl PutLe for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }

    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }

    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }

    fn put_f32s(&mut self, v: &[f32]) {
        if cfg!(target_endian = "little") {
            self.extend_from_slice(bytemuck::cast_slice(v));
        } else {
            v.iter().for_each(|x| self.extend_from_slice(&x.to_le_bytes()));
        }
    }

    fn put_bytes(&mut self, bytes: &[u8], limit: usize) -> Result<(), CodecError> {
        let len = checked_len(bytes.len(), limit)?;
        self.put_u32(len);
        self.extend_from_slice(bytes);
        Ok(())
    }

    fn put_opt_bytes(&mut self, bytes: Option<&[u8]>, limit: usize) -> Result<(), CodecError> {
        match bytes {
            None => {
                self.put_u32(NONE_LEN);
                Ok(())
            }
            Some(b) => self.put_bytes(b, limit),
        }
    }
}

/// `len` as a `u32` entry length, if it is within `limit`.
pub(crate) fn checked_len(len: usize, limit: usize) -> Result<u32, CodecError> {
    u32::try_from(len)
        .ok()
        .filter(|&l| l != NONE_LEN && l as usize <= limit)
        .ok_or_else(|| invalid(format!("an entry of {len} bytes is over the limit of {limit}")))
}

/// Reads little-endian values from a slice, checking every length against what is left.
pub(crate) struct LeReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> LeReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(CodecError::Truncated)?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `n` `f32`s; the input must hold them all before anything is allocated.
    pub(crate) fn f32s(&mut self, n: usize) -> Result<Vec<f32>, CodecError> {
        let raw = self.take(n.checked_mul(4).ok_or(CodecError::Truncated)?)?;
        Ok(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    /// A `u32` length, then that many bytes (at most `limit`).
    pub(crate) fn bytes(&mut self, limit: usize) -> Result<&'a [u8], CodecError> {
        let len = self.u32()?;
        if len == NONE_LEN || len as usize > limit {
            return Err(invalid(format!("an entry claims {len} bytes, over the limit of {limit}")));
        }
        self.take(len as usize)
    }

    /// An optional byte string written by [`PutLe::put_opt_bytes`].
    pub(crate) fn opt_bytes(&mut self, limit: usize) -> Result<Option<&'a [u8]>, CodecError> {
        let len = self.u32()?;
        if len == NONE_LEN {
            return Ok(None);
        }
        if len as usize > limit {
            return Err(invalid(format!("an entry claims {len} bytes, over the limit of {limit}")));
        }
        self.take(len as usize).map(Some)
    }

    /// A UTF-8 string with a `u32` length.
    pub(crate) fn string(&mut self, limit: usize) -> Result<String, CodecError> {
        utf8(self.bytes(limit)?)
    }

    /// Errors unless every byte was read.
    pub(crate) fn finish(&self) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(invalid(format!("{n} stray bytes at the end"))),
        }
    }
}

pub(crate) fn utf8(bytes: &[u8]) -> Result<String, CodecError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| invalid("text is not UTF-8"))
}

/// Reads exactly `N` bytes from a stream; `None` when it ends first.
pub(crate) fn read_array<const N: usize>(r: &mut (impl Read + ?Sized)) -> io::Result<Option<[u8; N]>> {
    let mut a = [0u8; N];
    match r.read_exact(&mut a) {
        Ok(()) => Ok(Some(a)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Streams `values` as little-endian bytes through a 64 KiB buffer.
pub(crate) fn write_chunked<T, const N: usize>(
    w: &mut dyn Write,
    values: impl Iterator<Item = T>,
    to_bytes: fn(T) -> [u8; N],
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 << 10);
    for v in values {
        buf.extend_from_slice(&to_bytes(v));
        if buf.len() >= 64 << 10 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_every_short_input_is_an_error() {
        let mut b = Vec::new();
        b.put_u8(7);
        b.put_u32(0xDEAD_BEEF);
        b.put_u64(u64::MAX - 1);
        b.put_f32s(&[1.5, -0.0, f32::MAX]);
        b.put_bytes(b"hi", 10).unwrap();
        b.put_opt_bytes(None, 10).unwrap();
        b.put_opt_bytes(Some("é".as_bytes()), 10).unwrap();
        let read = |bytes: &[u8]| -> Result<_, CodecError> {
            let mut r = LeReader::new(bytes);
            let out = (
                r.u8()?,
                r.u32()?,
                r.u64()?,
                r.f32s(3)?,
                r.bytes(10)?.to_vec(),
                r.opt_bytes(10)?.map(<[u8]>::to_vec),
                r.opt_bytes(10)?.map(utf8).transpose()?,
            );
            r.finish()?;
            Ok(out)
        };
        let (a, c, d, f, g, h, i) = read(&b).unwrap();
        assert_eq!((a, c, d), (7, 0xDEAD_BEEF, u64::MAX - 1));
        assert_eq!(f, vec![1.5, -0.0, f32::MAX]);
        assert_eq!((g.as_slice(), h, i.as_deref()), (&b"hi"[..], None, Some("é")));
        for cut in 0..b.len() {
            assert!(read(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(read(&longer).is_err(), "a stray byte");
    }

    #[test]
    fn limits_are_enforced_on_both_sides() {
        let mut b = Vec::new();
        assert!(b.put_bytes(&[0; 11], 10).is_err());
        assert!(b.is_empty(), "nothing written for a refused entry");
        b.put_bytes(&[0; 11], 20).unwrap();
        assert!(LeReader::new(&b).bytes(10).is_err());
        // A huge claimed length is refused before anything is allocated.
        let claim = (u32::MAX - 1).to_le_bytes();
        assert!(LeReader::new(&claim).bytes(usize::MAX).is_err());
        assert_eq!(LeReader::new(&[1, 0, 0, 0]).f32s(usize::MAX / 2), Err(CodecError::Truncated));
    }
}
