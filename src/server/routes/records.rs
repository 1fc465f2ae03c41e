//! Records: write vectors or texts (with expiry and deduplication), read one or many, list and
//! count by filter, update, and delete by id or filter.

use axum::Json;
use axum::extract::{Path, State};

use super::super::AppState;
use super::super::api::{
    Ack, Count, CountResponse, DedupSpec, DeleteRecords, Deleted, ErrorBody, GetRecords, GetResponse,
    LegacyVector, PatchMetadata, RecordOut, Scroll, ScrollResponse, TextRecord, UpdateRecord, VectorRecord,
    WriteTexts, WriteVectors, Written, WrittenRecord,
};
use super::super::error::ApiError;
use super::super::extract::ApiJson;
use super::{Include, check_batch, collection, parse_filter, parse_id};
use crate::collection::{Collection, Dedup, Expiry, ListOptions, NewRecord, Record, RecordUpdate};

/// The expiry a request gives: `ttl_seconds` or `expires_at` (RFC 3339), not both.
fn expiry(ttl_seconds: Option<f64>, expires_at: Option<&str>) -> Result<Option<Expiry>, ApiError> {
    match (ttl_seconds, expires_at) {
        (Some(_), Some(_)) => Err(ApiError::invalid("give ttl_seconds or expires_at, not both")),
        (Some(ttl), None) => Ok(Some(Expiry::after_seconds(ttl)?)),
        (None, Some(at)) => Ok(Some(Expiry::At(crate::clock::parse_rfc3339_ms(at)?))),
        (None, None) => Ok(None),
    }
}

/// "1 record written", "3 records written".
fn counted(n: usize, what: &str, done: &str) -> String {
    format!("{n} {what}{} {done}", if n == 1 { "" } else { "s" })
}

/// Writes records the three ways a body asks: fresh ids, explicit ids (insert or upsert), or
/// deduplicated; answers `id` for a one-record body, `ids` for a batch.
fn write_records(
    c: &Collection,
    records: Vec<(Option<u64>, NewRecord)>,
    upsert: bool,
    dedup: Option<Dedup>,
    single: bool,
) -> Result<Written, ApiError> {
    let with_ids = records.iter().filter(|(id, _)| id.is_some()).count();
    if with_ids != 0 && with_ids != records.len() {
        return Err(ApiError::invalid("give an id for every record or for none"));
    }
    let n = records.len();
    let mut merged = None;
    let ids: Vec<u64> = match dedup {
        Some(_) if with_ids > 0 => return Err(ApiError::invalid("dedup assigns ids: leave the ids out")),
        Some(dedup) => {
            let written = c.add_dedup(records.into_iter().map(|(_, r)| r).collect(), &dedup)?;
            merged = Some(
                written.iter().map(|w| WrittenRecord { id: w.id, merged: w.merged }).collect::<Vec<_>>(),
            );
            written.into_iter().map(|w| w.id).collect()
        }
        None if with_ids == 0 => c.add_batch(records.into_iter().map(|(_, r)| r).collect())?,
        None => {
            let ids: Vec<u64> = records.iter().filter_map(|(id, _)| *id).collect();
            let records = records.into_iter().map(|(id, r)| (id.unwrap_or_default(), r)).collect();
            c.write_with_ids(records, upsert)?;
            ids
        }
    };
    let merged_count = merged.as_ref().map_or(0, |m| m.iter().filter(|w| w.merged).count());
    let mut message = counted(n, "record", "written");
    if merged_count > 0 {
        message = format!("{message} ({merged_count} merged into existing ones)");
    }
    Ok(if single {
        Written { message, id: ids.first().copied(), ids: None, records: merged }
    } else {
        Written { message, ids: Some(ids), id: None, records: merged }
    })
}

fn dedup_from(spec: Option<DedupSpec>) -> Result<Option<Dedup>, ApiError> {
    spec.map(|d| Ok(Dedup { min_score: d.min_score, filter: parse_filter(d.filter)? })).transpose()
}

/// Adds one record or a batch (`{"vectors": [...]}`); with ids, `upsert` replaces existing ones;
/// `dedup` merges a near-copy into the record it copies.
#[utoipa::path(post, path = "/collections/{name}/vectors", tag = "records", params(("name" = String, Path)),
    request_body = WriteVectors,
    responses(
        (status = 200, body = Written),
        (status = 404, body = ErrorBody),
        (status = 409, description = "An id is taken and `upsert` is false", body = ErrorBody),
        (status = 413, description = "More than 10,000 records", body = ErrorBody),
        (status = 422, description = "Wrong dimension, NaN or infinity, bad metadata or expiry", body = ErrorBody),
    ))]
