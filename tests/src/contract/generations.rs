//! What every store of read-model generations promises: generations are separate stores that
//! come and go whole, and the record changes only where it still is what the writer read.

use std::sync::Arc;

use chrono::{Duration, Utc};
use watershed_domain::ports::{ReadModel, ReadModelGenerations};
use watershed_domain::{DeviceId, Generations};
use watershed_projectors::project;

use crate::events::{recorded, registered, unique_device};

/// `generations` must be fresh: nothing created yet.
pub async fn generations_contract(generations: Arc<dyn ReadModelGenerations>) {
    generations_are_separate_and_removed_whole(&*generations).await;
    the_record_changes_only_from_what_was_read(&*generations).await;
}

async fn register(read_model: &dyn ReadModel, device: &DeviceId) {
    let events = [recorded(device, 1, 0, &registered())];
    let delta = project(&events, &Default::default(), Utc::now() - Duration::days(2))
        .unwrap()
        .delta;
    read_model.commit(&delta).await.unwrap();
}

async fn device_ids(read_model: &dyn ReadModel) -> Vec<DeviceId> {
    let views = read_model.devices().await.unwrap();
    views.into_iter().map(|v| v.device_id).collect()
}

async fn generations_are_separate_and_removed_whole(generations: &dyn ReadModelGenerations) {
    assert_eq!(generations.existing().await.unwrap(), Vec::<u32>::new());
    let (first, second) = (unique_device("gen-one"), unique_device("gen-two"));
    register(&*generations.open(1).await.unwrap(), &first).await;
    register(&*generations.open(2).await.unwrap(), &second).await;
    assert_eq!(generations.existing().await.unwrap(), vec![1, 2]);
    assert_eq!(
        device_ids(&*generations.open(1).await.unwrap()).await,
        vec![first.clone()]
    );
    assert_eq!(
        device_ids(&*generations.open(2).await.unwrap()).await,
        vec![second]
    );

    generations.remove(2).await.unwrap();
    assert_eq!(generations.existing().await.unwrap(), vec![1]);
    assert_eq!(
        device_ids(&*generations.open(2).await.unwrap()).await,
        Vec::<DeviceId>::new(),
        "a removed generation comes back empty"
    );
    assert_eq!(
        device_ids(&*generations.open(1).await.unwrap()).await,
        vec![first],
        "removing one generation leaves the others"
    );
    generations.remove(2).await.unwrap();
    generations.remove(1).await.unwrap();
    assert_eq!(generations.existing().await.unwrap(), Vec::<u32>::new());
    generations
        .remove(1)
        .await
        .expect("removing what is gone is no error");
}

async fn the_record_changes_only_from_what_was_read(generations: &dyn ReadModelGenerations) {
    let read = generations.load().await.unwrap();
    assert_eq!(read, Generations::default());
    let begun = read.begin_rebuild(&[1], 10, Utc::now()).unwrap();
    let rival = read.begin_rebuild(&[1, 2], 10, Utc::now()).unwrap();
    assert!(generations.replace(&read, &begun).await.unwrap());
    assert!(
        !generations.replace(&read, &rival).await.unwrap(),
        "a writer that read the old record loses"
    );
    assert_eq!(generations.load().await.unwrap(), begun);
    let switched = begun.switched(2, Utc::now()).unwrap();
    assert!(generations.replace(&begun, &switched).await.unwrap());
    assert_eq!(generations.load().await.unwrap().current, 2);
}
