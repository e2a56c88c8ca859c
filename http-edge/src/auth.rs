//! Bearer tokens. Operators hold the admin token (register, decommission, read); the dashboard
//! holds the read-only token; each device holds its own key, checked by the device aggregate.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

#[derive(Clone)]
pub struct ApiTokens(Arc<Tokens>);

struct Tokens {
    admin: String,
    read: String,
}

impl ApiTokens {
    pub fn new(admin: String, read: String) -> Self {
        Self(Arc::new(Tokens { admin, read }))
    }

    fn role(&self, presented: &str) -> Option<Role> {
        // Constant-time, so timing tells nothing about how much of a token was right.
        let eq = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
        if eq(presented, &self.0.admin) {
            Some(Role::Admin)
        } else if eq(presented, &self.0.read) {
            Some(Role::Reader)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Reader,
}

/// The token of an `Authorization: Bearer …` header.
pub struct BearerToken(pub String);

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

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        bearer(parts)
            .map(|t| BearerToken(t.to_owned()))
            .ok_or_else(missing)
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
        let token = bearer(parts).ok_or_else(missing)?;
        match ApiTokens::from_ref(state).role(token) {
            Some(Role::Admin) => Ok(AdminAccess),
            Some(Role::Reader) => Err(ApiError::Forbidden {
                code: "read_only_token",
                message: "the read-only token cannot change anything".to_owned(),
            }),
            None => Err(ApiError::Unauthorized("unknown token".to_owned())),
        }
    }
}

/// Proof that the caller may read: the admin or the read-only token, in the `Authorization`
/// header or as `?access_token=`.
pub struct ReadAccess;

impl<S> FromRequestParts<S> for ReadAccess
where
    S: Send + Sync,
    ApiTokens: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)
            .or_else(|| query_token(parts))
            .ok_or_else(missing)?;
        match ApiTokens::from_ref(state).role(token) {
            Some(_) => Ok(ReadAccess),
            None => Err(ApiError::Unauthorized("unknown token".to_owned())),
        }
    }
}
