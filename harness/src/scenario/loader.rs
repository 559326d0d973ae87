//! From text to a checked [`Scenario`]: the YAML document is read into typed structs
//! (serde_norway stamps type errors and unknown keys with their position), each fault
//! entry is turned into a [`FaultSpec`] or a [`SutFault`] by hand (so that unknown kinds,
//! unknown parameters and bad values point at themselves rather than at the entry — serde
//! `flatten` would lose both the positions and `deny_unknown_fields`), and then the
//! timeline is checked as a whole ([`super::validate`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use andon_simulators::MasterData;
use andon_simulators::faults::{Dur, FaultKind, FaultSpec, PoisonMode};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{Problem, ScenarioError};
use super::model::{
    EngineFault, EngineFaultKind, FaultAction, LoadPhase, Mix, Options, PlantEntry, SutFault,
    SutFaultKind, Target, TimedFault,
};
use super::threshold::Threshold;
use super::yaml::{self, Ctx, Seg, at_scalar, locate_nearest};
use super::{Scenario, validate};
use crate::history::Expect;

/// The document as written; faults stay raw until [`convert_fault`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default)]
    plants: Vec<PlantEntry>,
    #[serde(default)]
    data: Option<PathBuf>,
    #[serde(deserialize_with = "at_scalar")]
    duration: Dur,
    #[serde(default = "default_time_scale")]
    time_scale: f64,
    #[serde(default)]
    load: Vec<LoadPhase>,
    #[serde(default)]
    mix: Option<Mix>,
    #[serde(default)]
    faults: Vec<Map<String, Value>>,
    #[serde(default)]
    options: Options,
    #[serde(default = "default_settle", deserialize_with = "at_scalar")]
    settle: Dur,
    #[serde(default)]
    expect: Expect,
    #[serde(default)]
    thresholds: Vec<String>,
}

fn default_seed() -> u64 {
    42
}
fn default_time_scale() -> f64 {
    1.0
}
fn default_settle() -> Dur {
    Dur(Duration::from_secs(30))
}

/// Parses and checks `text`; `base` is the scenario's folder when it came from a file (the
/// `data` file is then loaded and checked too).
pub(super) fn parse(
    text: &str,
    file: &str,
    base: Option<&Path>,
) -> Result<Scenario, ScenarioError> {
    if let Some((pos, message)) = yaml::too_deep(text) {
        return Err(ScenarioError::Invalid(vec![Problem {
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            message,
        }]));
    }
    let raw: Raw = serde_norway::from_str(text).map_err(|e| {
        let (pos, message) = yaml::error_position(text, &e);
        ScenarioError::Invalid(vec![Problem {
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            message,
        }])
    })?;
    let mut ctx = Ctx {
        file,
        text,
        problems: Vec::new(),
    };
    let mut faults = Vec::new();
    let mut fault_index = Vec::new();
    for (i, entry) in raw.faults.iter().enumerate() {
        if let Some(f) = convert_fault(&mut ctx, i, entry) {
            faults.push(f);
            fault_index.push(i);
        }
    }
    let mut thresholds = Vec::new();
    for (i, text) in raw.thresholds.iter().enumerate() {
        match text.parse::<Threshold>() {
            Ok(t) => {
                // `on` names a well-formed route or an emitting system.
                if let Some(on) = &t.on
                    && !andon_contracts::System::ALL
                        .iter()
                        .any(|x| x.as_str() == on)
                    && !validate::route_ok(on)
                {
                    ctx.at(
                        ypath!["thresholds", i],
                        format!(
                            "threshold {text:?}: `on {on}` names neither a route \
                             (`<system>.<event> -> <system>`, such as `mes.consumed -> erp`) nor \
                             an emitting system (erp, mes, qms, wms)"
                        ),
                    );
                }
                thresholds.push(t);
            }
            Err(e) => {
                let path = ypath!["thresholds", i];
                let pos = locate_nearest(ctx.text, &path);
                // The node starts at its opening quote, when it has one.
                let quoted = ctx
                    .text
                    .lines()
                    .nth(pos.line.saturating_sub(1))
                    .and_then(|l| l.chars().nth(pos.column.saturating_sub(1)))
                    .is_some_and(|c| c == '"' || c == '\'');
                ctx.problems.push(Problem {
                    file: file.to_string(),
                    line: pos.line,
                    column: pos.column + usize::from(quoted) + e.column.saturating_sub(1),
                    message: format!("threshold {text:?}: {}", e.message),
                });
            }
        }
    }
    let scenario = Scenario {
        name: raw.name,
        description: raw.description,
        seed: raw.seed,
        plants: raw.plants,
        data: raw.data,
        duration: raw.duration,
        time_scale: raw.time_scale,
        load: raw.load,
        mix: raw.mix,
        faults,
        options: raw.options,
        settle: raw.settle,
        expect: raw.expect,
        thresholds,
    };
    let master =
        match (base, &scenario.data) {
            (Some(base), Some(data)) => Some(MasterData::load(&base.join(data)).map_err(
                |source| ScenarioError::Data {
                    scenario: file.to_string(),
                    source,
                },
            )?),
            _ => None,
        };
    validate::check(&mut ctx, &scenario, &fault_index, master.as_ref());
    if ctx.problems.is_empty() {
        Ok(scenario)
    } else {
        let mut problems = ctx.problems;
        problems.sort_by_key(|p| (p.line, p.column));
        problems.dedup();
        Err(ScenarioError::Invalid(problems))
    }
}

