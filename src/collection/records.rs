//! Record operations beyond single writes, as agent memory loops use them: list (scroll) and
//! count by filter, get and delete many, delete by filter, update in place, add with
//! deduplication, and the sweep that removes expired records. Every mutation is one logged
//! change through `commit`, so it is all or nothing, after a crash too.

use std::collections::BinaryHeap;
use std::sync::Arc;

use serde_json::Value;

use super::{Collection, Expiry, NewRecord, Record, State, record_at};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::index::distance::Distance;
use crate::persist::oplog::{Change, LoggedRecord};
use crate::store::Slot;

/// The most records one page of [`Collection::list`] may hold.
pub const MAX_PAGE: usize = 10_000;

/// Which records [`Collection::list`] returns: those passing `filter`, in id order, after
/// `after_id` (a cursor), skipping `offset`, at most `limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOptions {
    /// Only records whose metadata passes this filter.
    pub filter: Option<Filter>,
    /// Records per page, 1 to [`MAX_PAGE`]. Default 100.
    pub limit: usize,
    /// Start after this id (the previous page's `next_after_id`).
    pub after_id: Option<u64>,
    /// Skip this many matching records first (after the cursor).
    pub offset: usize,
    /// Return the vectors too (default: text and metadata only).
    pub include_vectors: bool,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self { filter: None, limit: 100, after_id: None, offset: 0, include_vectors: false }
    }
}

/// One page of [`Collection::list`].
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// The records, by ascending id.
    pub records: Vec<Record>,
    /// The cursor for the next page (`after_id`), or `None` after the last one.
    pub next_after_id: Option<u64>,
}

/// A collection's records as columns ([`Collection::export_columns`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Columns {
    /// Ids, ascending.
    pub ids: Vec<u64>,
    /// Row-major vectors, one row per id (cosine vectors as stored: L2-normalised).
    pub vectors: Vec<f32>,
    /// Texts, one per id.
    pub texts: Vec<Option<String>>,
    /// Metadata objects, one per id.
    pub metadata: Vec<Option<Value>>,
}

/// A change to one record (see [`Collection::update`]); fields left `None` keep their value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordUpdate {
    /// A new vector.
    pub vector: Option<Vec<f32>>,
    /// New text (`Some(None)` clears it). Without a new vector, the text is re-embedded with
    /// the collection's embedder when it has one.
    pub text: Option<Option<String>>,
    /// New metadata (`Some(None)` clears it).
    pub metadata: Option<Option<Value>>,
    /// A new expiry (default: the record keeps its own).
    pub expiry: Option<Expiry>,
}

/// Deduplication for [`Collection::add_dedup`]: an incoming record at least `min_score`
/// similar to an existing one (among those passing `filter`) updates that one instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Dedup {
    /// The similarity at which two records are the same memory, on the search score's scale
    /// (for euclidean and manhattan, a distance of at most `|min_score|`).
    pub min_score: f32,
    /// Only records passing this filter count as duplicates (say, the same user's).
    pub filter: Option<Filter>,
}

/// What one record of a deduplicated add became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The record's id: a new one, or the one it was merged into.
    pub id: u64,
    /// True when it updated an existing record instead of adding one.
    pub merged: bool,
}

/// Keeps the `n` smallest ids.
struct SmallestIds {
    n: usize,
    heap: BinaryHeap<(u64, u32)>,
}

impl SmallestIds {
    fn push(&mut self, id: u64, slot: Slot) {
        if self.heap.len() < self.n {
            self.heap.push((id, slot.0));
        } else if self.heap.peek().is_some_and(|&(top, _)| id < top) {
            self.heap.pop();
            self.heap.push((id, slot.0));
        }
    }
}

impl State {
    /// Visible slots passing `filter` (all visible ones without a filter), in slot order.
    pub(super) fn matching<'a>(
        &'a self,
        filter: Option<&'a Filter>,
        now: u64,
    ) -> impl Iterator<Item = Slot> + 'a {
        let store = &self.store;
        let expiring = store.has_expiring();
        let (filtered, all) = match filter {
            Some(f) => {
                let rows = Arc::unwrap_or_clone(store.matching(f, now));
                (Some(rows.into_rows().map(|r| Slot(r as u32))), None)
            }
            None => (None, Some(store.live_slots().filter(move |&s| !expiring || store.is_visible(s, now)))),
        };
        filtered.into_iter().flatten().chain(all.into_iter().flatten())
    }
}

