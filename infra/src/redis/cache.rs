//! Device views in one Redis hash per namespace (`<ns>:devices`, field = device id, value = the
//! view as JSON), plus `<ns>:devices:complete` once the hash was filled whole.

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use watershed_domain::ports::{CacheError, DeviceCache};
use watershed_domain::read_model::DeviceView;
use watershed_domain::DeviceId;

use super::{bounded, connect};

pub struct RedisDeviceCache {
    conn: ConnectionManager,
    hash: String,
    complete: String,
}

fn encode(view: &DeviceView) -> String {
    serde_json::to_string(view).expect("device views serialize: plain data with string keys")
}

fn decode(json: &str) -> Result<DeviceView, CacheError> {
    serde_json::from_str(json).map_err(|e| CacheError(format!("unreadable cached view: {e}")))
}

impl RedisDeviceCache {
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, CacheError> {
        Ok(Self {
            conn: connect(url).await.map_err(CacheError)?,
            hash: format!("{namespace}:devices"),
            complete: format!("{namespace}:devices:complete"),
        })
    }
}

#[async_trait]
impl DeviceCache for RedisDeviceCache {
    async fn put(&self, views: &[DeviceView]) -> Result<(), CacheError> {
        if views.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("HSET");
        cmd.arg(&self.hash);
        for view in views {
            cmd.arg(view.device_id.as_str()).arg(encode(view));
        }
        let mut conn = self.conn.clone();
        bounded(cmd.query_async::<()>(&mut conn))
            .await
            .map_err(CacheError)
    }

    async fn get(&self, id: &DeviceId) -> Result<Option<DeviceView>, CacheError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = bounded(
            redis::cmd("HGET")
                .arg(&self.hash)
                .arg(id.as_str())
                .query_async(&mut conn),
        )
        .await
        .map_err(CacheError)?;
        json.as_deref().map(decode).transpose()
    }

    async fn all(&self) -> Result<Option<Vec<DeviceView>>, CacheError> {
        let mut conn = self.conn.clone();
        let (complete, fields): (bool, Vec<(String, String)>) = bounded(
            redis::pipe()
                .cmd("EXISTS")
                .arg(&self.complete)
                .cmd("HGETALL")
                .arg(&self.hash)
                .query_async(&mut conn),
        )
        .await
        .map_err(CacheError)?;
        if !complete {
            return Ok(None);
        }
        let mut views = fields
            .iter()
            .map(|(_, json)| decode(json))
            .collect::<Result<Vec<_>, _>>()?;
        views.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        Ok(Some(views))
    }

    async fn replace_all(&self, views: &[DeviceView]) -> Result<(), CacheError> {
        // One MULTI/EXEC: readers see the old content or the new, never a half-filled hash.
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("DEL").arg(&self.hash).ignore();
        if !views.is_empty() {
            let mut hset = redis::cmd("HSET");
            hset.arg(&self.hash);
            for view in views {
                hset.arg(view.device_id.as_str()).arg(encode(view));
            }
            pipe.add_command(hset).ignore();
        }
        pipe.cmd("SET").arg(&self.complete).arg(1).ignore();
        let mut conn = self.conn.clone();
        bounded(pipe.query_async::<()>(&mut conn))
            .await
            .map_err(CacheError)
    }

    /// `HLEN`: constant time, whatever the size of the fleet.
    async fn count(&self) -> Result<Option<u64>, CacheError> {
        let mut conn = self.conn.clone();
        let (complete, count): (bool, u64) = bounded(
            redis::pipe()
                .cmd("EXISTS")
                .arg(&self.complete)
                .cmd("HLEN")
                .arg(&self.hash)
                .query_async(&mut conn),
        )
        .await
        .map_err(CacheError)?;
        Ok(complete.then_some(count))
    }
}
