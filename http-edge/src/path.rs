//! Path parameters: as the OpenAPI document describes them, with the alphabet the handlers enforce
//! (so a generated client, or a fuzzer, knows which ids are well formed), and an extractor whose
//! refusals are JSON errors like every other.

use serde::Deserialize;
use utoipa::IntoParams;

/// The `{device_id}` of every device route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DevicePath {
    /// 1–64 of `A-Z a-z 0-9 - _ . :`.
    #[param(pattern = r"^[A-Za-z0-9._:-]{1,64}$", min_length = 1, max_length = 64)]
    pub device_id: String,
}

/// A path extractor whose rejection is our JSON 400 rather than axum's plain text.
pub struct ApiPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = crate::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|e| crate::ApiError::Invalid {
                code: "invalid_path",
                message: e.body_text(),
                field: None,
            })
    }
}
