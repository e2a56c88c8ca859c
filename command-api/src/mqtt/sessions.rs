//! One session per device, as MQTT requires ([MQTT-3.1.4-2]): a CONNECT with the client id of a
//! connected device takes its session over, and the older connection is closed (MQTT 5: with
//! DISCONNECT 142 "session taken over"). The gateway serves every connection on one worker
//! thread (`.workers(1)` in `mod.rs`), so the table is that thread's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use watershed_domain::DeviceId;

/// Closes a connection, each version its own way.
pub type Close = Box<dyn Fn()>;

thread_local! {
    static CONNECTED: RefCell<HashMap<DeviceId, (u64, Close)>> = RefCell::new(HashMap::new());
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A device's place in the table; leaving it (the connection ends) frees the place, unless a
/// newer session took it over meanwhile.
#[derive(Debug)]
pub struct Session {
    device: DeviceId,
    number: u64,
}

impl Session {
    /// Makes this connection the device's one session, closing an older one.
    pub fn take_over(device: DeviceId, close: Close) -> Self {
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let older = CONNECTED.with_borrow_mut(|c| c.insert(device.clone(), (number, close)));
        // Closed outside the borrow: closing may end the older session, which then leaves.
        if let Some((_, close_older)) = older {
            metrics::counter!("watershed_mqtt_sessions_taken_over_total").increment(1);
            close_older();
        }
        Self { device, number }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        CONNECTED.with_borrow_mut(|c| {
            if c.get(&self.device).is_some_and(|(n, _)| *n == self.number) {
                c.remove(&self.device);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    #[test]
    fn a_newer_session_closes_the_older_and_only_its_own_end_frees_the_place() {
        let device = DeviceId::parse("pump-1").unwrap();
        let closed = Rc::new(Cell::new(0));
        let counting = |closed: &Rc<Cell<u32>>| -> Close {
            let closed = Rc::clone(closed);
            Box::new(move || closed.set(closed.get() + 1))
        };
        let first = Session::take_over(device.clone(), counting(&closed));
        assert_eq!(closed.get(), 0);
        let second = Session::take_over(device.clone(), counting(&closed));
        assert_eq!(closed.get(), 1, "the first is closed");
        drop(first);
        let third = Session::take_over(device.clone(), counting(&closed));
        assert_eq!(
            closed.get(),
            2,
            "the first leaving did not free the second's place"
        );
        drop(third);
        let _fourth = Session::take_over(device, counting(&closed));
        assert_eq!(closed.get(), 2, "the third's end freed the place");
        drop(second);
    }
}
