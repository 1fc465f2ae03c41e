//! Records: write vectors or texts, read, update and delete one.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::super::AppState;
use super::super::api::{Ack, ErrorBody, LegacyVector, PatchMetadata, WriteTexts, WriteVectors, Written};
use super::super::error::ApiError;
use super::super::extract::ApiJson;
use super::{check_batch, collection, parse_id};
use crate::collection::{NewRecord, Record};

/// Adds one record or a batch (`{"vectors": [...]}`); with ids, `upsert` replaces existing ones.
#[utoipa::path(post, path = "/collections/{name}/vectors", tag = "records", params(("name" = String, Path)),
    request_body = WriteVectors,
    responses(
        (status = 200, body = Written),
        (status = 404, body = ErrorBody),
        (status = 409, description = "An id is taken and `upsert` is false", body = ErrorBody),
        (status = 413, description = "More than 10,000 records", body = ErrorBody),
        (status = 422, description = "Wrong dimension, NaN or infinity, bad metadata", body = ErrorBody),
    ))]
pub(crate) async fn write_vectors(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<WriteVectors>,
) -> Result<Json<Written>, ApiError> {
    let c = collection(&state, &name)?;
    let (records, upsert) = match req {
        WriteVectors::Batch { vectors, upsert } => (vectors, upsert),
        WriteVectors::One { record, upsert } => (vec![record], upsert),
    };
    check_batch(records.len())?;
    let with_ids = records.iter().filter(|r| r.id.is_some()).count();
    if with_ids != 0 && with_ids != records.len() {
        return Err(ApiError::invalid("give an id for every record or for none"));
    }
    let ids = state
        .blocking(move || {
            if with_ids == 0 {
                let new = records.into_iter().map(|r| NewRecord {
                    vector: r.vector,
                    text: r.text,
                    metadata: r.metadata,
                });
                return Ok(c.add_batch(new.collect())?);
            }
            let ids: Vec<u64> = records.iter().filter_map(|r| r.id).collect();
            let full = records.into_iter().map(|r| Record {
                id: r.id.unwrap_or_default(),
                vector: r.vector,
                text: r.text,
                metadata: r.metadata,
            });
            if upsert {
                c.upsert_batch(full.collect())?
            } else {
                c.insert_batch(full.collect())?
            }
            Ok(ids)
        })
        .await?;
    Ok(Json(Written { message: format!("{} records written", ids.len()), ids: Some(ids), id: None }))
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

/// One record: id, vector, text and metadata.
#[utoipa::path(get, path = "/collections/{name}/vectors/{id}", tag = "records",
    params(("name" = String, Path), ("id" = u64, Path)),
    responses((status = 200, body = Record), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_record(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Record>, ApiError> {
    let id = parse_id(&id)?;
    let c = collection(&state, &name)?;
    Ok(Json(state.blocking(move || Ok(c.get(id)?)).await?))
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

/// Embeds and stores one text or a batch (`{"texts": [...]}`) with the server's model.
#[utoipa::path(post, path = "/collections/{name}/text", tag = "records", params(("name" = String, Path)),
    request_body = WriteTexts,
    responses(
        (status = 200, body = Written),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Bad metadata, or the collection holds another model's vectors", body = ErrorBody),
        (status = 503, description = "The server runs without an embedding model", body = ErrorBody),
    ))]
pub(crate) async fn write_texts(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<WriteTexts>,
) -> Result<Json<Written>, ApiError> {
    let c = collection(&state, &name)?;
    let (items, single) = match req {
        WriteTexts::Batch { texts } => (texts, false),
        WriteTexts::One(t) => (vec![t], true),
    };
    check_batch(items.len())?;
    let items: Vec<(String, Option<Value>)> = items.into_iter().map(|t| (t.text, t.metadata)).collect();
    let ids = state.blocking(move || Ok(c.add_texts(items)?)).await?;
    Ok(Json(if single {
        Written { message: "Text added successfully".into(), id: ids.first().copied(), ids: None }
    } else {
        Written { message: format!("{} texts added", ids.len()), ids: Some(ids), id: None }
    }))
}
