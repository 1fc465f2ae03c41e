//! Scalar columns: a per-field cache of each row's value as a 16-byte [`Scalar`], so filters
//! decide most rows from one contiguous array instead of chasing pointers through JSON maps.
//!
//! Columns are built lazily, the first time a search filters on a path, and are kept in step
//! by the store on every write. A cell is an accelerator, never the truth: [`decide`] answers
//! only what the cell settles for certain (strings are kept as hashes, arrays and objects as
//! `Other`) and returns `None` otherwise, and the caller then reads the JSON.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::Value;

use super::eval::lookup;
use super::{Bound, Filter, Op};

/// At most this many paths get a column; further paths are evaluated on the JSON.
const MAX_COLUMNS: usize = 32;

/// One row's value at one path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar {
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string, by hash: equal hashes still need the JSON to confirm.
    Str(u64),
    /// An array or an object.
    Other,
}

pub(crate) type Column = Vec<Scalar>;

fn hash_str(s: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// The scalar for a JSON value, with the same number semantics as the JSON evaluation:
/// integers that fit `i64` stay exact, everything else compares as `f64`.
pub(crate) fn scalar_of(v: Option<&Value>) -> Scalar {
    match v {
        None => Scalar::Missing,
        Some(Value::Null) => Scalar::Null,
        Some(Value::Bool(b)) => Scalar::Bool(*b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Some(Value::String(s)) => Scalar::Str(hash_str(s)),
        Some(Value::Array(_) | Value::Object(_)) => Scalar::Other,
    }
}

/// Does `cell` equal `v`? `None` when only the JSON can tell.
fn eq(cell: Scalar, v: &Value) -> Option<bool> {
    let operand = scalar_of(Some(v));
    Some(match (cell, operand) {
        (Scalar::Missing, _) => false,
        (Scalar::Other, Scalar::Other) => return None,
        (Scalar::Str(a), Scalar::Str(b)) => {
            if a != b {
                false
            } else {
                return None;
            }
        }
        (Scalar::Int(a), Scalar::Int(b)) => a == b,
        (Scalar::Int(a), Scalar::Float(b)) => a as f64 == b,
        (Scalar::Float(a), Scalar::Int(b)) => a == b as f64,
        (Scalar::Float(a), Scalar::Float(b)) => a == b,
        (Scalar::Null, Scalar::Null) => true,
        (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
        _ => false,
    })
}

fn not(x: Option<bool>) -> Option<bool> {
    x.map(|b| !b)
}

/// Any of `answers` true -> true; all false -> false; otherwise unknown.
fn any(answers: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut unknown = false;
    for a in answers {
        match a {
            Some(true) => return Some(true),
            None => unknown = true,
            Some(false) => {}
        }
    }
    if unknown { None } else { Some(false) }
}

/// What the cell alone says about `op`, or `None` when the JSON must decide.
pub(crate) fn decide(op: &Op, cell: Scalar) -> Option<bool> {
    match op {
        Op::Eq(v) => eq(cell, v),
        Op::Ne(v) => not(eq(cell, v)),
        Op::In(list) => any(list.iter().map(|v| eq(cell, v))),
        Op::Nin(list) => not(any(list.iter().map(|v| eq(cell, v)))),
        Op::Exists(want) => Some((cell != Scalar::Missing) == *want),
        Op::Cmp(want, or_equal, bound) => {
            let ord = match (cell, bound) {
                (Scalar::Int(i), Bound::Number(b)) => (i as f64).partial_cmp(b),
                (Scalar::Float(x), Bound::Number(b)) => x.partial_cmp(b),
                // Hashes do not keep order.
                (Scalar::Str(_), Bound::String(_)) => return None,
                _ => return Some(false),
            };
            Some(ord.is_some_and(|o| o == *want || (*or_equal && o == std::cmp::Ordering::Equal)))
        }
        Op::Contains(v) => match (cell, v) {
            (Scalar::Other, _) | (Scalar::Str(_), Value::String(_)) => None,
            _ => Some(false),
        },
        Op::Not(inner) => not(decide(inner, cell)),
        Op::All(ops) => not(any(ops.iter().map(|o| not(decide(o, cell))))),
    }
}

/// The columns of one store, by path. Built under a shared lock (searches), updated under the
/// collection's write lock (writes), so a column always has one cell per store row.
#[derive(Debug, Default)]
pub(crate) struct FieldColumns {
    by_path: RwLock<HashMap<Vec<String>, Arc<Column>>>,
}

impl Clone for FieldColumns {
    /// A clone starts with an empty cache; columns rebuild on demand.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl FieldColumns {
    /// The columns for every path of `filter`, building missing ones from `rows` (each row's
    /// metadata, in slot order). A path beyond the column limit gets `None`.
    pub(crate) fn bind<'a>(
        &self,
        filter: &Filter,
        rows: impl Fn() -> Box<dyn Iterator<Item = Option<&'a Value>> + 'a>,
    ) -> Vec<Option<Arc<Column>>> {
        filter
            .paths
            .iter()
            .map(|path| {
                if let Some(c) = self.by_path.read().get(path) {
                    return Some(Arc::clone(c));
                }
                if self.by_path.read().len() >= MAX_COLUMNS {
                    return None;
                }
                let column: Arc<Column> = Arc::new(rows().map(|md| scalar_of(lookup(md, path))).collect());
                Some(Arc::clone(self.by_path.write().entry(path.clone()).or_insert(column)))
            })
            .collect()
    }

    /// Applies `f` to every column, dropping a column that a search still holds (it rebuilds).
    fn each(&mut self, mut f: impl FnMut(&[String], &mut Column)) {
        self.by_path.get_mut().retain(|path, column| match Arc::get_mut(column) {
            Some(c) => {
                f(path, c);
                true
            }
            None => false,
        });
    }

    /// A row was appended with this metadata.
    pub(crate) fn push(&mut self, metadata: Option<&Value>) {
        self.each(|path, c| c.push(scalar_of(lookup(metadata, path))));
    }

    /// Row `row`'s metadata changed (None for a deleted row).
    pub(crate) fn set(&mut self, row: usize, metadata: Option<&Value>) {
        self.each(|path, c| c[row] = scalar_of(lookup(metadata, path)));
    }

    /// The last row moved into `row`.
    pub(crate) fn swap_remove(&mut self, row: usize) {
        self.each(|_, c| {
            c.swap_remove(row);
        });
    }

    /// Rows were renumbered; rebuild on demand.
    pub(crate) fn clear(&mut self) {
        self.by_path.get_mut().clear();
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.by_path.read().values().map(|c| c.capacity() * size_of::<Scalar>()).sum()
    }
}
