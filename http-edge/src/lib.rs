//! The HTTP edge both APIs share: one error type with its JSON body, a JSON extractor that names
//! the offending field, and bearer-token authentication.

pub mod auth;
pub mod body;
pub mod error;
pub mod json;
pub mod limits;
pub mod path;
pub mod query;
pub mod rate_limit;

pub use auth::{
    AdminAccess, AnalystAccess, ApiToken, ApiTokens, DeviceAuthorization, ReadAccess, StreamAccess,
    TokenError,
};
pub use error::{ApiError, ErrorBody};
pub use json::ApiJson;
pub use limits::RequestLimits;
pub use query::ApiQuery;
