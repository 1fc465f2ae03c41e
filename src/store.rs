//! `VectorStore`: one collection's records as columns indexed by [`Slot`]: the vectors as one
//! row-major `Vec<f32>` and/or their compact [`Codes`] (f16 or int8), plus id, text, metadata
//! and liveness columns, and the id -> slot map. It knows nothing about indexes or metrics;
//! indexes read rows by slot and never copy them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use crate::aligned::AlignedVec;
use crate::bitmap::Bitmap;
use crate::codes::Codes;
use crate::config::CollectionConfig;
use crate::filter::{BoundFilter, FieldColumns, Filter};
use crate::rows::F32Rows;

/// Position of a row in the store. Indexes speak slots; users speak `u64` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Slot(pub u32);

impl Slot {
    #[inline]
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// The most rows a store holds; slots are `u32` and `u32::MAX` is kept free as a sentinel.
pub(crate) const MAX_SLOTS: usize = u32::MAX as usize - 1;
/// The sentinel: no slot.
pub(crate) const NO_SLOT: u32 = u32::MAX;
/// The expiry of a record that never expires.
pub(crate) const NEVER: u64 = u64::MAX;

/// When a record was last written and when it expires, in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Times {
    /// Last write (0: unknown, for records of files older than format 3).
    pub updated: u64,
    /// Expiry ([`NEVER`] for none).
    pub expires: u64,
}

impl Default for Times {
    fn default() -> Self {
        Times { updated: 0, expires: NEVER }
    }
}

/// Columns of one collection. Rows are either live or tombstones (deleted, but still present so
/// that HNSW slot numbers stay stable until the next compaction).
#[derive(Debug, Clone, Default)]
pub(crate) struct VectorStore {
    dim: usize,
    /// Full-precision rows (in RAM, or mapped from a file for `on_disk`): empty unless
    /// `keeps_f32`.
    vectors: F32Rows,
    keeps_f32: bool,
    /// Compact rows (none for `f32` storage).
    codes: Codes,
    ids: Vec<u64>,
    texts: Vec<Option<String>>,
    metadata: Vec<Option<Value>>,
    times: Vec<Times>,
    live: Vec<bool>,
    /// Live rows that have an expiry: while there are none, no search checks expiry.
    expiring: usize,
    id_to_slot: HashMap<u64, Slot>,
    tombstones: usize,
    /// Scalar columns of the metadata paths that filters use, one cell per row.
    columns: FieldColumns,
    /// The rows of filters searched again since the last write, copied next to each other.
    gathered: GatherCache,
}

/// A filter's allowed rows copied next to each other, in slot order, as the store encodes
/// them: a scan then reads one short buffer (cache-resident when the filter comes back, as an
/// agent's user or session filter does) instead of rows scattered over the whole store.
#[derive(Debug)]
pub(crate) struct GatheredRows {
    /// The store's slot for each copied row.
    pub(crate) slots: Vec<Slot>,
    /// The rows at full precision, for `f32` storage (empty otherwise).
    pub(crate) f32_rows: AlignedVec<f32>,
    /// The rows' codes, for `f16` and `int8` storage.
    pub(crate) codes: Codes,
}

/// Allowed sets are gathered when they hold at least this many rows...
const GATHER_MIN_ROWS: usize = 64;
/// ...and at most this many bytes of rows (1% of 100k rows of 384 f32 values is 1.5 MB).
const GATHER_MAX_BYTES: usize = 4 << 20;
/// Allowed sets remembered (as the filter cache keeps the last 8 filters' sets).
const GATHER_MAX_SETS: usize = 8;

/// Allowed sets seen since the last write, by identity (the store's filter cache hands out
/// the same `Arc` for the same filter until a write), with their rows once seen twice: a
/// filter used once pays no copy.
#[derive(Debug, Default)]
struct GatherCache(Mutex<Vec<SeenSet>>);

/// An allowed set seen since the last write, and its rows once gathered.
type SeenSet = (Arc<Bitmap>, Option<Arc<GatheredRows>>);

impl GatherCache {
    fn memory_bytes(&self) -> usize {
        let rows =
            |g: &GatheredRows| g.slots.capacity() * 4 + g.f32_rows.heap_bytes() + g.codes.memory_bytes();
        self.0.lock().iter().filter_map(|(_, g)| g.as_deref()).map(rows).sum()
    }
}

