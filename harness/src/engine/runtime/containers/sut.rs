//! [`SutContainer`]: the SUT from the image its manifest names, on the run's network, with
//! the same actions as the process driver (start, restart, kill, pause) through the engine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::time::Instant;

use super::{Containers, PORT, run_labels};
use crate::sut::SutError;
use crate::sut::manifest::ResolvedStart;

/// Seconds between SIGTERM and SIGKILL when the SUT container is restarted.
fn grace(start: &ResolvedStart) -> i32 {
    start.stop_grace.as_secs().clamp(1, 600) as i32
}

/// The SUT in a container.
pub struct SutContainer {
    container: ContainerAsync<GenericImage>,
    docker: testcontainers::bollard::Docker,
    name: String,
    start: ResolvedStart,
    log: PathBuf,
}

impl std::fmt::Debug for SutContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SutContainer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How often a pause or unpause the cgroup freezer refused is asked for, and how long apart.
const FREEZER_TRIES: u32 = 5;
const FREEZER_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs `call` (a pause or unpause) until the engine does it, at most [`FREEZER_TRIES`]
/// times. The freezer gives up ("unable to freeze") while a process sits in an
/// uninterruptible wait, as a SUT syncing its store to disk on a loaded machine does, and
/// thaws what it froze: asked again shortly after, it succeeds.
async fn freezer<F, Fut, E>(action: &str, call: F) -> Result<(), SutError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut tries = 1;
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(e) if tries >= FREEZER_TRIES => return Err(failed(action, e)),
            Err(e) => tracing::debug!(error = %e, action, "the engine refused, asking again"),
        }
        tries += 1;
        tokio::time::sleep(FREEZER_BACKOFF).await;
    }
}

fn failed(action: &str, e: impl std::fmt::Display) -> SutError {
    SutError::Container(format!("{action}: {e}"))
}

/// `acme/bridge:1.4` → (`acme/bridge`, `1.4`); no tag → `latest`.
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

impl SutContainer {
    /// The SUT's name on the run's network (what `{sut.url}` names for the simulators).
    pub fn network_name(rt: &Containers) -> String {
        format!("{}-sut", rt.run_id())
    }

    /// Creates and starts the SUT's container from `start` (image, args, env), on the run's
    /// network under `host` (`{sut.host}`: [`SutContainer::network_name`], `-2`, … for
    /// further instances); returns once it runs (not yet ready: see
    /// [`SutContainer::wait_ready`]). Its output goes to `sut.log` (`sut-2.log`, …).
    pub async fn create(
        rt: &Containers,
        start: &ResolvedStart,
        run_dir: &Path,
        host: &str,
    ) -> Result<Self, SutError> {
        let Some(image) = start.image.as_deref() else {
            return Err(SutError::Container("the manifest names no image".into()));
        };
        let (name, tag) = split_image(image);
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .map_err(|e| failed("the engine", e))?;
        if docker.inspect_image(image).await.is_err() {
            return Err(SutError::Container(format!(
                "the image {image} is not there: build or load it first (nothing is pulled; \
                 the reference middleware's is built by ci/images.sh)"
            )));
        }
        let container_name = host.to_string();
        let log = match host.strip_prefix(&Self::network_name(rt)) {
            Some(n) if !n.is_empty() => format!("sut{n}.log"),
            _ => "sut.log".to_string(),
        };
        // The run directory, where `{run.dir}` points inside: the SUT's files stay with the
        // run, and instances of it share them as they do in-process.
        let host_dir =
            std::fs::canonicalize(run_dir).map_err(|e| failed("the run directory", e))?;
        // A fixed port of this host: the URLs andon reads (ready, dead letters, backlog)
        // stay right across a restart of the container.
        let host_port = crate::sut::free_port().map_err(|e| failed("a free port", e))?;
        let mut request = GenericImage::new(name, tag)
            .with_exposed_port(ContainerPort::Tcp(PORT))
            .with_mapped_port(host_port, ContainerPort::Tcp(PORT))
            .with_mount(testcontainers::core::Mount::bind_mount(
                host_dir.display().to_string(),
                super::placement::SUT_RUN_DIR,
            ))
            .with_network(rt.network().to_string())
            .with_container_name(container_name.clone())
            .with_startup_timeout(start.ready_timeout)
            .with_host(
                "host.docker.internal",
                testcontainers::core::Host::HostGateway,
            );
        for (k, v) in run_labels(rt.run_id()) {
            request = request.with_label(k, v);
        }
        for (k, v) in &start.env {
            request = request.with_env_var(k.clone(), v.clone());
        }
        if !start.args.is_empty() {
            request = request.with_cmd(start.args.clone());
        }
        let container = request.start().await.map_err(|e| failed("start", e))?;
        // The broker's own network, where the SUT reaches it (a partition cuts it there).
        if let Some(network) = rt.joined_broker_network() {
            docker
                .connect_network(
                    network,
                    testcontainers::bollard::models::NetworkConnectRequest {
                        container: container_name.clone(),
                        endpoint_config: None,
                    },
                )
                .await
                .map_err(|e| failed("joining the broker's network", e))?;
        }
        Ok(Self {
            container,
            docker,
            name: container_name,
            start: start.clone(),
            log: run_dir.join(log),
        })
    }

