//! One entry of `faults:` turned into a [`TimedFault`] by hand, so that unknown kinds,
//! unknown keys and bad values point at themselves rather than at the entry (serde
//! `flatten` would lose both the positions and `deny_unknown_fields`).
//!
//! Every entry needs `at`, `target` and `kind`; then it is a fault of the SUT (`target:
//! sut`), of a simulator's container (through the container engine), or of a simulator
//! itself, whose keys and values are those [`super::fault_params`] learns from the fault
//! types.

use andon_simulators::faults::{Dur, FaultKind, FaultSpec};
use serde_json::{Map, Value};

use super::fault_params;
use super::model::{
    BrokerFault, BrokerFaultKind, EngineFault, EngineFaultKind, FaultAction, SutFault,
    SutFaultKind, Target, TimedFault,
};
use super::yaml::{Ctx, Seg};

/// A problem already recorded with its position: the entry cannot become a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reported;

/// The i-th entry of `faults:`.
struct Entry<'e> {
    /// Its index.
    i: usize,
    /// Its keys and values.
    map: &'e Map<String, Value>,
}

impl Entry<'_> {
    /// The path of the entry itself.
    fn item(&self) -> Vec<Seg> {
        ypath!["faults", self.i]
    }

    /// The path of the value under `key`.
    fn value(&self, key: &str) -> Vec<Seg> {
        ypath!["faults", self.i, key]
    }

    /// The path of the key `key` itself.
    fn key_name(&self, key: &str) -> Vec<Seg> {
        ypath!["faults", self.i, Seg::KeyName(key.to_string())]
    }

    /// Reads `key` as a duration; a bad one is reported at its value.
    fn duration(&self, ctx: &mut Ctx, key: &str) -> Result<Option<Dur>, Reported> {
        let Some(v) = self.map.get(key) else {
            return Ok(None);
        };
        serde_json::from_value::<Dur>(v.clone())
            .map(Some)
            .map_err(|e| {
                ctx.at(self.value(key), format!("faults[{}].{key}: {e}", self.i));
                Reported
            })
    }

    /// Reports every key besides `at`, `target`, `kind` and `for`, saying what the fault
    /// is (`what`); false when there was one.
    fn only_timing_keys(&self, ctx: &mut Ctx, what: &str) -> bool {
        let mut ok = true;
        for key in self.map.keys() {
            if !matches!(key.as_str(), "at" | "target" | "kind" | "for") {
                ctx.at(
                    self.key_name(key),
                    format!(
                        "unknown key `{key}` for {what}, expected one of at, target, kind, for"
                    ),
                );
                ok = false;
            }
        }
        ok
    }
}

/// Turns the i-th entry of `faults:` into a timed fault, recording every problem found.
pub(super) fn convert(ctx: &mut Ctx, i: usize, map: &Map<String, Value>) -> Option<TimedFault> {
    let e = Entry { i, map };
    let at = start(ctx, &e);
    let target = target(ctx, &e);
    let kind = kind(ctx, &e);
    let (at, target, kind) = (at?, target?, kind?);
    if target == Target::Sut {
        return sut_fault(ctx, &e, at, kind).ok();
    }
    if target == Target::Broker {
        return broker_fault(ctx, &e, at, kind).ok();
    }
    if let Some(engine_kind) = EngineFaultKind::parse(kind) {
        return engine_fault(ctx, &e, at, target, engine_kind).ok();
    }
    simulator_fault(ctx, &e, at, target, kind).ok()
}

