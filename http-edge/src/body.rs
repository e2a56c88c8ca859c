//! Reading request bodies, whatever their format: the media type a client declared, and why a
//! body could not be read (413 over the limit, 400 otherwise).

use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;

use crate::error::ApiError;

/// The declared media type without its parameters, in lower case: `text/csv` of
/// `Text/CSV; charset=utf-8`.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
}

/// Why a body could not be buffered, for a route whose body limit is `limit` bytes.
pub fn unread(rejection: BytesRejection, limit: usize) -> ApiError {
    match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::PayloadTooLarge { limit }
        }
        other => ApiError::Invalid {
            code: "unreadable_body",
            message: other.body_text(),
            field: None,
        },
    }
}
