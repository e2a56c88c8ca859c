//! MQTT 3.1.1: CONNACK return codes, and a PUBACK only for what is stored or refused for good.
//! 3.1.1 has no negative acknowledgement: a refusal is told on the device's error topic, and a
//! batch that could not be stored closes the connection unacknowledged, so the client resends.

use std::sync::Arc;

use ntex_mqtt::v3::{self, Handshake, HandshakeAck, ProtocolMessage, ProtocolMessageAck, Publish};
use ntex_mqtt::{Control, QoS};

use watershed_http_edge::ApiError;

use super::device::{ConnectRefusal, Device, Verdict};
use super::{Gateway, GatewayError};

pub type Session = v3::Session<Device>;

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
            device.take_over(Box::new(move || sink.close()));
            hs.ack(device, false)
        }
        Err(ConnectRefusal::ClientId) => hs.identifier_rejected(),
        Err(ConnectRefusal::Credentials) => hs.bad_username_or_pwd(),
        // 3.1.1 has no reason string: the code is all the device learns.
        Err(ConnectRefusal::NotAuthorized(_)) => hs.not_authorized(),
        Err(ConnectRefusal::Unavailable) => hs.service_unavailable(),
    })
}

pub async fn publish(session: Session, publish: Publish) -> Result<(), GatewayError> {
    let payload = publish
        .read_all()
        .await
        .map_err(|e| GatewayError::Payload(e.to_string()))?;
    match session.receive(publish.publish_topic(), payload).await {
        Verdict::Stored { .. } => Ok(()),
        Verdict::Refused(e) => {
            report(&session, &e);
            Ok(())
        }
        Verdict::NotStored(e) => {
            report(&session, &e);
            match publish.qos() {
                QoS::AtMostOnce => Ok(()),
                _ => Err(GatewayError::NotStored(e.to_string())),
            }
        }
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
                    subscription.fail();
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

/// A connection that ends: 3.1.1 has no DISCONNECT from the server, only the closing.
pub async fn control(
    message: Control<GatewayError>,
) -> Result<Option<v3::codec::Encoded>, GatewayError> {
    super::log_stop(&message);
    Ok(None)
}
