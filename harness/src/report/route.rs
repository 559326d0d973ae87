//! Route names: how latency, SLA budgets and reports name one flow.
//!
//! A route is `<emitter>.<short> -> <target>`: the system that emitted the source event,
//! a short name for the event kind, and the system where the effect landed. The short
//! name is the last word of the kind (`material.consumed` → `consumed`), except where
//! that word says too little and the noun says more:
//!
//! | event kind | short | example route |
//! |---|---|---|
//! | `production_order.released` | `released` | `erp.released -> mes` |
//! | `production_order.changed` | `changed` | `erp.changed -> mes` |
//! | `production_order.cancelled` | `cancelled` | `erp.cancelled -> mes` |
//! | `material.changed` | `material` | `erp.material -> wms` |
//! | `operation.started` | `started` | |
//! | `operation.completed` | `completed` | |
//! | `operation.confirmed` | `confirmed` | `mes.confirmed -> erp` |
//! | `material.consumed` | `consumed` | `mes.consumed -> erp` |
//! | `material.produced` | `produced` | `mes.produced -> wms` |
//! | `scrap.reported` | `scrap` | |
//! | `inspection_result.recorded` | `result` | |
//! | `usage_decision.made` | `decision` | `qms.decision -> erp` |
//! | `lot.hold_placed` | `hold` | `qms.hold -> wms` |
//! | `lot.hold_released` | `release` | `qms.release -> mes` |
//! | `nonconformance.created` | `nonconformance` | `qms.nonconformance -> erp` |
//! | `inventory.transferred` | `transferred` | |
//! | `inventory.adjusted` | `adjusted` | |
//! | `shipment.confirmed` | `shipped` | `wms.shipped -> erp` |
//!
//! A kind outside the catalog keeps the last word of its name. The SLA checker, the
//! scenario's `expect.sla[].route` and the reports all use [`route_name`], so a budget
//! written as `qms.hold -> wms` matches what the report plots.

use andon_contracts::{EventKind, System};

/// The route of an event of `kind` emitted by `emitter` whose effect landed at `target`.
///
/// `kind` is a catalog name (`lot.hold_placed`) or a CloudEvents type
/// (`andon.lot.hold_placed.v1`).
///
/// ```
/// use andon::report::route_name;
/// use andon_contracts::System;
/// assert_eq!(route_name("material.consumed", System::Mes, System::Erp), "mes.consumed -> erp");
/// assert_eq!(route_name("andon.lot.hold_placed.v1", System::Qms, System::Wms), "qms.hold -> wms");
/// assert_eq!(route_name("usage_decision.made", System::Qms, System::Mes), "qms.decision -> mes");
/// ```
pub fn route_name(kind: &str, emitter: System, target: System) -> String {
    format!("{emitter}.{} -> {target}", short_name(kind))
}

/// The short name of an event kind in a route (see the table in the module docs).
pub fn short_name(kind: &str) -> &str {
    let Some(known) = EventKind::parse(kind) else {
        let name = kind
            .strip_prefix("andon.")
            .and_then(|r| r.strip_suffix(".v1"))
            .unwrap_or(kind);
        return name.rsplit('.').next().unwrap_or(name);
    };
    match known {
        EventKind::ProductionOrderReleased => "released",
        EventKind::ProductionOrderChanged => "changed",
        EventKind::ProductionOrderCancelled => "cancelled",
        EventKind::MaterialChanged => "material",
        EventKind::OperationStarted => "started",
        EventKind::OperationCompleted => "completed",
        EventKind::OperationConfirmed => "confirmed",
        EventKind::MaterialConsumed => "consumed",
        EventKind::MaterialProduced => "produced",
        EventKind::ScrapReported => "scrap",
        EventKind::InspectionResultRecorded => "result",
        EventKind::UsageDecisionMade => "decision",
        EventKind::LotHoldPlaced => "hold",
        EventKind::LotHoldReleased => "release",
        EventKind::NonconformanceCreated => "nonconformance",
        EventKind::InventoryTransferred => "transferred",
        EventKind::InventoryAdjusted => "adjusted",
        EventKind::ShipmentConfirmed => "shipped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_routes_are_named_as_documented() {
        let cases = [
            (
                "material.consumed",
                System::Mes,
                System::Erp,
                "mes.consumed -> erp",
            ),
            (
                "material.produced",
                System::Mes,
                System::Wms,
                "mes.produced -> wms",
            ),
            (
                "operation.confirmed",
                System::Mes,
                System::Erp,
                "mes.confirmed -> erp",
            ),
            (
                "lot.hold_placed",
                System::Qms,
                System::Wms,
                "qms.hold -> wms",
            ),
            (
                "lot.hold_released",
                System::Qms,
                System::Mes,
                "qms.release -> mes",
            ),
            (
                "usage_decision.made",
                System::Qms,
                System::Erp,
                "qms.decision -> erp",
            ),
            (
                "production_order.released",
                System::Erp,
                System::Mes,
                "erp.released -> mes",
            ),
            (
                "material.changed",
                System::Erp,
                System::Qms,
                "erp.material -> qms",
            ),
            (
                "shipment.confirmed",
                System::Wms,
                System::Erp,
                "wms.shipped -> erp",
            ),
            (
                "nonconformance.created",
                System::Qms,
                System::Erp,
                "qms.nonconformance -> erp",
            ),
            (
                "nonconformance.created",
                System::Mes,
                System::Erp,
                "mes.nonconformance -> erp",
            ),
        ];
        for (kind, emitter, target, want) in cases {
            assert_eq!(route_name(kind, emitter, target), want, "{kind}");
        }
    }

    #[test]
    fn cloudevents_types_name_the_same_route_as_catalog_names() {
        for kind in EventKind::ALL {
            assert_eq!(
                route_name(&kind.type_name(), System::Mes, System::Erp),
                route_name(kind.name(), System::Mes, System::Erp)
            );
        }
    }

    #[test]
    fn unknown_kinds_keep_their_last_word() {
        assert_eq!(
            route_name("andon.lot.split_done.v1", System::Wms, System::Erp),
            "wms.split_done -> erp"
        );
        assert_eq!(
            route_name("weird", System::Mes, System::Qms),
            "mes.weird -> qms"
        );
    }
}