impl Collection {
    /// Records passing an optional filter, in id order, a page at a time (see [`ListOptions`]).
    ///
    /// ```
    /// use serde_json::json;
    /// use vectorlite::{Collection, CollectionConfig, Filter, ListOptions};
    /// let c = Collection::new("m", CollectionConfig::new(2))?;
    /// for user in ["ann", "bob", "ann"] {
    ///     c.add(&[1.0, 0.5], None, Some(json!({"user": user})))?;
    /// }
    /// let ann = ListOptions { filter: Some(Filter::parse(&json!({"user": "ann"}))?), limit: 1, ..Default::default() };
    /// let page = c.list(&ann)?;
    /// assert_eq!((page.records[0].id, page.next_after_id), (0, Some(0)));
    /// let next = c.list(&ListOptions { after_id: page.next_after_id, ..ann })?;
    /// assert_eq!((next.records[0].id, next.next_after_id), (2, None));
    /// # Ok::<(), vectorlite::Error>(())
    /// ```
    pub fn list(&self, options: &ListOptions) -> Result<ListPage> {
        if !(1..=MAX_PAGE).contains(&options.limit) {
            return Err(crate::config::invalid(
                "limit",
                format!("{} is not in 1..={MAX_PAGE}", options.limit),
            ));
        }
        let now = self.now_ms();
        let state = self.inner.state.read();
        let store = &state.store;
        // One more than the page, to know whether another page follows.
        let want = options.offset.saturating_add(options.limit).saturating_add(1);
        let mut best = SmallestIds { n: want, heap: BinaryHeap::with_capacity(want.min(1 << 16)) };
        for slot in state.matching(options.filter.as_ref(), now) {
            let id = store.id(slot);
            if options.after_id.is_none_or(|after| id > after) {
                best.push(id, slot);
            }
        }
        let mut page = best.heap.into_sorted_vec();
        let more = page.len() == want;
        let records: Vec<Record> = page
            .drain(..)
            .skip(options.offset)
            .take(options.limit)
            .map(|(_, slot)| record_at(store, Slot(slot), options.include_vectors))
            .collect();
        let next_after_id = if more { records.last().map(|r| r.id) } else { None };
        Ok(ListPage { records, next_after_id })
    }

    /// Every visible record as columns, in id order, from one consistent view: ids, the
    /// vectors in one contiguous row-major buffer (`ids.len()` x dimension; copied once, for
    /// bulk export to Arrow and the like), texts and metadata.
    pub fn export_columns(&self) -> Columns {
        let now = self.now_ms();
        let state = self.inner.state.read();
        let store = &state.store;
        let mut slots: Vec<Slot> = state.matching(None, now).collect();
        slots.sort_unstable_by_key(|&s| store.id(s));
        let mut vectors = Vec::with_capacity(slots.len() * self.config().dimension);
        for &s in &slots {
            vectors.extend_from_slice(&store.vector(s));
        }
        Columns {
            ids: slots.iter().map(|&s| store.id(s)).collect(),
            vectors,
            texts: slots.iter().map(|&s| store.text(s).map(str::to_owned)).collect(),
            metadata: slots.iter().map(|&s| store.metadata(s).cloned()).collect(),
        }
    }

    /// How many records pass `filter` (all records without one). Decided from the filter's
    /// scalar columns wherever they can, without reading each record's JSON.
    pub fn count(&self, filter: Option<&Filter>) -> usize {
        let now = self.now_ms();
        let state = self.inner.state.read();
        match filter {
            None => state.visible_len(now),
            Some(f) => state.matching(Some(f), now).count(),
        }
    }

    /// The records with these ids, in the order asked, and the ids that have none.
    pub fn get_many(&self, ids: &[u64]) -> (Vec<Record>, Vec<u64>) {
        let now = self.now_ms();
        let state = self.inner.state.read();
        let (mut found, mut missing) = (Vec::with_capacity(ids.len()), Vec::new());
        for &id in ids {
            match state.visible_slot(id, now) {
                Some(slot) => found.push(record_at(&state.store, slot, true)),
                None => missing.push(id),
            }
        }
        (found, missing)
    }

    /// Deletes the records with these ids (missing ones are skipped); returns how many went.
    /// One logged change: all or nothing, after a crash too.
    pub fn delete_many(&self, ids: &[u64]) -> Result<usize> {
        let now = self.now_ms();
        self.commit(|state| {
            let mut present: Vec<u64> =
                ids.iter().copied().filter(|&id| state.visible_slot(id, now).is_some()).collect();
            present.sort_unstable();
            present.dedup();
            let n = present.len();
            Ok(((n > 0).then_some(Change::Delete { ids: present }), n))
        })
    }

    /// Deletes every record passing `filter`; returns how many went. One logged change.
    pub fn delete_where(&self, filter: &Filter) -> Result<usize> {
        let now = self.now_ms();
        self.commit(|state| {
            let ids: Vec<u64> = state.matching(Some(filter), now).map(|s| state.store.id(s)).collect();
            let n = ids.len();
            Ok(((n > 0).then_some(Change::Delete { ids }), n))
        })
    }

