//! The devices' MQTT gateway (3.1.1 and 5 on one port): a device connects with its id as client
//! id and its key as password, publishes batches to `devices/{id}/readings` (the HTTP body), and
//! may subscribe to `devices/{id}/errors`, where refusals arrive as the HTTP error body.
//!
//! A QoS 1 PUBLISH is acknowledged once its batch is durable in the event store, as HTTP's 201;
//! QoS 0 is best effort. The server is ntex-mqtt, whose publish handler holds the PUBACK until
//! the handler returns. ntex runs its own worker thread (with a tokio runtime of its own); the
//! appends run on the application's runtime, where the stores' connections live.

mod device;
mod sessions;
mod v3;
mod v5;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;

use ntex_io::IoConfig;
use ntex_mqtt::{Control, MqttServer, MqttServiceConfig, QoS, Reason};
use ntex_service::cfg::SharedCfg;
use ntex_service::{fn_factory_with_config, fn_service};
use ntex_util::time::Seconds;

use crate::CommandState;
use device::ConnectRefusal;

/// The largest PUBLISH taken: a batch body as large as HTTP takes, with room for the header.
const MAX_PACKET: u32 = watershed_http_edge::json::BODY_LIMIT as u32 + 64 * 1024;
/// Unacknowledged QoS 1 publishes one connection may have in flight (MQTT 5's Receive Maximum;
/// a 3.1.1 connection past it waits). Above the common clients' defaults (Paho and mosquitto
/// send up to 20), which do not all lower theirs to the server's.
const MAX_IN_FLIGHT: u16 = 64;

/// What every connection shares.
pub struct Gateway {
    state: CommandState,
    /// The application's runtime, where appends run.
    runtime: tokio::runtime::Handle,
}

/// Why the gateway closes a connection.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the batch was not stored ({0}); publish it again")]
    NotStored(String),
    #[error("the payload could not be read: {0}")]
    Payload(String),
    #[error("the connection's service could not start")]
    Start,
}

/// ntex's service factories report setup failures as `()`.
impl From<()> for GatewayError {
    fn from((): ()) -> Self {
        Self::Start
    }
}

/// A running gateway; `stop` ends it.
pub struct MqttGateway {
    server: ntex_server::Server<ntex_server::net::Connection>,
    thread: Option<thread::JoinHandle<()>>,
    address: SocketAddr,
}

impl MqttGateway {
    /// Serves MQTT on `listener` until stopped. Call from within the application's runtime.
    pub async fn start(
        state: CommandState,
        listener: std::net::TcpListener,
    ) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let gateway = Arc::new(Gateway {
            state,
            runtime: tokio::runtime::Handle::current(),
        });
        let (started, server) = tokio::sync::oneshot::channel();
        let thread = thread::Builder::new()
            .name("mqtt".to_owned())
            .spawn(move || {
                // Its own thread: ntex's system runs a runtime of its own, which may not be
                // nested in the application's.
                let system = ntex_rt::System::new("mqtt", ntex_net::DefaultRuntime);
                let served = system.block_on(async move {
                    match serve(gateway, listener) {
                        Ok(server) => {
                            let _ = started.send(Ok(server.clone()));
                            server.await
                        }
                        Err(e) => {
                            let _ = started.send(Err(e));
                            Ok(())
                        }
                    }
                });
                if let Err(e) = served {
                    tracing::error!(error = %e, "the MQTT gateway stopped");
                }
            })?;
        let server = server
            .await
            .map_err(|_| std::io::Error::other("the MQTT thread ended before serving"))??;
        Ok(Self {
            server,
            thread: Some(thread),
            address,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, lets publishes being stored finish, then closes the connections.
    pub async fn stop(mut self) {
        self.server.stop(true).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn serve(
    gateway: Arc<Gateway>,
    listener: std::net::TcpListener,
) -> std::io::Result<ntex_server::Server<ntex_server::net::Connection>> {
    let config = SharedCfg::new("mqtt")
        .add(
            MqttServiceConfig::new()
                .set_max_qos(QoS::AtLeastOnce)
                .set_max_size(MAX_PACKET)
                .set_max_receive(MAX_IN_FLIGHT)
                .set_max_receive_size(MAX_PACKET as usize * 2)
                // A connection that sends no CONNECT is closed, not kept.
                .set_connect_timeout(Seconds(10)),
        )
        .add(IoConfig::new().set_disconnect_timeout(Seconds(2)));
    Ok(ntex_server::net::build()
        .name("mqtt")
        // The worker only speaks the protocol; appends run on the application's runtime. One
        // worker holds every connection, and so the table of sessions (`sessions`).
        .workers(1)
        .disable_signals()
        .shutdown_timeout(Seconds(10))
        .listen("mqtt", listener, async move |_| {
            let (g3, g5) = (Arc::clone(&gateway), Arc::clone(&gateway));
            MqttServer::new()
                .v3(ntex_mqtt::v3::MqttServer::new(fn_service(move |hs| {
                    v3::handshake(Arc::clone(&g3), hs)
                }))
                .control(v3::control)
                .protocol(fn_factory_with_config(async |s: v3::Session| {
                    Ok::<_, GatewayError>(fn_service(move |m| v3::protocol(s.clone(), m)))
                }))
                .publish(fn_factory_with_config(async |s: v3::Session| {
                    Ok::<_, GatewayError>(fn_service(move |p| v3::publish(s.clone(), p)))
                })))
                .v5(ntex_mqtt::v5::MqttServer::new(fn_service(move |hs| {
                    v5::handshake(Arc::clone(&g5), hs)
                }))
                .control(v5::control)
                .protocol(fn_factory_with_config(async |s: v5::Session| {
                    Ok::<_, GatewayError>(fn_service(move |m| v5::protocol(s.clone(), m)))
                }))
                .publish(fn_factory_with_config(async |s: v5::Session| {
                    Ok::<_, GatewayError>(fn_service(move |p| v5::publish(s.clone(), p)))
                })))
        })?
        .config("mqtt", config)
        .run())
}

fn connect_outcome<T>(device: &Result<T, ConnectRefusal>) -> &'static str {
    match device {
        Ok(_) => "accepted",
        Err(ConnectRefusal::Unavailable) => "failed",
        Err(_) => "refused",
    }
}

fn log_stop(message: &Control<GatewayError>) {
    match message {
        Control::Stop(Reason::Error(e)) => {
            tracing::warn!(error = %e.get_ref(), "closing an MQTT connection")
        }
        Control::Stop(Reason::Protocol(e)) => {
            tracing::debug!(error = %e.get_ref(), "MQTT protocol error; connection closed")
        }
        _ => {}
    }
}
