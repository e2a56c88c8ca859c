//! Bearer tokens. Operators hold the admin token (register, decommission, read, everything);
//! the dashboard holds the read token (the dashboard's reads only); analysts hold the analyst
//! token (the dashboard's reads, and the whole history: replay and export); each device holds
//! its own key, checked by the command handler.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// A bearer token an operator configured. Its `Debug` hides it, so a logged config shows none.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(…)")
    }
}

/// Why a configured token was refused at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the {role} token must be at least {min} characters", min = ApiToken::MIN_LEN)]
    TooShort { role: &'static str },
    #[error("the {role} token may hold only printable ASCII without spaces")]
    Unprintable { role: &'static str },
    #[error("the admin, read and analyst tokens must all differ: each grants a different role")]
    Shared,
}

impl ApiToken {
    /// Shorter tokens can be guessed; generated ones are far longer.
    pub const MIN_LEN: usize = 16;

    pub fn parse(role: &'static str, raw: impl Into<String>) -> Result<Self, TokenError> {
        let raw = raw.into();
        if raw.len() < Self::MIN_LEN {
            return Err(TokenError::TooShort { role });
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Unprintable { role });
        }
        Ok(Self(raw))
    }

    /// The token itself, to print once for the operator who started the process.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

#[derive(Clone)]
pub struct ApiTokens(Arc<Tokens>);

struct Tokens {
    admin: ApiToken,
    read: ApiToken,
    /// Without one, only the admin token reads the history.
    analyst: Option<ApiToken>,
}

impl ApiTokens {
    pub fn new(admin: ApiToken, read: ApiToken) -> Result<Self, TokenError> {
        Self::with_analyst(admin, read, None)
    }

    pub fn with_analyst(
        admin: ApiToken,
        read: ApiToken,
        analyst: Option<ApiToken>,
    ) -> Result<Self, TokenError> {
        let shared = admin == read || analyst.as_ref().is_some_and(|a| *a == admin || *a == read);
        if shared {
            return Err(TokenError::Shared);
        }
        Ok(Self(Arc::new(Tokens {
            admin,
            read,
            analyst,
        })))
    }

    fn role(&self, presented: &str) -> Option<Role> {
        // Constant-time, so timing tells nothing about how much of a token was right.
        let eq = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
        if eq(presented, &self.0.admin.0) {
            Some(Role::Admin)
        } else if eq(presented, &self.0.read.0) {
            Some(Role::Reader)
        } else if self.0.analyst.as_ref().is_some_and(|a| eq(presented, &a.0)) {
            Some(Role::Analyst)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Reader,
    Analyst,
}

/// What a device presents in `Authorization`: `Bearer <device key>`, or a signed device token,
/// `SharedAccessSignature sr=…&sig=…&se=…`, as IoT Hub devices send it.
pub struct DeviceAuthorization(pub String);

const DEVICE_TOKEN_SCHEME: &str = "SharedAccessSignature ";

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `access_token` from the query string: browsers' EventSource cannot send headers.
fn query_token(parts: &Parts) -> Option<&str> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
}

fn missing() -> ApiError {
    ApiError::Unauthorized("missing bearer token (Authorization: Bearer <token>)".to_owned())
}

/// The role of the token in the `Authorization` header; 401 without one, or for an unknown one.
fn header_role(parts: &Parts, tokens: &ApiTokens) -> Result<Role, ApiError> {
    let token = bearer(parts).ok_or_else(missing)?;
    tokens
        .role(token)
        .ok_or_else(|| ApiError::Unauthorized("unknown token".to_owned()))
}

impl<S: Send + Sync> FromRequestParts<S> for DeviceAuthorization {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with(DEVICE_TOKEN_SCHEME));
        token
            .or_else(|| bearer(parts))
            .map(|t| DeviceAuthorization(t.to_owned()))
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing device key (Authorization: Bearer <key>) or token \
                     (Authorization: SharedAccessSignature sr=…&sig=…&se=…)"
                        .to_owned(),
                )
            })
    }
}

/// Proof that the caller holds the admin token.
pub struct AdminAccess;

impl<S> FromRequestParts<S> for AdminAccess
where
    S: Send + Sync,
    ApiTokens: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match header_role(parts, &ApiTokens::from_ref(state))? {
            Role::Admin => Ok(AdminAccess),
            Role::Reader | Role::Analyst => Err(ApiError::Forbidden {
                code: "read_only_token",
                message: "a read or analyst token cannot change anything".to_owned(),
            }),
        }
    }
}

/// Proof that the caller may read the whole history: the analyst or the admin token, in the
/// `Authorization` header. The dashboard's read token may not: it sits in every browser that
/// shows the dashboard, and the history holds every reading ever taken.
pub struct AnalystAccess;

impl<S> FromRequestParts<S> for AnalystAccess
where
    S: Send + Sync,
    ApiTokens: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match header_role(parts, &ApiTokens::from_ref(state))? {
            Role::Admin | Role::Analyst => Ok(AnalystAccess),
            Role::Reader => Err(ApiError::Forbidden {
                code: "dashboard_token",
                message:
                    "the read token serves the dashboard only; the history needs the analyst token"
                        .to_owned(),
            }),
        }
    }
}

