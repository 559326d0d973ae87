//! The run's MQTT broker in the containers runtime: Mosquitto from the `andon-mosquitto`
//! image (built by `ci/images.sh` from the Debian package), its files in the run's broker
//! directory mounted at `/mosquitto`.
//!
//! It sits on three networks: the control network (its port published on a fixed port of
//! this host, so a SUT running here and andon itself reach it across restarts), the plant
//! network (the simulators publish to `RUN-broker:1883`), and a network of its own with the
//! SUT's container, where the SUT reaches it as `RUN-mqtt:1883`. A partition takes the
//! broker off that last network: the SUT's connection goes dead and its name stops
//! resolving, while the plants keep publishing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use testcontainers::bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use testcontainers::core::{ContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::{Containers, image_tag, run_labels};
use crate::broker::{BrokerConfig, BrokerError, BrokerNode, Listener};

/// The image of the run's broker.
pub const BROKER_IMAGE: &str = "andon-mosquitto";
/// The port Mosquitto listens on inside its container.
const MQTT_PORT: u16 = 1883;
/// Where the run's broker directory is mounted.
const MOUNT: &str = "/mosquitto";

/// Mosquitto in a container of the run.
pub struct BrokerContainer {
    container: ContainerAsync<GenericImage>,
    docker: testcontainers::bollard::Docker,
    /// The container's name: the simulators' address on the plant network.
    name: String,
    /// The network shared with the SUT's container, and the broker's name there.
    sut_network: String,
    alias: String,
    /// Whether the SUT runs in a container (on `sut_network`) rather than on this host.
    sut_inside: bool,
    host_port: u16,
    dir: PathBuf,
    running: bool,
    cut: bool,
}

fn engine(action: &str, e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Engine(format!("{action}: {e}"))
}

impl BrokerContainer {
    /// Starts the broker of the run `rt` with its files under `dir`; `sut_inside`: the SUT
    /// runs in a container (it joins the broker's network when it starts).
    pub async fn start(
        rt: &Containers,
        dir: &Path,
        config: &BrokerConfig,
        sut_inside: bool,
    ) -> Result<Self, BrokerError> {
        let image = format!("{BROKER_IMAGE}:{}", image_tag());
        let docker = rt.docker().clone();
        if docker.inspect_image(&image).await.is_err() {
            return Err(BrokerError::NoImage(image));
        }
        let host_port = crate::broker::prepare_dir(
            dir,
            config,
            &Listener::Container {
                port: MQTT_PORT,
                dir: Path::new(MOUNT),
            },
        )?;
        // The engine mounts absolute paths only (a run directory may be relative).
        let host_dir = std::fs::canonicalize(dir).map_err(|source| BrokerError::Dir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let run = rt.run_id().to_string();
        let sut_network = rt.broker_network();
        let labels = run_labels(&run);
        docker
            .create_network(NetworkCreateRequest {
                name: sut_network.clone(),
                labels: Some(labels.clone().into_iter().collect()),
                ..Default::default()
            })
            .await
            .map_err(|e| engine("creating the broker's network", e))?;
        let name = format!("{run}-broker");
        let request = labels
            .into_iter()
            .fold(
                GenericImage::new(BROKER_IMAGE, &image_tag())
                    .with_exposed_port(ContainerPort::Tcp(MQTT_PORT))
                    .with_network(rt.control_network().to_string()),
                |r, (k, v)| r.with_label(k, v),
            )
            .with_container_name(name.clone())
            .with_mapped_port(host_port, ContainerPort::Tcp(MQTT_PORT))
            .with_mount(Mount::bind_mount(host_dir.display().to_string(), MOUNT));
        let container = request
            .start()
            .await
            .map_err(|e| engine("starting the broker's container", e))?;
        let mut me = Self {
            container,
            docker,
            name,
            alias: format!("{run}-mqtt"),
            sut_network,
            sut_inside,
            host_port,
            dir: dir.to_path_buf(),
            running: true,
            cut: true,
        };
        me.join(rt.network(), None).await?;
        me.reconnect().await?;
        me.wait_listening().await?;
        Ok(me)
    }

    async fn join(&self, network: &str, alias: Option<&str>) -> Result<(), BrokerError> {
        self.docker
            .connect_network(
                network,
                NetworkConnectRequest {
                    container: self.name.clone(),
                    endpoint_config: alias.map(|a| EndpointSettings {
                        aliases: Some(vec![a.to_string()]),
                        ..Default::default()
                    }),
                },
            )
            .await
            .map_err(|e| engine(&format!("joining the network {network}"), e))
    }

    /// Joins the SUT's network again, under the name the SUT knows.
    async fn reconnect(&mut self) -> Result<(), BrokerError> {
        if self.cut {
            let (network, alias) = (self.sut_network.clone(), self.alias.clone());
            self.join(&network, Some(&alias)).await?;
            self.cut = false;
        }
        Ok(())
    }

    /// Waits until the published port accepts connections.
    async fn wait_listening(&self) -> Result<(), BrokerError> {
        let address = self.host_address();
        crate::broker::wait_listening(&address, Duration::from_secs(20), &self.dir, || false).await
    }
}

impl BrokerNode for BrokerContainer {
    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.running {
                let _ = self.container.stop_with_timeout(Some(5)).await;
                self.running = false;
            }
        })
    }

    fn kill(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.running {
                let _ = super::sigkill(&self.docker, &self.name).await;
                self.running = false;
            }
        })
    }

    fn start_again(&mut self) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(async move {
            if !self.running {
                self.container
                    .start()
                    .await
                    .map_err(|e| engine("starting the broker's container again", e))?;
                self.running = true;
            }
            self.wait_listening().await
        })
    }

    fn partition(&mut self, cut: bool) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(async move {
            if !self.sut_inside {
                return Err(BrokerError::NoPartition(
                    "the SUT runs on this host, not in a container of the run".into(),
                ));
            }
            if !cut {
                return self.reconnect().await;
            }
            if !self.cut {
                self.docker
                    .disconnect_network(
                        &self.sut_network,
                        NetworkDisconnectRequest {
                            container: self.name.clone(),
                            force: Some(true),
                        },
                    )
                    .await
                    .map_err(|e| engine("leaving the SUT's network", e))?;
                self.cut = true;
            }
            Ok(())
        })
    }

    fn sut_url(&self) -> String {
        if self.sut_inside {
            format!("mqtt://{}:{MQTT_PORT}", self.alias)
        } else {
            format!("mqtt://{}", self.host_address())
        }
    }

    fn publish_address(&self) -> String {
        format!("{}:{MQTT_PORT}", self.name)
    }

    fn host_address(&self) -> String {
        format!("127.0.0.1:{}", self.host_port)
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn remove(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Err(e) = self.container.rm().await {
                tracing::warn!(error = %e, "could not remove the broker's container");
            }
        })
    }
}
