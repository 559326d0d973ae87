//! The SUT driver: starts the middleware from its resolved manifest, waits until it is
//! ready, captures its output into `RUN_DIR/sut.log`, and stops, kills, pauses, resumes
//! and restarts it for the fault scheduler.
//!
//! The SUT runs in its own process group, so signals reach a wrapper script's children
//! too (`sh -c "… && exec server"` or a launcher that forks a JVM). Dropping the driver
//! kills the group (SIGKILL); a terminal's Ctrl-C reaches andon only. Every group this
//! process started is also known process-wide until its driver is done with it, so that a
//! command told to stop (SIGINT, SIGTERM) stops them all ([`stop_own`]) before it exits.
//! Only an andon killed outright (SIGKILL) leaves the SUT running. `sut.log` holds one line per line of output,
//! `TIMESTAMP [stdout|stderr] text`, and the driver's own notes as `[andon]` lines.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use super::error::{SutError, SutEvent, SutEventKind};
use super::manifest::{ResolvedStart, ResolvedSut};
pub use super::process::stop_own;
use super::process::{Log, Proc, own_groups, spawn};

/// Lines of `sut.log` an error quotes.
pub const LOG_TAIL_LINES: usize = 40;

/// Drives one SUT for a run. See the module docs.
pub struct SutDriver {
    sut: ResolvedSut,
    log: Log,
    proc: Option<Proc>,
    paused: bool,
    http: reqwest::Client,
    events: mpsc::UnboundedSender<SutEvent>,
    events_rx: Option<mpsc::UnboundedReceiver<SutEvent>>,
}

impl std::fmt::Debug for SutDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SutDriver")
            .field("name", &self.sut.name)
            .field("pid", &self.pid())
            .field("paused", &self.paused)
            .finish()
    }
}

