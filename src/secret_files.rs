//! `NAME_FILE` for every variable that carries a secret: an orchestrator mounts secrets as files
//! (the Secrets Store CSI driver, Docker secrets), and a file stays out of the process
//! environment that `ps e`, crash reports and child processes see. The file's content, without a
//! trailing newline, becomes `NAME` before the command line is read.

use std::path::{Path, PathBuf};

/// The variables a file may give.
pub const SECRET_VARIABLES: &[&str] = &[
    "WATERSHED_ADMIN_TOKEN",
    "WATERSHED_READ_TOKEN",
    "WATERSHED_ANALYST_TOKEN",
    "WATERSHED_EVENT_STORE",
    "WATERSHED_READ_MODEL",
    "WATERSHED_CACHE",
    "WATERSHED_COSMOS_KEY",
    "WATERSHED_SPLUNK_TOKEN",
];

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("both {name} and {name}_FILE are set; give one")]
    Both { name: &'static str },
    #[error("{name}_FILE: reading {path}: {source}")]
    Unreadable {
        name: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The values the files give, for the variables that are not set themselves.
pub fn resolve(
    var: impl Fn(&str) -> Option<String>,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<Vec<(&'static str, String)>, SecretFileError> {
    let mut found = Vec::new();
    for &name in SECRET_VARIABLES {
        let Some(file) = var(&format!("{name}_FILE")) else {
            continue;
        };
        if var(name).is_some() {
            return Err(SecretFileError::Both { name });
        }
        let path = PathBuf::from(file);
        let content = read(&path).map_err(|source| SecretFileError::Unreadable {
            name,
            path: path.clone(),
            source,
        })?;
        let value = content.strip_suffix('\n').unwrap_or(&content);
        found.push((name, value.strip_suffix('\r').unwrap_or(value).to_owned()));
    }
    Ok(found)
}

/// Sets each variable a `_FILE` gives. Call it first thing in `main`, before any thread exists:
/// only then is changing the environment sound.
pub fn load() -> Result<(), SecretFileError> {
    let found = resolve(
        |name| std::env::var(name).ok(),
        |path| std::fs::read_to_string(path),
    )?;
    for (name, value) in found {
        // SAFETY of the environment: no other thread runs yet (see above).
        std::env::set_var(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_file_gives_its_variable_without_the_trailing_newline() {
        let vars = env(&[("WATERSHED_ADMIN_TOKEN_FILE", "/run/secrets/admin")]);
        let found = resolve(
            |n| vars.get(n).cloned(),
            |p| {
                assert_eq!(p, Path::new("/run/secrets/admin"));
                Ok("s3cret-admin-token\n".to_owned())
            },
        )
        .unwrap();
        assert_eq!(
            found,
            vec![("WATERSHED_ADMIN_TOKEN", "s3cret-admin-token".to_owned())]
        );
    }

    #[test]
    fn both_or_an_unreadable_file_is_refused_by_name() {
        let vars = env(&[
            ("WATERSHED_READ_TOKEN", "x"),
            ("WATERSHED_READ_TOKEN_FILE", "/f"),
        ]);
        let both = resolve(|n| vars.get(n).cloned(), |_| Ok(String::new()));
        assert!(matches!(
            both,
            Err(SecretFileError::Both {
                name: "WATERSHED_READ_TOKEN"
            })
        ));
        let vars = env(&[("WATERSHED_CACHE_FILE", "/missing")]);
        let missing = resolve(
            |n| vars.get(n).cloned(),
            |_| Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        );
        assert!(matches!(
            missing,
            Err(SecretFileError::Unreadable {
                name: "WATERSHED_CACHE",
                ..
            })
        ));
    }
}
