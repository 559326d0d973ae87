//! Wiring: the router, serving on a given listener, and [`run`], which opens the store,
//! starts the delivery workers and background tasks, serves until shutdown, then stops
//! the workers and closes the store.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::defects::Defect;
use crate::delivery::Delivery;
use crate::ingress::{self, AppState, MqttStats, WriteBehind};
use crate::mqtt;
use crate::store::lots;
use crate::store::{Policy, Store, now_ms};

/// What can stop the middleware from running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Binding or serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The middleware's routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/events/{system}", post(ingress::receive))
        .route("/events/erp/bc/{plant}", post(ingress::bc::notify))
        .route("/health", get(ingress::health))
        .route("/dead-letters", get(ingress::dead_letters))
        .route("/stats", get(ingress::stats))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves (graceful).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `config.listen`, prints `listening on http://ADDR`, and runs until `shutdown`.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let listener = TcpListener::bind(config.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    run_on(config, listener, shutdown).await
}

/// Runs the middleware on `listener` until `shutdown` resolves: opens the store, starts
/// one delivery worker pool per target, the lot sweeper and (with Business Central plants)
/// the keeper of their webhook subscriptions, serves, then stops them and closes the store.
pub async fn run_on(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let policy = Policy {
        defects: config.defects.clone(),
        lot_wait_ms: config.lot_wait.as_millis() as i64,
        late_hold_ms: config.late_hold_delay.as_millis() as i64,
        // DEFECT: no-shared-subscription — each replica mints its own idempotency keys.
        key_salt: config
            .defects
            .has(Defect::NoSharedSubscription)
            .then(|| config.identity().to_string()),
    };
    let (store, closed) = Store::open(&config.database(), policy)?;
    let delivery = Delivery::new(store.clone(), &config)?;
    delivery.adopt_releases(&store.call(|c, _| crate::store::erp_releases(c)).await?);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Alone on the store, or started again under its name, it holds the lease at once.
    delivery.try_lease().await;
    let mut tasks = delivery.start(stop_rx.clone());
    tasks.push(tokio::spawn(sweep_lots(
        store.clone(),
        delivery.clone(),
        (config.lot_wait / 4).clamp(Duration::from_millis(20), Duration::from_millis(500)),
        stop_rx.clone(),
    )));
    let (write_behind, mqtt_write_behind) = write_behinds(&config);
    for wb in write_behind.iter().chain(&mqtt_write_behind) {
        tasks.push(tokio::spawn(flush_write_behind(
            wb.clone(),
            store.clone(),
            delivery.clone(),
            config.write_behind_flush,
            stop_rx.clone(),
        )));
    }
    tasks.extend(keep_bc_subscriptions(
        &config, &listener, &delivery, &stop_rx,
    ));
    let ready = Arc::new(AtomicBool::new(true));
    let state = AppState {
        store: store.clone(),
        delivery: delivery.clone(),
        ready: ready.clone(),
        write_behind: write_behind.clone(),
        mqtt: config.mqtt.as_ref().map(|_| Arc::new(MqttStats::default())),
        mqtt_write_behind: mqtt_write_behind.clone(),
    };
    if let Some(m) = &config.mqtt {
        tasks.extend(mqtt::spawn(
            m.clone(),
            config.defects.clone(),
            state.clone(),
            stop_rx.clone(),
        ));
    }
    tracing::info!(
        addr = %listener.local_addr()?,
        db = %config.database().display(),
        instance = %config.identity(),
        delivery_lease = delivery.lease().held(),
        defects = %config.defects,
        "reference middleware running"
    );
    let served = serve(listener, router(state), shutdown).await;
    ready.store(false, Ordering::SeqCst);
    if let Some(wb) = &write_behind {
        wb.flush(&store, &delivery).await;
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    if let Some(wb) = &mqtt_write_behind {
        wb.flush(&store, &delivery).await;
    }
    delivery.release_lease().await;
    drop((write_behind, mqtt_write_behind));
    drop(delivery);
    drop(store);
    let _ = tokio::time::timeout(Duration::from_secs(5), closed.wait()).await;
    tracing::info!("reference middleware stopped");
    served.map_err(Error::from)
}

/// With Business Central plants, the keeper of their webhook subscriptions. Their
/// handshake calls back into the server: the listener is bound already, and served soon.
fn keep_bc_subscriptions(
    config: &Config,
    listener: &TcpListener,
    delivery: &Arc<Delivery>,
    stop: &watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if config.erp_dialects.bc_plants().is_empty() {
        return None;
    }
    let notify = config.bc_notify_url.clone().unwrap_or_else(|| {
        let port = listener.local_addr().map_or(0, |a| a.port());
        format!("http://127.0.0.1:{port}/events/erp/bc")
    });
    Some(tokio::spawn(delivery.clone().watch_bc(
        notify,
        config.bc_renew_every,
        stop.clone(),
    )))
}

/// DEFECT: ack-before-persist, ack-before-store — write-behind buffers (HTTP, MQTT),
/// flushed every `WRITE_BEHIND_FLUSH` (a second unless set).
fn write_behinds(config: &Config) -> (Option<Arc<WriteBehind>>, Option<Arc<WriteBehind>>) {
    let http = config
        .defects
        .has(Defect::AckBeforePersist)
        .then(|| Arc::new(WriteBehind::default()));
    let mqtt = (config.mqtt.is_some() && config.defects.has(Defect::AckBeforeStore))
        .then(|| Arc::new(WriteBehind::default()));
    (http, mqtt)
}

/// Lets lot events that waited `lot_wait` for a predecessor go ahead.
async fn sweep_lots(
    store: Store,
    delivery: Arc<Delivery>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        // One transaction: instances sharing the store advance each lot once.
        match store
            .call(|c, p| {
                let tx = c.savepoint()?;
                let targets = lots::advance_expired(&tx, p, now_ms())?;
                tx.commit()?;
                Ok(targets)
            })
            .await
        {
            Ok(targets) => delivery.wake(&targets),
            Err(e) => tracing::error!(error = %e, "advancing waiting lot events failed"),
        }
    }
}

/// Writes a defect's write-behind buffer to the store every `every`.
async fn flush_write_behind(
    wb: Arc<WriteBehind>,
    store: Store,
    delivery: Arc<Delivery>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        wb.flush(&store, &delivery).await;
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
