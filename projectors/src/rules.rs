//! The alert rules in force, followed from the rules stream. Each process that evaluates alerts
//! runs one [`RuleFollower`]: it reads the stream from where it stopped every `every`, folds what
//! is new into its [`RuleBook`], loads the models of model rules, and hands the rules to the
//! evaluator and the alert watch through a [`RulesHandle`]. Reading the store, not the bus, means
//! every projector pod learns every change, whichever partitions it consumes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use watershed_domain::ports::{EventStore, StoreError, StreamQuery};
use watershed_domain::{rules_stream, AlertRules, ModelRuntime, RuleBook};

/// How many rule events one read takes.
const PAGE: usize = 1_000;

/// Reads the rules stream past `book.version` and folds it in; answers whether anything came.
pub async fn catch_up(store: &dyn EventStore, book: &mut RuleBook) -> Result<bool, StoreError> {
    let stream = rules_stream();
    let mut changed = false;
    loop {
        let page = store
            .read_stream(&stream, StreamQuery::from(book.version + 1, PAGE))
            .await?;
        for event in &page {
            let decoded = event
                .decode()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            book.evolve(event.stream_seq, event.meta.recorded_at, &decoded);
            changed = true;
        }
        if page.len() < PAGE {
            return Ok(changed);
        }
    }
}

/// The rules as the follower last loaded them; `None` until the first load, when nothing may be
/// decided (an alert whose rule is not known yet is not an orphan).
#[derive(Clone)]
pub struct RulesHandle(watch::Receiver<Option<Arc<AlertRules>>>);

impl RulesHandle {
    pub fn current(&self) -> Option<Arc<AlertRules>> {
        self.0.borrow().clone()
    }

    /// The rules, once loaded; `None` if the follower stopped first.
    pub async fn loaded(&mut self) -> Option<Arc<AlertRules>> {
        self.0
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|r| r.clone())
    }

    /// A handle on rules that never change, for tests and benchmarks.
    pub fn fixed(rules: AlertRules) -> Self {
        let (tx, rx) = watch::channel(Some(Arc::new(rules)));
        // The receiver keeps the value after the sender is gone.
        drop(tx);
        Self(rx)
    }
}

pub struct RuleFollower {
    pub store: Arc<dyn EventStore>,
    pub runtime: Arc<dyn ModelRuntime>,
    /// How often the stream is read: a change reaches the evaluators this long after it is
    /// recorded, at most.
    pub every: Duration,
    tx: watch::Sender<Option<Arc<AlertRules>>>,
}

impl RuleFollower {
    pub fn new(
        store: Arc<dyn EventStore>,
        runtime: Arc<dyn ModelRuntime>,
        every: Duration,
    ) -> (Self, RulesHandle) {
        let (tx, rx) = watch::channel(None);
        let follower = Self {
            store,
            runtime,
            every,
            tx,
        };
        (follower, RulesHandle(rx))
    }

    /// Runs until cancelled; a store that is down only delays the next change.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut book = RuleBook::default();
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match catch_up(&*self.store, &mut book).await {
                Ok(changed) if changed || self.tx.borrow().is_none() => self.publish(&book),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reading the alert rules failed; trying again")
                }
            }
        }
    }

    fn publish(&self, book: &RuleBook) {
        let mut rules = book.rules();
        let loaded = self.tx.borrow().clone().unwrap_or_default();
        for (rule, error) in rules.load_models(&*self.runtime, &loaded) {
            tracing::error!(%rule, %error, "the rule's model does not load; the rule raises nothing");
        }
        tracing::info!(
            rules = rules.len(),
            version = book.version,
            "alert rules in force"
        );
        metrics::gauge!("watershed_alert_rules").set(rules.len() as f64);
        self.tx.send_replace(Some(Arc::new(rules)));
    }
}
