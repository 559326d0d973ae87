//! Which transport each plant's events take to the SUT, per system: the scenario's word
//! for the plant (`transport: {mes: mqtt}`), else the run's (`--transport`), else the
//! manifest's first (webhooks when it takes them, otherwise its broker subscription). A
//! plant sent over a transport the SUT does not consume for that system is refused
//! before anything starts.

use std::collections::BTreeMap;

use andon_contracts::{PlantId, System};
use andon_simulators::emitter::Routes;

use super::RunError;
use crate::scenario::Scenario;
use crate::sut::{ResolvedSut, SutManifest, Transport};

/// The transports of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// Per system: the transport of plants not named, and the plants' own.
    systems: BTreeMap<System, (Transport, BTreeMap<PlantId, Transport>)>,
}

/// The run's transports; why not, when a plant would use one the SUT does not consume.
pub(super) fn plan(manifest: &SutManifest, scenario: &Scenario) -> Result<Plan, RunError> {
    let forced = scenario.transport;
    let mut systems = BTreeMap::new();
    for (system, spec) in &manifest.ingress {
        let default = match forced {
            Some(t) if spec.takes(t) => t,
            _ => spec.default_transport(),
        };
        let mut plants = BTreeMap::new();
        for p in &scenario.plants {
            let Some(t) = p.transport.get(system).copied() else {
                continue;
            };
            if !spec.takes(t) {
                let how = match t {
                    Transport::Mqtt => format!(
                        "an mqtt topic filter (ingress.{system} = {{ mqtt = \"andon/+/{system}/#\" }})"
                    ),
                    Transport::Webhook => {
                        format!("a webhook URL (ingress.{system} = {{ webhook = \"…\" }})")
                    }
                };
                return Err(RunError::Transport(format!(
                    "plant {}'s {system} events go over {t} in the scenario, and the SUT's manifest ({}) declares no {t} ingress for {system}: add {how}",
                    p.id,
                    manifest.file()
                )));
            }
            if t != default {
                plants.insert(p.id.clone(), t);
            }
        }
        systems.insert(*system, (default, plants));
    }
    Ok(Plan { systems })
}

impl Plan {
    /// Whether some plant's events go to the broker.
    pub(super) fn uses_mqtt(&self) -> bool {
        self.systems.values().any(|(d, plants)| {
            *d == Transport::Mqtt || plants.values().any(|t| *t == Transport::Mqtt)
        })
    }

    /// The routes of `system`'s emitter: URLs of the SUT's webhooks (`sut`) and of topics
    /// on the broker at `broker` (`host:port`, as the simulators reach it).
    pub(super) fn routes(&self, system: System, sut: &ResolvedSut, broker: Option<&str>) -> Routes {
        let Some((default, plants)) = self.systems.get(&system) else {
            return Routes::default();
        };
        let url = |t: Transport| match t {
            Transport::Webhook => sut.ingress.get(&system).map(|i| i.as_str().to_string()),
            Transport::Mqtt => Some(sut.mqtt.get(&system)?.url(broker?)),
        };
        Routes {
            default: url(*default),
            plants: plants
                .iter()
                .filter_map(|(p, t)| Some((p.clone(), url(*t)?)))
                .collect(),
        }
    }

    /// The transport of each plant's events of each system, as the run report shows it.
    pub(super) fn describe(&self) -> String {
        self.systems
            .iter()
            .map(|(s, (d, plants))| {
                let own: Vec<String> = plants.iter().map(|(p, t)| format!("{p}: {t}")).collect();
                if own.is_empty() {
                    format!("{s}: {d}")
                } else {
                    format!("{s}: {d} ({})", own.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
