//! Where an interrupted replay or export picks up: the last checkpoint it handled, kept in a
//! small JSON file replaced atomically (written aside, synced, renamed), so a crash leaves
//! either the old state or the new one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    /// The token of the last checkpoint handled; none before the first.
    pub resume_token: Option<String>,
    /// Bytes of the output file that hold the events above that checkpoint.
    #[serde(default)]
    pub output_bytes: u64,
}

impl ResumeState {
    /// The saved state, or the beginning when there is no file yet.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a resume file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let aside = aside(path);
        let mut file = std::fs::File::create(&aside)
            .with_context(|| format!("writing {}", aside.display()))?;
        file.write_all(&serde_json::to_vec(self).expect("plain data"))?;
        file.sync_all()?;
        std::fs::rename(&aside, path).with_context(|| format!("replacing {}", path.display()))?;
        sync_dir(path)
    }
}

fn aside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Syncs the directory holding `path`, so a rename in it survives a power cut.
pub fn sync_dir(path: &Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_survives_a_save_and_a_missing_file_is_the_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.resume");
        assert_eq!(ResumeState::load(&path).unwrap(), ResumeState::default());
        let state = ResumeState {
            resume_token: Some("MTI".to_owned()),
            output_bytes: 42,
        };
        state.save(&path).unwrap();
        assert_eq!(ResumeState::load(&path).unwrap(), state);
        std::fs::write(&path, "garbage").unwrap();
        assert!(ResumeState::load(&path).is_err());
    }
}
