//! Read-model generations as SQLite files side by side: generation 1 is the configured file
//! (`read-model.db`), generation N is `read-model-gN.db`, and the record every process follows is
//! one row in `read-model.generations.db`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use watershed_domain::ports::{ReadModel, ReadModelError, ReadModelGenerations};
use watershed_domain::Generations;

use super::read_model::SqliteReadModel;
use crate::generation_record::{self, RECORD_TABLE};

pub struct SqliteGenerations {
    /// Generation 1's file; the others are named after it.
    home: PathBuf,
    record: SqlitePool,
}

fn unavailable(e: impl std::fmt::Display) -> ReadModelError {
    ReadModelError::Unavailable(e.to_string())
}

impl SqliteGenerations {
    pub async fn open(home: &Path) -> Result<Self, ReadModelError> {
        let record_file = home.with_file_name(format!("{}.generations.db", stem(home)));
        let record = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(super::connect_options(&record_file))
            .await
            .map_err(unavailable)?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 record TEXT NOT NULL
             )"
        ))
        .execute(&record)
        .await
        .map_err(unavailable)?;
        sqlx::query(&format!(
            "INSERT INTO {RECORD_TABLE} (id, record) VALUES (1, ?) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(generation_record::encode(&Generations::default()))
        .execute(&record)
        .await
        .map_err(unavailable)?;
        Ok(Self {
            home: home.to_owned(),
            record,
        })
    }

    fn file_of(&self, generation: u32) -> PathBuf {
        if generation == 1 {
            return self.home.clone();
        }
        let name = match self.home.extension() {
            Some(ext) => format!(
                "{}-g{generation}.{}",
                stem(&self.home),
                ext.to_string_lossy()
            ),
            None => format!("{}-g{generation}", stem(&self.home)),
        };
        self.home.with_file_name(name)
    }

    /// The generation a file in the read models' directory holds, if it is one of them.
    fn generation_of(&self, file: &Path) -> Option<u32> {
        if file == self.home {
            return Some(1);
        }
        let name = file.file_name()?.to_str()?;
        let number = name.strip_prefix(&format!("{}-g", stem(&self.home)))?;
        let number = number.split('.').next()?;
        let generation: u32 = number.parse().ok().filter(|&g| g > 1)?;
        (self.file_of(generation) == file).then_some(generation)
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[async_trait]
impl ReadModelGenerations for SqliteGenerations {
    async fn load(&self) -> Result<Generations, ReadModelError> {
        let text: String =
            sqlx::query_scalar(&format!("SELECT record FROM {RECORD_TABLE} WHERE id = 1"))
                .fetch_one(&self.record)
                .await
                .map_err(unavailable)?;
        generation_record::decode(&text)
    }

    async fn replace(
        &self,
        expected: &Generations,
        new: &Generations,
    ) -> Result<bool, ReadModelError> {
        let done = sqlx::query(&format!(
            "UPDATE {RECORD_TABLE} SET record = ? WHERE id = 1 AND record = ?"
        ))
        .bind(generation_record::encode(new))
        .bind(generation_record::encode(expected))
        .execute(&self.record)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn existing(&self) -> Result<Vec<u32>, ReadModelError> {
        let dir = match self.home.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(unavailable)? {
            let path = entry.map_err(unavailable)?.path();
            if let Some(generation) = self.generation_of(&path) {
                found.push(generation);
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    async fn open(&self, generation: u32) -> Result<Arc<dyn ReadModel>, ReadModelError> {
        Ok(Arc::new(
            SqliteReadModel::open(&self.file_of(generation)).await?,
        ))
    }

    async fn remove(&self, generation: u32) -> Result<(), ReadModelError> {
        let file = self.file_of(generation);
        for suffix in ["", "-wal", "-shm"] {
            let mut name = file.clone().into_os_string();
            name.push(suffix);
            match std::fs::remove_file(&name) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(unavailable(e)),
                _ => {}
            }
        }
        Ok(())
    }
}