/// Proof that the caller may read: the admin or the read-only token, in the `Authorization`
/// header.
pub struct ReadAccess;

impl<S> FromRequestParts<S> for ReadAccess
where
    S: Send + Sync,
    ApiTokens: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        header_role(parts, &ApiTokens::from_ref(state)).map(|_| ReadAccess)
    }
}

/// Proof that the caller may follow the live stream: as [`ReadAccess`], or the read-only token
/// as `?access_token=`, since browsers' EventSource cannot send headers. A query string ends up
/// in proxies' logs and browser history, so the admin token is never taken there.
pub struct StreamAccess;

impl<S> FromRequestParts<S> for StreamAccess
where
    S: Send + Sync,
    ApiTokens: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if bearer(parts).is_some() {
            return ReadAccess::from_request_parts(parts, state)
                .await
                .map(|ReadAccess| StreamAccess);
        }
        let token = query_token(parts).ok_or_else(missing)?;
        match ApiTokens::from_ref(state).role(token) {
            Some(Role::Reader) => Ok(StreamAccess),
            Some(Role::Admin | Role::Analyst) => Err(ApiError::Unauthorized(
                "only the read token is accepted in a URL; send others in the Authorization header"
                    .to_owned(),
            )),
            None => Err(ApiError::Unauthorized("unknown token".to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn tokens() -> ApiTokens {
        ApiTokens::with_analyst(
            ApiToken::parse("admin", "admin-token-0123456789").unwrap(),
            ApiToken::parse("read", "read-token-0123456789").unwrap(),
            Some(ApiToken::parse("analyst", "analyst-token-0123456789").unwrap()),
        )
        .unwrap()
    }

    async fn extract<T: FromRequestParts<ApiTokens, Rejection = ApiError>>(
        uri: &str,
        header: Option<&str>,
    ) -> Result<T, ApiError> {
        let mut request = Request::builder().uri(uri);
        if let Some(token) = header {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        T::from_request_parts(&mut parts, &tokens()).await
    }

    #[tokio::test]
    async fn reads_take_the_token_from_the_header_only() {
        assert!(
            extract::<ReadAccess>("/v1/devices", Some("read-token-0123456789"))
                .await
                .is_ok()
        );
        let in_url = extract::<ReadAccess>("/v1/devices?access_token=read-token-0123456789", None);
        assert!(matches!(in_url.await, Err(ApiError::Unauthorized(_))));
    }

    #[tokio::test]
    async fn the_stream_takes_the_read_token_in_the_url_but_never_the_admin_token() {
        let read = extract::<StreamAccess>("/v1/stream?access_token=read-token-0123456789", None);
        assert!(read.await.is_ok());
        let admin = extract::<StreamAccess>("/v1/stream?access_token=admin-token-0123456789", None);
        assert!(matches!(admin.await, Err(ApiError::Unauthorized(_))));
        let header = extract::<StreamAccess>("/v1/stream", Some("admin-token-0123456789"));
        assert!(header.await.is_ok());
    }

    #[tokio::test]
    async fn the_history_takes_the_analyst_or_admin_token_never_the_dashboards() {
        let history = |token| extract::<AnalystAccess>("/v1/history", Some(token));
        assert!(history("analyst-token-0123456789").await.is_ok());
        assert!(history("admin-token-0123456789").await.is_ok());
        assert!(matches!(
            history("read-token-0123456789").await,
            Err(ApiError::Forbidden {
                code: "dashboard_token",
                ..
            })
        ));
        let admin = extract::<AdminAccess>("/v1/devices", Some("analyst-token-0123456789"));
        assert!(matches!(admin.await, Err(ApiError::Forbidden { .. })));
        let reads = extract::<ReadAccess>("/v1/devices", Some("analyst-token-0123456789"));
        assert!(
            reads.await.is_ok(),
            "analysts read the dashboard's data too"
        );
        let in_url =
            extract::<StreamAccess>("/v1/stream?access_token=analyst-token-0123456789", None);
        assert!(matches!(in_url.await, Err(ApiError::Unauthorized(_))));
    }

    #[test]
    fn weak_or_shared_tokens_are_refused_and_tokens_never_print() {
        assert_eq!(
            ApiToken::parse("admin", "short").unwrap_err(),
            TokenError::TooShort { role: "admin" }
        );
        assert!(ApiToken::parse("read", "has a space in it, long").is_err());
        let same = ApiToken::parse("admin", "x".repeat(20)).unwrap();
        assert_eq!(
            ApiTokens::new(same.clone(), same.clone()).err(),
            Some(TokenError::Shared)
        );
        let other = ApiToken::parse("read", "y".repeat(20)).unwrap();
        assert_eq!(
            ApiTokens::with_analyst(same.clone(), other.clone(), Some(other)).err(),
            Some(TokenError::Shared)
        );
        assert_eq!(format!("{same:?}"), "ApiToken(…)");
    }
}
