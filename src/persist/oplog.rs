//! The logical operations the write-ahead log records, and their binary codec.
//!
//! Every change to a database is one [`Op`]: a collection created (with the records it starts
//! with), dropped, or changed ([`Change`]). Ops name collections by their random `uid`, not
//! their name, so a write through a stale handle to a dropped collection never lands in a newer
//! collection of the same name on replay. Record writes carry final ids and stored (already
//! normalised) vectors and replay as upserts, deletes ignore missing ids, and the id counter
//! only moves up: replaying an operation a snapshot already holds changes nothing, which is
//! what lets checkpoints run while writes go on.
//!
//! Kinds 1-6 are the encoding of vectorlite 0.2.0 and are still read; new logs write kinds
//! 2, 5, 6 and 7-9.

use std::sync::Arc;

use serde_json::Value;

use super::PersistenceError;
use super::codec::{CodecError, LeReader, PutLe, invalid, utf8};
use super::wal::Wal;
use crate::config::{CollectionConfig, MAX_DIMENSION, MAX_ENTRY_BYTES};
use crate::store::Times;

/// A logged operation to wait for: it is durable once [`Ticket::wait`] returns.
#[must_use = "a write is acknowledged only after its ticket's wait"]
pub(crate) struct Ticket {
    wal: Arc<Wal>,
    seq: u64,
}

impl Ticket {
    /// Waits for the group commit that covers this operation.
    pub(crate) fn wait(self) -> Result<(), PersistenceError> {
        self.wal.wait(self.seq)?;
        self.wal.poke();
        Ok(())
    }
}

/// Appends the encoded `op` to `wal`; call under the lock that orders it with the change it
/// describes.
pub(crate) fn log(wal: &Arc<Wal>, encoded: &[u8]) -> Result<Ticket, PersistenceError> {
    Ok(Ticket { wal: Arc::clone(wal), seq: wal.append(encoded)? })
}

/// One logged change to a database.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// A collection was created or adopted, starting with `records`.
    Create {
        uid: u64,
        name: String,
        config: CollectionConfig,
        created_at: String,
        next_id: u64,
        model: Option<String>,
        records: Vec<LoggedRecord>,
    },
    /// A collection was deleted.
    Drop { uid: u64 },
    /// A collection's records changed.
    Write { uid: u64, change: Change },
}

/// One change to one collection's records: what `Collection`'s apply function executes, on a
/// live write and on replay alike.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Records written under these final ids (an existing record with the id is replaced; when
    /// an id repeats, the last one wins); the id counter becomes at least `next_id`.
    Put { records: Vec<LoggedRecord>, next_id: u64 },
    /// Records deleted (missing ids are skipped).
    Delete { ids: Vec<u64> },
    /// A record's metadata replaced.
    Metadata { id: u64, metadata: Option<Value> },
    /// The embedding model the collection's text vectors come from.
    Model { model: String },
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoggedRecord {
    pub id: u64,
    pub vector: Vec<f32>,
    pub text: Option<String>,
    pub metadata: Option<Value>,
    /// When it was written and when it expires.
    pub times: Times,
}

// Kinds of vectorlite 0.2.0, still read.
const CREATE_V1: u8 = 1;
const DROP: u8 = 2;
const PUT_V1: u8 = 3;
const DELETE_V1: u8 = 4;
const METADATA: u8 = 5;
const MODEL: u8 = 6;
// Current kinds.
const CREATE: u8 = 7;
const PUT: u8 = 8;
const DELETE: u8 = 9;

/// Longest collection name, timestamp or model id an op may carry.
const MAX_SHORT: usize = 4096;