/// A free TCP port on 127.0.0.1, found by binding port 0 and letting it go, so that
/// `{sut.port}` is known before the SUT starts. Another process may take the port between
/// this call and the SUT binding it; the SUT then fails to start and the driver reports
/// that with its log (`SutError::Died`).
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl SutDriver {
    /// A driver for `sut` that logs into `run_dir/sut.log` (the folder is created).
    pub fn new(sut: ResolvedSut, run_dir: &Path) -> Result<Self, SutError> {
        Self::logging_to(sut, run_dir, "sut.log")
    }

    /// A driver for `sut` that logs into `run_dir/<file>` (another instance of the SUT:
    /// `sut-2.log`).
    pub fn logging_to(sut: ResolvedSut, run_dir: &Path, file: &str) -> Result<Self, SutError> {
        let path = run_dir.join(file);
        if let Err(source) = std::fs::create_dir_all(run_dir) {
            return Err(SutError::Log { path, source });
        }
        let log = Log::open(path)?;
        let (events, events_rx) = mpsc::unbounded_channel();
        Ok(Self {
            sut,
            log,
            proc: None,
            paused: false,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default(),
            events,
            events_rx: Some(events_rx),
        })
    }

    /// Overrides the manifest's readiness limit.
    pub fn set_ready_timeout(&mut self, limit: Duration) -> &mut Self {
        if let Some(s) = &mut self.sut.start {
            s.ready_timeout = limit;
        }
        self
    }

    /// The resolved manifest.
    pub fn sut(&self) -> &ResolvedSut {
        &self.sut
    }

    /// `RUN_DIR/sut.log`.
    pub fn log_path(&self) -> &Path {
        &self.log.path
    }

    /// The last `n` lines of `sut.log`.
    pub fn log_tail(&self, n: usize) -> String {
        self.log.tail(n)
    }

    /// The process id of the running SUT.
    pub fn pid(&self) -> Option<u32> {
        self.proc
            .as_ref()
            .filter(|p| p.exited().is_none())
            .map(|p| p.pid)
    }

    /// The lifecycle events (start, ready, signals, exits — an unexpected exit has
    /// `expected: false`); can be taken once.
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<SutEvent>> {
        self.events_rx.take()
    }

    /// Whether the SUT is running (an SUT andon does not start is assumed to be).
    pub fn is_running(&self) -> bool {
        match &self.sut.start {
            None => true,
            Some(_) => self.pid().is_some(),
        }
    }

    /// Whether the SUT is stopped by [`SutDriver::pause`].
    pub fn is_paused(&self) -> bool {
        self.paused && self.is_running()
    }

    fn emit(&self, what: SutEventKind) {
        let _ = self.events.send(SutEvent {
            at: Utc::now(),
            what,
        });
    }

    fn managed(&self, action: &'static str) -> Result<&ResolvedStart, SutError> {
        self.sut
            .start
            .as_ref()
            .ok_or(SutError::NotApplicable { action })
    }

    /// Starts the SUT and waits until its readiness URL answers 2xx. Nothing to do when it
    /// already runs, or when andon does not start it.
    pub async fn start(&mut self) -> Result<(), SutError> {
        let Some(start) = self.sut.start.clone() else {
            return Ok(());
        };
        if self.pid().is_some() {
            return Ok(());
        }
        if let (Some(image), true) = (&start.image, start.command.is_empty()) {
            return Err(SutError::NeedsContainers {
                image: image.clone(),
            });
        }
        let proc = spawn(&start, &self.log, &self.events)?;
        let pid = proc.pid;
        self.emit(SutEventKind::Started { pid });
        self.paused = false;
        self.proc = Some(proc);
        self.wait_ready(&start).await
    }

    async fn wait_ready(&mut self, start: &ResolvedStart) -> Result<(), SutError> {
        let (began, mut exit) = match &self.proc {
            Some(p) => (p.spawned, p.exit.clone()),
            None => return Err(SutError::NotRunning),
        };
        let deadline = began + start.ready_timeout;
        let mut delay = Duration::from_millis(25);
        loop {
            let exited = *exit.borrow();
            if let Some(status) = exited {
                self.finish().await;
                return Err(SutError::Died {
                    status,
                    log_tail: self.log.tail(LOG_TAIL_LINES),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self
                .http
                .get(&start.ready)
                .timeout(left.clamp(Duration::from_millis(1), Duration::from_secs(2)))
                .send()
                .await;
            if let Ok(r) = answer
                && r.status().is_success()
            {
                let after = began.elapsed();
                self.log.line(
                    "andon",
                    &format!("ready after {} ms ({})", after.as_millis(), start.ready),
                );
                self.emit(SutEventKind::Ready {
                    after_ms: after.as_millis() as u64,
                });
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.log.line(
                    "andon",
                    &format!(
                        "not ready after {} s ({}): killing it",
                        start.ready_timeout.as_secs_f64(),
                        start.ready
                    ),
                );
                let _ = self.kill().await;
                return Err(SutError::NeverReady {
                    url: start.ready.clone(),
                    waited: start.ready_timeout,
                    log_tail: self.log.tail(LOG_TAIL_LINES),
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(delay.min(left)) => {}
                _ = exit.wait_for(Option::is_some) => {}
            }
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    fn signal(&self, signal: Signal) -> Result<(), SutError> {
        let Some(proc) = &self.proc else {
            return Err(SutError::NotRunning);
        };
        if proc.exited().is_some() {
            return Err(SutError::NotRunning);
        }
        let name = signal.as_str();
        self.log
            .line("andon", &format!("sending {name} to pid {}", proc.pid));
        self.emit(SutEventKind::Signalled {
            pid: proc.pid,
            signal: name.to_string(),
        });
        match killpg(Pid::from_raw(proc.pid as i32), signal) {
            Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
            Err(source) => Err(SutError::Signal {
                signal: name,
                source,
            }),
        }
    }

    fn expect_exit(&self) {
        if let Some(p) = &self.proc {
            p.expected.store(true, Ordering::SeqCst);
        }
    }

    async fn finish(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.drain().await;
            own_groups().remove(&p.pid);
        }
        self.paused = false;
    }

    /// Stops the SUT: SIGTERM, then SIGKILL when it has not exited within the grace.
    /// Nothing to do when it does not run or andon does not start it.
    pub async fn stop(&mut self) -> Result<(), SutError> {
        let Some(start) = &self.sut.start else {
            return Ok(());
        };
        let grace = start.stop_grace;
        if self.pid().is_none() {
            self.finish().await;
            return Ok(());
        }
        self.expect_exit();
        if self.paused {
            // A stopped process handles SIGTERM only once it runs again.
            self.signal(Signal::SIGCONT)?;
        }
        self.signal(Signal::SIGTERM)?;
        let exited = match self.proc.as_mut() {
            Some(p) => p.wait_exit(grace).await.is_some(),
            None => true,
        };
        if !exited {
            self.log.line(
                "andon",
                &format!("still running {} s after SIGTERM", grace.as_secs_f64()),
            );
            self.signal(Signal::SIGKILL)?;
            if let Some(p) = self.proc.as_mut() {
                p.wait_exit(Duration::from_secs(5)).await;
            }
        }
        self.finish().await;
        Ok(())
    }

    /// Kills the SUT (SIGKILL) and waits for it to be gone.
    pub async fn kill(&mut self) -> Result<(), SutError> {
        self.managed("kill")?;
        if self.pid().is_none() {
            self.finish().await;
            return Ok(());
        }
        self.expect_exit();
        self.signal(Signal::SIGKILL)?;
        if let Some(p) = self.proc.as_mut() {
            p.wait_exit(Duration::from_secs(5)).await;
        }
        self.finish().await;
        Ok(())
    }

    /// Stops the SUT in its tracks (SIGSTOP): connections stay open, nothing is answered.
    pub async fn pause(&mut self) -> Result<(), SutError> {
        self.managed("pause")?;
        self.signal(Signal::SIGSTOP)?;
        self.paused = true;
        Ok(())
    }

    /// Lets a paused SUT run again (SIGCONT).
    pub async fn resume(&mut self) -> Result<(), SutError> {
        self.managed("resume")?;
        self.signal(Signal::SIGCONT)?;
        self.paused = false;
        Ok(())
    }

    /// Stops the SUT ([`SutDriver::stop`]) and starts it again on the same port.
    pub async fn restart(&mut self) -> Result<(), SutError> {
        self.restart_after(Duration::ZERO).await
    }

    /// [`SutDriver::restart`], down for `down` in between.
    pub async fn restart_after(&mut self, down: Duration) -> Result<(), SutError> {
        self.managed("restart")?;
        self.stop().await?;
        tokio::time::sleep(down).await;
        self.start().await
    }

    /// Kills the SUT ([`SutDriver::kill`]) and starts it again on the same port: the
    /// `kill` fault.
    pub async fn kill_and_restart(&mut self) -> Result<(), SutError> {
        self.kill_and_restart_after(Duration::ZERO).await
    }

    /// [`SutDriver::kill_and_restart`], down for `down` in between.
    pub async fn kill_and_restart_after(&mut self, down: Duration) -> Result<(), SutError> {
        self.kill().await?;
        tokio::time::sleep(down).await;
        self.start().await
    }
}

impl Drop for SutDriver {
    fn drop(&mut self) {
        if let Some(p) = &self.proc {
            if p.exited().is_none() {
                p.expected.store(true, Ordering::SeqCst);
                let _ = killpg(Pid::from_raw(p.pid as i32), Signal::SIGKILL);
                self.log
                    .line("andon", &format!("pid {} killed on drop", p.pid));
            }
            own_groups().remove(&p.pid);
            p.monitor.abort();
        }
    }
}
