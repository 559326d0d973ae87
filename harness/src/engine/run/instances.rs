//! The SUT's other instances, when a scenario runs several side by side (`instances`):
//! each resolved with its own `{sut.port}` (in-process) or `{sut.host}` (a container of its
//! own) and `{sut.instance}`, started and awaited as the first, logging into
//! `sut-<n>.log`. They consume from the broker beside the first; the webhooks and the SUT
//! faults stay with the first.

use crate::engine::runtime::{Runtime, SutHandle};
use crate::sut::{Placeholders, ResolvedSut, SutDriver, free_port};

use super::prepare::Prepared;
use super::{RunError, RunOptions};

/// One more instance of the SUT.
pub(super) struct Instance {
    /// Its manifest, resolved (its dead letters and backlog are read too).
    pub(super) sut: ResolvedSut,
    /// Its driver.
    pub(super) handle: Box<dyn SutHandle>,
}

/// Starts instances 2 to `p.scenario.instances` (in-process: andon starts them); why not,
/// as the run's SUT failure, when one does not come up.
pub(super) async fn start_more(
    rt: &dyn Runtime,
    opts: &RunOptions,
    p: &Prepared,
    first: &Placeholders,
) -> Result<Result<Vec<Instance>, String>, RunError> {
    let mut out: Vec<Instance> = Vec::new();
    let hosted = opts.runtime.hosts_sut(&p.manifest);
    for n in 2..=p.scenario.instances {
        let mut ph = first.clone();
        ph.sut_instance = n;
        if hosted {
            ph.sut_host = format!("{}-{n}", first.sut_host);
        } else {
            ph.sut_port = Some(free_port().map_err(|source| RunError::Io {
                path: "127.0.0.1:0".into(),
                source,
            })?);
        }
        let mut sut = p.manifest.resolve(&ph)?;
        if let Some(start) = sut.start.as_mut().filter(|_| !opts.defects.is_empty()) {
            start
                .env
                .insert("DEFECTS".to_string(), opts.defects.join(","));
        }
        let started = if hosted {
            rt.start_sut(&p.manifest, &mut sut, &ph, &p.dir.0).await
        } else {
            async {
                let log = format!("sut-{n}.log");
                let mut d = SutDriver::logging_to(sut.clone(), &p.dir.0, &log)?;
                d.start().await?;
                Ok::<_, crate::sut::SutError>(Box::new(d) as Box<dyn SutHandle>)
            }
            .await
        };
        match started {
            Ok(handle) => out.push(Instance { sut, handle }),
            Err(e) => {
                for i in out {
                    i.handle.stop().await;
                }
                return Ok(Err(format!("instance {n} of the SUT: {e}")));
            }
        }
    }
    Ok(Ok(out))
}

/// Why the scenario's instances cannot run here, if they cannot.
pub(super) fn refuse(opts: &RunOptions, p: &Prepared) -> Option<String> {
    if p.scenario.instances <= 1 {
        return None;
    }
    if !p.manifest.is_managed() {
        return Some(format!(
            "{}: the scenario runs {} instances of the SUT, and andon starts none (the manifest has no [start])",
            opts.scenario.display(),
            p.scenario.instances
        ));
    }
    None
}
