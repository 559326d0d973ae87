//! Checks that serde cannot make: the timeline fits in the run, phases are ordered, SUT
//! faults do not overlap, every fault can act where it is aimed, options apply to their
//! system, SLA routes are well formed. Each problem points at the node it is about.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use andon_contracts::{PlantId, System};
use andon_simulators::MasterData;
use andon_simulators::faults::{Dur, FaultKind, FaultSpec};

use super::Scenario;
use super::model::{FaultAction, LoadPhase, Per, Shape, Target, TimedFault};
use super::yaml::{Ctx, Seg};

/// Shows a duration as the scenario files write it (`15s`, `1m 30s`, `250ms`).
pub(super) fn show(d: Duration) -> String {
    match serde_json::to_value(Dur(d)) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{}s", d.as_secs_f64()),
    }
}

fn system_name(s: System) -> &'static str {
    s.as_str()
}

/// Runs every check; `fault_index[k]` is the entry of `faults:` that became
/// `scenario.faults[k]`. `master` is the loaded `data` file, when there is one.
pub(super) fn check(
    ctx: &mut Ctx,
    s: &Scenario,
    fault_index: &[usize],
    master: Option<&MasterData>,
) {
    basics(ctx, s);
    plants(ctx, s);
    load(ctx, s);
    mix(ctx, s);
    options(ctx, s);
    faults(ctx, s, fault_index, master);
    super::dialects::upgrades(ctx, s);
    sla(ctx, s);
}

fn basics(ctx: &mut Ctx, s: &Scenario) {
    let slug = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if s.name.is_empty() || !s.name.chars().all(slug) {
        ctx.at(
            ypath!["name"],
            format!(
                "name {:?} must be a non-empty slug of letters, digits, '-', '_' or '.' (it names the run directory)",
                s.name
            ),
        );
    }
    super::broker::instances(ctx, s);
    if s.duration.0.is_zero() {
        ctx.at(
            ypath!["duration"],
            "duration must be longer than 0s: it is how long the load runs (wall time)",
        );
    }
    if !(s.time_scale.is_finite() && s.time_scale > 0.0 && s.time_scale <= MAX_TIME_SCALE) {
        ctx.at(
            ypath!["time_scale"],
            format!(
                "time_scale {} must be a number above 0 and at most {MAX_TIME_SCALE} (business time runs that many times faster than wall time)",
                s.time_scale
            ),
        );
    }
}

/// The fastest business time may run: a year of business time in under a minute.
pub const MAX_TIME_SCALE: f64 = 1e6;
/// The highest arrival rate: far above what two cores drive (about 100,000 steps/s), low
/// enough that a typo cannot make a run that never ends.
pub const MAX_RATE: f64 = 1e6;
/// The most production lines a generated plant has.
pub const MAX_LINES: u32 = 50;
/// The most finished materials a generated plant has.
pub const MAX_MATERIALS: u32 = 2000;

fn plants(ctx: &mut Ctx, s: &Scenario) {
    match (s.plants.is_empty(), &s.data) {
        (true, None) => ctx.at(
            ypath!["plants"],
            "give `plants` (master data generated from the seed), such as `plants: [{ id: \"1000\", lines: 3, materials: 20, profile: discrete }]`, or `data` (a master data file)",
        ),
        (false, Some(_)) => ctx.at(
            ypath![Seg::KeyName("data".into())],
            "give either `plants` (generated master data) or `data` (a master data file), not both",
        ),
        _ => {}
    }
    let mut seen: BTreeMap<&PlantId, usize> = BTreeMap::new();
    for (i, p) in s.plants.iter().enumerate() {
        if let Some(first) = seen.insert(&p.id, i) {
            let line = ctx.line_of(ypath!["plants", first, "id"]);
            ctx.at(
                ypath!["plants", i, "id"],
                format!(
                    "plant {:?} is listed twice (first on line {line})",
                    p.id.as_str()
                ),
            );
        }
        if !(1..=MAX_LINES).contains(&p.lines) {
            ctx.at(
                ypath!["plants", i, "lines"],
                format!("lines {} must be between 1 and {MAX_LINES}", p.lines),
            );
        }
        if !(1..=MAX_MATERIALS).contains(&p.materials) {
            ctx.at(
                ypath!["plants", i, "materials"],
                format!(
                    "materials {} must be between 1 and {MAX_MATERIALS}",
                    p.materials
                ),
            );
        }
    }
}