impl Clone for GatherCache {
    /// A copy starts empty.
    fn clone(&self) -> Self {
        GatherCache::default()
    }
}

impl VectorStore {
    /// An empty f32 store.
    #[cfg(test)]
    pub(crate) fn new(dim: usize) -> Self {
        Self { dim, keeps_f32: true, ..Self::default() }
    }

    /// An empty store keeping vectors as `config` says.
    pub(crate) fn for_config(config: &CollectionConfig) -> Self {
        Self {
            dim: config.dimension,
            keeps_f32: config.keeps_f32(),
            vectors: F32Rows::new(config.on_disk.then(crate::rows::default_dir)),
            codes: Codes::new(config.vector_storage, config.dimension),
            ..Self::default()
        }
    }

    /// An empty store encoding vectors exactly as this one does (int8: with the same ranges).
    fn empty_like(&self) -> Self {
        Self {
            dim: self.dim,
            keeps_f32: self.keeps_f32,
            vectors: self.vectors.empty_like(),
            codes: self.codes.empty_like(),
            ..Self::default()
        }
    }

    /// Rows including tombstones: the slot numbers in use are `0..slots()`.
    pub(crate) fn slots(&self) -> usize {
        self.ids.len()
    }

    /// Live records.
    pub(crate) fn len(&self) -> usize {
        self.ids.len() - self.tombstones
    }

    pub(crate) fn tombstones(&self) -> usize {
        self.tombstones
    }

    /// Rebuilds a store from columns read from a file, checking that they agree. `vectors` is
    /// `None` when the file keeps only codes.
    pub(crate) fn from_columns(
        dim: usize,
        (vectors, codes): (Option<F32Rows>, Codes),
        ids: Vec<u64>,
        live: Vec<bool>,
        mut texts: Vec<Option<String>>,
        mut metadata: Vec<Option<Value>>,
        times: Vec<Times>,
    ) -> Result<Self, String> {
        let n = ids.len();
        let keeps_f32 = vectors.is_some();
        let vectors = vectors.unwrap_or_default();
        let code_rows_ok = match &codes {
            Codes::None => true,
            Codes::F16(bits) => bits.len() == n * dim,
            Codes::Int8(c) => c.sq_norms().len() == n,
        };
        if live.len() != n
            || texts.len() != n
            || metadata.len() != n
            || times.len() != n
            || (keeps_f32 && vectors.len() != n * dim)
            || (!keeps_f32 && matches!(codes, Codes::None))
            || !code_rows_ok
        {
            return Err("sections disagree on the number of rows".into());
        }
        let mut id_to_slot = HashMap::with_capacity(n);
        let mut tombstones = 0;
        let mut expiring = 0;
        for (i, &id) in ids.iter().enumerate() {
            if !live[i] {
                tombstones += 1;
                texts[i] = None;
                metadata[i] = None;
                continue;
            }
            if id_to_slot.insert(id, Slot(i as u32)).is_some() {
                return Err(format!("id {id} appears twice"));
            }
            expiring += usize::from(times[i].expires != NEVER);
        }
        // Every live row's values, checked on every core: the largest part of a load's own work.
        // Int8 codes were checked as they were read; f16 rows are checked widened.
        let rows_f32 = vectors.as_slice();
        let check_rows = |rows: std::ops::Range<usize>| {
            let mut widened = Vec::new();
            rows.filter(|&i| live[i]).try_for_each(|i| {
                let row = if keeps_f32 {
                    &rows_f32[i * dim..(i + 1) * dim]
                } else if matches!(codes, Codes::F16(_)) {
                    widened.resize(dim, 0.0);
                    codes.decode_into(i, &mut widened);
                    &widened[..]
                } else {
                    return Ok(());
                };
                let id = ids[i];
                // One pass: the norm (in f64) is finite exactly when every value is.
                let norm = crate::vector::norm(row);
                if !norm.is_finite()
                    && let Some(x) = row.iter().find(|x| !x.is_finite())
                {
                    return Err(format!("record {id} has a non-finite value {x}"));
                }
                if norm > crate::vector::MAX_NORM {
                    return Err(format!(
                        "record {id} has a norm of {norm:e}, beyond {:e}",
                        crate::vector::MAX_NORM
                    ));
                }
                Ok(())
            })
        };
        crate::parallel::map_split(n, 4_096, check_rows).into_iter().collect::<Result<(), String>>()?;
        Ok(Self {
            dim,
            vectors,
            keeps_f32,
            codes,
            ids,
            texts,
            metadata,
            times,
            live,
            expiring,
            id_to_slot,
            tombstones,
            columns: FieldColumns::default(),
            gathered: GatherCache::default(),
        })
    }

