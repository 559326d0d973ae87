//! The containers runtime and its Rust API, on testcontainers.
//!
//! Images are built locally by `ci/images.sh` from static binaries (`FROM scratch`; nothing
//! is pulled): [`IMAGE`] runs any simulator (`andon-simulator SYSTEM`, the simulators alone,
//! without the harness), [`REFERENCE_IMAGE`] the reference middleware.
//!
//! * [`SimulatorImage`] and [`SimulatorContainer`]: one simulator in a container with one
//!   call, in the style of the testcontainers modules, with its URL and an [`Admin`]
//!   handle.
//! * [`Containers`]: the engine's runtime — a private network per run, one container
//!   per simulator found by name, the SUT in a container when its manifest names an image,
//!   and faults through the engine: `pause` (connections hang), `stop` (connections
//!   refused; the simulator keeps its books across the stop), `disconnect` (the system
//!   leaves the network), and kill / restart / pause of the SUT.
//! * Cleanup: everything a run creates carries the label [`RUN_LABEL`] and the creating
//!   process id ([`PID_LABEL`]); the run removes it at its end, also on failure and on
//!   Ctrl-C, and [`reap_leftovers`] removes what a killed andon left behind.

mod admin;
mod broker;
mod image;
mod placement;
mod runtime;
mod sut;

use std::time::Duration;

pub use admin::{Admin, AdminError};
pub use broker::{BROKER_IMAGE, BrokerContainer};
pub use image::{SimulatorContainer, SimulatorImage};
pub use runtime::Containers;
pub use sut::SutContainer;

/// The image of every simulator: `andon-simulator SYSTEM` is its entrypoint. (`andon:local`,
/// the whole `andon` for `andon serve`, is not used by the runtime.)
pub const IMAGE: &str = "andon-simulator";
/// The image of the bundled reference middleware.
pub const REFERENCE_IMAGE: &str = "andon-reference-middleware";
/// The port every andon container listens on.
pub const PORT: u16 = andon_simulators::standalone::PORT;
/// Label on every container and network of a run: the run's id.
pub const RUN_LABEL: &str = "io.andon.run";
/// Label on every container and network of a run: the process id of the andon that made it.
pub const PID_LABEL: &str = "io.andon.pid";

/// The tag of the images: `ANDON_IMAGE_TAG`, or `local` (what `ci/images.sh` builds).
pub fn image_tag() -> String {
    std::env::var("ANDON_IMAGE_TAG").unwrap_or_else(|_| "local".to_string())
}

/// What a simulator container starts with (`andon-simulator --settings FILE`): the one
/// settings type of every runtime.
pub use super::SystemSettings as SimulatorSettings;

/// The images a containers run needs: the simulators', and the reference middleware's
/// when it is the SUT.
pub fn images_needed(reference_sut: bool) -> Vec<String> {
    let tag = image_tag();
    let mut v = vec![format!("{IMAGE}:{tag}")];
    if reference_sut {
        v.push(format!("{REFERENCE_IMAGE}:{tag}"));
    }
    v
}

/// Errors of the container engine and of the containers runtime.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No Docker engine answers (`docker info` would fail): the caller reports it and, in
    /// tests, skips.
    #[error(
        "no container engine: {0} (the containers runtime needs a Docker engine; \
         DOCKER_HOST selects another one)"
    )]
    NoEngine(String),
    /// An image is missing.
    #[error("the image {0} is not there: build it with ci/images.sh (nothing is pulled)")]
    NoImage(String),
    /// A container did not start or become ready.
    #[error("the {what} container did not start: {why}")]
    Start {
        /// Which container.
        what: String,
        /// Why.
        why: String,
    },
    /// The engine refused an action.
    #[error("{action} of the {what} container failed: {why}")]
    Engine {
        /// What was done.
        action: String,
        /// Which container.
        what: String,
        /// Why.
        why: String,
    },
    /// A simulator's admin API failed.
    #[error(transparent)]
    Admin(#[from] AdminError),
}