/// Checks the load phases: at least one, each within the run, in time order, and each
/// with the `for` its shape needs.
fn load(ctx: &mut Ctx, s: &Scenario) {
    if s.load.is_empty() {
        ctx.at(
            ypath!["load"],
            "at least one load phase is needed, such as `load: [{ at: 0s, rate: 50/s }]`",
        );
        return;
    }
    let mut prev: Option<(Duration, Option<Duration>)> = None;
    for (i, p) in s.load.iter().enumerate() {
        phase_rate_and_start(ctx, s, i, p);
        if let Some(prev) = prev {
            phase_order(ctx, i, p.at.0, prev);
        }
        phase_for(ctx, s.duration.0, i, p);
        prev = Some((p.at.0, p.for_.map(|f| f.0)));
    }
}

/// Checks one phase's `per`, its rate, and that it starts before the load ends.
fn phase_rate_and_start(ctx: &mut Ctx, s: &Scenario, i: usize, p: &LoadPhase) {
    let end = s.duration.0;
    if p.per == Per::Plant && s.plants.is_empty() {
        ctx.at(
            ypath!["load", i, "per"],
            "`per: plant` needs the scenario's `plants` (with a `data` file the rate is over all plants)",
        );
    }
    let at = p.at.0;
    if !(p.rate.0 > 0.0 && p.rate.0 <= MAX_RATE) {
        ctx.at(
            ypath!["load", i, "rate"],
            format!(
                "rate {} must be above 0 and at most {MAX_RATE} steps per second, such as \"50/s\"",
                p.rate
            ),
        );
    }
    if at >= end && !end.is_zero() {
        ctx.at(
            ypath!["load", i, "at"],
            format!(
                "load phase starts at {}, when the load has ended (duration {})",
                show(at),
                show(end)
            ),
        );
    }
}

/// Checks that a phase starting at `at` comes after the one before (`prev`: its start and
/// `for`) and after that one has run its `for`.
fn phase_order(ctx: &mut Ctx, i: usize, at: Duration, prev: (Duration, Option<Duration>)) {
    let (prev_at, prev_for) = prev;
    if at <= prev_at {
        ctx.at(
            ypath!["load", i, "at"],
            format!(
                "load phases must be in time order: this one starts at {}, the one before at {}",
                show(at),
                show(prev_at)
            ),
        );
    } else if let Some(f) = prev_for
        && prev_at + f > at
    {
        ctx.at(
            ypath!["load", i, "at"],
            format!(
                "load phase starts at {} while the one before still runs until {} (its `for`)",
                show(at),
                show(prev_at + f)
            ),
        );
    }
}

/// Checks a phase's `for`: longer than 0s, within the load (ending at `end`), and present
/// when the shape needs it.
fn phase_for(ctx: &mut Ctx, end: Duration, i: usize, p: &LoadPhase) {
    let at = p.at.0;
    match p.for_ {
        Some(f) if f.0.is_zero() => {
            ctx.at(ypath!["load", i, "for"], "`for` must be longer than 0s")
        }
        Some(f) if at + f.0 > end && at < end => ctx.at(
            ypath!["load", i, "for"],
            format!(
                "load phase lasts until {}, past the end of the load at {} (duration)",
                show(at + f.0),
                show(end)
            ),
        ),
        None if p.shape != Shape::Constant => {
            let what = match p.shape {
                Shape::Ramp => "how long the ramp takes",
                _ => "the spike lasts its first 20 %",
            };
            ctx.at(
                ypath!["load", i, "shape"],
                format!(
                    "shape {} needs `for` ({what})",
                    if p.shape == Shape::Ramp {
                        "ramp"
                    } else {
                        "spike"
                    }
                ),
            );
        }
        _ => {}
    }
}

