//! Device aggregate states, kept in memory after the first load. A cached state can only be
//! stale, never wrong: appends carry its version, and a conflict makes the handler reload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use watershed_domain::event::DeviceEvent;
use watershed_domain::ports::{EventStore, StoreError, StreamQuery};
use watershed_domain::{evolve, Device, DeviceId};

pub struct DeviceStates {
    store: Arc<dyn EventStore>,
    cached: Mutex<HashMap<DeviceId, Device>>,
}

impl DeviceStates {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            cached: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, id: &DeviceId) -> Result<Device, StoreError> {
        let cached = self.lock().get(id).cloned();
        match cached {
            Some(device) => Ok(device),
            None => self.reload(id).await,
        }
    }

    /// Rebuilds the state from the store. The version is read first and only events up to it are
    /// folded: anything appended meanwhile makes the next append conflict, never slip through.
    pub async fn reload(&self, id: &DeviceId) -> Result<Device, StoreError> {
        let version = self.store.stream_version(id).await?;
        if version == 0 {
            // Not cached: unknown ids sent by anyone must not grow the map.
            return Ok(Device::default());
        }
        let query = StreamQuery {
            from_seq: 1,
            limit: usize::MAX,
            only_types: Some(Device::STATE_EVENT_TYPES),
        };
        let mut device = Device::default();
        for event in self.store.read_stream(id, query).await? {
            if event.stream_seq > version {
                break;
            }
            let decoded = event
                .decode()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            device = evolve(device, event.stream_seq, &decoded);
        }
        device.version = version;
        self.remember(id, &device);
        Ok(device)
    }

    /// Folds events just appended at `first_seq…` into the state.
    pub fn applied(
        &self,
        id: &DeviceId,
        mut device: Device,
        first_seq: u64,
        events: &[DeviceEvent],
    ) {
        for (seq, event) in (first_seq..).zip(events) {
            device = evolve(device, seq, event);
        }
        self.remember(id, &device);
    }

    /// Keeps the newer of the cached and the given state: concurrent requests finish in any order.
    fn remember(&self, id: &DeviceId, device: &Device) {
        let mut cached = self.lock();
        match cached.get(id) {
            Some(known) if known.version >= device.version => {}
            _ => {
                cached.insert(id.clone(), device.clone());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, Device>> {
        self.cached
            .lock()
            .expect("device state cache lock poisoned")
    }
}
