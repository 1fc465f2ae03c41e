//! The logical operations the write-ahead log records, and their binary codec.
//!
//! Every operation names its collection by the collection's random `uid`, not its name, so a
//! write through a stale handle to a dropped collection never lands in a newer collection of
//! the same name on replay. Record writes carry final ids and stored (already normalised)
//! vectors, and replay as upserts, so replaying an operation a snapshot already holds changes
//! nothing: that is what lets checkpoints run while writes go on.

use std::sync::Arc;

use serde_json::Value;

use super::PersistenceError;
use super::wal::Wal;
use crate::config::CollectionConfig;

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

/// Appends `op` to `wal`; call under the lock that orders it with the change it describes.
pub(crate) fn log(wal: &Arc<Wal>, op: &Op) -> Result<Ticket, PersistenceError> {
    Ok(Ticket { wal: Arc::clone(wal), seq: wal.append(&op.encode())? })
}

/// One logged mutation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// A collection was created (or adopted, followed by its records as `Put`s).
    Create { uid: u64, name: String, config: CollectionConfig, created_at: String },
    /// A collection was deleted.
    Drop { uid: u64 },
    /// Records were written with these final ids (replayed as upserts).
    Put { uid: u64, records: Vec<LoggedRecord> },
    /// A record was deleted.
    Delete { uid: u64, id: u64 },
    /// A record's metadata was replaced.
    Metadata { uid: u64, id: u64, metadata: Option<Value> },
    /// The collection learned the embedding model its text vectors come from.
    Model { uid: u64, model: String },
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoggedRecord {
    pub id: u64,
    pub vector: Vec<f32>,
    pub text: Option<String>,
    pub metadata: Option<Value>,
}

const CREATE: u8 = 1;
const DROP: u8 = 2;
const PUT: u8 = 3;
const DELETE: u8 = 4;
const METADATA: u8 = 5;
const MODEL: u8 = 6;

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(b: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(b, bytes.len() as u32);
    b.extend_from_slice(bytes);
}

fn put_opt(b: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            b.push(1);
            put_bytes(b, bytes);
        }
        None => b.push(0),
    }
}

fn json_bytes(v: &impl serde::Serialize) -> Vec<u8> {
    // Serializing plain data (JSON values, configs) to a Vec cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

impl Op {
    /// The binary form: a kind byte, the collection uid, then the kind's fields.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        match self {
            Op::Create { uid, name, config, created_at } => {
                b.push(CREATE);
                put_u64(&mut b, *uid);
                put_bytes(&mut b, name.as_bytes());
                put_bytes(&mut b, &json_bytes(config));
                put_bytes(&mut b, created_at.as_bytes());
            }
            Op::Drop { uid } => {
                b.push(DROP);
                put_u64(&mut b, *uid);
            }
            Op::Put { uid, records } => {
                b.push(PUT);
                put_u64(&mut b, *uid);
                put_u32(&mut b, records.len() as u32);
                for r in records {
                    put_u64(&mut b, r.id);
                    put_u32(&mut b, r.vector.len() as u32);
                    r.vector.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
                    put_opt(&mut b, r.text.as_deref().map(str::as_bytes));
                    put_opt(&mut b, r.metadata.as_ref().map(json_bytes).as_deref());
                }
            }
            Op::Delete { uid, id } => {
                b.push(DELETE);
                put_u64(&mut b, *uid);
                put_u64(&mut b, *id);
            }
            Op::Metadata { uid, id, metadata } => {
                b.push(METADATA);
                put_u64(&mut b, *uid);
                put_u64(&mut b, *id);
                put_opt(&mut b, metadata.as_ref().map(json_bytes).as_deref());
            }
            Op::Model { uid, model } => {
                b.push(MODEL);
                put_u64(&mut b, *uid);
                put_bytes(&mut b, model.as_bytes());
            }
        }
        b
    }

    /// Parses [`encode`](Self::encode)'s output; any inconsistency is an error naming it.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Op, String> {
        let mut r = Reader { bytes, at: 0 };
        let kind = r.u8()?;
        let uid = r.u64()?;
        let op = match kind {
            CREATE => Op::Create {
                uid,
                name: r.string()?,
                config: serde_json::from_slice(r.bytes()?).map_err(|e| format!("collection config: {e}"))?,
                created_at: r.string()?,
            },
            DROP => Op::Drop { uid },
            PUT => {
                let n = r.u32()? as usize;
                let mut records = Vec::with_capacity(n.min(bytes.len() / 8));
                for _ in 0..n {
                    let id = r.u64()?;
                    let dim = r.u32()? as usize;
                    let raw = r.take(dim.checked_mul(4).ok_or("vector length overflows")?)?;
                    let vector =
                        raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                    let text = r
                        .opt()?
                        .map(|t| String::from_utf8(t.to_vec()))
                        .transpose()
                        .map_err(|e| e.to_string())?;
                    let metadata = r.opt_json()?;
                    records.push(LoggedRecord { id, vector, text, metadata });
                }
                Op::Put { uid, records }
            }
            DELETE => Op::Delete { uid, id: r.u64()? },
            METADATA => Op::Metadata { uid, id: r.u64()?, metadata: r.opt_json()? },
            MODEL => Op::Model { uid, model: r.string()? },
            other => return Err(format!("unknown operation kind {other}")),
        };
        if r.at != bytes.len() {
            return Err(format!("{} stray bytes after the operation", bytes.len() - r.at));
        }
        Ok(op)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("operation cut short")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from(self.u32()?) | (u64::from(self.u32()?) << 32))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|e| e.to_string())
    }

    fn opt(&mut self) -> Result<Option<&'a [u8]>, String> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.bytes().map(Some),
            other => Err(format!("bad option tag {other}")),
        }
    }

    fn opt_json(&mut self) -> Result<Option<Value>, String> {
        self.opt()?.map(|b| serde_json::from_slice(b).map_err(|e| format!("metadata: {e}"))).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_operation_round_trips_and_damage_is_an_error() {
        let ops = [
            Op::Create {
                uid: 7,
                name: "notes".into(),
                config: CollectionConfig::new(3),
                created_at: "2026-11-25T00:00:00Z".into(),
            },
            Op::Put {
                uid: 7,
                records: vec![
                    LoggedRecord {
                        id: 1,
                        vector: vec![1.0, -2.5, 0.0],
                        text: Some("hé".into()),
                        metadata: None,
                    },
                    LoggedRecord {
                        id: 9,
                        vector: vec![0.0; 3],
                        text: None,
                        metadata: Some(json!({"a": [1]})),
                    },
                ],
            },
            Op::Delete { uid: 7, id: 1 },
            Op::Metadata { uid: 7, id: 9, metadata: None },
            Op::Model { uid: 7, model: "all-MiniLM-L6-v2".into() },
            Op::Drop { uid: 7 },
        ];
        for op in ops {
            let bytes = op.encode();
            assert_eq!(Op::decode(&bytes).unwrap(), op);
            assert!(Op::decode(&bytes[..bytes.len() - 1]).is_err(), "{op:?} cut short");
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Op::decode(&longer).is_err(), "{op:?} with a stray byte");
        }
        assert!(Op::decode(&[99, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