/// Checks that a Docker engine answers, and that the images of a run are there.
pub async fn check_engine(images: &[String]) -> Result<(), ContainerError> {
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| ContainerError::NoEngine(e.to_string()))?;
    let ping = tokio::time::timeout(Duration::from_secs(10), docker.ping()).await;
    match ping {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(ContainerError::NoEngine(e.to_string())),
        Err(_) => return Err(ContainerError::NoEngine("no answer within 10 s".into())),
    }
    for image in images {
        if docker.inspect_image(image).await.is_err() {
            return Err(ContainerError::NoImage(image.clone()));
        }
    }
    Ok(())
}

/// Whether a Docker engine answers; `Err` says why not (for tests that must skip).
pub async fn engine_available() -> Result<(), ContainerError> {
    check_engine(&[]).await
}

/// Removes containers and networks that an andon process which no longer runs left
/// behind (it was killed before it could clean up). Returns how many were removed.
pub async fn reap_leftovers() -> Result<usize, ContainerError> {
    remove_labelled(RUN_LABEL, |pid| {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
    .await
}

/// Removes every container and network of the run `run` (whatever state they are in).
pub async fn remove_run(run: &str) -> Result<usize, ContainerError> {
    remove_labelled(&format!("{RUN_LABEL}={run}"), |_| true).await
}

/// Removes every container and network this process created (on Ctrl-C, when the run's
/// own cleanup cannot run to its end). Returns how many were removed.
pub async fn remove_own() -> Result<usize, ContainerError> {
    let me = std::process::id();
    remove_labelled(RUN_LABEL, |pid| pid == me).await
}

/// Removes the containers, then the networks, labelled with a run whose creating process
/// id satisfies `pick`.
async fn remove_labelled(label: &str, pick: impl Fn(u32) -> bool) -> Result<usize, ContainerError> {
    use testcontainers::bollard::query_parameters::{
        ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
    };
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| ContainerError::NoEngine(e.to_string()))?;
    let filters = std::collections::HashMap::from([("label", vec![label])]);
    let engine = |what: &str, e: &dyn std::fmt::Display| ContainerError::Engine {
        action: "listing".into(),
        what: what.into(),
        why: e.to_string(),
    };
    let gone = |labels: Option<&std::collections::HashMap<String, String>>| {
        labels
            .and_then(|l| l.get(PID_LABEL))
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(&pick)
    };
    let mut removed = 0;
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine("leftover", &e))?;
    for c in containers {
        if gone(c.labels.as_ref())
            && let Some(id) = c.id
            && docker
                .remove_container(
                    &id,
                    Some(
                        RemoveContainerOptionsBuilder::new()
                            .force(true)
                            .v(true)
                            .build(),
                    ),
                )
                .await
                .is_ok()
        {
            removed += 1;
        }
    }
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| engine("leftover network", &e))?;
    for n in networks {
        if gone(n.labels.as_ref())
            && let Some(name) = n.name
            && docker.remove_network(&name).await.is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// The labels of everything a run creates.
pub(crate) fn run_labels(run: &str) -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([
        (RUN_LABEL.to_string(), run.to_string()),
        (PID_LABEL.to_string(), std::process::id().to_string()),
    ])
}

/// `docker kill` with SIGKILL alone: a crash, with no moment to save anything (a `docker
/// stop` without grace still sends the stop signal first).
pub(crate) async fn sigkill(
    docker: &testcontainers::bollard::Docker,
    name: &str,
) -> Result<(), testcontainers::bollard::errors::Error> {
    let options = testcontainers::bollard::query_parameters::KillContainerOptionsBuilder::default()
        .signal("SIGKILL")
        .build();
    docker.kill_container(name, Some(options)).await
}

/// Removes a network, retrying while the engine still counts a container on it.
pub(crate) async fn remove_network(docker: &testcontainers::bollard::Docker, network: &str) {
    if network.is_empty() {
        return;
    }
    for _ in 0..20 {
        match docker.remove_network(network).await {
            Ok(()) => return,
            Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }) => return,
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    tracing::warn!(network, "could not remove the run's network");
}
