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
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde_json::Value;

use super::eval::lookup;
use super::{Bound, Filter, Op};
use crate::bitmap::Bitmap;

/// At most this many paths have a column at a time.
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

/// Does `cell` equal the value whose scalar is `operand`? `None` when only the JSON can tell.
#[inline]
fn eq(cell: Scalar, operand: Scalar) -> Option<bool> {
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
    let eq = |cell, v| eq(cell, scalar_of(Some(v)));
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

/// Answers for every cell of a column: bit `b` of word `w` of `yes` (`no`) says that
/// cell `64 * w + b` passes (fails) `op`; a cell in neither needs its JSON.
pub(crate) fn decide_column(op: &Op, column: &[Scalar], yes: &mut [u64], no: &mut [u64]) {
    // One loop per kind of operation, so the operand's kind is settled once, outside the loop,
    // and the common cases (a number compared with a number) compile to straight-line code.
    match op {
        Op::Eq(v) | Op::Ne(v) => {
            let operand = scalar_of(Some(v));
            let flip = matches!(op, Op::Ne(_));
            // Integers compare exactly, as in `eq`.
            match operand {
                Scalar::Int(x) => fill(column, yes, no, |c| {
                    Some(
                        flip != (matches!(c, Scalar::Int(a) if a == x)
                            | matches!(c, Scalar::Float(f) if f == x as f64)),
                    )
                }),
                Scalar::Float(x) => fill(column, yes, no, |c| Some(flip != (number(c) == x))),
                _ => fill(column, yes, no, |c| eq(c, operand).map(|b| b != flip)),
            }
        }
        Op::Cmp(want, or_equal, Bound::Number(bound)) => {
            let (want, or_equal, bound) = (*want, *or_equal, *bound);
            fill(column, yes, no, |c| {
                let ord = number(c).partial_cmp(&bound);
                Some(ord.is_some_and(|o| o == want || (or_equal && o == std::cmp::Ordering::Equal)))
            });
        }
        Op::In(list) => {
            let operands: Vec<Scalar> = list.iter().map(|v| scalar_of(Some(v))).collect();
            fill(column, yes, no, |c| any(operands.iter().map(|s| eq(c, *s))));
        }
        _ => fill(column, yes, no, |c| decide(op, c)),
    }
}

/// A number cell's value (`NaN` for every other kind, which equals and orders with nothing).
#[inline(always)]
fn number(cell: Scalar) -> f64 {
    match cell {
        Scalar::Int(i) => i as f64,
        Scalar::Float(x) => x,
        _ => f64::NAN,
    }
}

#[inline(always)]
fn fill(column: &[Scalar], yes: &mut [u64], no: &mut [u64], f: impl Fn(Scalar) -> Option<bool>) {
    for ((cells, yes), no) in column.chunks(64).zip(yes).zip(no) {
        let (mut y, mut n) = (0u64, 0u64);
        for (b, &cell) in cells.iter().enumerate() {
            let answer = f(cell);
            y |= u64::from(answer == Some(true)) << b;
            n |= u64::from(answer == Some(false)) << b;
        }
        *yes = y;
        *no = n;
    }
}

/// The columns of one store, by path: at most [`MAX_COLUMNS`], the least recently used one
/// dropped to make room for a new path. Built under a shared lock (searches), updated under the
/// collection's write lock (writes), so a column always has one cell per store row.
///
/// It also keeps the rows that the last few filters matched (as Lucene's query cache keeps
/// filter bitsets): an agent asks many questions under the same filter (this user, this
/// session) between writes, and every write empties it.
#[derive(Debug, Default)]
pub(crate) struct FieldColumns {
    by_path: RwLock<HashMap<Vec<String>, Cached>>,
    /// A clock for least-recently-used eviction.
    clock: AtomicU64,
    /// Recently matched rows by filter, most recent first, at most [`MAX_CACHED_FILTERS`].
    rows: Mutex<Vec<(Filter, Arc<Bitmap>)>>,
}

/// Filters whose matching rows are kept (12.5 KB each per 100,000 rows).
const MAX_CACHED_FILTERS: usize = 8;
/// Larger filters (by `Filter::approx_bytes`) are evaluated every time instead.
const MAX_CACHED_FILTER_BYTES: usize = 16 << 10;

#[derive(Debug)]
struct Cached {
    column: Arc<Column>,
    last_used: AtomicU64,
}

impl Clone for FieldColumns {
    /// A clone starts with an empty cache; columns rebuild on demand.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl FieldColumns {
    /// The columns for every path of `filter`, building missing ones from `rows` (each row's
    /// metadata, in slot order).
    pub(crate) fn bind<'a>(
        &self,
        filter: &Filter,
        rows: impl Fn() -> Box<dyn Iterator<Item = Option<&'a Value>> + 'a>,
    ) -> Vec<Option<Arc<Column>>> {
        // A filter reading more paths than the cache holds evaluates the rest on the JSON.
        filter
            .paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let now = self.clock.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = self.by_path.read().get(path) {
                    c.last_used.store(now, Ordering::Relaxed);
                    return Some(Arc::clone(&c.column));
                }
                if i >= MAX_COLUMNS {
                    return None;
                }
                let column: Arc<Column> = Arc::new(rows().map(|md| scalar_of(lookup(md, path))).collect());
                let mut map = self.by_path.write();
                if map.len() >= MAX_COLUMNS && !map.contains_key(path) {
                    let oldest = map
                        .iter()
                        .min_by_key(|(_, c)| c.last_used.load(Ordering::Relaxed))
                        .map(|(p, _)| p.clone());
                    if let Some(oldest) = oldest {
                        map.remove(&oldest);
                    }
                }
                let cached = map
                    .entry(path.clone())
                    .or_insert_with(|| Cached { column, last_used: AtomicU64::new(now) });
                Some(Arc::clone(&cached.column))
            })
            .collect()
    }

    /// The rows `filter` matches, from the cache or from `build` (whose answer is then kept,
    /// unless the filter itself is large: a cache entry holds a copy of its filter).
    pub(crate) fn matching_rows(&self, filter: &Filter, build: impl FnOnce() -> Bitmap) -> Arc<Bitmap> {
        if filter.approx_bytes() > MAX_CACHED_FILTER_BYTES {
            return Arc::new(build());
        }
        {
            let mut rows = self.rows.lock();
            if let Some(i) = rows.iter().position(|(f, _)| f == filter) {
                let hit = rows.remove(i);
                let bits = Arc::clone(&hit.1);
                rows.insert(0, hit);
                return bits;
            }
        }
        // Built outside the lock, so other searches are not held up.
        let bits = Arc::new(build());
        let mut rows = self.rows.lock();
        rows.insert(0, (filter.clone(), Arc::clone(&bits)));
        rows.truncate(MAX_CACHED_FILTERS);
        bits
    }

    /// Paths with a column now.
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.by_path.read().len()
    }

    /// Applies `f` to every column, dropping a column that a search still holds (it rebuilds),
    /// and forgets the matched rows (every caller changes a row).
    fn each(&mut self, mut f: impl FnMut(&[String], &mut Column)) {
        self.rows.get_mut().clear();
        self.by_path.get_mut().retain(|path, cached| match Arc::get_mut(&mut cached.column) {
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
        self.rows.get_mut().clear();
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        let columns: usize =
            self.by_path.read().values().map(|c| c.column.capacity() * size_of::<Scalar>()).sum();
        columns + self.rows.lock().iter().map(|(_, b)| b.words().len() * 8).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Matched rows are kept for at most MAX_CACHED_FILTERS filters, never for a large one
    /// (each entry holds a copy of its filter), and a write forgets them all.
    #[test]
    fn matched_rows_are_kept_for_few_small_filters_until_a_write() {
        let mut cache = FieldColumns::default();
        let rows = |bits: usize| Bitmap::from_words(64, |_| bits as u64);
        let built = std::cell::Cell::new(0);
        let get = |cache: &FieldColumns, f: &Filter, bits: usize| {
            cache.matching_rows(f, || {
                built.set(built.get() + 1);
                rows(bits)
            })
        };
        let small: Vec<Filter> = (0..20).map(|i| Filter::parse(&json!({"a": i})).unwrap()).collect();
        for (i, f) in small.iter().enumerate() {
            assert_eq!(*get(&cache, f, i), rows(i));
            assert!(cache.rows.lock().len() <= MAX_CACHED_FILTERS);
        }
        assert_eq!(built.get(), 20);
        // The most recent are kept: asking again builds nothing; the oldest were dropped.
        assert_eq!(*get(&cache, &small[19], 0), rows(19));
        assert_eq!(built.get(), 20);
        assert_eq!(*get(&cache, &small[0], 0), rows(0));
        assert_eq!(built.get(), 21);
        let many: Vec<Value> = (0..5_000).map(|i| json!(format!("value-{i}"))).collect();
        let large = Filter::parse(&json!({"a": {"$in": many}})).unwrap();
        assert!(large.approx_bytes() > MAX_CACHED_FILTER_BYTES);
        get(&cache, &large, 1);
        get(&cache, &large, 1);
        assert_eq!(built.get(), 23, "a large filter is evaluated every time");
        assert!(cache.rows.lock().iter().all(|(f, _)| f != &large));
        cache.push(None);
        assert!(cache.rows.lock().is_empty(), "a write forgets every kept answer");
    }

    /// Regression (hardening issue, defect 11): the cache kept the columns of every path ever
    /// filtered on. It now holds at most MAX_COLUMNS, dropping the least recently used.
    #[test]
    fn the_cache_stays_bounded_and_keeps_what_is_used() {
        let rows: Vec<Option<Value>> = (0..10).map(|i| Some(json!({"hot": i, "x": i}))).collect();
        let cache = FieldColumns::default();
        let bind = |f: &Filter| cache.bind(f, || Box::new(rows.iter().map(Option::as_ref)));
        let hot = Filter::parse(&json!({"hot": 1})).unwrap();
        for i in 0..(3 * MAX_COLUMNS) {
            assert!(bind(&hot)[0].is_some());
            let cold = Filter::parse(&json!({ format!("p{i}"): 1 })).unwrap();
            assert!(bind(&cold)[0].is_some());
            assert!(cache.cached() <= MAX_COLUMNS);
        }
        assert_eq!(cache.cached(), MAX_COLUMNS);
        let before = cache.by_path.read().get(&vec!["hot".to_owned()]).map(|c| Arc::clone(&c.column));
        assert!(before.is_some(), "the path in constant use was never evicted");
    }
}
