//! From text to a checked [`Scenario`]: the YAML document is read into typed structs
//! (serde_norway stamps type errors and unknown keys with their position), each fault
//! entry is turned into a timed fault by hand ([`super::fault_entry`], so that unknown
//! kinds, unknown parameters and bad values point at themselves rather than at the
//! entry), each threshold is read with the column of a mistake, and then the timeline is
//! checked as a whole ([`super::validate`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use andon_simulators::MasterData;
use andon_simulators::faults::Dur;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{Problem, ScenarioError};
use super::model::{LoadPhase, Mix, Options, PlantEntry, TimedFault};
use super::threshold::{Threshold, ThresholdError};
use super::yaml::{self, Ctx, Pos, at_scalar, locate_nearest};
use super::{Scenario, fault_entry, validate};
use crate::history::Expect;

/// The document as written; faults stay raw until [`fault_entry::convert`].
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
    #[serde(default)]
    upgrades: Vec<super::Upgrade>,
    #[serde(default)]
    transport: Option<crate::sut::Transport>,
    #[serde(default)]
    broker: super::BrokerOptions,
    #[serde(default = "one_instance")]
    instances: u32,
}

fn one_instance() -> u32 {
    1
}

/// The seed when none is given.
fn default_seed() -> u64 {
    42
}
/// Business time runs as fast as wall time unless told.
fn default_time_scale() -> f64 {
    1.0
}
/// How long the run waits for effects after the load, unless told.
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
    let raw = read(text, file)?;
    let mut ctx = Ctx {
        file,
        text,
        problems: Vec::new(),
    };
    let (faults, fault_index) = faults(&mut ctx, &raw.faults);
    let thresholds = thresholds(&mut ctx, &raw.thresholds);
    let scenario = raw.into_scenario(faults, thresholds);
    let master = master_data(&scenario, file, base)?;
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

/// One problem at `pos` as a refusal of the whole document.
fn refused(file: &str, pos: Pos, message: String) -> ScenarioError {
    ScenarioError::Invalid(vec![Problem {
        file: file.to_string(),
        line: pos.line,
        column: pos.column,
        message,
    }])
}

/// Reads the document into [`Raw`]: refused at once when it nests too deep, is not YAML,
/// or has a key or value of the wrong type (serde stops at the first).
fn read(text: &str, file: &str) -> Result<Raw, ScenarioError> {
    if let Some((pos, message)) = yaml::too_deep(text) {
        return Err(refused(file, pos, message));
    }
    serde_norway::from_str(text).map_err(|e| {
        let (pos, message) = yaml::error_position(text, &e);
        refused(file, pos, message)
    })
}

/// Each entry of `faults:` as a timed fault, and the entry each came from; entries with a
/// problem are left out (their problems are in `ctx`).
fn faults(ctx: &mut Ctx, entries: &[Map<String, Value>]) -> (Vec<TimedFault>, Vec<usize>) {
    let mut faults = Vec::new();
    let mut fault_index = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if let Some(f) = fault_entry::convert(ctx, i, entry) {
            faults.push(f);
            fault_index.push(i);
        }
    }
    (faults, fault_index)
}

/// Each line of `thresholds:` read; the ones that cannot be read are reported at the
/// column of the mistake and left out.
fn thresholds(ctx: &mut Ctx, texts: &[String]) -> Vec<Threshold> {
    let mut thresholds = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        match text.parse::<Threshold>() {
            Ok(t) => {
                check_on(ctx, i, text, &t);
                thresholds.push(t);
            }
            Err(e) => threshold_error(ctx, i, text, &e),
        }
    }
    thresholds
}

/// Checks that the i-th threshold's `on` names a well-formed route or an emitting system.
fn check_on(ctx: &mut Ctx, i: usize, text: &str, t: &Threshold) {
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
}

/// Reports a threshold that cannot be read at the column of the mistake within it.
fn threshold_error(ctx: &mut Ctx, i: usize, text: &str, e: &ThresholdError) {
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
        file: ctx.file.to_string(),
        line: pos.line,
        column: pos.column + usize::from(quoted) + e.column.saturating_sub(1),
        message: format!("threshold {text:?}: {}", e.message),
    });
}

impl Raw {
    /// The scenario, with its faults and thresholds as read.
    fn into_scenario(self, faults: Vec<TimedFault>, thresholds: Vec<Threshold>) -> Scenario {
        Scenario {
            name: self.name,
            description: self.description,
            seed: self.seed,
            plants: self.plants,
            data: self.data,
            duration: self.duration,
            time_scale: self.time_scale,
            load: self.load,
            mix: self.mix,
            faults,
            options: self.options,
            settle: self.settle,
            expect: self.expect,
            thresholds,
            upgrades: self.upgrades,
            transport: self.transport,
            broker: self.broker,
            instances: self.instances,
        }
    }
}

/// The master data file the scenario names, loaded from `base` when the scenario came
/// from a file; `None` otherwise.
fn master_data(
    scenario: &Scenario,
    file: &str,
    base: Option<&Path>,
) -> Result<Option<MasterData>, ScenarioError> {
    let (Some(base), Some(data)) = (base, &scenario.data) else {
        return Ok(None);
    };
    MasterData::load(&base.join(data))
        .map(Some)
        .map_err(|source| ScenarioError::Data {
            scenario: file.to_string(),
            source,
        })
}