    /// The SUT's base URL as this host reaches it (published port).
    pub async fn host_url(&self) -> Result<String, SutError> {
        let host = self
            .container
            .get_host()
            .await
            .map_err(|e| failed("host", e))?;
        let port = self
            .container
            .get_host_port_ipv4(PORT)
            .await
            .map_err(|e| failed("published port", e))?;
        Ok(format!("http://{host}:{port}"))
    }

    /// Waits until `ready` (already rewritten to the published port) answers 2xx.
    pub async fn wait_ready(&self, ready: &str) -> Result<(), SutError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| failed("http client", e))?;
        let began = Instant::now();
        loop {
            if let Ok(r) = client.get(ready).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if began.elapsed() >= self.start.ready_timeout {
                return Err(SutError::NeverReady {
                    url: ready.to_string(),
                    waited: self.start.ready_timeout,
                    log_tail: self.log_tail().await,
                });
            }
            if self.container.is_running().await.ok() == Some(false) {
                return Err(SutError::Container(format!(
                    "the container exited before it was ready; its output:\n{}",
                    self.log_tail().await
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn log_tail(&self) -> String {
        let out = self.container.stdout_to_vec().await.unwrap_or_default();
        let err = self.container.stderr_to_vec().await.unwrap_or_default();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
        let lines: Vec<&str> = text.lines().collect();
        lines[lines
            .len()
            .saturating_sub(crate::sut::driver::LOG_TAIL_LINES)..]
            .join("\n")
    }

    /// `docker stop` (SIGTERM, SIGKILL after the manifest's grace) and `docker start`.
    pub async fn restart(&self, down: std::time::Duration) -> Result<(), SutError> {
        self.container
            .stop_with_timeout(Some(grace(&self.start)))
            .await
            .map_err(|e| failed("stop", e))?;
        tokio::time::sleep(down).await;
        self.start_again().await
    }

    /// `docker kill` (SIGKILL alone, [`super::sigkill`]) and `docker start` after `down`.
    pub async fn kill_and_restart(&self, down: std::time::Duration) -> Result<(), SutError> {
        self.kill().await?;
        tokio::time::sleep(down).await;
        self.start_again().await
    }

    /// SIGKILL to the container's processes, then waits until the engine reports it stopped.
    async fn kill(&self) -> Result<(), SutError> {
        use futures::StreamExt as _;
        super::sigkill(&self.docker, &self.name)
            .await
            .map_err(|e| failed("kill", e))?;
        let until =
            testcontainers::bollard::query_parameters::WaitContainerOptionsBuilder::default()
                .condition("not-running")
                .build();
        // The wait answers with an error for a non-zero exit code, which a SIGKILL gives:
        // either answer means the container has stopped.
        let _ = self
            .docker
            .wait_container(&self.name, Some(until))
            .next()
            .await;
        Ok(())
    }

    async fn start_again(&self) -> Result<(), SutError> {
        self.container
            .start()
            .await
            .map_err(|e| failed("start", e))?;
        let ready = self.ready_url().await?;
        self.wait_ready(&ready).await
    }

    /// The manifest's `ready` URL on the current published port.
    pub async fn ready_url(&self) -> Result<String, SutError> {
        let base = self.host_url().await?;
        Ok(rebase(&self.start.ready, &base))
    }

    /// `docker pause`: every process of the SUT frozen (the cgroup freezer).
    pub async fn pause(&self) -> Result<(), SutError> {
        freezer("pause", || self.container.pause()).await
    }

    /// `docker unpause`.
    pub async fn resume(&self) -> Result<(), SutError> {
        freezer("unpause", || self.container.unpause()).await
    }

    /// Writes the container's output to `RUN_DIR/sut.log`, stops and removes it.
    pub async fn stop(self) -> Result<(), SutError> {
        let out = self.container.stdout_to_vec().await.unwrap_or_default();
        let err = self.container.stderr_to_vec().await.unwrap_or_default();
        if let Ok(mut f) = std::fs::File::create(&self.log) {
            let _ = writeln!(f, "[andon] the SUT ran in the container {}", self.name);
            let _ = f.write_all(&out);
            let _ = f.write_all(&err);
        }
        let _ = self.container.unpause().await;
        self.container.rm().await.map_err(|e| failed("remove", e))
    }
}

/// `url` with its scheme and authority replaced by `base`'s (`http://andon-x-sut:8080/health`
/// → `http://127.0.0.1:32771/health`).
pub(crate) fn rebase(url: &str, base: &str) -> String {
    let path_start = url
        .find("://")
        .map(|i| i + 3)
        .and_then(|i| url[i..].find('/').map(|j| i + j))
        .unwrap_or(url.len());
    format!("{}{}", base.trim_end_matches('/'), &url[path_start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_keeps_the_path_and_query() {
        assert_eq!(
            rebase(
                "http://andon-1-sut:8080/health?x=1",
                "http://127.0.0.1:3000"
            ),
            "http://127.0.0.1:3000/health?x=1"
        );
        assert_eq!(rebase("http://sut:8080", "http://h:1/"), "http://h:1");
    }

    #[test]
    fn images_split_into_name_and_tag() {
        assert_eq!(split_image("acme/bridge:1.4"), ("acme/bridge", "1.4"));
        assert_eq!(
            split_image("localhost:5000/bridge"),
            ("localhost:5000/bridge", "latest")
        );
        assert_eq!(split_image("bridge"), ("bridge", "latest"));
    }
}
