//! Nothing acknowledged is lost: `watershed up` is killed with SIGKILL several times while devices
//! send readings; after each restart every acknowledged batch is in the event history, and the
//! read models count every stored reading exactly once.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use watershed_tests::process::{
    counted_readings, embedded_up_args, register, spawn_watershed, start_senders, stored_batches,
    wait_acked, wait_caught_up, Acked, Running,
};

const ADMIN: &str = "kill-test-admin-token";
const READ: &str = "kill-test-read-token";
const DEVICES: usize = 4;
const KILLS: usize = 3;

async fn start(data: &Path) -> Running {
    let args = embedded_up_args(data, &[]);
    spawn_watershed(
        env!("CARGO_BIN_EXE_watershed"),
        args,
        &[
            ("WATERSHED_ADMIN_TOKEN", ADMIN),
            ("WATERSHED_READ_TOKEN", READ),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_acknowledged_batch_and_counts_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let acked = Acked::default();

    let mut running = start(dir.path()).await;
    let devices: Vec<String> = (0..DEVICES).map(|d| format!("k-{d}")).collect();
    let mut keys = Vec::new();
    for device in &devices {
        keys.push(register(&http, &running.base, ADMIN, device).await);
    }

    for round in 0..KILLS {
        let senders = start_senders(
            &http,
            &running.base,
            &devices,
            &keys,
            round,
            &acked,
            &CancellationToken::new(),
        );
        let target = (round + 1) * 100;
        wait_acked(&acked, target, Duration::from_secs(60)).await;
        running.kill().await;
        for sender in senders {
            sender.await.unwrap();
        }
        running = start(dir.path()).await;
    }

    // Everything acknowledged is in the event history.
    let (stored, stored_readings) = stored_batches(&http, &running.base, READ, &devices).await;
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILLS * 100);
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    // The read models count every stored reading exactly once, after three crashes.
    wait_caught_up(&http, &running.base, READ, Duration::from_secs(60)).await;
    assert_eq!(
        counted_readings(&http, &running.base, READ, &devices).await,
        stored_readings,
        "each stored reading is counted once"
    );
    running.kill().await;
}
