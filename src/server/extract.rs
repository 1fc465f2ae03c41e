//! Request extraction that keeps the async threads free: [`ApiJson`] reads the body, then
//! parses it on the blocking pool when it is larger than a few KiB (a 32 MiB body takes a
//! while to parse), and every failure is one of our JSON errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, ErrorCode};

/// Bodies up to this size are parsed where they arrive; larger ones on the blocking pool.
const INLINE_PARSE_MAX: usize = 16 << 10;

/// A JSON body (`content-type` absent or `application/json`) parsed into `T`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json_type = req.headers().get(header::CONTENT_TYPE).is_none_or(|v| {
            v.to_str().is_ok_and(|t| {
                let t = t.to_ascii_lowercase();
                t.starts_with("application/json") || (t.starts_with("application/") && t.contains("+json"))
            })
        });
        if !json_type {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            ApiError::from_status(rejection.status()).with_message(rejection.body_text())
        })?;
        let len = bytes.len();
        let parse = move || serde_json::from_slice::<T>(&bytes).map_err(|e| ApiError::from_json_error(&e));
        let value = if len <= INLINE_PARSE_MAX { parse()? } else { state.blocking(parse).await? };
        Ok(ApiJson(value))
    }
}