    /// Columns for the snapshot writer, in slot order (tombstones included).
    pub(crate) fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// The full-precision rows, when the store keeps them.
    pub(crate) fn f32_rows(&self) -> Option<&[f32]> {
        self.keeps_f32.then_some(self.vectors.as_slice())
    }

    /// Puts the file of on-disk rows in `dir` (a durable database's data directory); see
    /// [`F32Rows::place_in`].
    pub(crate) fn place_rows_in(&mut self, dir: &Arc<std::path::Path>) {
        self.vectors.place_in(dir);
    }

    /// The directory of the file of on-disk rows (`None`: in RAM).
    pub(crate) fn rows_dir(&self) -> Option<&std::path::Path> {
        self.vectors.dir().map(|d| &**d)
    }

    /// Bytes of the file that holds the full-precision rows of an `on_disk` collection.
    pub(crate) fn file_bytes(&self) -> usize {
        self.vectors.file_bytes()
    }

    /// True when searches find candidates over int8 codes and rescore them with the kept f32
    /// rows.
    pub(crate) fn rescores(&self) -> bool {
        self.keeps_f32 && matches!(self.codes, Codes::Int8(_))
    }

    /// The compact rows.
    pub(crate) fn codes(&self) -> &Codes {
        &self.codes
    }

    /// The dimension.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    pub(crate) fn live(&self) -> &[bool] {
        &self.live
    }

    pub(crate) fn texts(&self) -> &[Option<String>] {
        &self.texts
    }

    pub(crate) fn metadata_column(&self) -> &[Option<Value>] {
        &self.metadata
    }

    pub(crate) fn times_column(&self) -> &[Times] {
        &self.times
    }

    /// When row `slot` was written and expires.
    #[inline]
    pub(crate) fn times(&self, slot: Slot) -> Times {
        self.times[slot.index()]
    }

    /// True when some live row has an expiry.
    #[inline]
    pub(crate) fn has_expiring(&self) -> bool {
        self.expiring > 0
    }

    /// True when row `slot` is live and not expired at `now` (Unix ms).
    #[inline]
    pub(crate) fn is_visible(&self, slot: Slot, now: u64) -> bool {
        self.live[slot.index()] && self.times[slot.index()].expires > now
    }

    /// The largest live id.
    pub(crate) fn max_id(&self) -> Option<u64> {
        self.id_to_slot.keys().copied().max()
    }

    /// Row `slot` at full precision: borrowed when kept, else decoded from its codes.
    #[inline(always)]
    pub(crate) fn vector(&self, slot: Slot) -> Cow<'_, [f32]> {
        let start = slot.index() * self.dim;
        if self.keeps_f32 {
            Cow::Borrowed(&self.vectors.as_slice()[start..start + self.dim])
        } else {
            let mut row = vec![0.0; self.dim];
            self.codes.decode_into(slot.index(), &mut row);
            Cow::Owned(row)
        }
    }

    /// Row `slot` of the full-precision rows; the store must keep them (f32 storage).
    #[inline(always)]
    pub(crate) fn f32_row(&self, slot: Slot) -> &[f32] {
        let start = slot.index() * self.dim;
        &self.vectors.as_slice()[start..start + self.dim]
    }

    #[inline]
    pub(crate) fn id(&self, slot: Slot) -> u64 {
        self.ids[slot.index()]
    }

    #[inline]
    pub(crate) fn is_live(&self, slot: Slot) -> bool {
        self.live[slot.index()]
    }

    pub(crate) fn text(&self, slot: Slot) -> Option<&str> {
        self.texts[slot.index()].as_deref()
    }

    pub(crate) fn metadata(&self, slot: Slot) -> Option<&Value> {
        self.metadata[slot.index()].as_ref()
    }

    pub(crate) fn slot_of(&self, id: u64) -> Option<Slot> {
        self.id_to_slot.get(&id).copied()
    }

    /// Makes room for a batch of rows about to be pushed (and, for int8 codes, widens their
    /// ranges once for the whole batch).
    pub(crate) fn reserve_for<'r>(&mut self, rows: impl ExactSizeIterator<Item = &'r [f32]>) {
        self.reserve(rows.len());
        self.codes.prepare(rows, self.keeps_f32.then_some(self.vectors.as_slice()));
    }

    /// Makes room for `rows` more full-precision rows, reporting an on-disk file that cannot
    /// grow; the write path calls it before it logs, so that applying cannot fail.
    pub(crate) fn try_reserve_rows(&mut self, rows: usize) -> std::io::Result<()> {
        if self.keeps_f32 { self.vectors.try_reserve(rows.saturating_mul(self.dim)) } else { Ok(()) }
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        if self.keeps_f32 {
            self.vectors.reserve(rows * self.dim);
        }
        self.codes.reserve(rows, self.dim);
        self.ids.reserve(rows);
        self.texts.reserve(rows);
        self.times.reserve(rows);
        self.metadata.reserve(rows);
        self.live.reserve(rows);
        self.id_to_slot.reserve(rows);
    }

    /// Appends a live row. The caller has validated the vector, checked that `id` is free and
    /// that there is room (fewer than [`MAX_SLOTS`] rows).
    #[cfg(test)]
    pub(crate) fn push(
        &mut self,
        id: u64,
        vector: &[f32],
        text: Option<String>,
        metadata: Option<Value>,
    ) -> Slot {
        self.push_timed(id, vector, text, metadata, Times::default())
    }

    /// [`push`](Self::push) with the record's times.
    pub(crate) fn push_timed(
        &mut self,
        id: u64,
        vector: &[f32],
        text: Option<String>,
        metadata: Option<Value>,
        times: Times,
    ) -> Slot {
        debug_assert_eq!(vector.len(), self.dim);
        self.codes.push(vector, self.keeps_f32.then_some(self.vectors.as_slice()));
        if self.keeps_f32 {
            self.vectors.extend_from_slice(vector);
        }
        self.push_attributes(id, text, metadata, times)
    }

    /// Appends everything of a row but its vector, which the caller has just appended.
    fn push_attributes(
        &mut self,
        id: u64,
        text: Option<String>,
        metadata: Option<Value>,
        times: Times,
    ) -> Slot {
        self.forget_gathered();
        debug_assert!(!self.id_to_slot.contains_key(&id));
        debug_assert!(self.ids.len() < MAX_SLOTS);
        let slot = Slot(self.ids.len() as u32);
        self.ids.push(id);
        self.texts.push(text);
        self.times.push(times);
        self.expiring += usize::from(times.expires != NEVER);
        self.columns.push(metadata.as_ref());
        self.metadata.push(metadata);
        self.live.push(true);
        self.id_to_slot.insert(id, slot);
        slot
    }

    /// Appends a copy of `other`'s live row `slot`.
    pub(crate) fn push_from(&mut self, other: &VectorStore, slot: Slot) -> Slot {
        let (text, metadata) = (other.text(slot).map(str::to_owned), other.metadata(slot).cloned());
        // Codes copy as they are when both stores encode alike (nothing to round twice).
        if !self.keeps_f32 && self.codes.push_raw(&other.codes, slot.index(), self.dim) {
            return self.push_attributes(other.id(slot), text, metadata, other.times(slot));
        }
        self.push_timed(other.id(slot), &other.vector(slot), text, metadata, other.times(slot))
    }

    /// Sets row `to`'s text, metadata and times to those of `other`'s row `from` (the same
    /// record).
    pub(crate) fn copy_attributes(&mut self, other: &VectorStore, from: Slot, to: Slot) {
        self.texts[to.index()] = other.text(from).map(str::to_owned);
        self.set_metadata(to, other.metadata(from).cloned());
        self.set_times(to, other.times(from));
    }

    /// Replaces a live row's times.
    pub(crate) fn set_times(&mut self, slot: Slot, times: Times) {
        self.forget_gathered();
        let old = std::mem::replace(&mut self.times[slot.index()], times);
        if self.live[slot.index()] {
            self.expiring =
                self.expiring + usize::from(times.expires != NEVER) - usize::from(old.expires != NEVER);
        }
    }

    /// A copy holding only the live rows, in slot order, and for each row of this store its
    /// slot in the copy ([`NO_SLOT`] for deleted rows).
    pub(crate) fn live_copy(&self) -> (VectorStore, Vec<u32>) {
        let mut copy = self.empty_like();
        copy.reserve(self.len());
        let map = (0..self.slots())
            .map(|i| if self.live[i] { copy.push_from(self, Slot(i as u32)).0 } else { NO_SLOT })
            .collect();
        (copy, map)
    }

    pub(crate) fn set_metadata(&mut self, slot: Slot, metadata: Option<Value>) {
        self.forget_gathered();
        self.columns.set(slot.index(), metadata.as_ref());
        self.metadata[slot.index()] = metadata;
    }

    /// Binds `filter` to this store's metadata columns, building the ones it lacks.
    pub(crate) fn bind_filter<'f>(&self, filter: &'f Filter) -> BoundFilter<'f> {
        let columns = self.columns.bind(filter, || Box::new(self.metadata.iter().map(Option::as_ref)));
        BoundFilter::new(filter, columns)
    }

    /// The rows a search may return under `filter` at `now` (Unix ms): live, not expired, and
    /// passing the filter, worked out once for the whole store.
    /// Without expiring records the answer does not depend on `now`, and is cached until the
    /// next write (see `FieldColumns`).
    pub(crate) fn matching(&self, filter: &Filter, now: u64) -> Arc<Bitmap> {
        let build = || {
            let bound = self.bind_filter(filter);
            let mut rows = bound.matching_rows(self.slots(), &|row| self.metadata[row].as_ref());
            if self.tombstones > 0 || self.has_expiring() {
                rows.retain(|r| self.is_visible(Slot(r as u32), now));
            }
            rows
        };
        if self.has_expiring() { Arc::new(build()) } else { self.columns.matching_rows(filter, build) }
    }

    /// The rows of `allowed` copied next to each other, when this set was seen before since
    /// the last write and its rows are neither too few to matter nor too many to copy.
    pub(crate) fn gathered(&self, allowed: &Arc<Bitmap>) -> Option<Arc<GatheredRows>> {
        let row_bytes = match &self.codes {
            Codes::None => self.dim * 4,
            Codes::F16(_) => self.dim * 2,
            Codes::Int8(_) => self.dim,
        };
        let rows = allowed.count();
        if rows < GATHER_MIN_ROWS || rows.saturating_mul(row_bytes) > GATHER_MAX_BYTES {
            return None;
        }
        let mut sets = self.gathered.0.lock();
        let Some(at) = sets.iter().position(|(seen, _)| Arc::ptr_eq(seen, allowed)) else {
            if sets.len() == GATHER_MAX_SETS {
                sets.remove(0);
            }
            sets.push((Arc::clone(allowed), None));
            return None;
        };
        let gathered = sets[at].1.get_or_insert_with(|| {
            let slots: Vec<Slot> =
                allowed.iter_words(0..allowed.words().len()).map(|i| Slot(i as u32)).collect();
            let mut f32_rows = AlignedVec::default();
            if matches!(self.codes, Codes::None) {
                f32_rows.reserve(slots.len() * self.dim);
                slots.iter().for_each(|&s| f32_rows.extend_from_slice(self.f32_row(s)));
            }
            let codes = self.codes.gather(&slots, self.dim);
            Arc::new(GatheredRows { slots, f32_rows, codes })
        });
        Some(Arc::clone(gathered))
    }

    /// Forgets gathered rows: every change to rows, liveness or metadata calls it.
    fn forget_gathered(&mut self) {
        self.gathered.0.get_mut().clear();
    }

    /// Removes a live row by moving the last row into its place (Flat's delete). The tombstone
    /// count is unchanged: the removed row was live, and a moved tombstone stays one.
    pub(crate) fn swap_remove(&mut self, slot: Slot) {
        self.forget_gathered();
        let i = slot.index();
        debug_assert!(self.live[i]);
        let last = self.ids.len() - 1;
        self.id_to_slot.remove(&self.ids[i]);
        if i != last {
            self.copy_row(last, i);
            if self.live[last] {
                self.id_to_slot.insert(self.ids[last], slot);
            }
        }
        self.truncate_rows(last);
        self.ids.swap_remove(i);
        self.expiring -= usize::from(self.times[i].expires != NEVER);
        self.texts.swap_remove(i);
        self.metadata.swap_remove(i);
        self.times.swap_remove(i);
        self.live.swap_remove(i);
        self.columns.swap_remove(i);
    }

    /// Marks a live row deleted but keeps its slot (HNSW's delete); [`compact`](Self::compact) drops it later.
    pub(crate) fn tombstone(&mut self, slot: Slot) {
        self.forget_gathered();
        let i = slot.index();
        debug_assert!(self.live[i]);
        self.id_to_slot.remove(&self.ids[i]);
        self.live[i] = false;
        self.texts[i] = None;
        self.metadata[i] = None;
        self.expiring -= usize::from(self.times[i].expires != NEVER);
        self.times[i] = Times::default();
        self.columns.set(i, None);
        self.tombstones += 1;
    }

    /// Drops every tombstone, renumbering live rows to `0..len()` in their current order.
    pub(crate) fn compact(&mut self) {
        self.forget_gathered();
        let mut w = 0;
        for r in 0..self.ids.len() {
            if !self.live[r] {
                continue;
            }
            if r != w {
                self.copy_row(r, w);
                self.ids[w] = self.ids[r];
                self.texts.swap(w, r);
                self.metadata.swap(w, r);
                self.times.swap(w, r);
                self.live[w] = true;
                self.id_to_slot.insert(self.ids[w], Slot(w as u32));
            }
            w += 1;
        }
        self.truncate_rows(w);
        self.ids.truncate(w);
        self.texts.truncate(w);
        self.times.truncate(w);
        self.metadata.truncate(w);
        self.live.truncate(w);
        self.tombstones = 0;
        self.columns.clear();
        self.vectors.shrink_to_fit();
        self.codes.shrink_to_fit();
    }

    /// Copies row `from`'s vector (f32 and codes) over row `to`'s.
    fn copy_row(&mut self, from: usize, to: usize) {
        let d = self.dim;
        if self.keeps_f32 {
            self.vectors.copy_within(from * d..(from + 1) * d, to * d);
        }
        self.codes.copy_row(from, to, d);
    }

    /// Keeps the first `rows` vectors.
    fn truncate_rows(&mut self, rows: usize) {
        self.vectors.truncate(if self.keeps_f32 { rows * self.dim } else { 0 });
        self.codes.truncate(rows, self.dim);
    }

    /// Live slots in slot order.
    pub(crate) fn live_slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.live.iter().enumerate().filter(|(_, l)| **l).map(|(i, _)| Slot(i as u32))
    }

    /// Approximate heap bytes held, counting capacity rather than length.
    pub(crate) fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let text_bytes: usize = self.texts.iter().flatten().map(String::capacity).sum();
        let meta_bytes: usize = self.metadata.iter().flatten().map(json_heap_bytes).sum();
        self.vectors.heap_bytes()
            + self.codes.memory_bytes()
            + self.ids.capacity() * size_of::<u64>()
            + self.texts.capacity() * size_of::<Option<String>>()
            + self.times.capacity() * size_of::<Times>()
            + self.metadata.capacity() * size_of::<Option<Value>>()
            + self.live.capacity()
            // hashbrown: one control byte plus the (key, value) pair per bucket.
            + self.id_to_slot.capacity() * (1 + size_of::<(u64, Slot)>())
            + text_bytes
            + meta_bytes
            + self.columns.memory_bytes()
            + self.gathered.memory_bytes()
    }
}