fn json_bytes(v: &impl serde::Serialize) -> Vec<u8> {
    // Serializing plain data (JSON values, configs) to a Vec cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

fn put_records(b: &mut Vec<u8>, records: &[LoggedRecord]) -> Result<(), CodecError> {
    b.put_u64(records.len() as u64);
    for r in records {
        b.put_u64(r.id);
        b.put_u32(r.vector.len() as u32);
        b.put_f32s(&r.vector);
        b.put_opt_bytes(r.text.as_deref().map(str::as_bytes), MAX_ENTRY_BYTES)?;
        b.put_opt_bytes(r.metadata.as_ref().map(json_bytes).as_deref(), MAX_ENTRY_BYTES)?;
        b.put_u64(r.times.updated);
        b.put_u64(r.times.expires);
    }
    Ok(())
}

impl Op {
    /// The binary form: a kind byte, the collection uid, then the kind's fields. Fails only
    /// for an entry over the format's limits, which writes check before they get here.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut b = Vec::new();
        match self {
            Op::Create { uid, name, config, created_at, next_id, model, records } => {
                b.put_u8(CREATE);
                b.put_u64(*uid);
                b.put_bytes(name.as_bytes(), MAX_SHORT)?;
                b.put_bytes(&json_bytes(config), MAX_SHORT)?;
                b.put_bytes(created_at.as_bytes(), MAX_SHORT)?;
                b.put_u64(*next_id);
                b.put_opt_bytes(model.as_deref().map(str::as_bytes), MAX_SHORT)?;
                put_records(&mut b, records)?;
            }
            Op::Drop { uid } => {
                b.put_u8(DROP);
                b.put_u64(*uid);
            }
            Op::Write { uid, change } => match change {
                Change::Put { records, next_id } => {
                    b.put_u8(PUT);
                    b.put_u64(*uid);
                    b.put_u64(*next_id);
                    put_records(&mut b, records)?;
                }
                Change::Delete { ids } => {
                    b.put_u8(DELETE);
                    b.put_u64(*uid);
                    b.put_u64(ids.len() as u64);
                    ids.iter().for_each(|&id| b.put_u64(id));
                }
                Change::Metadata { id, metadata } => {
                    b.put_u8(METADATA);
                    b.put_u64(*uid);
                    b.put_u64(*id);
                    put_tagged(&mut b, metadata.as_ref().map(json_bytes).as_deref());
                }
                Change::Model { model } => {
                    b.put_u8(MODEL);
                    b.put_u64(*uid);
                    b.put_bytes(model.as_bytes(), MAX_SHORT)?;
                }
            },
        }
        Ok(b)
    }

    /// Parses [`encode`](Self::encode)'s output (and the 0.2.0 kinds); any inconsistency is an
    /// error naming it. Never allocates more than the input could hold.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Op, CodecError> {
        let mut r = LeReader::new(bytes);
        let kind = r.u8()?;
        let uid = r.u64()?;
        let write = |change| Op::Write { uid, change };
        let op = match kind {
            CREATE => Op::Create {
                uid,
                name: r.string(MAX_SHORT)?,
                config: serde_json::from_slice(r.bytes(MAX_SHORT)?)
                    .map_err(|e| invalid(format!("collection config: {e}")))?,
                created_at: r.string(MAX_SHORT)?,
                next_id: r.u64()?,
                model: r.opt_bytes(MAX_SHORT)?.map(utf8).transpose()?,
                records: read_records(&mut r, false)?,
            },
            CREATE_V1 => Op::Create {
                uid,
                name: r.string(MAX_SHORT)?,
                config: serde_json::from_slice(r.bytes(MAX_SHORT)?)
                    .map_err(|e| invalid(format!("collection config: {e}")))?,
                created_at: r.string(MAX_SHORT)?,
                next_id: 0,
                model: None,
                records: Vec::new(),
            },
            DROP => Op::Drop { uid },
            PUT => {
                let next_id = r.u64()?;
                write(Change::Put { next_id, records: read_records(&mut r, false)? })
            }
            PUT_V1 => {
                let records = read_records(&mut r, true)?;
                // 0.2.0 did not log the counter: it sat past the largest id written.
                let next_id = records.iter().map(|x| x.id.saturating_add(1)).max().unwrap_or(0);
                write(Change::Put { records, next_id })
            }
            DELETE => {
                let n = r.u64()?;
                if n > (r.remaining() / 8) as u64 {
                    return Err(CodecError::Truncated);
                }
                write(Change::Delete { ids: (0..n).map(|_| r.u64()).collect::<Result<_, _>>()? })
            }
            DELETE_V1 => write(Change::Delete { ids: vec![r.u64()?] }),
            METADATA => write(Change::Metadata { id: r.u64()?, metadata: read_tagged_json(&mut r)? }),
            MODEL => write(Change::Model { model: r.string(MAX_SHORT)? }),
            other => return Err(invalid(format!("unknown operation kind {other}"))),
        };
        r.finish()?;
        Ok(op)
    }

    /// Folds `next` into this op when both write records into the same collection, so that
    /// recovery inserts long runs of small writes as one parallel batch. Gives `next` back when
    /// it cannot be folded.
    pub(crate) fn absorb(&mut self, next: Op) -> Option<Op> {
        /// Records one folded batch may grow to.
        const MAX_RUN: usize = 1 << 16;
        match (&mut *self, next) {
            (
                Op::Write { uid, change: Change::Put { records, next_id } },
                Op::Write { uid: u2, change: Change::Put { records: more, next_id: n2 } },
            ) if *uid == u2 && records.len() + more.len() <= MAX_RUN => {
                records.extend(more);
                *next_id = (*next_id).max(n2);
                None
            }
            (_, next) => Some(next),
        }
    }
}

