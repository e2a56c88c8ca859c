//! The embedded cache of device views: a map behind a lock, filled by the projectors.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;
use watershed_domain::ports::{CacheError, DeviceCache};
use watershed_domain::read_model::DeviceView;
use watershed_domain::DeviceId;

#[derive(Default)]
pub struct MemoryDeviceCache {
    state: RwLock<CacheState>,
}

#[derive(Default)]
struct CacheState {
    views: BTreeMap<DeviceId, DeviceView>,
    complete: bool,
}

impl MemoryDeviceCache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        self.state.read().expect("device cache lock poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CacheState> {
        self.state.write().expect("device cache lock poisoned")
    }
}

#[async_trait]
impl DeviceCache for MemoryDeviceCache {
    async fn put(&self, views: &[DeviceView]) -> Result<(), CacheError> {
        let mut state = self.write();
        for view in views {
            state.views.insert(view.device_id.clone(), view.clone());
        }
        Ok(())
    }

    async fn get(&self, id: &DeviceId) -> Result<Option<DeviceView>, CacheError> {
        Ok(self.read().views.get(id).cloned())
    }

    async fn all(&self) -> Result<Option<Vec<DeviceView>>, CacheError> {
        let state = self.read();
        Ok(state
            .complete
            .then(|| state.views.values().cloned().collect()))
    }

    async fn replace_all(&self, views: &[DeviceView]) -> Result<(), CacheError> {
        let mut state = self.write();
        state.views = views
            .iter()
            .map(|v| (v.device_id.clone(), v.clone()))
            .collect();
        state.complete = true;
        Ok(())
    }

    async fn count(&self) -> Result<Option<u64>, CacheError> {
        let state = self.read();
        Ok(state.complete.then_some(state.views.len() as u64))
    }
}
