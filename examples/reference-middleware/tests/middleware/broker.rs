//! A Mosquitto broker of a test's own (its own port, config and persistence directory),
//! and a publisher that sends events as the simulators do (MQTT 5, QoS 1, binary mode).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use andon_contracts::events::mqtt::{Mode, encode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::Value;

use crate::helpers::TempDir;

/// Where Mosquitto is installed (Debian: `/usr/sbin`).
fn mosquitto() -> PathBuf {
    let found = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("mosquitto"))
                    .find(|p| p.is_file())
            })
        });
    found.expect("Mosquitto is not installed: run ci/install-mosquitto.sh")
}

/// A running Mosquitto, killed on drop.
pub struct Broker {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: TempDir,
    child: Option<tokio::process::Child>,
}

impl Broker {
    /// Starts a broker on a free port with persistence in a fresh directory.
    pub async fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let dir = TempDir::new();
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nlog_dest none\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), conf).expect("config");
        // Started as root, Mosquitto drops to the `mosquitto` user: it must be able to
        // write its persistence file here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let mut b = Self {
            port,
            dir,
            child: None,
        };
        b.spawn().await;
        b
    }

    async fn spawn(&mut self) {
        let child = tokio::process::Command::new(mosquitto())
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Mosquitto is not installed: run ci/install-mosquitto.sh");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "Mosquitto did not listen on {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the broker with SIGTERM (it writes its persistence file) and waits for it.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        assert!(self.dir.path().join("mosquitto.db").is_file(), "persisted");
    }

    /// Starts the broker again on the same port, config and persistence.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A publisher connected to a broker; counts the PUBACKs it got.
pub struct Publisher {
    client: AsyncClient,
    sent: usize,
    acked: Arc<AtomicUsize>,
}

impl Publisher {
    /// Connects to the broker on `port`.
    pub fn connect(port: u16) -> Self {
        let id = format!("test-publisher-{}", uuid::Uuid::new_v4().simple());
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(o, 64);
        let acked = Arc::new(AtomicUsize::new(0));
        let a = acked.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        a.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Self {
            client,
            sent: 0,
            acked,
        }
    }

    /// Publishes `event` (binary mode, QoS 1) on `topic` and waits for the broker's PUBACK.
    pub async fn event(&mut self, topic: &str, event: &Value, retain: bool) {
        let m = encode(event, Mode::Binary);
        let props = PublishProperties {
            content_type: Some(m.content_type),
            user_properties: m.user_properties,
            ..PublishProperties::default()
        };
        self.raw(topic, m.payload, props, retain).await;
    }

    /// Publishes any payload with `props` (QoS 1) and waits for the broker's PUBACK.
    pub async fn raw(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        props: PublishProperties,
        retain: bool,
    ) {
        self.client
            .publish_with_properties(topic, QoS::AtLeastOnce, retain, payload, props)
            .await
            .expect("publish");
        self.sent += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.acked.load(Ordering::SeqCst) < self.sent {
            assert!(Instant::now() < deadline, "the broker never acknowledged");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
