//! The checks of what a scenario says about vendor dialects: faults only a dialect has
//! (`csrf_expiry`), and the upgrades cut over during the run.

use andon_contracts::System;
use andon_simulators::dialect::Dialect;
use andon_simulators::faults::{FaultKind, FaultSpec};

use super::Scenario;
use super::yaml::Ctx;

/// Checks that `csrf_expiry` (fault entry `i`) aims at an ERP some plant of which speaks
/// S/4HANA.
pub(super) fn needs_s4hana(
    ctx: &mut Ctx,
    s: &Scenario,
    spec: &FaultSpec,
    system: System,
    i: usize,
) {
    let s4 = s
        .erp_dialects()
        .values()
        .any(|b| b.dialect == Dialect::S4hana)
        || s.upgrades.iter().any(|u| u.erp.dialect == Dialect::S4hana);
    if spec.kind == FaultKind::CsrfExpiry && (system != System::Erp || !s4) {
        ctx.at(
            ypath!["faults", i, "kind"],
            "csrf_expiry needs the ERP of a plant that speaks S/4HANA: target erp and give a plant `erp: s4hana@2502`",
        );
    }
}

/// Checks that each upgrade names a plant of the scenario and comes before the load ends.
pub(super) fn upgrades(ctx: &mut Ctx, s: &Scenario) {
    for (i, u) in s.upgrades.iter().enumerate() {
        if !s.plants.is_empty() && !s.plants.iter().any(|p| p.id == u.plant) {
            let known: Vec<&str> = s.plants.iter().map(|p| p.id.as_str()).collect();
            ctx.at(
                ypath!["upgrades", i, "plant"],
                format!(
                    "plant {} is not a plant of the scenario ({})",
                    u.plant,
                    known.join(", ")
                ),
            );
        }
        if u.at.0 > s.duration.0 {
            ctx.at(
                ypath!["upgrades", i, "at"],
                format!(
                    "the upgrade at {} comes after the load ends ({}): it would change nothing the run sends",
                    humantime::format_duration(u.at.0),
                    humantime::format_duration(s.duration.0)
                ),
            );
        }
    }
}
