//! A JSON body extractor whose errors are ours: 415 without a JSON content type, 413 over the body
//! limit, 400 naming the field that failed (`readings[3].value`) otherwise.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::body;
use crate::error::ApiError;

/// The body limit every JSON endpoint shares: 1 000 readings take about 100 KiB.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if body::media_type(req.headers()).as_deref() != Some("application/json") {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body::unread(e, BODY_LIMIT))?;
        parse(&bytes).map(ApiJson)
    }
}

/// Deserializes, reporting the JSON path of the first failure.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            "malformed_json"
        } else {
            "invalid_input"
        };
        ApiError::Invalid {
            code,
            message: inner.to_string(),
            // A syntax error's path ends in `?`: it names no field the client could fix.
            field: (path != "." && !path.contains('?')).then_some(path),
        }
    })?;
    de.end().map_err(|e| ApiError::Invalid {
        code: "malformed_json",
        message: e.to_string(),
        field: None,
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    struct Item {
        value: f64,
    }

    fn field_of(json: &str) -> (String, Option<String>) {
        match parse::<Body>(json.as_bytes()) {
            Err(ApiError::Invalid { code, field, .. }) => (code.to_owned(), field),
            other => panic!("expected an invalid-input error, got {other:?}"),
        }
    }

    #[test]
    fn valid_json_parses() {
        let body: Body = parse(br#"{"items":[{"value":1.5}]}"#).unwrap();
        assert_eq!(body.items[0].value, 1.5);
    }

    #[test]
    fn a_wrong_type_names_its_path() {
        let (code, field) = field_of(r#"{"items":[{"value":1},{"value":"x"}]}"#);
        assert_eq!(code, "invalid_input");
        assert_eq!(field.as_deref(), Some("items[1].value"));
    }

    #[test]
    fn broken_json_is_malformed() {
        assert_eq!(field_of(r#"{"items":[{"value":1}"#).0, "malformed_json");
        assert_eq!(field_of(r#"{"items":[]} trailing"#).0, "malformed_json");
    }

    #[test]
    fn a_missing_field_is_named() {
        let (_, field) = field_of(r#"{"items":[{}]}"#);
        assert_eq!(field.as_deref(), Some("items[0]"));
    }
}