/// The 0.2.0 optional entry: a tag byte (0 none, 1 some), then a `u32` length and the bytes.
fn put_tagged(b: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            b.put_u8(1);
            b.put_u32(bytes.len() as u32);
            b.extend_from_slice(bytes);
        }
        None => b.put_u8(0),
    }
}

fn read_tagged<'a>(r: &mut LeReader<'a>) -> Result<Option<&'a [u8]>, CodecError> {
    match r.u8()? {
        0 => Ok(None),
        1 => r.bytes(MAX_ENTRY_BYTES).map(Some),
        other => Err(invalid(format!("bad option tag {other}"))),
    }
}

fn read_tagged_json(r: &mut LeReader<'_>) -> Result<Option<Value>, CodecError> {
    read_tagged(r)?.map(parse_metadata).transpose()
}

fn parse_metadata(bytes: &[u8]) -> Result<Value, CodecError> {
    serde_json::from_slice(bytes).map_err(|e| invalid(format!("metadata: {e}")))
}

/// Records of a put; `legacy` for the 0.2.0 layout (u32 count, tagged options).
fn read_records(r: &mut LeReader<'_>, legacy: bool) -> Result<Vec<LoggedRecord>, CodecError> {
    let n = if legacy { u64::from(r.u32()?) } else { r.u64()? };
    // Every record takes at least 17 bytes (id, dimension, two option markers), so a count the
    // input cannot hold is refused before anything is allocated.
    if n > (r.remaining() / 17) as u64 {
        return Err(CodecError::Truncated);
    }
    let mut records = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let id = r.u64()?;
        let dim = r.u32()? as usize;
        if dim > MAX_DIMENSION {
            return Err(invalid(format!("a vector of {dim} dimensions")));
        }
        let vector = r.f32s(dim)?;
        let (text, metadata, times) = if legacy {
            (read_tagged(r)?, read_tagged(r)?, Times::default())
        } else {
            let (text, metadata) = (r.opt_bytes(MAX_ENTRY_BYTES)?, r.opt_bytes(MAX_ENTRY_BYTES)?);
            (text, metadata, Times { updated: r.u64()?, expires: r.u64()? })
        };
        records.push(LoggedRecord {
            id,
            vector,
            text: text.map(utf8).transpose()?,
            metadata: metadata.map(parse_metadata).transpose()?,
            times,
        });
    }
    Ok(records)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample_ops() -> Vec<Op> {
        let records = vec![
            LoggedRecord {
                id: 1,
                vector: vec![1.0, -2.5, 0.0],
                text: Some("hé".into()),
                metadata: None,
                times: Times { updated: 5, expires: 99 },
            },
            LoggedRecord {
                id: 9,
                vector: vec![0.0; 3],
                text: None,
                metadata: Some(json!({"a": [1]})),
                times: Times::default(),
            },
        ];
        vec![
            Op::Create {
                uid: 7,
                name: "notes".into(),
                config: CollectionConfig::new(3),
                created_at: "2026-11-25T00:00:00Z".into(),
                next_id: 12,
                model: Some("m".into()),
                records: records.clone(),
            },
            Op::Write { uid: 7, change: Change::Put { records, next_id: 10 } },
            Op::Write { uid: 7, change: Change::Delete { ids: vec![1, 5] } },
            Op::Write { uid: 7, change: Change::Metadata { id: 9, metadata: None } },
            Op::Write { uid: 7, change: Change::Metadata { id: 9, metadata: Some(json!({"b": 2})) } },
            Op::Write { uid: 7, change: Change::Model { model: "all-MiniLM-L6-v2".into() } },
            Op::Drop { uid: 7 },
        ]
    }

    #[test]
    fn every_operation_round_trips_and_damage_is_an_error() {
        for op in sample_ops() {
            let bytes = op.encode().unwrap();
            assert_eq!(Op::decode(&bytes).unwrap(), op);
            for cut in 0..bytes.len() {
                assert!(Op::decode(&bytes[..cut]).is_err(), "{op:?} cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Op::decode(&longer).is_err(), "{op:?} with a stray byte");
        }
        assert!(Op::decode(&[99, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    /// Bytes as vectorlite 0.2.0 logged them: logs written before this release replay.
    #[test]
    fn operations_of_version_0_2_0_still_decode() {
        let mut create = vec![CREATE_V1];
        create.extend_from_slice(&7u64.to_le_bytes());
        for field in [&b"notes"[..], br#"{"dimension":2}"#, b"2026-11-25T00:00:00Z"] {
            create.extend_from_slice(&(field.len() as u32).to_le_bytes());
            create.extend_from_slice(field);
        }
        let Op::Create { name, config, next_id, records, .. } = Op::decode(&create).unwrap() else {
            panic!("not a create")
        };
        assert_eq!((name.as_str(), config.dimension, next_id, records.len()), ("notes", 2, 0, 0));

        let mut put = vec![PUT_V1];
        put.extend_from_slice(&7u64.to_le_bytes());
        put.extend_from_slice(&1u32.to_le_bytes());
        put.extend_from_slice(&41u64.to_le_bytes());
        put.extend_from_slice(&2u32.to_le_bytes());
        put.extend_from_slice(&1.5f32.to_le_bytes());
        put.extend_from_slice(&2.5f32.to_le_bytes());
        put.push(1);
        put.extend_from_slice(&2u32.to_le_bytes());
        put.extend_from_slice(b"hi");
        put.push(0);
        let Op::Write { change: Change::Put { records, next_id }, .. } = Op::decode(&put).unwrap() else {
            panic!("not a put")
        };
        assert_eq!(next_id, 42, "the counter moves past the largest id");
        assert_eq!(
            (records[0].id, records[0].text.as_deref(), &records[0].vector[..]),
            (41, Some("hi"), &[1.5, 2.5][..])
        );

        let mut delete = vec![DELETE_V1];
        delete.extend_from_slice(&7u64.to_le_bytes());
        delete.extend_from_slice(&3u64.to_le_bytes());
        assert_eq!(
            Op::decode(&delete).unwrap(),
            Op::Write { uid: 7, change: Change::Delete { ids: vec![3] } }
        );
    }

    #[test]
    fn consecutive_puts_to_one_collection_fold_together() {
        let put = |uid, id| Op::Write {
            uid,
            change: Change::Put {
                records: vec![LoggedRecord {
                    id,
                    vector: vec![1.0],
                    text: None,
                    metadata: None,
                    times: Times::default(),
                }],
                next_id: id + 1,
            },
        };
        let mut run = put(1, 5);
        assert!(run.absorb(put(1, 3)).is_none());
        let Op::Write { change: Change::Put { records, next_id }, .. } = &run else { panic!() };
        assert_eq!((records.len(), *next_id), (2, 6));
        assert!(run.absorb(put(2, 1)).is_some(), "another collection");
        assert!(run.absorb(Op::Drop { uid: 1 }).is_some());
    }

    #[test]
    fn hostile_counts_are_refused_without_allocating() {
        let mut b = vec![PUT];
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(Op::decode(&b), Err(CodecError::Truncated));
        let mut d = vec![DELETE];
        d.extend_from_slice(&1u64.to_le_bytes());
        d.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(Op::decode(&d), Err(CodecError::Truncated));
    }
}
