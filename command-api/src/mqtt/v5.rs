//! MQTT 5: reason codes and reason strings on CONNACK and PUBACK. A refused batch is acknowledged
//! with its reason (and told on the error topic); a batch that could not be stored is not
//! acknowledged: the server disconnects with "server busy", and the client publishes it again.

use std::sync::Arc;

use ntex_bytes::ByteString;
use ntex_mqtt::v5::codec::{
    ConnectAck, ConnectAckReason, Disconnect, DisconnectReasonCode, Encoded, Packet,
    PublishAckReason, SubscribeAckReason,
};
use ntex_mqtt::v5::{
    self, Handshake, HandshakeAck, ProtocolMessage, ProtocolMessageAck, Publish, PublishAck,
};
use ntex_mqtt::{Control, QoS, Reason};
use watershed_http_edge::ApiError;

use super::device::{ConnectRefusal, Device, Verdict};
use super::{Gateway, GatewayError};

pub type Session = v5::Session<Device>;

pub async fn handshake(
    gateway: Arc<Gateway>,
    hs: Handshake,
) -> Result<HandshakeAck<Device>, GatewayError> {
    let connect = hs.packet();
    let device = Device::connect(&gateway, &connect.client_id, connect.password.as_deref()).await;
    metrics::counter!("watershed_mqtt_connects_total", "outcome" => super::connect_outcome(&device))
        .increment(1);
    Ok(match device {
        Ok(device) => {
            let sink = hs.sink();
            device.take_over(Box::new(move || {
                sink.close_with_reason(Disconnect {
                    reason_code: DisconnectReasonCode::SessionTakenOver,
                    ..Default::default()
                })
            }));
            hs.ack(device).with(|ack| {
                // A device subscribes to its own error topic only.
                ack.wildcard_subscription_available = false;
                ack.shared_subscription_available = false;
            })
        }
        Err(ConnectRefusal::ClientId) => hs.failed(ConnectAckReason::ClientIdentifierNotValid),
        Err(ConnectRefusal::Credentials) => hs.failed(ConnectAckReason::BadUserNameOrPassword),
        Err(ConnectRefusal::NotAuthorized(why)) => hs.fail_with(ConnectAck {
            reason_code: ConnectAckReason::NotAuthorized,
            reason_string: Some(ByteString::from(why)),
            ..ConnectAck::default()
        }),
        Err(ConnectRefusal::Unavailable) => hs.failed(ConnectAckReason::ServerUnavailable),
    })
}

pub async fn publish(session: Session, publish: Publish) -> Result<PublishAck, GatewayError> {
    let payload = publish
        .read_all()
        .await
        .map_err(|e| GatewayError::Payload(e.to_string()))?;
    match session.receive(publish.publish_topic(), payload).await {
        Verdict::Stored { .. } => Ok(publish.ack()),
        Verdict::Refused(e) => {
            report(&session, &e);
            Ok(publish
                .ack()
                .reason_code(refusal_code(&e))
                .reason(ByteString::from(e.to_string())))
        }
        Verdict::NotStored(e) => {
            report(&session, &e);
            match publish.qos() {
                QoS::AtMostOnce => Ok(publish.ack()),
                _ => Err(GatewayError::NotStored(e.to_string())),
            }
        }
    }
}

/// The PUBACK reason closest to the HTTP status the same refusal gets.
fn refusal_code(error: &ApiError) -> PublishAckReason {
    match error {
        ApiError::Unauthorized(_) | ApiError::Forbidden { .. } => PublishAckReason::NotAuthorized,
        ApiError::Throttled(_) => PublishAckReason::QuotaExceeded,
        ApiError::Invalid { .. } | ApiError::PayloadTooLarge { .. } => {
            PublishAckReason::PayloadFormatInvalid
        }
        _ => PublishAckReason::ImplementationSpecificError,
    }
}

fn report(session: &Session, error: &ApiError) {
    session.report(error, |topic, body| {
        session.sink().publish(topic).send_at_most_once(body)
    });
}

pub async fn protocol(
    session: Session,
    message: ProtocolMessage,
) -> Result<ProtocolMessageAck, GatewayError> {
    Ok(match message {
        ProtocolMessage::Subscribe(mut subscribe) => {
            for mut subscription in subscribe.iter_mut() {
                if session.subscribe(subscription.topic()) {
                    subscription.confirm(QoS::AtMostOnce);
                } else {
                    subscription.fail(SubscribeAckReason::NotAuthorized);
                }
            }
            subscribe.ack()
        }
        ProtocolMessage::Unsubscribe(unsubscribe) => {
            for topic in unsubscribe.iter() {
                session.unsubscribe(topic);
            }
            unsubscribe.ack()
        }
        other => other.ack(),
    })
}

/// The last word to a connection that ends because of us: why, so that the client knows to
/// publish its unacknowledged batches again.
pub async fn control(message: Control<GatewayError>) -> Result<Option<Encoded>, GatewayError> {
    super::log_stop(&message);
    Ok(match message {
        Control::Stop(Reason::Error(e)) => Some(
            Packet::from(Disconnect {
                reason_code: DisconnectReasonCode::ServerBusy,
                reason_string: Some(ByteString::from(e.get_ref().to_string())),
                ..Default::default()
            })
            .into(),
        ),
        _ => None,
    })
}

/// An error from `publish` disconnects (see `control`) instead of acknowledging.
impl TryFrom<GatewayError> for PublishAck {
    type Error = GatewayError;

    fn try_from(e: GatewayError) -> Result<Self, GatewayError> {
        Err(e)
    }
}
