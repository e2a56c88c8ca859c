//! The cloud event store: one Cosmos DB logical partition per stream, one transactional batch
//! per append (see `append.rs`), reads by query within the partition.

use async_trait::async_trait;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::options::QueryOptions;
use azure_data_cosmos::{CosmosClient, FeedScope, Query};
use futures::TryStreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use watershed_domain::event::{AppendOutcome, ExpectedVersion, NewEvent, RecordedEvent};
use watershed_domain::ports::{EventStore, StoreError, StreamQuery};
use watershed_domain::{DeviceId, IdempotencyKey, Recalled};

use super::append::{AppendBatch, Clash, Refusal};
use super::client::{client_builder, page_size, Containers, CosmosAccount};
use super::failure::{unavailable, BatchRetry};
use super::items::{
    decode, event_item_id, idempotency_item_id, EventItem, HeadItem, IdempotencyItem, HEAD_ID,
};

/// An event store in a Cosmos DB database: container `events` partitioned by `/stream_id`, and
/// container `leases` for change-feed cursors. Both are created when missing. The account must
/// read with Session consistency or stronger (the default): a version read and the stream read
/// after it then see the same writes.
pub struct CosmosEventStore {
    pub(super) events: ContainerClient,
    pub(super) leases: ContainerClient,
    /// Woken after each append through this store, so a change-feed waiter in the same process
    /// reads at once instead of at its next poll.
    pub(super) appended: Notify,
}

impl CosmosEventStore {
    /// Connects to `account` with its key and opens (creating if needed) the store's containers.
    pub async fn connect(account: &CosmosAccount) -> Result<Self, StoreError> {
        let client = account.client(client_builder()).await?;
        Self::open(&client, &account.database).await
    }

    /// Opens (creating if needed) the store's containers in `database` through `client`, whose
    /// retry options apply; [`client_builder`] gives the store's own.
    pub async fn open(client: &CosmosClient, database: &str) -> Result<Self, StoreError> {
        let Containers { events, leases } = Containers::open(client, database).await?;
        Ok(Self {
            events,
            leases,
            appended: Notify::new(),
        })
    }

    /// One item of `stream`'s partition, or `None` when it does not exist.
    async fn read_item<T: DeserializeOwned>(
        &self,
        stream: &DeviceId,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        read_item(&self.events, stream.as_str(), id).await
    }

    /// Answers a conflict, with the stream's version as it is now.
    async fn conflict(
        &self,
        stream: &DeviceId,
        expected: ExpectedVersion,
    ) -> Result<AppendOutcome, StoreError> {
        Err(StoreError::Conflict {
            stream: stream.clone(),
            expected: expected.as_u64(),
            actual: self.stream_version(stream).await?,
        })
    }

    /// The answer to an append whose batch clashed with what is stored.
    async fn settle(
        &self,
        stream: &DeviceId,
        expected: ExpectedVersion,
        append: &AppendBatch,
        clash: Clash,
    ) -> Result<AppendOutcome, StoreError> {
        match clash {
            Clash::KeyTaken(key, digest) => {
                let stored = self.recall(stream, &key).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "idempotency key {key:?} of {stream} is taken but not stored \
                         (used twice in one append?)"
                    ))
                })?;
                Ok(stored.answer(&digest))
            }
            Clash::SequenceTaken(seq) => {
                // An earlier try of this append may have landed (a timeout the SDK retried):
                // the event there is then ours, and the whole append with it.
                let ours = append.committed().iter().find(|c| c.stream_seq == seq);
                let theirs: Option<EventItem> = self.read_item(stream, &event_item_id(seq)).await?;
                match (ours, theirs) {
                    (Some(ours), Some(theirs)) if theirs.committed() == *ours => {
                        tracing::info!(device_id = %stream, stream_seq = seq,
                            "an earlier try of this append had landed");
                        Ok(AppendOutcome::Appended(append.committed().to_vec()))
                    }
                    _ => self.conflict(stream, expected).await,
                }
            }
            Clash::StreamBehind => self.conflict(stream, expected).await,
        }
    }
}

/// An item of `container`'s partition `partition`, or `None` when it does not exist.
pub(super) async fn read_item<T: DeserializeOwned>(
    container: &ContainerClient,
    partition: &str,
    id: &str,
) -> Result<Option<T>, StoreError> {
    match container.read_item(partition.to_owned(), id, None).await {
        Ok(response) => {
            let stored: serde_json::Value = response
                .into_model()
                .map_err(|e| StoreError::Corrupt(format!("item {id} of {partition}: {e}")))?;
            decode(&format!("item {id} of {partition}"), &stored).map(Some)
        }
        Err(e) if e.status().is_not_found() => Ok(None),
        Err(e) => Err(unavailable("reading an item", e)),
    }
}

