//! The sinks a process forwards the bus to (today Splunk's HTTP Event Collector): their flags,
//! and the runner each becomes. A sink is its own consumer group, so it runs beside the
//! projectors (`up`, `projectors`) or alone (`watershed sink splunk`) without touching them.

use clap::{Args, ValueEnum};
use watershed_infra::{HecConfig, HecMode};
use watershed_projectors::{OnRefused, RetryPolicy, SinkConfig};

#[derive(Debug, Clone, Args)]
pub struct SplunkArgs {
    /// Forward events to this Splunk HTTP Event Collector (`https://host:8088`); none when unset.
    #[arg(long, alias = "hec-url", env = "WATERSHED_SPLUNK_HEC_URL")]
    splunk_hec_url: Option<String>,
    /// The environment variable that holds the HEC token.
    #[arg(long, alias = "token-env", default_value = "WATERSHED_SPLUNK_TOKEN")]
    splunk_token_env: String,
    /// One HEC event per event (the CloudEvent) or per reading (stamped when measured).
    #[arg(long, value_enum, default_value = "events")]
    splunk_mode: Mode,
    /// The Splunk index; the token's default when unset.
    #[arg(long)]
    splunk_index: Option<String>,
    /// An event HEC refuses for its content: `skip` it (logged with its id) or `stop` the sink.
    #[arg(long, value_enum, default_value = "skip")]
    splunk_on_refused: Refused,
    /// The sink's consumer group: its checkpoint on the bus.
    #[arg(long, default_value = "splunk")]
    splunk_group: String,
    /// Uncompressed bytes per HEC request at most.
    #[arg(long, default_value_t = HecConfig::DEFAULT_MAX_REQUEST_BYTES)]
    splunk_max_request_bytes: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Events,
    Readings,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Refused {
    Skip,
    Stop,
}

/// A configured Splunk sink.
#[derive(Debug, Clone)]
pub struct SplunkSink {
    pub hec: HecConfig,
    pub runner: SinkConfig,
}

impl SplunkArgs {
    /// The sink these flags ask for, if any; its token read from the environment.
    pub fn sink(&self) -> anyhow::Result<Option<SplunkSink>> {
        let Some(url) = &self.splunk_hec_url else {
            return Ok(None);
        };
        let token = std::env::var(&self.splunk_token_env).map_err(|_| {
            anyhow::anyhow!(
                "--splunk-hec-url is set, but ${} holds no HEC token",
                self.splunk_token_env
            )
        })?;
        Ok(Some(SplunkSink {
            hec: HecConfig {
                url: url.clone(),
                token,
                mode: match self.splunk_mode {
                    Mode::Events => HecMode::Events,
                    Mode::Readings => HecMode::Readings,
                },
                index: self.splunk_index.clone(),
                max_request_bytes: self.splunk_max_request_bytes,
            },
            runner: SinkConfig {
                group: self.splunk_group.clone(),
                batch_size: 1000,
                retry: RetryPolicy::default(),
                on_refused: match self.splunk_on_refused {
                    Refused::Skip => OnRefused::Skip,
                    Refused::Stop => OnRefused::Stop,
                },
            },
        }))
    }
}
