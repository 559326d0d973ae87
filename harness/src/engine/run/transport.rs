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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(mes: &str) -> SutManifest {
        let text = format!(
            "name = \"x\"\n[start]\ncommand = [\"x\"]\nready = \"{{sut.url}}/health\"\n[ingress]\n\
             erp = \"{{sut.url}}/events/erp\"\nmes = {mes}\nqms = \"{{sut.url}}/events/qms\"\n\
             wms = \"{{sut.url}}/events/wms\"\n"
        );
        SutManifest::parse(&text, "sut.toml").unwrap()
    }

    fn scenario(extra: &str, plant_2000: &str) -> Scenario {
        let text = format!(
            "name: t\nplants:\n  - {{ id: \"1000\" }}\n  - {{ id: \"2000\"{plant_2000} }}\n\
             duration: 5s\nload:\n  - {{ at: 0s, rate: 10/s }}\n{extra}"
        );
        Scenario::parse(&text, "t.yaml").unwrap()
    }

    fn resolved(m: &SutManifest) -> ResolvedSut {
        let urls = System::ALL
            .into_iter()
            .map(|s| (s, "http://127.0.0.1:9".to_string()))
            .collect();
        let ph = crate::sut::Placeholders::new(urls, Some(7000), std::path::Path::new("run"));
        m.resolve(&ph).unwrap()
    }

    const BOTH: &str = r#"{ webhook = "{sut.url}/events/mes", mqtt = "andon/+/mes/#" }"#;

    #[test]
    fn a_plant_of_its_own_publishes_while_the_others_post() {
        let m = manifest(BOTH);
        let plan = plan(&m, &scenario("", ", transport: { mes: mqtt }")).unwrap();
        assert!(plan.uses_mqtt());
        let r = plan.routes(System::Mes, &resolved(&m), Some("127.0.0.1:1884"));
        assert_eq!(
            r.default.as_deref(),
            Some("http://127.0.0.1:7000/events/mes")
        );
        let p2000 = PlantId::parse("2000").unwrap();
        assert_eq!(
            r.plants[&p2000],
            "mqtt://127.0.0.1:1884/andon/{plant}/{system}/{kind}"
        );
        assert_eq!(
            plan.describe(),
            "erp: webhook; mes: webhook (2000: mqtt); qms: webhook; wms: webhook"
        );
    }

    #[test]
    fn the_scenario_or_the_flag_puts_every_plant_on_the_broker_where_the_sut_takes_it() {
        let m = manifest(BOTH);
        let plan = plan(&m, &scenario("transport: mqtt\n", "")).unwrap();
        let r = plan.routes(System::Mes, &resolved(&m), Some("b:1"));
        assert!(r.default.unwrap().starts_with("mqtt://b:1/"));
        assert!(r.plants.is_empty());
        let erp = plan.routes(System::Erp, &resolved(&m), Some("b:1"));
        assert_eq!(
            erp.default.as_deref(),
            Some("http://127.0.0.1:7000/events/erp")
        );
        // Nothing asks for the broker: webhooks, as ever.
        assert!(!super::plan(&m, &scenario("", "")).unwrap().uses_mqtt());
    }

    #[test]
    fn a_broker_only_ingress_is_the_default_and_a_missing_transport_is_refused() {
        let m = manifest(r#"{ mqtt = "andon/+/mes/#" }"#);
        assert!(plan(&m, &scenario("", "")).unwrap().uses_mqtt());
        let e = plan(
            &manifest(r#""{sut.url}/events/mes""#),
            &scenario("", ", transport: { mes: mqtt }"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plant 2000's mes events go over mqtt"), "{e}");
        assert!(e.contains("ingress.mes = { mqtt = "), "{e}");
    }
}
