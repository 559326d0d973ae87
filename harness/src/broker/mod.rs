//! The run's MQTT broker: a Mosquitto 2.0 started per run as a local process, on an
//! ephemeral port of 127.0.0.1, with its own configuration, persistence directory and log
//! under the run directory (`<run>/broker/`). Plants whose events go over MQTT publish to
//! it; the SUT subscribes to it (`{broker}` in the manifest).
//!
//! Mosquitto is found as `$MOSQUITTO`, on `PATH`, or at `/usr/sbin/mosquitto` (where the
//! Debian package puts it); `ci/install-mosquitto.sh` installs it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::process::{Child, Command};

pub mod log;
pub mod stale;

/// Why the broker could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No Mosquitto on this machine.
    #[error(
        "a plant of this run publishes to an MQTT broker, and Mosquitto is not installed: \
         install it with `sudo apt-get install mosquitto` (Debian, Ubuntu) or run \
         ci/install-mosquitto.sh, or set MOSQUITTO to its path"
    )]
    NotInstalled,
    /// Its directory or configuration could not be written.
    #[error("cannot prepare the broker's directory {dir}: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It could not be started.
    #[error("cannot start Mosquitto ({program}): {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The containers runtime has no broker image.
    #[error(
        "the image {0} of the run's broker is not there: build it with ci/images.sh (nothing is pulled)"
    )]
    NoImage(String),
    /// The container engine refused something.
    #[error("the broker's container: {0}")]
    Engine(String),
    /// A partition between the broker and the SUT cannot be made here.
    #[error(
        "a partition between the broker and the SUT needs both in containers of the run \
         (--runtime containers, and an image in the SUT's manifest): {0}"
    )]
    NoPartition(String),
    /// It did not listen in time.
    #[error("Mosquitto did not listen on {address} within {waited:?}; its log: {log}")]
    NotListening {
        /// `host:port`.
        address: String,
        /// How long andon waited.
        waited: Duration,
        /// Its log file.
        log: PathBuf,
    },
}

/// How the broker is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Messages queued per client beyond those in flight (`max_queued_messages`); further
    /// QoS 1 messages for that client are dropped. Default 10 000.
    pub max_queued_messages: u32,
    /// Whether sessions and queued messages are kept across a restart (`persistence`).
    pub persistence: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            max_queued_messages: 10_000,
            persistence: true,
        }
    }
}