fn mix(ctx: &mut Ctx, s: &Scenario) {
    let Some(m) = s.mix else { return };
    let shares = [
        ("erp", m.erp),
        ("mes", m.mes),
        ("qms", m.qms),
        ("wms", m.wms),
    ];
    let mut bad = false;
    for (name, v) in shares {
        if !(v.is_finite() && v >= 0.0) {
            ctx.at(
                ypath!["mix", name],
                format!("share {v} must be a number of at least 0"),
            );
            bad = true;
        }
    }
    if !bad && shares.iter().map(|(_, v)| v).sum::<f64>() <= 0.0 {
        ctx.at(
            ypath!["mix"],
            "at least one share of the mix must be above 0",
        );
    }
}

fn options(ctx: &mut Ctx, s: &Scenario) {
    for system in System::ALL {
        let o = s.options.of(system);
        let sys = system_name(system);
        if system != System::Erp {
            for (set, key) in [
                (o.open_periods.is_some(), "open_periods"),
                (
                    o.over_confirmation_tolerance_pct.is_some(),
                    "over_confirmation_tolerance_pct",
                ),
            ] {
                if set {
                    ctx.at(
                        ypath!["options", sys, Seg::KeyName(key.into())],
                        format!(
                            "{key} applies to erp only: the ERP is the system of record for it"
                        ),
                    );
                }
            }
        }
        if let Some(periods) = &o.open_periods {
            if periods.is_empty() {
                ctx.at(
                    ypath!["options", sys, "open_periods"],
                    "open_periods needs at least one period such as \"2026/11\" (to close a period mid-run, use a `reject` fault with code period-closed)",
                );
            }
            for (j, p) in periods.iter().enumerate() {
                if andon_simulators::masterdata::parse_period(p).is_none() {
                    ctx.at(
                        ypath!["options", sys, "open_periods", j],
                        format!("open period {p:?} must be YYYY/MM, such as \"2026/11\""),
                    );
                }
            }
        }
        if o.buffer_capacity == Some(0) {
            ctx.at(
                ypath!["options", sys, "buffer_capacity"],
                "buffer_capacity must be at least 1 event",
            );
        }
        if let Some(a) = &o.activity {
            for (key, v) in [
                ("accept_rate", a.accept_rate),
                ("hold_rate", a.hold_rate),
                ("ship_rate", a.ship_rate),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    ctx.at(
                        ypath!["options", sys, "activity", key],
                        format!("{key} {v} must be between 0 and 1"),
                    );
                }
            }
        }
    }
}

/// A SUT fault's window, for the overlap check: start, end, entry index, kind.
type SutSpan = (Duration, Duration, usize, &'static str);

/// Fault ids seen so far per target, with the entry that first used each.
type FaultIds<'s> = BTreeMap<(Target, &'s str), usize>;

/// Checks every fault: its time window, then what its kind needs, then that SUT faults do
/// not overlap.
fn faults(ctx: &mut Ctx, s: &Scenario, index: &[usize], master: Option<&MasterData>) {
    let plants: BTreeSet<PlantId> = match master {
        Some(md) => md.plant_ids(),
        None => s.plants.iter().map(|p| p.id.clone()).collect(),
    };
    let mut ids: FaultIds = BTreeMap::new();
    let mut sut: Vec<SutSpan> = Vec::new();
    for (f, &i) in s.faults.iter().zip(index) {
        if !fault_window(ctx, s, f, i) {
            continue;
        }
        match &f.spec {
            FaultAction::Sut(sf) => {
                sut.push((f.at.0, f.ends_at(s.duration.0), i, sf.kind.name()));
            }
            FaultAction::Engine(_) | FaultAction::Broker(_) => {}
            FaultAction::Simulator(spec) => {
                let system = f.target.system().unwrap_or(System::Erp);
                let at = SimFault {
                    i,
                    spec,
                    system,
                    kind: f.spec.kind_name(),
                };
                needs_auth(ctx, s, &at);
                super::dialects::needs_s4hana(ctx, s, at.spec, at.system, at.i);
                narrowing(ctx, &at, &plants);
                path_and_method(ctx, &at);
                unique_id(ctx, &at, f.target, &mut ids);
            }
        }
    }
    sut_overlaps(ctx, sut);
}