pub(crate) async fn write_vectors(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<WriteVectors>,
) -> Result<Json<Written>, ApiError> {
    let c = collection(&state, &name)?;
    let (records, upsert, dedup, single) = match req {
        WriteVectors::Batch { vectors, upsert, dedup } => (vectors, upsert, dedup, false),
        WriteVectors::One { record, upsert, dedup } => (vec![record], upsert, dedup, true),
    };
    check_batch(records.len())?;
    let written = state
        .blocking(move || {
            let dedup = dedup_from(dedup)?;
            let records = records
                .into_iter()
                .map(|r: VectorRecord| {
                    let expiry = expiry(r.ttl_seconds, r.expires_at.as_deref())?;
                    Ok((r.id, NewRecord { vector: r.vector, text: r.text, metadata: r.metadata, expiry }))
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            write_records(&c, records, upsert, dedup, single)
        })
        .await?;
    Ok(Json(written))
}

/// vectorlite 0.1.x (deprecated: use `POST /collections/{name}/vectors`): one vector, explicit id.
#[utoipa::path(post, path = "/collections/{name}/vector", tag = "records", params(("name" = String, Path)),
    request_body = LegacyVector,
    responses((status = 200, body = Ack), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn legacy_vector(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<LegacyVector>,
) -> Result<Json<Ack>, ApiError> {
    let c = collection(&state, &name)?;
    let vector: Vec<f32> = req.values.iter().map(|&x| x as f32).collect();
    state.blocking(move || Ok(c.insert(req.id, &vector, None, None)?)).await?;
    Ok(Json(Ack { message: "Vector added successfully".into(), id: Some(req.id) }))
}

/// One record: id, vector, text, metadata and times.
#[utoipa::path(get, path = "/collections/{name}/vectors/{id}", tag = "records",
    params(("name" = String, Path), ("id" = u64, Path)),
    responses((status = 200, body = RecordOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_record(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<RecordOut>, ApiError> {
    let id = parse_id(&id)?;
    let c = collection(&state, &name)?;
    let record = state.blocking(move || Ok(c.get(id)?)).await?;
    Ok(Json(Include::ALL.record(record)))
}

/// Replaces a record's metadata (null clears it).
#[utoipa::path(patch, path = "/collections/{name}/vectors/{id}", tag = "records",
    params(("name" = String, Path), ("id" = u64, Path)), request_body = PatchMetadata,
    responses((status = 200, body = Ack), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn patch_record(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<PatchMetadata>,
) -> Result<Json<Ack>, ApiError> {
    let id = parse_id(&id)?;
    let c = collection(&state, &name)?;
    state.blocking(move || Ok(c.update_metadata(id, req.metadata)?)).await?;
    Ok(Json(Ack { message: "metadata updated".into(), id: Some(id) }))
}

/// Changes a record in place: any of its vector, text (re-embedded when no vector comes with it
/// and the server has a model), metadata and expiry.
#[utoipa::path(put, path = "/collections/{name}/vectors/{id}", tag = "records",
    params(("name" = String, Path), ("id" = u64, Path)), request_body = UpdateRecord,
    responses((status = 200, body = Ack), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_record(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateRecord>,
) -> Result<Json<Ack>, ApiError> {
    let id = parse_id(&id)?;
    let c = collection(&state, &name)?;
    let expiry = expiry(req.ttl_seconds, req.expires_at.as_deref())?;
    if req.vector.is_none() && req.text.is_none() && req.metadata.is_none() && expiry.is_none() {
        return Err(ApiError::invalid(
            "give at least one of vector, text, metadata, ttl_seconds, expires_at",
        ));
    }
    let update = RecordUpdate { vector: req.vector, text: req.text, metadata: req.metadata, expiry };
    state.blocking(move || Ok(c.update(id, update)?)).await?;
    Ok(Json(Ack { message: "record updated".into(), id: Some(id) }))
}

/// Deletes a record; its id is never reused.
#[utoipa::path(delete, path = "/collections/{name}/vectors/{id}", tag = "records",
    params(("name" = String, Path), ("id" = u64, Path)),
    responses((status = 200, body = Ack), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_record(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Ack>, ApiError> {
    let id = parse_id(&id)?;
    let c = collection(&state, &name)?;
    state.blocking(move || Ok(c.delete(id)?)).await?;
    Ok(Json(Ack { message: "record deleted".into(), id: Some(id) }))
}

/// Embeds and stores one text or a batch (`{"texts": [...]}`) with the server's model; with ids,
/// `upsert` replaces existing records; `dedup` merges a near-copy into the record it copies.
#[utoipa::path(post, path = "/collections/{name}/text", tag = "records", params(("name" = String, Path)),
    request_body = WriteTexts,
    responses(
        (status = 200, body = Written),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Bad metadata or expiry, or the collection holds another model's vectors", body = ErrorBody),
        (status = 503, description = "The server runs without an embedding model", body = ErrorBody),
    ))]
pub(crate) async fn write_texts(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<WriteTexts>,
) -> Result<Json<Written>, ApiError> {
    let c = collection(&state, &name)?;
    let (items, upsert, dedup, single) = match req {
        WriteTexts::Batch { texts, upsert, dedup } => (texts, upsert, dedup, false),
        WriteTexts::One { record, upsert, dedup } => (vec![record], upsert, dedup, true),
    };
    check_batch(items.len())?;
    let written = state
        .blocking(move || {
            let dedup = dedup_from(dedup)?;
            let expiries = items
                .iter()
                .map(|t| expiry(t.ttl_seconds, t.expires_at.as_deref()))
                .collect::<Result<Vec<_>, _>>()?;
            let texts: Vec<&str> = items.iter().map(|t| t.text.as_str()).collect();
            let vectors = c.embed_for_storage(&texts)?;
            let records = items
                .into_iter()
                .zip(vectors)
                .zip(expiries)
                .map(|((t, vector), expiry): ((TextRecord, Vec<f32>), _)| {
                    (t.id, NewRecord { vector, text: Some(t.text), metadata: t.metadata, expiry })
                })
                .collect();
            write_records(&c, records, upsert, dedup, single)
        })
        .await?;
    Ok(Json(written))
}

/// Records passing an optional filter, in id order, a page at a time: pass `next_after_id` as
/// `after_id` for the next page.
#[utoipa::path(post, path = "/collections/{name}/scroll", tag = "records", params(("name" = String, Path)),
    request_body = Scroll,
    responses((status = 200, body = ScrollResponse), (status = 404, body = ErrorBody),
        (status = 422, description = "Bad filter, or a page over 10,000 records", body = ErrorBody)))]
pub(crate) async fn scroll(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<ScrollResponse>, ApiError> {
    let c = collection(&state, &name)?;
    let req: Scroll = super::optional_body(&body)?;
    let include = Include::parse(req.include.as_deref(), Include::TEXT_AND_METADATA)?;
    let page = state
        .blocking(move || {
            let options = ListOptions {
                filter: parse_filter(req.filter)?,
                limit: req.limit.unwrap_or(100),
                after_id: req.after_id,
                offset: req.offset.unwrap_or(0),
                include_vectors: include.vector,
            };
            Ok(c.list(&options)?)
        })
        .await?;
    let records = page.records.into_iter().map(|r| include.record(r)).collect();
    Ok(Json(ScrollResponse { records, next_after_id: page.next_after_id }))
}

/// How many records pass an optional filter.
#[utoipa::path(post, path = "/collections/{name}/count", tag = "records", params(("name" = String, Path)),
    request_body = Count,
    responses((status = 200, body = CountResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn count(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<CountResponse>, ApiError> {
    let c = collection(&state, &name)?;
    let req: Count = super::optional_body(&body)?;
    let count = state.blocking(move || Ok(c.count(parse_filter(req.filter)?.as_ref()))).await?;
    Ok(Json(CountResponse { count }))
}

/// Deletes records by id, by filter, or the given ids that pass the filter; one logged write
/// (all or nothing, after a crash too). Answers how many went.
#[utoipa::path(post, path = "/collections/{name}/delete", tag = "records", params(("name" = String, Path)),
    request_body = DeleteRecords,
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody),
        (status = 422, description = "Neither ids nor filter, or a bad filter", body = ErrorBody)))]
pub(crate) async fn delete_records(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<DeleteRecords>,
) -> Result<Json<Deleted>, ApiError> {
    let c = collection(&state, &name)?;
    if let Some(ids) = &req.ids {
        check_batch(ids.len())?;
    }
    let deleted = state
        .blocking(move || {
            let filter = parse_filter(req.filter)?;
            Ok(match (req.ids, filter) {
                (Some(ids), None) => c.delete_many(&ids)?,
                (None, Some(f)) => c.delete_where(&f)?,
                (Some(ids), Some(f)) => {
                    let (found, _) = c.get_many(&ids);
                    let passing: Vec<u64> =
                        found.into_iter().filter(|r| f.matches(r.metadata.as_ref())).map(|r| r.id).collect();
                    c.delete_many(&passing)?
                }
                (None, None) => {
                    return Err(ApiError::invalid(
                        "give ids, a filter, or both (a filter of {} matches every record)",
                    ));
                }
            })
        })
        .await?;
    Ok(Json(Deleted { deleted }))
}

/// Records by id, in the order asked; ids without a record are listed as missing.
#[utoipa::path(post, path = "/collections/{name}/get", tag = "records", params(("name" = String, Path)),
    request_body = GetRecords,
    responses((status = 200, body = GetResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn get_records(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<GetRecords>,
) -> Result<Json<GetResponse>, ApiError> {
    let c = collection(&state, &name)?;
    check_batch(req.ids.len())?;
    let include = Include::parse(req.include.as_deref(), Include::ALL)?;
    let (found, missing) = state.blocking(move || Ok(c.get_many(&req.ids))).await?;
    Ok(Json(GetResponse { records: found.into_iter().map(|r| include.record(r)).collect(), missing }))
}

/// `RecordOut` from a record, with what was asked for.
impl Include {
    pub(super) fn record(&self, r: Record) -> RecordOut {
        RecordOut {
            id: r.id,
            text: r.text.filter(|_| self.text),
            metadata: r.metadata.filter(|_| self.metadata),
            vector: self.vector.then_some(r.vector),
            updated_at: (r.updated_at > 0).then(|| crate::clock::format_rfc3339_ms(r.updated_at)),
            expires_at: r.expires_at.map(crate::clock::format_rfc3339_ms),
        }
    }
}
