//! Server URLs that may carry a password (`postgres://user:secret@host/db`). They print with the
//! password masked, so a config, a log line or an error message never shows it.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the client library that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn masked(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                let hidden = if userinfo.contains(':') { ":***" } else { "" };
                format!("{scheme}://{user}{hidden}@{host}{tail}")
            }
            None => self.0.clone(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_the_rest_kept() {
        let url = SecretUrl::new("postgres://ws:s3cr3t@db:5432/ws?sslmode=require");
        assert_eq!(
            url.to_string(),
            "postgres://ws:***@db:5432/ws?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("s3cr3t"));
        assert_eq!(
            url.expose(),
            "postgres://ws:s3cr3t@db:5432/ws?sslmode=require"
        );
        let redis = SecretUrl::new("rediss://:p%40ss@cache:6380/0");
        assert_eq!(redis.to_string(), "rediss://:***@cache:6380/0");
        let plain = SecretUrl::new("redis://127.0.0.1:6379");
        assert_eq!(plain.to_string(), "redis://127.0.0.1:6379");
        let user_only = SecretUrl::new("postgres://postgres@127.0.0.1/postgres");
        assert_eq!(
            user_only.to_string(),
            "postgres://postgres@127.0.0.1/postgres"
        );
    }
}