/// Checks that the fault starts while the load runs and that its `for` ends within the run.
/// False when it starts too late (nothing else about it is then worth saying).
fn fault_window(ctx: &mut Ctx, s: &Scenario, f: &TimedFault, i: usize) -> bool {
    let end = s.duration.0;
    let run_end = end + s.settle.0;
    let at = f.at.0;
    let kind = f.spec.kind_name();
    if at >= end {
        ctx.at(
            ypath!["faults", i, "at"],
            format!(
                "{kind} starts at {}, when the load has ended (duration {}): it would act on nothing",
                show(at),
                show(end)
            ),
        );
        return false;
    }
    if let Some(d) = f.spec.duration() {
        if d.0.is_zero() {
            ctx.at(ypath!["faults", i, "for"], "`for` must be longer than 0s");
        } else if at + d.0 > run_end {
            ctx.at(
                ypath!["faults", i, "for"],
                format!(
                    "fault ends after the run: {kind} at {} for {} ends at {}, past duration {} + settle {} = {}",
                    show(at),
                    show(d.0),
                    show(at + d.0),
                    show(end),
                    show(s.settle.0),
                    show(run_end)
                ),
            );
        }
    }
    true
}

/// A simulator fault being checked: its entry, spec, system and kind name.
struct SimFault<'s> {
    i: usize,
    spec: &'s FaultSpec,
    system: System,
    kind: &'static str,
}

/// Checks that `token_expiry` aims at a system with authentication on.
fn needs_auth(ctx: &mut Ctx, s: &Scenario, f: &SimFault) {
    let sys = system_name(f.system);
    if f.spec.kind == FaultKind::TokenExpiry && s.options.of(f.system).auth != Some(true) {
        ctx.at(
            ypath!["faults", f.i, "kind"],
            format!(
                "token_expiry on {sys} needs authentication, which is off for {sys}: add `options: {{ {sys}: {{ auth: true }} }}`"
            ),
        );
    }
}

/// Checks that `path` and `method` narrow API faults only, and `plant` emitter faults only
/// (and names a plant of the scenario).
fn narrowing(ctx: &mut Ctx, f: &SimFault, plants: &BTreeSet<PlantId>) {
    let (i, kind, sys) = (f.i, f.kind, system_name(f.system));
    let emitter = f.spec.kind.is_emitter_fault();
    for (key, set) in [
        ("path", f.spec.path.is_some()),
        ("method", f.spec.method.is_some()),
    ] {
        if emitter && set {
            ctx.at(
                ypath!["faults", i, Seg::KeyName(key.into())],
                format!(
                    "`{key}` narrows API faults only; {kind} acts on the events {sys} emits (narrow it with `plant`)"
                ),
            );
        }
    }
    let Some(p) = &f.spec.plant else { return };
    if !emitter {
        ctx.at(
            ypath!["faults", i, Seg::KeyName("plant".into())],
            format!(
                "`plant` narrows emitter faults only; {kind} acts on the calls {sys} answers (narrow it with `path` or `method`)"
            ),
        );
    } else if !plants.is_empty() && !plants.contains(p) {
        let known: Vec<&str> = plants.iter().map(PlantId::as_str).collect();
        ctx.at(
            ypath!["faults", i, "plant"],
            format!(
                "plant {:?} is not a plant of this scenario, expected one of {}",
                p.as_str(),
                known.join(", ")
            ),
        );
    }
}

