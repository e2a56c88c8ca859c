//! One command at a time per device in this process. Commands of one device are decided on the
//! state the previous one left, so concurrent requests of one device (a vehicle on 16
//! connections) queue here instead of racing to the store, where all but one would conflict and
//! retry until they gave up. Other devices are never held up; another process writing the same
//! stream is still caught by the store's expected-version check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use watershed_domain::DeviceId;

#[derive(Default)]
pub struct StreamLocks {
    locks: Mutex<HashMap<DeviceId, Arc<AsyncMutex<()>>>>,
}

impl StreamLocks {
    /// Waits for the device's turn; the turn ends when the guard is dropped.
    pub async fn turn(&self, id: &DeviceId) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().expect("stream lock map poisoned");
            Arc::clone(locks.entry(id.clone()).or_default())
        };
        lock.lock_owned().await
    }
}
