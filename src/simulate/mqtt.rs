//! The simulator's MQTT side: one MQTT 5 connection per device (client id = device id, password
//! = its key), each batch published with QoS 1 to `devices/{id}/readings` and counted once its
//! PUBACK says it was stored. The gateway keeps no sessions, so after a dropped connection the
//! batch is published again on the next one: the same batch id, stored once.

use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use watershed_domain::Reading;

use super::client::{batch_body, ClientError, MAX_ATTEMPTS};

pub struct MqttDevice {
    client: AsyncClient,
    events: EventLoop,
    topic: String,
}

impl MqttDevice {
    /// A device's connection to the gateway at `host:port`; it connects on the first batch.
    pub fn new(host: &str, port: u16, device_id: &str, key: &str) -> Self {
        let mut options = MqttOptions::new(device_id, host, port);
        options
            .set_credentials(device_id, key)
            .set_keep_alive(Duration::from_secs(30))
            // The gateway's answers are small; what we send is bounded by the server's limit.
            .set_max_packet_size(Some(64 * 1024));
        let (client, events) = AsyncClient::new(options, 4);
        Self {
            client,
            events,
            topic: format!("devices/{device_id}/readings"),
        }
    }

    /// Publishes one batch and waits for its PUBACK; returns how long the accepted attempt took.
    pub async fn send_batch(
        &mut self,
        batch_id: &str,
        readings: &[Reading],
    ) -> Result<Duration, ClientError> {
        let body = batch_body(batch_id, readings);
        let mut wait = Duration::from_millis(50);
        let mut last = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let started = Instant::now();
            self.client
                .publish_bytes(self.topic.clone(), QoS::AtLeastOnce, false, body.clone())
                .await
                .map_err(|e| ClientError::GaveUp {
                    attempts: 1,
                    last: e.to_string(),
                })?;
            match self.until_acknowledged().await {
                Ok(PubAckReason::Success) => return Ok(started.elapsed()),
                Ok(reason) => {
                    return Err(ClientError::Refused {
                        status: reqwest::StatusCode::UNPROCESSABLE_ENTITY,
                        body: format!("PUBACK {reason:?}"),
                    })
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
        Err(ClientError::GaveUp {
            attempts: MAX_ATTEMPTS,
            last,
        })
    }

    /// Drives the connection until the PUBACK of the one batch in flight, or until it drops.
    async fn until_acknowledged(&mut self) -> Result<PubAckReason, String> {
        loop {
            match self.events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(ack))) => return Ok(ack.reason),
                Ok(Event::Incoming(Packet::Disconnect(d))) => {
                    return Err(format!("disconnected: {:?}", d.reason_code))
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}