#[async_trait]
impl EventStore for CosmosEventStore {
    #[tracing::instrument(skip_all, fields(device_id = %stream, events = events.len()))]
    async fn append(
        &self,
        stream: &DeviceId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        if events.is_empty() {
            return match self.stream_version(stream).await? {
                actual if actual == expected.as_u64() => Ok(AppendOutcome::Appended(Vec::new())),
                _ => self.conflict(stream, expected).await,
            };
        }
        let append = AppendBatch::new(stream, expected, &events)?;
        let mut attempt = 0;
        loop {
            let response = self
                .events
                .execute_transactional_batch(append.batch(), None)
                .await
                .map_err(|e| unavailable("appending", e))?;
            // 200: every operation applied. 207: none was, and the results say why.
            if u16::from(response.status().status_code()) != 207 {
                self.appended.notify_waiters();
                return Ok(AppendOutcome::Appended(append.committed().to_vec()));
            }
            let results = response
                .into_model()
                .map_err(|e| unavailable("reading a refused batch's results", e))?;
            match append.refusal(results.results())? {
                Refusal::ForNow(retry_after) if attempt + 1 < BatchRetry::DEFAULT.attempts => {
                    attempt += 1;
                    let wait = BatchRetry::DEFAULT.delay(attempt, retry_after);
                    tracing::debug!(attempt, ?wait, "append batch throttled; trying again");
                    tokio::time::sleep(wait).await;
                }
                Refusal::ForNow(_) => {
                    return Err(StoreError::Unavailable(format!(
                        "cosmos db kept refusing the append batch for now ({} tries)",
                        BatchRetry::DEFAULT.attempts
                    )))
                }
                Refusal::Clash(clash) => {
                    return self.settle(stream, expected, &append, clash).await
                }
            }
        }
    }

    async fn read_stream(
        &self,
        stream: &DeviceId,
        query: StreamQuery,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let types = query.only_types.unwrap_or_default();
        if query.only_types.is_some() && types.is_empty() {
            return Ok(Vec::new()); // No type is wanted, and `IN ()` is not valid SQL.
        }
        let type_params: Vec<String> = (0..types.len()).map(|i| format!("@type{i}")).collect();
        let mut text =
            "SELECT * FROM c WHERE c.kind = 'event' AND c.stream_seq >= @from".to_owned();
        if !types.is_empty() {
            // Parameters in a list rather than ARRAY_CONTAINS(@types, …), so that the index on
            // `event_type` serves it and a state rebuild does not scan every reading.
            text.push_str(&format!(
                " AND c.event_type IN ({})",
                type_params.join(", ")
            ));
        }
        text.push_str(" ORDER BY c.stream_seq");
        let bad_query = |e| StoreError::Corrupt(format!("stream query parameters: {e}"));
        let mut sql = Query::from(text)
            .with_parameter("@from", query.from_seq)
            .map_err(bad_query)?;
        for (name, event_type) in type_params.into_iter().zip(types) {
            sql = sql.with_parameter(name, event_type).map_err(bad_query)?;
        }
        let options = QueryOptions::default().with_max_item_count(page_size(query.limit));
        let mut items = self
            .events
            .query_items::<serde_json::Value>(
                sql,
                FeedScope::partition(stream.as_str().to_owned()),
                Some(options),
            )
            .await
            .map_err(|e| unavailable("reading a stream", e))?;
        let mut events = Vec::new();
        // Dropping the iterator early fetches no further pages.
        while events.len() < query.limit {
            let Some(stored) = items
                .try_next()
                .await
                .map_err(|e| unavailable("reading a stream", e))?
            else {
                break;
            };
            let item: EventItem = decode(&format!("an event of {stream}"), &stored)?;
            events.push(item.into_recorded());
        }
        Ok(events)
    }

    /// One point read of the key's item.
    async fn recall(
        &self,
        stream: &DeviceId,
        key: &IdempotencyKey,
    ) -> Result<Option<Recalled>, StoreError> {
        let stored: Option<IdempotencyItem> = self
            .read_item(stream, &idempotency_item_id(key.as_str()))
            .await?;
        Ok(stored.map(IdempotencyItem::recalled))
    }

    /// One point read: the `head` item moves in the same batch as the events.
    async fn stream_version(&self, stream: &DeviceId) -> Result<u64, StoreError> {
        let head: Option<HeadItem> = self.read_item(stream, HEAD_ID).await?;
        Ok(head.map_or(0, |h| h.version))
    }
}