    /// Changes a record in place, under its id: its vector, text (re-embedded when no vector
    /// comes with it and the collection has an embedder), metadata or expiry. Its write time
    /// is refreshed. [`Error::IdNotFound`] if there is no such record.
    pub fn update(&self, id: u64, update: RecordUpdate) -> Result<()> {
        let mut vector = update.vector;
        if vector.is_none()
            && let Some(Some(text)) = &update.text
            && self.inner.embedder.read().is_some()
        {
            vector = self.embed_for_storage(&[text.as_str()])?.pop();
        }
        if let Some(v) = &vector {
            self.check_vector(v)?;
        }
        let now = self.now_ms();
        self.commit(|state| {
            let slot = state.visible_slot(id, now).ok_or(Error::IdNotFound { id })?;
            let current = record_at(&state.store, slot, vector.is_none());
            let expiry = match update.expiry {
                Some(e) => Some(e),
                None => Some(current.expires_at.map_or(Expiry::Never, Expiry::At)),
            };
            let merged = NewRecord {
                vector: vector.unwrap_or(current.vector),
                text: update.text.unwrap_or(current.text),
                metadata: update.metadata.unwrap_or(current.metadata),
                expiry,
            };
            let record = self.prepare(id, merged, now)?;
            let next_id = state.next_id;
            Ok((Some(Change::Put { records: vec![record], next_id }), ()))
        })
    }

    /// Adds records, except that one at least `dedup.min_score` similar to an existing record
    /// (or to an earlier one of the same batch), among those passing `dedup.filter`, replaces
    /// that record instead (its text, metadata and vector, with a fresh write time). Returns,
    /// per record, the id it got or was merged into. One logged change.
    pub fn add_dedup(&self, records: Vec<NewRecord>, dedup: &Dedup) -> Result<Vec<Written>> {
        let items = self.prepare_batch(records.into_iter().map(|r| (0, r)).collect())?;
        let metric = self.config().metric;
        let distance = Distance::new(metric);
        let now = self.now_ms();
        self.commit(|state| {
            let options = crate::collection::SearchOptions {
                k: 1,
                filter: dedup.filter.clone(),
                ..crate::collection::SearchOptions::default()
            };
            let mut next_id = state.next_id;
            let mut out: Vec<Written> = Vec::with_capacity(items.len());
            let mut kept: Vec<LoggedRecord> = Vec::with_capacity(items.len());
            for mut item in items {
                let norm = crate::vector::norm(&item.vector);
                // Stored vectors are in stored form already: compare like with like.
                let existing = self
                    .search_locked(state, &item.vector, norm, &options, now)
                    .into_iter()
                    .find(|hit| passes(metric, hit.score, dedup.min_score))
                    .map(|hit| hit.id);
                let earlier = kept.iter().position(|k| {
                    let score = distance.score(distance.distance(&item.vector, &k.vector));
                    passes(metric, score, dedup.min_score)
                        && dedup.filter.as_ref().is_none_or(|f| f.matches(k.metadata.as_ref()))
                });
                match (earlier, existing) {
                    (Some(i), _) => {
                        item.id = kept[i].id;
                        out.push(Written { id: item.id, merged: true });
                        kept[i] = item;
                    }
                    (None, Some(id)) => {
                        item.id = id;
                        out.push(Written { id, merged: true });
                        kept.push(item);
                    }
                    (None, None) => {
                        item.id = next_id;
                        next_id = next_id.checked_add(1).ok_or(Error::IdSpaceExhausted)?;
                        out.push(Written { id: item.id, merged: false });
                        kept.push(item);
                    }
                }
            }
            Ok(((!kept.is_empty()).then_some(Change::Put { records: kept, next_id }), out))
        })
    }

    /// Deletes every record that has expired (one logged change); returns how many. A
    /// background sweep calls this for every collection with expiring records.
    pub fn sweep_expired(&self) -> Result<usize> {
        let now = self.now_ms();
        self.commit(|state| {
            if !state.store.has_expiring() {
                return Ok((None, 0));
            }
            let store = &state.store;
            let ids: Vec<u64> =
                store.live_slots().filter(|&s| !store.is_visible(s, now)).map(|s| store.id(s)).collect();
            let n = ids.len();
            Ok(((n > 0).then_some(Change::Delete { ids }), n))
        })
    }

    /// The earliest expiry among the collection's records (Unix ms), if any expire.
    pub(crate) fn next_expiry(&self) -> Option<u64> {
        let state = self.inner.state.read();
        let store = &state.store;
        if !store.has_expiring() {
            return None;
        }
        store.live_slots().map(|s| store.times(s).expires).min()
    }
}

/// True when `score` clears the threshold `min`: for similarities (cosine, dot) a score of at
/// least `min`; for distances (euclidean, manhattan, whose scores are negated distances) a
/// distance of at most `|min|`, so a threshold works whichever sign it is given with.
pub(crate) fn passes(metric: crate::config::SimilarityMetric, score: f32, min: f32) -> bool {
    use crate::config::SimilarityMetric as M;
    match metric {
        M::Cosine | M::DotProduct => score >= min,
        M::Euclidean | M::Manhattan => -score <= min.abs(),
    }
}