/// The list of simulator and container-engine fault kinds, for messages.
fn simulator_kinds() -> String {
    FaultKind::CALLED
        .iter()
        .chain(FaultKind::EMITTER)
        .copied()
        .chain(EngineFaultKind::ALL.iter().map(|k| k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The list of SUT fault kinds, for messages.
fn sut_kinds() -> String {
    SutFaultKind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as a message quotes it: text in quotes, anything else as JSON.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The entry's `at`: when the fault starts.
fn start(ctx: &mut Ctx, e: &Entry) -> Option<Dur> {
    if !e.map.contains_key("at") {
        ctx.at(
            e.item(),
            "a fault needs `at`: when it starts, such as `at: 15s`",
        );
        return None;
    }
    e.duration(ctx, "at").ok().flatten()
}

/// The entry's `target`: a simulator or the SUT.
fn target(ctx: &mut Ctx, e: &Entry) -> Option<Target> {
    let Some(v) = e.map.get("target") else {
        ctx.at(
            e.item(),
            "a fault needs `target`: one of erp, mes, qms, wms, sut",
        );
        return None;
    };
    let target = v.as_str().and_then(Target::parse);
    if target.is_none() {
        ctx.at(
            e.value("target"),
            format!(
                "unknown fault target {}, expected one of erp, mes, qms, wms, sut",
                describe(v)
            ),
        );
    }
    target
}

/// The entry's `kind`, as a name (whether it is known is up to the target).
fn kind<'e>(ctx: &mut Ctx, e: &Entry<'e>) -> Option<&'e str> {
    match e.map.get("kind") {
        None => {
            ctx.at(
                e.item(),
                format!(
                    "a fault needs `kind`: one of {} (target sut: {})",
                    simulator_kinds(),
                    sut_kinds()
                ),
            );
            None
        }
        Some(Value::String(k)) => Some(k.as_str()),
        Some(v) => {
            ctx.at(
                e.value("kind"),
                format!("fault kind must be a name, found {}", describe(v)),
            );
            None
        }
    }
}

/// A fault of the SUT: a kind it takes, only timing keys, and a `for` for a pause (how long
/// it lasts); a restart or kill may have one (how long the SUT stays down).
fn sut_fault(ctx: &mut Ctx, e: &Entry, at: Dur, kind: &str) -> Result<TimedFault, Reported> {
    let Some(sut_kind) = SutFaultKind::parse(kind) else {
        let msg = if fault_params::params(kind).is_some() {
            format!(
                "fault kind {kind:?} acts on a simulator (erp, mes, qms or wms), not on the sut; the sut takes one of {}",
                sut_kinds()
            )
        } else {
            format!(
                "unknown sut fault kind {kind:?}, expected one of {}",
                sut_kinds()
            )
        };
        ctx.at(e.value("kind"), msg);
        return Err(Reported);
    };
    let mut ok = e.only_timing_keys(ctx, "a sut fault");
    let duration = e.duration(ctx, "for")?;
    // A restart or kill with `for` keeps the SUT down that long before starting it again.
    if sut_kind == SutFaultKind::Pause && duration.is_none() {
        ctx.at(
            e.item(),
            "pause needs `for`: how long the SUT stays stopped (SIGSTOP, then SIGCONT)",
        );
        ok = false;
    }
    if sut_kind == SutFaultKind::Slow && duration.is_none() {
        ctx.at(
            e.item(),
            "slow needs `for`: how long the SUT runs a fifth of the time",
        );
        ok = false;
    }
    if !ok {
        return Err(Reported);
    }
    Ok(TimedFault {
        at,
        target: Target::Sut,
        spec: FaultAction::Sut(SutFault {
            kind: sut_kind,
            duration,
        }),
    })
}

/// A fault of the run's MQTT broker: a kind it takes, only timing keys, and a `for`
/// exactly when the kind lasts (stop, partition).
fn broker_fault(ctx: &mut Ctx, e: &Entry, at: Dur, kind: &str) -> Result<TimedFault, Reported> {
    let Some(broker_kind) = BrokerFaultKind::parse(kind) else {
        let kinds: Vec<&str> = BrokerFaultKind::ALL.iter().map(|k| k.name()).collect();
        ctx.at(
            e.value("kind"),
            format!(
                "unknown broker fault kind {kind:?}, expected one of {}",
                kinds.join(", ")
            ),
        );
        return Err(Reported);
    };
    let mut ok = e.only_timing_keys(ctx, "a broker fault");
    let duration = e.duration(ctx, "for")?;
    match (broker_kind, duration) {
        (BrokerFaultKind::Stop, None) => {
            ctx.at(e.item(), "stop needs `for`: how long the broker stays down");
            ok = false;
        }
        (BrokerFaultKind::Partition, None) => {
            ctx.at(
                e.item(),
                "partition needs `for`: how long the broker and the SUT are cut off",
            );
            ok = false;
        }
        (BrokerFaultKind::Restart | BrokerFaultKind::Kill, Some(_)) => {
            ctx.at(
                e.key_name("for"),
                format!(
                    "`for` does not apply to {}: the broker is started again at once (use stop with for)",
                    broker_kind.name()
                ),
            );
            ok = false;
        }
        _ => {}
    }
    if !ok {
        return Err(Reported);
    }
    Ok(TimedFault {
        at,
        target: Target::Broker,
        spec: FaultAction::Broker(BrokerFault {
            kind: broker_kind,
            duration,
        }),
    })
}

/// A fault of a simulator's container, through the container engine: only timing keys,
/// and a `for` (how long the container stays paused, stopped or off the network).
fn engine_fault(
    ctx: &mut Ctx,
    e: &Entry,
    at: Dur,
    target: Target,
    kind: EngineFaultKind,
) -> Result<TimedFault, Reported> {
    let name = kind.name();
    let ok = e.only_timing_keys(
        ctx,
        &format!("fault kind {name} (through the container engine)"),
    );
    let Some(duration) = e.duration(ctx, "for")? else {
        ctx.at(
            e.item(),
            format!(
                "{name} needs `for`: how long the {target} container stays {}",
                match kind {
                    EngineFaultKind::Pause => "paused",
                    EngineFaultKind::Stop => "stopped",
                    EngineFaultKind::Disconnect => "off the network",
                }
            ),
        );
        return Err(Reported);
    };
    if !ok {
        return Err(Reported);
    }
    Ok(TimedFault {
        at,
        target,
        spec: FaultAction::Engine(EngineFault { kind, duration }),
    })
}

/// A fault of a simulator itself: a known kind, keys it takes with values that fit, and
/// parameters that hold together ([`FaultSpec::verify`]).
fn simulator_fault(
    ctx: &mut Ctx,
    e: &Entry,
    at: Dur,
    target: Target,
    kind: &str,
) -> Result<TimedFault, Reported> {
    let Some(params) = fault_params::params(kind) else {
        let msg = if SutFaultKind::parse(kind).is_some() {
            format!("fault kind {kind:?} acts on the SUT only: write `target: sut`")
        } else {
            format!(
                "unknown fault kind {kind:?}, expected one of {}",
                simulator_kinds()
            )
        };
        ctx.at(e.value("kind"), msg);
        return Err(Reported);
    };
    let spec_map = spec_keys(ctx, e, kind, params)?;
    let spec = spec(ctx, e, spec_map)?;
    Ok(TimedFault {
        at,
        target,
        spec: FaultAction::Simulator(spec),
    })
}

/// The entry's keys as a spec (without `at` and `target`), every key known and every
/// value fitting it; each problem is reported where it is written.
fn spec_keys(
    ctx: &mut Ctx,
    e: &Entry,
    kind: &str,
    params: &[&str],
) -> Result<Map<String, Value>, Reported> {
    let common = fault_params::common();
    let mut ok = true;
    let mut spec_map = Map::new();
    for (key, value) in e.map {
        if matches!(key.as_str(), "at" | "target") {
            continue;
        }
        if key == "kind" {
            spec_map.insert(key.clone(), value.clone());
            continue;
        }
        if !params.contains(&key.as_str()) && !common.contains(key) {
            let expected: Vec<&str> = params
                .iter()
                .copied()
                .chain(common.iter().map(String::as_str))
                .chain(["at", "target", "kind"])
                .collect();
            ctx.at(
                e.key_name(key),
                format!(
                    "unknown key `{key}` for fault kind {kind}, expected one of {}",
                    expected.join(", ")
                ),
            );
            ok = false;
            continue;
        }
        // A plant written as a bare number (`plant: 1000`) is meant as the text "1000".
        let value = match (key.as_str(), value) {
            ("plant", Value::Number(n)) => Value::String(n.to_string()),
            _ => value.clone(),
        };
        if let Err(err) = fault_params::check(kind, key, &value) {
            ctx.at(e.value(key), format!("faults[{}].{key}: {err}", e.i));
            ok = false;
            continue;
        }
        spec_map.insert(key.clone(), value);
    }
    if ok { Ok(spec_map) } else { Err(Reported) }
}

/// The spec read from its keys, and checked for what serde cannot check; a problem with
/// one parameter is reported at it, others at the entry.
fn spec(ctx: &mut Ctx, e: &Entry, spec_map: Map<String, Value>) -> Result<FaultSpec, Reported> {
    let i = e.i;
    let spec: FaultSpec = serde_json::from_value(Value::Object(spec_map)).map_err(|err| {
        ctx.at(e.item(), format!("faults[{i}]: {err}"));
        Reported
    })?;
    if let Err(err) = spec.verify() {
        let text = err.to_string();
        let key = ["probability", "limit", "per", "factor", "window", "status"]
            .into_iter()
            .find(|k| text.contains(k) && e.map.contains_key(*k));
        let path = match key {
            Some(k) => e.value(k),
            None => e.item(),
        };
        ctx.at(path, format!("faults[{i}]: {text}"));
        return Err(Reported);
    }
    Ok(spec)
}
