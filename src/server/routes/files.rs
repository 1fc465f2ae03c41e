//! Files in the data directory: save and load one collection, save and load the database.

use axum::Json;
use axum::extract::{Path, State};

use super::super::AppState;
use super::super::api::{DatabaseResponse, ErrorBody, LoadFile, Loaded, SaveFile, Saved};
use super::super::error::ApiError;
use super::super::extract::ApiJson;
use super::collection;
use crate::VectorLiteClient;
use crate::collection::Collection;
use crate::persist::{LoadMode, LoadOptions, SaveOptions};

/// Saves one collection to a file in the data directory (default `<name>.vlc`); the body is optional.
#[utoipa::path(post, path = "/collections/{name}/save", tag = "persistence", params(("name" = String, Path)),
    request_body(content = Option<SaveFile>),
    responses((status = 200, body = Saved), (status = 404, body = ErrorBody),
        (status = 422, description = "The path leaves the data directory", body = ErrorBody)))]
pub(crate) async fn save_collection(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Saved>, ApiError> {
    let c = collection(&state, &name)?;
    // The body is optional: no body saves to `<name>.vlc`.
    let req: SaveFile = if body.iter().all(u8::is_ascii_whitespace) {
        SaveFile::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::from_json_error(&e))?
    };
    let rel = req.file.unwrap_or_else(|| format!("{name}.vlc"));
    let path = state.data_path(&rel)?;
    state.blocking(move || Ok(c.save_to_file(&path, &SaveOptions::default())?)).await?;
    Ok(Json(Saved { message: format!("collection '{name}' saved"), file_path: rel }))
}

/// Loads a collection file from the data directory: as a new collection, or overriding or merging
/// into the one of the same name.
#[utoipa::path(post, path = "/collections/load", tag = "persistence", request_body = LoadFile,
    responses((status = 200, body = Loaded), (status = 404, description = "No such file", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "Corrupt file, or the path leaves the data directory", body = ErrorBody)))]
pub(crate) async fn load_collection(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoadFile>,
) -> Result<Json<Loaded>, ApiError> {
    let path = state.data_path(&req.file)?;
    let client = state.client()?.clone();
    let mode = req.mode.as_deref().map(str::to_ascii_lowercase);
    let name = state
        .blocking(move || {
            Ok(match (mode.as_deref(), req.name) {
                (Some("override"), None) => client.load_collection(&path, LoadMode::Override)?,
                (Some("merge"), None) => client.load_collection(&path, LoadMode::Merge)?,
                (None | Some("create"), name) => {
                    let loaded = Collection::load_from_file(&path, &LoadOptions::default())?;
                    let name = name.unwrap_or_else(|| loaded.name().to_owned());
                    client.add_collection(loaded, &name)?;
                    name
                }
                (Some(other), _) => {
                    return Err(ApiError::invalid(format!(
                        "mode '{other}' (with a name only 'create' applies); use override, merge or create"
                    )));
                }
            })
        })
        .await?;
    Ok(Json(Loaded { message: format!("collection '{name}' loaded"), collection_name: name }))
}

/// Saves the whole database to the data directory (manifest last, atomically); for a durable
/// database, a checkpoint.
#[utoipa::path(post, path = "/save", tag = "persistence",
    responses((status = 200, body = DatabaseResponse), (status = 401, body = ErrorBody)))]
pub(crate) async fn save_database(State(state): State<AppState>) -> Result<Json<DatabaseResponse>, ApiError> {
    let (client, dir) = (state.client()?.clone(), state.data_dir.clone());
    let collections = state
        .blocking(move || {
            client.save_to_directory(&dir, &SaveOptions::default())?;
            Ok(client.list_collections())
        })
        .await?;
    Ok(Json(DatabaseResponse { message: "database saved", collections }))
}

/// Replaces the database in memory with the one saved in the data directory. A durable
/// database (the default) always holds exactly that already, so this changes nothing.
#[utoipa::path(post, path = "/load", tag = "persistence",
    responses((status = 200, body = DatabaseResponse), (status = 422, description = "Corrupt files", body = ErrorBody)))]
pub(crate) async fn load_database(State(state): State<AppState>) -> Result<Json<DatabaseResponse>, ApiError> {
    let (client, dir) = (state.client()?.clone(), state.data_dir.clone());
    let (message, collections) = state
        .blocking(move || {
            if client.data_dir().is_some() {
                let message = "the database is durable: it already holds everything in the data directory";
                return Ok((message, client.list_collections()));
            }
            let loaded = VectorLiteClient::load_from_directory(&dir, &LoadOptions::default())?;
            client.replace_collections(loaded)?;
            Ok(("database loaded", client.list_collections()))
        })
        .await?;
    Ok(Json(DatabaseResponse { message, collections }))
}
