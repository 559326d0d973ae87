//! Which flows a set of runs exercised: every call of every flow of `contracts/flows.yaml`
//! (per emitting system, and per movement type where the flow chooses one, such as 101 or
//! 531) that left at least one effect, and every event kind that was emitted. `andon
//! coverage RUN_DIR…` prints it as a table; the test that runs every bundled scenario
//! asserts that nothing is left unexercised.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use andon_contracts::flows::{self, Expr, Need};
use andon_contracts::{EventKind, System};
use andon_simulators::history::Entry;
use serde_json::Value;

use crate::check::RunData;
use crate::check::common::{self, Events, GoodsMovement};

/// One call of a flow, as an effect tells it: which event (from which system) led to which
/// effect (with which movement type) in which system.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowCall {
    /// The source event's kind.
    pub event: EventKind,
    /// The system that emitted it.
    pub from: System,
    /// The system the call went to.
    pub to: System,
    /// The effect it left.
    pub effect: String,
    /// The movement type, for goods movements.
    pub movement: Option<String>,
    /// Whether the flow requires it (or only allows it).
    pub need: Need,
}

impl FlowCall {
    /// `MES material.produced → ERP erp.goods_movement 531`.
    pub fn label(&self) -> String {
        format!(
            "{} {} → {} {}{}",
            self.from.as_str().to_uppercase(),
            self.event,
            self.to.as_str().to_uppercase(),
            self.effect,
            self.movement
                .as_deref()
                .map(|m| format!(" {m}"))
                .unwrap_or_default()
        )
    }

    fn key(&self) -> (EventKind, System, System, &str, Option<&str>) {
        (
            self.event,
            self.from,
            self.to,
            self.effect.as_str(),
            self.movement.as_deref(),
        )
    }
}

/// Every call the flows can make: per emitting system, per movement type a flow may choose.
pub fn universe() -> Vec<FlowCall> {
    let mut out = Vec::new();
    for f in &flows::flows().flows {
        for from in &f.from {
            for c in &f.calls {
                let movements: Vec<Option<String>> = match c.element_field("movement_type") {
                    Some(Expr::Literal(Value::String(m))) => vec![Some(m.clone())],
                    Some(Expr::Switch { cases, .. }) => cases
                        .iter()
                        .filter_map(|(_, e)| match e {
                            Expr::Literal(Value::String(m)) => Some(Some(m.clone())),
                            _ => None,
                        })
                        .collect(),
                    _ => vec![None],
                };
                for movement in movements {
                    let call = FlowCall {
                        event: f.event,
                        from: *from,
                        to: c.to,
                        effect: c.effect.clone(),
                        movement,
                        need: c.need,
                    };
                    if !out.iter().any(|x: &FlowCall| x.key() == call.key()) {
                        out.push(call);
                    }
                }
            }
        }
    }
    out
}

/// What one run exercised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Effects per flow call (index into [`universe`]).
    pub calls: BTreeMap<usize, u64>,
    /// Events emitted per (kind, emitting system), poison excluded.
    pub events: BTreeMap<(EventKind, System), u64>,
}

impl Coverage {
    /// Reads one run.
    pub fn of(run: &RunData, universe: &[FlowCall]) -> Self {
        let events = Events::build(&run.records);
        let mut out = Coverage::default();
        for ev in events.iter() {
            if let (false, Some(kind)) = (ev.poison, ev.kind) {
                *out.events.entry((kind, ev.system)).or_default() += 1;
            }
        }
        for r in &run.records {
            let Entry::Effect {
                effect,
                sources,
                detail,
                ..
            } = &r.entry
            else {
                continue;
            };
            let movement = (effect == "erp.goods_movement")
                .then(|| GoodsMovement::of(detail))
                .filter(|g| !g.reversal)
                .map(|g| g.movement);
            for s in sources {
                let Some(ev) = events.map.get(&common::key(s)) else {
                    continue;
                };
                let Some(kind) = ev.kind.filter(|_| !ev.poison) else {
                    continue;
                };
                let key = (kind, ev.system, r.system, effect.as_str(), movement);
                if let Some(i) = universe.iter().position(|c| c.key() == key) {
                    *out.calls.entry(i).or_default() += 1;
                }
            }
        }
        out
    }

    /// Adds another run's coverage.
    pub fn add(&mut self, other: &Coverage) {
        for (k, n) in &other.calls {
            *self.calls.entry(*k).or_default() += n;
        }
        for (k, n) in &other.events {
            *self.events.entry(*k).or_default() += n;
        }
    }
}

/// The required flow calls and the event kinds (per emitting system) no run exercised.
/// (Calls a flow only allows, such as ERP 344 for an accepted lot still on hold, are
/// reported in the table and not required.)
pub fn gaps(total: &Coverage, universe: &[FlowCall]) -> Vec<String> {
    let mut out: Vec<String> = universe
        .iter()
        .enumerate()
        .filter(|(i, c)| c.need == Need::Required && !total.calls.contains_key(i))
        .map(|(_, c)| format!("no effect of {}", c.label()))
        .collect();
    for kind in EventKind::ALL {
        for from in kind.emitters() {
            if !total.events.contains_key(&(*kind, *from)) {
                out.push(format!(
                    "no {kind} event emitted by {}",
                    from.as_str().to_uppercase()
                ));
            }
        }
    }
    out
}

/// A Markdown table: one row per flow call, one column per run, the effects counted.
pub fn markdown(runs: &[(String, Coverage)], universe: &[FlowCall]) -> String {
    let mut o = String::from("| flow call | need |");
    for (name, _) in runs {
        let _ = write!(o, " {name} |");
    }
    o.push_str("\n|---|---|");
    for _ in runs {
        o.push_str("---:|");
    }
    o.push('\n');
    for (i, c) in universe.iter().enumerate() {
        let _ = write!(o, "| {} | {} |", c.label(), c.need.as_str());
        for (_, cov) in runs {
            match cov.calls.get(&i) {
                Some(n) => {
                    let _ = write!(o, " {n} |");
                }
                None => o.push_str(" · |"),
            }
        }
        o.push('\n');
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_universe_has_every_call_and_both_sides_of_every_choice() {
        let u = universe();
        let has = |event: EventKind, movement: &str| {
            u.iter()
                .any(|c| c.event == event && c.movement.as_deref() == Some(movement))
        };
        assert!(has(EventKind::MaterialProduced, "101"));
        assert!(has(EventKind::MaterialProduced, "531"));
        assert!(has(EventKind::UsageDecisionMade, "321"));
        assert!(has(EventKind::UsageDecisionMade, "350"));
        // Nonconformances from both systems that emit them.
        assert_eq!(
            u.iter()
                .filter(|c| c.event == EventKind::NonconformanceCreated)
                .count(),
            2
        );
    }
}