/// A running (or stopped, between a stop and a start) Mosquitto.
pub struct Broker {
    program: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// Where Mosquitto is, if it is installed.
pub fn find() -> Result<PathBuf, BrokerError> {
    if let Some(p) = std::env::var_os("MOSQUITTO").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(BrokerError::NotInstalled)
        };
    }
    let on_path = std::env::var_os("PATH").and_then(|dirs| {
        std::env::split_paths(&dirs)
            .map(|d| d.join("mosquitto"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| {
            ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
                .map(PathBuf::from)
                .into_iter()
                .find(|p| p.is_file())
        })
        .ok_or(BrokerError::NotInstalled)
}

/// Where a broker listens, and where it keeps its files as it sees them.
pub enum Listener<'a> {
    /// A local process on the host port andon picks, its files in the run's directory.
    Local,
    /// A container listening on `port` of every interface, the run's directory mounted at
    /// `dir`; it runs as root there (a scratch image has no other user).
    Container {
        /// Its port inside the container.
        port: u16,
        /// Where its files are mounted.
        dir: &'a Path,
    },
}

/// The configuration file's text: listening on `listen` (`"PORT ADDRESS"`), its files
/// under `dir`.
fn config_text(listen: &str, dir: &Path, config: &BrokerConfig, root: bool) -> String {
    let mut c = format!(
        "# Written by andon for one run.\n\
         listener {listen}\n\
         allow_anonymous true\n\
         max_queued_messages {}\n\
         max_inflight_messages 100\n\
         set_tcp_nodelay true\n\
         log_dest file {}\n\
         log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
         connection_messages true\n\
         log_timestamp_format %Y-%m-%dT%H:%M:%S%z\n",
        config.max_queued_messages,
        dir.join("mosquitto.log").display(),
    );
    if root {
        c.push_str("user root\n");
    }
    if config.persistence {
        c.push_str(&format!(
            "persistence true\npersistence_location {}/\nautosave_interval 1\n",
            dir.display()
        ));
    }
    c
}

/// Makes the broker's directory `dir` (writable by the user Mosquitto drops to), picks a
/// free port of this host for it, and writes its configuration there for `listener`.
/// Returns the port.
pub fn prepare_dir(
    dir: &Path,
    config: &BrokerConfig,
    listener: &Listener<'_>,
) -> Result<u16, BrokerError> {
    let io = |source| BrokerError::Dir {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    // Started as root, Mosquitto drops to the `mosquitto` user, who must be able to
    // write its log and persistence file here.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(io)?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(io)?
        .port();
    let text = match listener {
        Listener::Local => config_text(&format!("{port} 127.0.0.1"), dir, config, false),
        Listener::Container { port: inside, dir } => {
            config_text(&format!("{inside} 0.0.0.0"), dir, config, true)
        }
    };
    std::fs::write(dir.join("mosquitto.conf"), text).map_err(io)?;
    Ok(port)
}

/// Waits until something accepts connections at `address` (`host:port`), at most `waited`;
/// `gone` tells when waiting is pointless (the broker exited). The error points at the
/// broker's log in `dir`.
pub async fn wait_listening(
    address: &str,
    waited: Duration,
    dir: &Path,
    mut gone: impl FnMut() -> bool,
) -> Result<(), BrokerError> {
    let deadline = tokio::time::Instant::now() + waited;
    loop {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return Ok(());
        }
        if gone() || tokio::time::Instant::now() >= deadline {
            return Err(BrokerError::NotListening {
                address: address.to_string(),
                waited,
                log: dir.join("mosquitto.log"),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The run's broker, wherever its runtime put it, as the run's faults drive it.
pub trait BrokerNode: Send + Sync {
    /// Stops it as an operator would: SIGTERM, it saves its persistence file.
    fn stop(&mut self) -> BoxFuture<'_, ()>;
    /// Kills it (SIGKILL): what it saved last is what it will have.
    fn kill(&mut self) -> BoxFuture<'_, ()>;
    /// Starts it again after a stop or a kill (same address, same files) and waits until
    /// it listens.
    fn start_again(&mut self) -> BoxFuture<'_, Result<(), BrokerError>>;
    /// Cuts (`true`) or mends the network between it and the SUT, leaving the plants'
    /// side alone; a runtime that cannot says why.
    fn partition(&mut self, cut: bool) -> BoxFuture<'_, Result<(), BrokerError>> {
        let _ = cut;
        Box::pin(async {
            Err(BrokerError::NoPartition(
                "the broker and the SUT are local processes of this host".into(),
            ))
        })
    }
    /// Its URL as the SUT reaches it (`{broker}`).
    fn sut_url(&self) -> String;
    /// `host:port` where the simulators publish to it.
    fn publish_address(&self) -> String;
    /// `host:port` where andon itself reaches it.
    fn host_address(&self) -> String;
    /// Its directory (configuration, persistence, log).
    fn dir(&self) -> &Path;
    /// Stops it for good and removes what its runtime made for it.
    fn remove(self: Box<Self>) -> BoxFuture<'static, ()>;
}

impl Broker {
    /// Starts Mosquitto with its files under `dir`, on a free port of 127.0.0.1, and waits
    /// until it accepts connections.
    pub async fn start(dir: &Path, config: &BrokerConfig) -> Result<Self, BrokerError> {
        let program = find()?;
        let port = prepare_dir(dir, config, &Listener::Local)?;
        let mut b = Self {
            program,
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        b.start_again().await?;
        Ok(b)
    }

    /// Starts the stopped broker again, on the same port with the same files.
    pub async fn start_again(&mut self) -> Result<(), BrokerError> {
        if self.child.is_some() {
            return Ok(());
        }
        let child = Command::new(&self.program)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| BrokerError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        self.child = Some(child);
        let address = self.address();
        let child = &mut self.child;
        let exited = || {
            child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some()
        };
        let listening = wait_listening(&address, Duration::from_secs(10), &self.dir, exited).await;
        if listening.is_err() {
            self.child = None;
        }
        listening
    }

    /// Stops the broker as an operator would (SIGTERM: it saves its persistence file and
    /// closes every connection); SIGKILL if it has not exited after five seconds.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }

    /// Kills the broker (SIGKILL): what it saved last is what it will have.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `mqtt://127.0.0.1:port`, as a SUT on this host reaches it.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.address())
    }

    /// Its directory (configuration, persistence, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl BrokerNode for Broker {
    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(Broker::stop(self))
    }

    fn kill(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(Broker::kill(self))
    }

    fn start_again(&mut self) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(Broker::start_again(self))
    }

    fn sut_url(&self) -> String {
        self.url()
    }

    fn publish_address(&self) -> String {
        self.address()
    }

    fn host_address(&self) -> String {
        self.address()
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn remove(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move { Broker::kill(&mut self).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_listens_locally_and_keeps_sessions() {
        let c = config_text(
            "1884 127.0.0.1",
            Path::new("/run/x/broker"),
            &BrokerConfig::default(),
            false,
        );
        assert!(c.contains("listener 1884 127.0.0.1\n") && !c.contains("user root"));
        assert!(c.contains("persistence true\npersistence_location /run/x/broker/\n"));
        assert!(c.contains("max_queued_messages 10000\n"));
        let off = BrokerConfig {
            persistence: false,
            max_queued_messages: 5,
        };
        let c = config_text("1883 0.0.0.0", Path::new("/mosquitto"), &off, true);
        assert!(!c.contains("persistence true") && c.contains("max_queued_messages 5\n"));
        assert!(c.contains("user root\n") && c.contains("log_dest file /mosquitto/mosquitto.log"));
    }

    #[tokio::test]
    async fn a_broker_stops_saving_its_sessions_and_comes_back_on_the_same_port() {
        let dir = std::env::temp_dir().join(format!("andon-broker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut b = Broker::start(&dir, &BrokerConfig::default())
            .await
            .expect("Mosquitto runs (ci/install-mosquitto.sh installs it)");
        assert!(b.url().starts_with("mqtt://127.0.0.1:"));
        assert!(tokio::net::TcpStream::connect(b.address()).await.is_ok());
        b.stop().await;
        assert!(!b.is_running());
        assert!(tokio::net::TcpStream::connect(b.address()).await.is_err());
        assert!(dir.join("mosquitto.db").is_file(), "saved on SIGTERM");
        b.start_again().await.unwrap();
        assert!(tokio::net::TcpStream::connect(b.address()).await.is_ok());
        b.kill().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
