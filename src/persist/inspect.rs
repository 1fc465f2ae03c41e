//! Reads a `.vlc` file's header and walks its sections, checking each checksum, without
//! building the collection: what `vectorlite inspect` prints.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use super::PersistenceError;
use super::format::{self, FormatError, Preamble, Sections};

/// One section as found in a file.
#[derive(Debug, Clone, Serialize)]
pub struct SectionReport {
    /// Section name (`ids`, `vectors`, ...).
    pub name: &'static str,
    /// Byte offset of the section header.
    pub offset: u64,
    /// `none`, `zstd` or `gzip`.
    pub codec: &'static str,
    /// Bytes after decompression.
    pub raw_len: u64,
    /// Bytes in the file.
    pub stored_len: u64,
    /// Whether the stored bytes match their checksum.
    pub checksum_ok: bool,
}

/// What a collection file holds, read without loading it.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// Format version (1 for the JSON files of vectorlite 0.1.x).
    pub format_version: u32,
    /// The JSON header (v2), or the v1 file's `metadata` object.
    pub header: serde_json::Value,
    /// Sections in file order (empty for v1).
    pub sections: Vec<SectionReport>,
    /// The first problem found, if any (the walk stops there).
    pub problem: Option<String>,
}

impl FileReport {
    /// True when the file is complete and every checksum matches.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none() && self.sections.iter().all(|s| s.checksum_ok)
    }
}

/// Reads the header and checks every section of the file at `path`, walking the sections
/// exactly as the loader does.
pub fn inspect_file(path: &Path) -> Result<FileReport, PersistenceError> {
    let io_err = |e: io::Error| PersistenceError::io(path, e);
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut first = [0u8; 1];
    if r.read(&mut first).map_err(io_err)? == 1 && first[0] == b'{' {
        let mut rest = vec![b'{'];
        r.read_to_end(&mut rest).map_err(io_err)?;
        let v: serde_json::Value = serde_json::from_slice(&rest).map_err(|e| PersistenceError::Corrupt {
            path: path.into(),
            section: "v1 json",
            offset: 0,
            reason: e.to_string(),
        })?;
        return Ok(FileReport {
            format_version: 1,
            header: v["metadata"].clone(),
            sections: Vec::new(),
            problem: None,
        });
    }
    let mut r = (&first[..]).chain(r);
    let (header, start) = match format::read_preamble(&mut r) {
        Ok(Preamble::Known(h, start)) => (h, start),
        Ok(Preamble::Newer(version)) => {
            return Err(PersistenceError::NewerFormat { path: path.into(), version });
        }
        Ok(Preamble::BadMagic) => return Err(PersistenceError::NotACollectionFile { path: path.into() }),
        Err(e) => {
            return Err(PersistenceError::Corrupt {
                path: path.into(),
                section: "header",
                offset: 0,
                reason: e.to_string(),
            });
        }
    };
    let mut report = FileReport {
        format_version: header.format_version,
        header: serde_json::to_value(&header).unwrap_or_default(),
        sections: Vec::new(),
        problem: None,
    };
    let mut sections = Sections::new(r, start, len);
    loop {
        let (offset, h) = match sections.next() {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err((offset, e)) => {
                report.problem = Some(format!("bad section header at byte {offset}: {e}"));
                break;
            }
        };
        let checked = sections.skip(&h);
        let codec = match h.codec {
            0 => "none",
            1 => "zstd",
            _ => "gzip",
        };
        report.sections.push(SectionReport {
            name: h.tag.name(),
            offset,
            codec,
            raw_len: h.raw_len,
            stored_len: h.stored_len,
            checksum_ok: matches!(checked, Ok(true)),
        });
        match checked {
            Ok(_) => {}
            Err(FormatError::Io(e)) => return Err(io_err(e)),
            Err(_) => {
                report.problem = Some(format!("the {} section at byte {offset} is truncated", h.tag.name()));
                break;
            }
        }
    }
    Ok(report)
}
