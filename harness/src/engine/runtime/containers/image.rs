//! [`SimulatorImage`]: a simulator in a container, in the style of the testcontainers
//! modules.
//!
//! ```no_run
//! use andon::containers::{SimulatorContainer, SimulatorImage};
//! use testcontainers::runners::AsyncRunner;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let erp = SimulatorImage::erp().start().await?;
//! let url = erp.url().await?; // http://127.0.0.1:PORT, the ERP's REST API
//! let admin = erp.admin().await?; // faults, ingress, activity, history
//! admin.set_ingress(Some("http://host.docker.internal:9000/events/erp")).await?;
//! # drop(url);
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;

use andon_contracts::System;
use andon_simulators::MasterData;
use testcontainers::core::{ContainerPort, CopyToContainer, WaitFor};
use testcontainers::{ContainerAsync, Image};

use super::{Admin, ContainerError, IMAGE, PORT, SimulatorSettings, image_tag};

/// Where the settings and the master data are copied in the container.
const SETTINGS_FILE: &str = "/var/andon/settings.json";
const MASTER_FILE: &str = "/var/andon/master.json";
/// Where a simulator keeps its state across a stop (the container's own filesystem).
pub(crate) const STATE_DIR: &str = "/var/andon/state";

/// One simulator (`andon-simulator SYSTEM`) as a testcontainers image. Ready when it
/// prints `ready`; listens on [`PORT`]; durable across `docker stop` / `docker start`.
#[derive(Debug, Clone)]
pub struct SimulatorImage {
    system: System,
    tag: String,
    cmd: Vec<String>,
    /// Files copied into the container: (path, contents).
    files: Vec<(&'static str, Vec<u8>)>,
    copies: Vec<CopyToContainer>,
    ports: [ContainerPort; 1],
}

impl SimulatorImage {
    /// The simulator of `system` with its default settings and master data generated for
    /// plant 1000.
    pub fn new(system: System) -> Self {
        let mut image = Self {
            system,
            tag: image_tag(),
            cmd: Vec::new(),
            files: Vec::new(),
            copies: Vec::new(),
            ports: [ContainerPort::Tcp(PORT)],
        };
        image.build_cmd();
        image
    }

    /// The ERP simulator.
    pub fn erp() -> Self {
        Self::new(System::Erp)
    }

    /// The MES simulator.
    pub fn mes() -> Self {
        Self::new(System::Mes)
    }

    /// The QMS simulator.
    pub fn qms() -> Self {
        Self::new(System::Qms)
    }

    /// The WMS simulator.
    pub fn wms() -> Self {
        Self::new(System::Wms)
    }

    /// Which system it simulates.
    pub fn system(&self) -> System {
        self.system
    }

    /// Starts with these settings (seed, idempotency, emitter, activity, switches).
    pub fn with_settings(mut self, settings: &SimulatorSettings) -> Self {
        let bytes = serde_json::to_vec(settings).unwrap_or_default();
        self.set_copy(SETTINGS_FILE, bytes);
        self
    }

    /// Starts with this master data instead of the generated one.
    pub fn with_master(mut self, master: &MasterData) -> Self {
        let bytes = serde_json::to_vec(master).unwrap_or_default();
        self.set_copy(MASTER_FILE, bytes);
        self
    }

    /// Uses another tag of [`IMAGE`] than `ANDON_IMAGE_TAG` / `local`.
    pub fn with_image_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }

    fn set_copy(&mut self, target: &'static str, bytes: Vec<u8>) {
        self.files.retain(|(t, _)| *t != target);
        self.files.push((target, bytes));
        self.copies = self
            .files
            .iter()
            .map(|(t, b)| CopyToContainer::new(b.clone(), *t))
            .collect();
        self.build_cmd();
    }

    fn build_cmd(&mut self) {
        // The image's entrypoint is `andon-simulator`.
        let mut cmd = vec![
            self.system.to_string(),
            "--port".into(),
            PORT.to_string(),
            "--state-dir".into(),
            STATE_DIR.into(),
        ];
        for (flag, file) in [("--settings", SETTINGS_FILE), ("--master", MASTER_FILE)] {
            if self.files.iter().any(|(t, _)| *t == file) {
                cmd.push(flag.into());
                cmd.push(file.into());
            }
        }
        self.cmd = cmd;
    }
}

impl Image for SimulatorImage {
    fn name(&self) -> &str {
        IMAGE
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stdout("ready")]
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        self.cmd.iter().map(String::as_str)
    }

    /// The admin token of this process: the simulator listens beyond loopback, so its
    /// admin API requires it, and every [`Admin`] of this process sends it.
    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        [("ANDON_ADMIN_TOKEN", super::admin::admin_token())]
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &self.ports
    }

    fn copy_to_sources(&self) -> impl IntoIterator<Item = &CopyToContainer> {
        &self.copies
    }
}

/// The URL and admin handle of a running simulator container.
pub trait SimulatorContainer: Sync {
    /// The simulator's base URL as this host reaches it (`http://127.0.0.1:PORT`).
    fn url(&self) -> impl Future<Output = Result<String, ContainerError>> + Send;

    /// Its admin API (faults, ingress, activity, history, state).
    fn admin(&self) -> impl Future<Output = Result<Admin, ContainerError>> + Send {
        async { Ok(Admin::new(self.url().await?)) }
    }
}

impl SimulatorContainer for ContainerAsync<SimulatorImage> {
    async fn url(&self) -> Result<String, ContainerError> {
        let fail = |e: testcontainers::TestcontainersError| ContainerError::Engine {
            action: "reading the published port".into(),
            what: self.image().system.to_string(),
            why: e.to_string(),
        };
        let host = self.get_host().await.map_err(fail)?;
        let port = self.get_host_port_ipv4(PORT).await.map_err(fail)?;
        Ok(format!("http://{host}:{port}"))
    }
}