/// The type of one fault parameter, for checking it where it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Dur,
    U32,
    U16,
    Usize,
    F64,
    I64,
    Str,
    Poison,
    Plant,
}

impl Ty {
    fn check(self, v: &Value) -> Result<(), String> {
        fn de<T: serde::de::DeserializeOwned>(v: &Value) -> Result<(), String> {
            serde_json::from_value::<T>(v.clone())
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        match self {
            Ty::Dur => de::<Dur>(v),
            Ty::U32 => de::<u32>(v),
            Ty::U16 => de::<u16>(v),
            Ty::Usize => de::<usize>(v),
            Ty::F64 => de::<f64>(v),
            Ty::I64 => de::<i64>(v),
            Ty::Str => de::<String>(v),
            Ty::Poison => de::<PoisonMode>(v),
            Ty::Plant => de::<andon_contracts::PlantId>(v),
        }
    }
}

/// Keys every simulator fault may carry besides its kind's parameters.
const COMMON: &[(&str, Ty)] = &[
    ("id", Ty::Str),
    ("probability", Ty::F64),
    ("path", Ty::Str),
    ("method", Ty::Str),
    ("plant", Ty::Plant),
    ("for", Ty::Dur),
];

/// The parameters of each [`FaultKind`], as its serde names them. A unit test keeps this
/// table and the enum in step.
const PARAMS: &[(&str, &[(&str, Ty)])] = &[
    ("unavailable", &[("retry_after", Ty::Dur)]),
    ("refuse", &[]),
    ("hang", &[]),
    ("slow", &[("median", Ty::Dur), ("p99", Ty::Dur)]),
    ("throttle", &[("limit", Ty::U32), ("per", Ty::Dur)]),
    ("reset", &[]),
    ("commit_then_reset", &[]),
    (
        "reject",
        &[("code", Ty::Str), ("status", Ty::U16), ("detail", Ty::Str)],
    ),
    ("token_expiry", &[]),
    ("duplicate", &[]),
    ("reorder", &[("window", Ty::Usize)]),
    ("poison", &[("mode", Ty::Poison)]),
    ("burst", &[("factor", Ty::F64)]),
    ("clock_skew", &[("offset_secs", Ty::I64)]),
    ("partition", &[]),
];

fn simulator_kinds() -> String {
    FaultKind::CALLED
        .iter()
        .chain(FaultKind::EMITTER)
        .copied()
        .chain(EngineFaultKind::ALL.iter().map(|k| k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sut_kinds() -> String {
    SutFaultKind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Turns the i-th entry of `faults:` into a timed fault, recording every problem found.
fn convert_fault(ctx: &mut Ctx, i: usize, entry: &Map<String, Value>) -> Option<TimedFault> {
    let here = |key: &str| ypath!["faults", i, key];
    let key_name = |key: &str| ypath!["faults", i, Seg::KeyName(key.to_string())];
    let mut ok = true;

    let at = match entry.get("at") {
        None => {
            ctx.at(
                ypath!["faults", i],
                "a fault needs `at`: when it starts, such as `at: 15s`",
            );
            None
        }
        Some(v) => match serde_json::from_value::<Dur>(v.clone()) {
            Ok(d) => Some(d),
            Err(e) => {
                ctx.at(here("at"), format!("faults[{i}].at: {e}"));
                None
            }
        },
    };
    let target = match entry.get("target") {
        None => {
            ctx.at(
                ypath!["faults", i],
                "a fault needs `target`: one of erp, mes, qms, wms, sut",
            );
            None
        }
        Some(v) => match v.as_str().and_then(Target::parse) {
            Some(t) => Some(t),
            None => {
                ctx.at(
                    here("target"),
                    format!(
                        "unknown fault target {}, expected one of erp, mes, qms, wms, sut",
                        describe(v)
                    ),
                );
                None
            }
        },
    };
    let kind = match entry.get("kind") {
        None => {
            ctx.at(
                ypath!["faults", i],
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
                here("kind"),
                format!("fault kind must be a name, found {}", describe(v)),
            );
            None
        }
    };
    let (at, target, kind) = (at?, target?, kind?);

    if target == Target::Sut {
        let Some(sut_kind) = SutFaultKind::parse(kind) else {
            let msg = if PARAMS.iter().any(|(k, _)| *k == kind) {
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
            ctx.at(here("kind"), msg);
            return None;
        };
        for key in entry.keys() {
            if !matches!(key.as_str(), "at" | "target" | "kind" | "for") {
                ctx.at(
                    key_name(key),
                    format!(
                        "unknown key `{key}` for a sut fault, expected one of at, target, kind, for"
                    ),
                );
                ok = false;
            }
        }
        let duration = match entry.get("for") {
            None => None,
            Some(v) => match serde_json::from_value::<Dur>(v.clone()) {
                Ok(d) => Some(d),
                Err(e) => {
                    ctx.at(here("for"), format!("faults[{i}].for: {e}"));
                    return None;
                }
            },
        };
        match (sut_kind, duration) {
            (SutFaultKind::Pause, None) => {
                ctx.at(
                    ypath!["faults", i],
                    "pause needs `for`: how long the SUT stays stopped (SIGSTOP, then SIGCONT)",
                );
                ok = false;
            }
            (SutFaultKind::Restart | SutFaultKind::Kill, Some(_)) => {
                ctx.at(
                    key_name("for"),
                    format!(
                        "`for` does not apply to {}: it happens at one instant (the SUT is started again at once)",
                        sut_kind.name()
                    ),
                );
                ok = false;
            }
            _ => {}
        }
        return ok.then_some(TimedFault {
            at,
            target,
            spec: FaultAction::Sut(SutFault {
                kind: sut_kind,
                duration,
            }),
        });
    }

    if let Some(engine_kind) = EngineFaultKind::parse(kind) {
        for key in entry.keys() {
            if !matches!(key.as_str(), "at" | "target" | "kind" | "for") {
                ctx.at(
                    key_name(key),
                    format!(
                        "unknown key `{key}` for fault kind {kind} (through the container engine), expected one of at, target, kind, for"
                    ),
                );
                ok = false;
            }
        }
        let duration = match entry.get("for") {
            None => {
                ctx.at(
                    ypath!["faults", i],
                    format!(
                        "{kind} needs `for`: how long the {target} container stays {}",
                        match engine_kind {
                            EngineFaultKind::Pause => "paused",
                            EngineFaultKind::Stop => "stopped",
                            EngineFaultKind::Disconnect => "off the network",
                        }
                    ),
                );
                return None;
            }
            Some(v) => match serde_json::from_value::<Dur>(v.clone()) {
                Ok(d) => d,
                Err(e) => {
                    ctx.at(here("for"), format!("faults[{i}].for: {e}"));
                    return None;
                }
            },
        };
        return ok.then_some(TimedFault {
            at,
            target,
            spec: FaultAction::Engine(EngineFault {
                kind: engine_kind,
                duration,
            }),
        });
    }
    let Some((_, params)) = PARAMS.iter().find(|(k, _)| *k == kind) else {
        let msg = if SutFaultKind::parse(kind).is_some() {
            format!("fault kind {kind:?} acts on the SUT only: write `target: sut`")
        } else {
            format!(
                "unknown fault kind {kind:?}, expected one of {}",
                simulator_kinds()
            )
        };
        ctx.at(here("kind"), msg);
        return None;
    };
    let mut spec_map = Map::new();
    for (key, value) in entry {
        if matches!(key.as_str(), "at" | "target") {
            continue;
        }
        if key == "kind" {
            spec_map.insert(key.clone(), value.clone());
            continue;
        }
        let Some((_, ty)) = params.iter().chain(COMMON).find(|(k, _)| k == key) else {
            let expected: Vec<&str> = params
                .iter()
                .chain(COMMON)
                .map(|(k, _)| *k)
                .chain(["at", "target", "kind"])
                .collect();
            ctx.at(
                key_name(key),
                format!(
                    "unknown key `{key}` for fault kind {kind}, expected one of {}",
                    expected.join(", ")
                ),
            );
            ok = false;
            continue;
        };
        // A plant written as a bare number (`plant: 1000`) is meant as the text "1000".
        let value = match (ty, value) {
            (Ty::Plant, Value::Number(n)) => Value::String(n.to_string()),
            _ => value.clone(),
        };
        if let Err(e) = ty.check(&value) {
            ctx.at(here(key), format!("faults[{i}].{key}: {e}"));
            ok = false;
            continue;
        }
        spec_map.insert(key.clone(), value);
    }
    if !ok {
        return None;
    }
    let spec: FaultSpec = match serde_json::from_value(Value::Object(spec_map)) {
        Ok(s) => s,
        Err(e) => {
            ctx.at(ypath!["faults", i], format!("faults[{i}]: {e}"));
            return None;
        }
    };
    if let Err(e) = spec.check() {
        let key = ["probability", "limit", "per", "factor", "window", "status"]
            .into_iter()
            .find(|k| e.contains(k) && entry.contains_key(*k));
        let path = match key {
            Some(k) => here(k),
            None => ypath!["faults", i],
        };
        ctx.at(path, format!("faults[{i}]: {e}"));
        return None;
    }
    Some(TimedFault {
        at,
        target,
        spec: FaultAction::Simulator(spec),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ty: Ty) -> Value {
        match ty {
            Ty::Dur => "2s".into(),
            Ty::U32 | Ty::U16 | Ty::Usize => 429.into(),
            Ty::F64 => 2.5.into(),
            Ty::I64 => (-30).into(),
            Ty::Str => "x".into(),
            Ty::Poison => "mixed".into(),
            Ty::Plant => "1000".into(),
        }
    }

    #[test]
    fn the_parameter_table_matches_every_fault_kind() {
        let names: Vec<&str> = FaultKind::CALLED
            .iter()
            .chain(FaultKind::EMITTER)
            .copied()
            .collect();
        let table: Vec<&str> = PARAMS.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, table);
        for (kind, params) in PARAMS {
            let mut m = Map::new();
            m.insert("kind".into(), (*kind).into());
            for (p, ty) in params.iter().copied() {
                m.insert(p.into(), sample(ty));
            }
            let spec: FaultSpec =
                serde_json::from_value(Value::Object(m)).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(spec.kind.name(), *kind);
            // Every parameter the enum serialises is in the table, and no other.
            let back = serde_json::to_value(&spec.kind).unwrap();
            let mut keys: Vec<&str> = back
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "kind")
                .collect();
            keys.sort_unstable();
            let mut want: Vec<&str> = params.iter().map(|(p, _)| *p).collect();
            want.sort_unstable();
            assert_eq!(keys, want, "{kind}");
        }
    }
}