/// Rough heap size of a JSON value (serde_json's default map is a BTreeMap).
fn json_heap_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.capacity(),
        Value::Array(a) => a.iter().map(|x| size_of::<Value>() + json_heap_bytes(x)).sum(),
        Value::Object(o) => {
            o.iter().map(|(k, x)| k.capacity() + size_of::<Value>() + 24 + json_heap_bytes(x)).sum()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A file's rows are checked on every core; the first bad live row anywhere is named, and
    /// deleted rows (whose values are never read) are not checked.
    #[test]
    fn rows_read_from_a_file_must_be_finite_and_within_the_norm_limit() {
        let n = 10_000;
        let from = |bad: f32, at: usize, live_at: bool| {
            let mut vectors = vec![0.5f32; n * 2];
            vectors[at * 2 + 1] = bad;
            let mut live = vec![true; n];
            live[at] = live_at;
            let times = vec![Times::default(); n];
            VectorStore::from_columns(
                2,
                (Some(F32Rows::in_ram(vectors.into())), Codes::None),
                (0..n as u64).collect(),
                live,
                vec![None; n],
                vec![None; n],
                times,
            )
        };
        let mut checked = 0;
        for at in [0, 4_095, 4_096, 9_999] {
            for (bad, says) in [(f32::NAN, "non-finite"), (f32::INFINITY, "non-finite"), (f32::MAX, "norm")] {
                let e = from(bad, at, true).expect_err("a bad row is refused");
                assert!(e.contains(&format!("record {at} ")) && e.contains(says), "{e}");
                assert!(from(bad, at, false).is_ok(), "a deleted row is not read");
                checked += 1;
            }
        }
        assert_eq!(checked, 12);
    }

    fn store_with(ids: &[u64]) -> VectorStore {
        let mut s = VectorStore::new(2);
        for &id in ids {
            s.push(id, &[id as f32, -(id as f32)], Some(format!("t{id}")), Some(json!({"id": id})));
        }
        s
    }

    fn assert_consistent(s: &VectorStore) {
        for slot in s.live_slots() {
            let id = s.id(slot);
            assert_eq!(s.slot_of(id), Some(slot));
            assert_eq!(&*s.vector(slot), &[id as f32, -(id as f32)]);
            assert_eq!(s.text(slot), Some(format!("t{id}").as_str()));
        }
        assert_eq!(s.live_slots().count(), s.len());
    }

    #[test]
    fn swap_remove_moves_the_last_row_and_keeps_the_map_right() {
        let mut s = store_with(&[10, 11, 12, 13]);
        s.swap_remove(Slot(1));
        assert_eq!(s.len(), 3);
        assert_eq!(s.slot_of(11), None);
        assert_eq!(s.slot_of(13), Some(Slot(1)));
        assert_consistent(&s);
        s.swap_remove(Slot(2)); // the last row
        assert_eq!(s.len(), 2);
        assert_consistent(&s);
    }

    #[test]
    fn tombstones_then_compact_renumbers_live_rows() {
        let mut s = store_with(&[1, 2, 3, 4, 5]);
        s.tombstone(Slot(0));
        s.tombstone(Slot(3));
        assert_eq!((s.len(), s.slots(), s.tombstones()), (3, 5, 2));
        assert_eq!(s.slot_of(1), None);
        assert!(!s.is_live(Slot(3)));
        s.compact();
        assert_eq!((s.len(), s.slots(), s.tombstones()), (3, 3, 0));
        assert_eq!(s.live_slots().map(|sl| s.id(sl)).collect::<Vec<_>>(), vec![2, 3, 5]);
        assert_consistent(&s);
    }

    #[test]
    fn live_copies_keep_live_rows_in_order_and_map_every_slot() {
        let mut s = store_with(&[1, 2, 3, 4]);
        s.tombstone(Slot(1));
        let (copy, map) = s.live_copy();
        assert_eq!(map, vec![0, NO_SLOT, 1, 2]);
        assert_eq!(copy.live_slots().map(|sl| copy.id(sl)).collect::<Vec<_>>(), vec![1, 3, 4]);
        assert_consistent(&copy);
    }

    /// A set's rows are gathered the second time it is asked for, as the same copy until a
    /// write; sets too small or too large to gain are never gathered.
    #[test]
    fn allowed_sets_are_gathered_on_their_second_use_until_a_write() {
        let mut s = store_with(&(0..1_000).collect::<Vec<_>>());
        let set_of = |n: usize, every: usize| {
            let mut b = Bitmap::new(n);
            (0..n).step_by(every).for_each(|i| b.insert(i));
            Arc::new(b)
        };
        let tenth = set_of(1_000, 10);
        let before = s.memory_bytes();
        assert!(s.gathered(&tenth).is_none(), "first use: nothing copied");
        let rows = s.gathered(&tenth).expect("second use");
        assert_eq!(rows.slots.len(), 100);
        for (i, &slot) in rows.slots.iter().enumerate() {
            assert_eq!(slot, Slot(i as u32 * 10));
            assert_eq!(&rows.f32_rows[i * 2..i * 2 + 2], s.f32_row(slot));
        }
        assert!(Arc::ptr_eq(&rows, &s.gathered(&tenth).expect("third use")), "one copy");
        assert!(s.memory_bytes() >= before + 800, "the copy is counted");
        let few = set_of(1_000, 100);
        assert!(s.gathered(&few).is_none() && s.gathered(&few).is_none(), "10 rows: not worth it");
        s.push(5_000, &[1.0, 1.0], None, None);
        assert!(s.gathered(&tenth).is_none(), "a write forgets every copy");
    }

    #[test]
    fn memory_estimate_grows_with_content() {
        let small = store_with(&[1]);
        let big = store_with(&(0..1000).collect::<Vec<_>>());
        assert!(big.memory_bytes() > small.memory_bytes() + 1000 * 2 * 4);
    }
}