/// Checks that a `path` starts with '/' and a `method` is an HTTP method andon knows.
fn path_and_method(ctx: &mut Ctx, f: &SimFault) {
    if let Some(p) = &f.spec.path
        && !p.starts_with('/')
    {
        ctx.at(
            ypath!["faults", f.i, "path"],
            format!("path {p:?} must start with '/', such as \"/api/v1/material-documents\""),
        );
    }
    if let Some(m) = &f.spec.method
        && !["GET", "POST", "PUT", "PATCH", "DELETE"]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(m))
    {
        ctx.at(
            ypath!["faults", f.i, "method"],
            format!("method {m:?} must be one of GET, POST, PUT, PATCH, DELETE"),
        );
    }
}

/// Checks that a fault id is used once per target.
fn unique_id<'s>(ctx: &mut Ctx, f: &SimFault<'s>, target: Target, ids: &mut FaultIds<'s>) {
    if let Some(id) = &f.spec.id
        && let Some(first) = ids.insert((target, id.as_str()), f.i)
    {
        let line = ctx.line_of(ypath!["faults", first, "id"]);
        ctx.at(
            ypath!["faults", f.i, "id"],
            format!(
                "fault id {id:?} on {} is used twice (first on line {line})",
                system_name(f.system)
            ),
        );
    }
}

/// Checks that SUT faults do not overlap: the SUT takes one at a time.
fn sut_overlaps(ctx: &mut Ctx, mut sut: Vec<SutSpan>) {
    sut.sort();
    for pair in sut.windows(2) {
        let ((a_at, a_end, a_i, a_kind), (b_at, _, b_i, b_kind)) = (pair[0], pair[1]);
        if b_at <= a_end {
            let line = ctx.line_of(ypath!["faults", a_i]);
            let span = if a_end > a_at {
                format!("from {} to {}", show(a_at), show(a_end))
            } else {
                format!("at {}", show(a_at))
            };
            ctx.at(
                ypath!["faults", b_i, "at"],
                format!(
                    "sut faults overlap: {b_kind} at {} falls on {a_kind} {span} (line {line}); the SUT takes one fault at a time",
                    show(b_at)
                ),
            );
        }
    }
}

/// Whether `route` reads `<system>.<event> -> <system>`.
pub(super) fn route_ok(route: &str) -> bool {
    let Some((from, to)) = route.split_once(" -> ") else {
        return false;
    };
    let Some((sys, word)) = from.split_once('.') else {
        return false;
    };
    System::parse(sys).is_some()
        && System::parse(to).is_some()
        && !word.is_empty()
        && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

fn sla(ctx: &mut Ctx, s: &Scenario) {
    let mut seen = BTreeMap::new();
    for (i, b) in s.expect.sla.iter().enumerate() {
        if !route_ok(&b.route) {
            ctx.at(
                ypath!["expect", "sla", i, "route"],
                format!(
                    "route {:?} is malformed, expected `<system>.<event> -> <system>` with systems erp, mes, qms, wms, such as \"qms.hold -> wms\"",
                    b.route
                ),
            );
        }
        let budgets = [
            ("p50", b.p50),
            ("p95", b.p95),
            ("p99", b.p99),
            ("max", b.max),
        ];
        if budgets.iter().all(|(_, v)| v.is_none()) {
            ctx.at(
                ypath!["expect", "sla", i],
                "an SLA needs at least one budget: p50, p95, p99 or max",
            );
        }
        let mut lower: Option<(&str, Dur)> = None;
        for (name, v) in budgets {
            let Some(v) = v else { continue };
            if let Some((lname, l)) = lower
                && v < l
            {
                ctx.at(
                    ypath!["expect", "sla", i, name],
                    format!(
                        "{name} budget {} is below the {lname} budget {}",
                        show(v.0),
                        show(l.0)
                    ),
                );
            }
            lower = Some((name, v));
        }
        if let Some(first) = seen.insert((b.route.clone(), b.phase), i) {
            let line = ctx.line_of(ypath!["expect", "sla", first]);
            ctx.at(
                ypath!["expect", "sla", i, "route"],
                format!(
                    "route {:?} has budgets twice (first on line {line})",
                    b.route
                ),
            );
        }
    }
}
