//! Event → commands: which calls realise which source event (DESIGN.md, *Flows*). Pure
//! functions, no I/O: [`plan`] turns an event into the outbox commands it implies, and the
//! `*_request` builders finish the bodies that need a look-up at delivery time (material
//! master for unit conversion and inspection, stock for holds, lot bookkeeping for releases).

use std::collections::BTreeMap;

use andon_contracts::api::{
    ConfirmationRequest, GoodsMovementItem, GoodsMovementRequest, HoldReleaseRequest, HoldRequest,
    InspectionLotRequest, LotStatusUpdate, MaterialMasterUpdate, QualityNotificationRequest,
    ReceiptRequest, SourceRefs, WorkOrderCancellation, WorkOrderDownload,
};
use andon_contracts::events::{
    HoldPlaced, HoldReleased, MaterialConsumed, MaterialProduced, ShipmentConfirmed,
    UsageDecisionMade,
};
use andon_contracts::objects::{StockRow, StockType, Valuation};
use andon_contracts::{
    BatchId, CloudEvent, EventData, Material, MaterialId, MovementTypeCode, PlantId, Quantity,
    StorageLocation, System,
};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use crate::bc;
pub use crate::command::{Body, Command, LotRef, Verb, seg};
use crate::defects::{Defect, Defects};
use crate::s4hana::{self, Notification};

/// What the lot bookkeeping knew when a lot event was applied (see [`crate::store::lots`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LotFacts {
    /// Holds in force after the event.
    pub holds_in_force: usize,
    /// The event released the last hold in force.
    pub released_last_hold: bool,
}

/// An event as the flows read it: andon's typed data, or an S/4HANA or Business Central
/// notification. Short-lived
/// (one per event being stored), so the size difference of the variants does not matter.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Inbound {
    /// An andon event.
    Andon(EventData),
    /// An SAP business event of a plant whose ERP is S/4HANA.
    S4hana(Notification),
    /// A webhook notification of a plant whose ERP is Business Central.
    Bc(bc::Notification),
}

impl Inbound {
    /// Reads the data of `event` by its type.
    pub fn decode(event: &CloudEvent) -> Result<Self, String> {
        if s4hana::is_sap_event(&event.type_) {
            Notification::decode(event).map(Self::S4hana)
        } else if bc::is_bc_event(&event.type_) {
            bc::Notification::decode(event).map(Self::Bc)
        } else {
            event.typed_data().map(Self::Andon)
        }
    }

    /// Whether the event is ordered per lot before it applies.
    pub fn is_lot_event(&self) -> bool {
        matches!(self, Self::Andon(d) if is_lot_event(d))
    }

    /// The commands that realise `event`.
    pub fn plan(&self, event: &CloudEvent, lot: LotFacts, defects: &Defects) -> Vec<Command> {
        match self {
            Self::Andon(data) => plan(event, data, lot, defects),
            Self::S4hana(n) => s4hana::plan(event, n),
            Self::Bc(n) => bc::plan(event, n),
        }
    }
}

/// Whether events of this kind are ordered per lot (`source` + `subject`) before they apply.
pub fn is_lot_event(data: &EventData) -> bool {
    matches!(
        data,
        EventData::UsageDecisionMade(_)
            | EventData::HoldPlaced(_)
            | EventData::HoldReleased(_)
            | EventData::InspectionResultRecorded(_)
    )
}

/// The commands that realise `event` (DESIGN.md's flow table). `lot` is what the lot
/// bookkeeping knew when a lot event was applied.
pub fn plan(
    event: &CloudEvent,
    data: &EventData,
    lot: LotFacts,
    defects: &Defects,
) -> Vec<Command> {
    let refs = SourceRefs {
        source: Some(event.key()),
        sources: Vec::new(),
    };
    let mut out = match data {
        EventData::OrderReleased(o) => vec![Command {
            done_on: Some("work-order-exists".into()),
            ..ready(
                System::Mes,
                Verb::Post,
                "/api/v1/work-orders".into(),
                format!("order/{}", o.order),
                &WorkOrderDownload {
                    order: o.order.clone(),
                    plant: o.plant.clone(),
                    material: o.material.clone(),
                    planned_quantity: o.planned_quantity.clone(),
                    storage_location: o.storage_location.clone(),
                    operations: o.operations.clone(),
                    components: o.components.clone(),
                    refs: refs.clone(),
                },
            )
        }],
        EventData::OrderChanged(c) => {
            let o = &c.order;
            vec![ready(
                System::Mes,
                Verb::Put,
                format!("/api/v1/work-orders/{}", seg(o.order.as_str())),
                format!("order/{}", o.order),
                &WorkOrderDownload {
                    order: o.order.clone(),
                    plant: o.plant.clone(),
                    material: o.material.clone(),
                    planned_quantity: o.planned_quantity.clone(),
                    storage_location: o.storage_location.clone(),
                    operations: o.operations.clone(),
                    components: o.components.clone(),
                    refs: refs.clone(),
                },
            )]
        }
        EventData::OrderCancelled(c) => vec![ready(
            System::Mes,
            Verb::Post,
            format!("/api/v1/work-orders/{}/cancellation", seg(c.order.as_str())),
            format!("order/{}", c.order),
            &WorkOrderCancellation {
                reason: c.reason.clone(),
                refs: refs.clone(),
            },
        )],
        EventData::MaterialChanged(m) => [System::Mes, System::Qms, System::Wms]
            .into_iter()
            .map(|target| {
                ready(
                    target,
                    Verb::Put,
                    format!("/api/v1/materials/{}", seg(m.material.as_str())),
                    format!("material/{}", m.material),
                    &MaterialMasterUpdate {
                        material: m.clone(),
                        refs: refs.clone(),
                    },
                )
            })
            .collect(),
        EventData::OperationConfirmed(c) => vec![ready(
            System::Erp,
            Verb::Post,
            "/api/v1/confirmations".into(),
            format!("order/{}", c.order),
            &ConfirmationRequest {
                order: c.order.clone(),
                operation: c.operation.clone(),
                plant: c.plant.clone(),
                yield_: c.yield_.clone(),
                scrap: c.scrap.clone(),
                rework: Some(c.rework.clone()),
                final_: c.final_,
                posting_date: c.posting_date,
                work_center: Some(c.work_center.clone()),
                refs: refs.clone(),
            },
        )],
        EventData::MaterialConsumed(c) => vec![consumption(c, &refs)],
        EventData::MaterialProduced(p) => produced(p, &refs, defects),
        EventData::UsageDecisionMade(u) => usage_decision(event, u, lot, &refs),
        EventData::HoldPlaced(h) => hold_placed(event, h, &refs),
        EventData::HoldReleased(h) => hold_released(event, h, lot, &refs),
        EventData::NonconformanceCreated(n) => vec![ready(
            System::Erp,
            Verb::Post,
            "/api/v1/quality-notifications".into(),
            format!("nc/{}", n.nonconformance),
            &QualityNotificationRequest {
                nonconformance: n.nonconformance.clone(),
                type_: n.type_.clone(),
                plant: n.plant.clone(),
                material: n.material.clone(),
                batch: n.batch.clone(),
                defect_code: n.defect_code.clone(),
                text: n.text.clone(),
                refs: refs.clone(),
            },
        )],
        EventData::ShipmentConfirmed(s) => shipment(s, &refs).into_iter().collect(),
        EventData::OperationStarted(_)
        | EventData::OperationCompleted(_)
        | EventData::ScrapReported(_)
        | EventData::InspectionResultRecorded(_)
        | EventData::InventoryTransferred(_)
        | EventData::InventoryAdjusted(_) => Vec::new(),
    };
    // DEFECT: no-hold-to-wms — hold and release commands for the WMS are never made.
    if defects.has(Defect::NoHoldToWms) {
        out.retain(|c| !(c.hold && c.target == System::Wms));
    }
    out
}

fn ready<T: Serialize>(
    target: System,
    verb: Verb,
    path: String,
    aggregate: String,
    body: &T,
) -> Command {
    Command {
        target,
        verb,
        path,
        aggregate,
        body: Body::Ready {
            json: serde_json::to_value(body).expect("request bodies always serialise"),
        },
        done_on: None,
        hold: false,
    }
}

fn movement(
    movement_type: &str,
    plant: &PlantId,
    sloc: &StorageLocation,
    material: &MaterialId,
    batch: &BatchId,
    quantity: Quantity,
) -> GoodsMovementItem {
    GoodsMovementItem {
        movement_type: MovementTypeCode::parse(movement_type).expect("movement types are 3 digits"),
        material: material.clone(),
        plant: plant.clone(),
        storage_location: sloc.clone(),
        batch: Some(batch.clone()),
        quantity,
        order: None,
        reason_code: None,
        reversal_of: None,
        receiving_plant: None,
        receiving_storage_location: None,
    }
}

fn material_documents(lot: &LotRef, request: &GoodsMovementRequest) -> Command {
    ready(
        System::Erp,
        Verb::Post,
        "/api/v1/material-documents".into(),
        lot.aggregate(),
        request,
    )
}

fn consumption(c: &MaterialConsumed, refs: &SourceRefs) -> Command {
    let lot = LotRef {
        plant: c.plant.clone(),
        material: c.material.clone(),
        batch: c.batch.clone(),
    };
    let mut item = movement(
        "261",
        &c.plant,
        &c.storage_location,
        &c.material,
        &c.batch,
        c.quantity.clone(),
    );
    item.order = Some(c.order.clone());
    Command {
        body: Body::Consumption {
            request: GoodsMovementRequest {
                posting_date: c.posting_date,
                header_text: None,
                items: vec![item],
                refs: refs.clone(),
            },
        },
        ..material_documents(&lot, &empty_request(c.posting_date))
    }
}

fn empty_request(posting_date: NaiveDate) -> GoodsMovementRequest {
    GoodsMovementRequest {
        posting_date,
        header_text: None,
        items: Vec::new(),
        refs: SourceRefs::default(),
    }
}

fn produced(p: &MaterialProduced, refs: &SourceRefs, defects: &Defects) -> Vec<Command> {
    let lot = LotRef {
        plant: p.plant.clone(),
        material: p.material.clone(),
        batch: p.batch.clone(),
    };
    // DEFECT: by-product-as-receipt — a by-product is booked as the main product (101).
    let by_product = p.by_product && !defects.has(Defect::ByProductAsReceipt);
    let mut item = movement(
        if by_product { "531" } else { "101" },
        &p.plant,
        &p.storage_location,
        &p.material,
        &p.batch,
        p.quantity.clone(),
    );
    item.order = Some(p.order.clone());
    let receipt = GoodsMovementRequest {
        posting_date: p.posting_date,
        header_text: None,
        items: vec![item],
        refs: refs.clone(),
    };
    vec![
        material_documents(&lot, &receipt),
        Command {
            body: Body::InspectionLot {
                request: InspectionLotRequest {
                    origin: "04".into(),
                    plant: p.plant.clone(),
                    storage_location: p.storage_location.clone(),
                    material: p.material.clone(),
                    batch: p.batch.clone(),
                    order: Some(p.order.clone()),
                    quantity: p.quantity.clone(),
                    refs: refs.clone(),
                },
            },
            ..ready(
                System::Qms,
                Verb::Post,
                "/api/v1/inspection-lots".into(),
                lot.aggregate(),
                &Value::Null,
            )
        },
        ready(
            System::Wms,
            Verb::Post,
            "/api/v1/receipts".into(),
            lot.aggregate(),
            &ReceiptRequest {
                plant: p.plant.clone(),
                storage_location: p.storage_location.clone(),
                material: p.material.clone(),
                batch: p.batch.clone(),
                quantity: p.quantity.clone(),
                order: Some(p.order.clone()),
                refs: refs.clone(),
            },
        ),
    ]
}

fn usage_decision(
    event: &CloudEvent,
    u: &UsageDecisionMade,
    lot: LotFacts,
    refs: &SourceRefs,
) -> Vec<Command> {
    let l = LotRef {
        plant: u.plant.clone(),
        material: u.material.clone(),
        batch: u.batch.clone(),
    };
    let posting_date = event.time.date_naive();
    let (movement_type, status) = match u.valuation {
        Valuation::A => ("321", StockType::Unrestricted),
        Valuation::R => ("350", StockType::Blocked),
    };
    let transfer = GoodsMovementRequest {
        posting_date,
        header_text: None,
        items: vec![movement(
            movement_type,
            &u.plant,
            &u.storage_location,
            &u.material,
            &u.batch,
            u.quantity.clone(),
        )],
        refs: refs.clone(),
    };
    let mut out = vec![material_documents(&l, &transfer)];
    if u.valuation == Valuation::A && lot.holds_in_force > 0 {
        out.push(Command {
            body: Body::HoldBlock {
                lot: lot_key(event),
                stock: l.clone(),
                fixed: Some((u.storage_location.clone(), u.quantity.clone())),
                posting_date,
                refs: refs.clone(),
            },
            ..material_documents(&l, &empty_request(posting_date))
        });
    }
    for target in [System::Mes, System::Wms] {
        out.push(ready(
            target,
            Verb::Put,
            format!("{}/status", l.path()),
            l.aggregate(),
            &LotStatusUpdate {
                status,
                sequence: event.sequence,
                refs: refs.clone(),
            },
        ));
    }
    out
}

fn hold_placed(event: &CloudEvent, h: &HoldPlaced, refs: &SourceRefs) -> Vec<Command> {
    let l = LotRef {
        plant: h.plant.clone(),
        material: h.material.clone(),
        batch: h.batch.clone(),
    };
    let posting_date = h.placed_at.date_naive();
    let mut out = vec![Command {
        body: Body::HoldBlock {
            lot: lot_key(event),
            stock: l.clone(),
            fixed: None,
            posting_date,
            refs: refs.clone(),
        },
        hold: true,
        ..material_documents(&l, &empty_request(posting_date))
    }];
    for target in [System::Mes, System::Wms] {
        out.push(Command {
            hold: true,
            ..ready(
                target,
                Verb::Post,
                format!("{}/holds", l.path()),
                l.aggregate(),
                &HoldRequest {
                    hold_id: h.hold_id.clone(),
                    reason_code: h.reason_code.clone(),
                    sequence: event.sequence,
                    refs: refs.clone(),
                },
            )
        });
    }
    out
}

fn hold_released(
    event: &CloudEvent,
    h: &HoldReleased,
    lot: LotFacts,
    refs: &SourceRefs,
) -> Vec<Command> {
    let l = LotRef {
        plant: h.plant.clone(),
        material: h.material.clone(),
        batch: h.batch.clone(),
    };
    let posting_date = h.released_at.date_naive();
    let mut out = Vec::new();
    for target in [System::Mes, System::Wms] {
        out.push(Command {
            hold: true,
            ..ready(
                target,
                Verb::Post,
                format!("{}/holds/{}/release", l.path(), seg(&h.hold_id)),
                l.aggregate(),
                &HoldReleaseRequest {
                    sequence: event.sequence,
                    refs: refs.clone(),
                },
            )
        });
    }
    if lot.released_last_hold {
        out.push(Command {
            body: Body::HoldUnblock {
                lot: lot_key(event),
                stock: l.clone(),
                posting_date,
                refs: refs.clone(),
            },
            hold: true,
            ..material_documents(&l, &empty_request(posting_date))
        });
    }
    out
}

fn shipment(s: &ShipmentConfirmed, refs: &SourceRefs) -> Option<Command> {
    let first = s.items.first()?;
    let lot = LotRef {
        plant: s.plant.clone(),
        material: first.material.clone(),
        batch: first.batch.clone(),
    };
    let request = GoodsMovementRequest {
        posting_date: s.shipped_at.date_naive(),
        header_text: Some(format!("Delivery {}", s.delivery)),
        items: s
            .items
            .iter()
            .map(|i| {
                movement(
                    "601",
                    &s.plant,
                    &i.storage_location,
                    &i.material,
                    &i.batch,
                    i.quantity.clone(),
                )
            })
            .collect(),
        refs: refs.clone(),
    };
    Some(material_documents(&lot, &request))
}

/// The lot bookkeeping key of a lot event: `source` + `subject`.
pub fn lot_key(event: &CloudEvent) -> String {
    format!("{}|{}", event.source, event.subject)
}

/// The 261 with its quantity in the base unit of `material`. When the unit has no
/// conversion the entry unit is kept, and the ERP answers `uom-conversion`.
pub fn consumption_request(
    request: &GoodsMovementRequest,
    material: &Material,
    defects: &Defects,
) -> Value {
    let mut request = request.clone();
    for item in &mut request.items {
        // DEFECT: wrong-uom — the entry-unit value is labelled with the base unit.
        if defects.has(Defect::WrongUom) {
            item.quantity.unit = material.base_unit.clone();
            continue;
        }
        if let Some(milli) = material.to_base_milli(&item.quantity) {
            item.quantity = Quantity::from_milli(milli, material.base_unit.clone());
        }
    }
    serde_json::to_value(request).expect("request bodies always serialise")
}

/// The inspection lot, when `material` needs inspection on receipt.
pub fn inspection_request(request: &InspectionLotRequest, material: &Material) -> Option<Value> {
    material
        .inspection_required
        .then(|| serde_json::to_value(request).expect("request bodies always serialise"))
}

/// What holds moved to blocked stock, per storage location.
pub type Blocked = BTreeMap<String, Quantity>;

/// Adds what one hold block moved to what the lot's holds moved before.
pub fn add_blocked(total: &mut Blocked, moved: &Blocked) {
    for (sloc, q) in moved {
        total
            .entry(sloc.clone())
            .and_modify(|t| t.milli += q.milli)
            .or_insert_with(|| q.clone());
    }
}

/// The 344 of a hold: of the fixed quantity, else of the unrestricted `stock` rows. `None`
/// when there is nothing to move. Also returns what it moves.
pub fn hold_block_request(
    stock: &LotRef,
    fixed: Option<&(StorageLocation, Quantity)>,
    rows: &[StockRow],
    posting_date: NaiveDate,
    refs: &SourceRefs,
) -> Option<(Value, Blocked)> {
    let moves: Vec<(StorageLocation, Quantity)> = match fixed {
        Some((sloc, q)) => vec![(sloc.clone(), q.clone())],
        None => rows
            .iter()
            .filter(|r| {
                r.stock_type == StockType::Unrestricted
                    && r.plant == stock.plant
                    && r.material == stock.material
                    && r.batch.as_ref() == Some(&stock.batch)
                    && r.quantity.milli > 0
            })
            .map(|r| (r.storage_location.clone(), r.quantity.clone()))
            .collect(),
    };
    let moves: Vec<_> = moves.into_iter().filter(|(_, q)| q.milli > 0).collect();
    if moves.is_empty() {
        return None;
    }
    let mut blocked = Blocked::new();
    for (sloc, q) in &moves {
        add_blocked(
            &mut blocked,
            &Blocked::from([(sloc.to_string(), q.clone())]),
        );
    }
    let request = GoodsMovementRequest {
        posting_date,
        header_text: Some("Quality hold".into()),
        items: moves
            .into_iter()
            .map(|(sloc, q)| movement("344", &stock.plant, &sloc, &stock.material, &stock.batch, q))
            .collect(),
        refs: refs.clone(),
    };
    Some((
        serde_json::to_value(request).expect("request bodies always serialise"),
        blocked,
    ))
}

/// The 343 that moves back what the holds of a lot moved. `None` when nothing was moved.
pub fn hold_unblock_request(
    stock: &LotRef,
    blocked: &Blocked,
    posting_date: NaiveDate,
    refs: &SourceRefs,
) -> Option<Value> {
    let items: Vec<GoodsMovementItem> = blocked
        .iter()
        .filter(|(_, q)| q.milli > 0)
        .filter_map(|(sloc, q)| {
            let sloc = StorageLocation::parse(sloc.clone()).ok()?;
            Some(movement(
                "343",
                &stock.plant,
                &sloc,
                &stock.material,
                &stock.batch,
                q.clone(),
            ))
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    let request = GoodsMovementRequest {
        posting_date,
        header_text: Some("Quality hold released".into()),
        items,
        refs: refs.clone(),
    };
    Some(serde_json::to_value(request).expect("request bodies always serialise"))
}

#[cfg(test)]
mod tests {
    use andon_contracts::EventKind;
    use serde_json::json;

    use super::*;

    fn event(kind: EventKind, source: &str, subject: &str, data: Value) -> (CloudEvent, EventData) {
        let e = CloudEvent {
            specversion: "1.0".into(),
            id: "e-1".into(),
            source: source.into(),
            type_: kind.type_name(),
            subject: subject.into(),
            time: "2026-11-02T06:10:00Z".parse().unwrap(),
            datacontenttype: "application/json".into(),
            plant: PlantId::parse("1000").unwrap(),
            sequence: 3,
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            data: data.into(),
        };
        let d = e.typed_data().unwrap();
        (e, d)
    }

    fn kg_material() -> Material {
        serde_json::from_value(json!({
            "material": "RM-1", "base_unit": "KG",
            "alternative_units": [{"unit": "G", "numerator": 1, "denominator": 1000}],
            "inspection_required": false, "plants": ["1000"]
        }))
        .unwrap()
    }

    fn consumed() -> (CloudEvent, EventData) {
        event(
            EventKind::MaterialConsumed,
            "/andon/mes/1000",
            "100000001",
            json!({"order": "100000001", "plant": "1000", "storage_location": "0001", "material": "RM-1",
                   "batch": "R1", "quantity": {"value": 500, "unit": "G"}, "reservation_item": "0001",
                   "posting_date": "2026-11-02"}),
        )
    }

    #[test]
    fn every_built_body_matches_its_contract_schema() {
        let (e, d) = consumed();
        let cmds = plan(&e, &d, LotFacts::default(), &Defects::none());
        let Body::Consumption { request } = &cmds[0].body else {
            panic!("{cmds:?}")
        };
        let body = consumption_request(request, &kg_material(), &Defects::none());
        andon_contracts::validate("api/GoodsMovementRequest", &body).unwrap();
        assert_eq!(
            body["source"],
            json!({"source": "/andon/mes/1000", "id": "e-1"})
        );
    }

    #[test]
    fn grams_consumed_are_posted_as_kilograms() {
        let (e, d) = consumed();
        let cmds = plan(&e, &d, LotFacts::default(), &Defects::none());
        assert_eq!(
            (cmds[0].target, cmds[0].path.as_str()),
            (System::Erp, "/api/v1/material-documents")
        );
        let Body::Consumption { request } = &cmds[0].body else {
            panic!()
        };
        let body = consumption_request(request, &kg_material(), &Defects::none());
        assert_eq!(
            body["items"][0]["quantity"],
            json!({"value": 0.5, "unit": "KG"})
        );
        assert_eq!(body["items"][0]["movement_type"], "261");
        assert_eq!(body["items"][0]["order"], "100000001");
        let wrong = consumption_request(
            request,
            &kg_material(),
            &[Defect::WrongUom].into_iter().collect(),
        );
        assert_eq!(
            wrong["items"][0]["quantity"],
            json!({"value": 500.0, "unit": "KG"})
        );
    }

    #[test]
    fn hold_goes_to_erp_mes_and_wms_and_no_hold_to_wms_drops_the_wms_one() {
        let (e, d) = event(
            EventKind::LotHoldPlaced,
            "/andon/qms/1000",
            "FG-1/B1",
            json!({"hold_id": "H1", "plant": "1000", "material": "FG-1", "batch": "B1", "scope": "batch",
                   "reason_code": "QH01", "placed_at": "2026-11-02T06:10:00Z"}),
        );
        let cmds = plan(
            &e,
            &d,
            LotFacts {
                holds_in_force: 1,
                released_last_hold: false,
            },
            &Defects::none(),
        );
        let targets: Vec<System> = cmds.iter().map(|c| c.target).collect();
        assert_eq!(targets, vec![System::Erp, System::Mes, System::Wms]);
        assert!(cmds.iter().all(|c| c.hold));
        let Body::Ready { json } = &cmds[2].body else {
            panic!()
        };
        andon_contracts::validate("api/HoldRequest", json).unwrap();
        assert_eq!(json["sequence"], 3);
        assert_eq!(cmds[2].path, "/api/v1/lots/1000/FG-1/B1/holds");
        let defective = plan(
            &e,
            &d,
            LotFacts::default(),
            &[Defect::NoHoldToWms].into_iter().collect(),
        );
        assert!(defective.iter().all(|c| c.target != System::Wms));
    }

    #[test]
    fn release_moves_stock_back_only_when_it_was_the_last_hold() {
        let (e, d) = event(
            EventKind::LotHoldReleased,
            "/andon/qms/1000",
            "FG-1/B1",
            json!({"hold_id": "H1", "plant": "1000", "material": "FG-1", "batch": "B1",
                   "released_at": "2026-11-02T06:10:00Z"}),
        );
        let still_held = plan(
            &e,
            &d,
            LotFacts {
                holds_in_force: 1,
                released_last_hold: false,
            },
            &Defects::none(),
        );
        assert_eq!(still_held.len(), 2);
        let last = plan(
            &e,
            &d,
            LotFacts {
                holds_in_force: 0,
                released_last_hold: true,
            },
            &Defects::none(),
        );
        assert!(matches!(last[2].body, Body::HoldUnblock { .. }));
    }

    #[test]
    fn accepted_usage_decision_on_a_held_lot_is_blocked_again() {
        let (e, d) = event(
            EventKind::UsageDecisionMade,
            "/andon/qms/1000",
            "FG-1/B1",
            json!({"inspection_lot": "040000000017", "plant": "1000", "storage_location": "0001", "material": "FG-1",
                   "batch": "B1", "quantity": {"value": 10, "unit": "PC"}, "code": "A1", "valuation": "A"}),
        );
        let free = plan(&e, &d, LotFacts::default(), &Defects::none());
        assert_eq!(free.len(), 3);
        let Body::Ready { json } = &free[0].body else {
            panic!()
        };
        assert_eq!(json["items"][0]["movement_type"], "321");
        let Body::Ready { json } = &free[1].body else {
            panic!()
        };
        andon_contracts::validate("api/LotStatusUpdate", json).unwrap();
        assert_eq!(json["status"], "unrestricted");
        let held = plan(
            &e,
            &d,
            LotFacts {
                holds_in_force: 1,
                released_last_hold: false,
            },
            &Defects::none(),
        );
        assert_eq!(held.len(), 4);
        assert!(matches!(
            held[1].body,
            Body::HoldBlock { fixed: Some(_), .. }
        ));
    }

    #[test]
    fn hold_block_moves_the_unrestricted_stock_and_unblock_moves_it_back() {
        let stock = LotRef {
            plant: PlantId::parse("1000").unwrap(),
            material: MaterialId::parse("FG-1").unwrap(),
            batch: BatchId::parse("B1").unwrap(),
        };
        let row = |t: StockType, v: i64| StockRow {
            plant: stock.plant.clone(),
            storage_location: StorageLocation::parse("0001").unwrap(),
            material: stock.material.clone(),
            batch: Some(stock.batch.clone()),
            stock_type: t,
            quantity: Quantity::from_milli(v, andon_contracts::Unit::parse("PC").unwrap()),
        };
        let date = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let refs = SourceRefs {
            source: Some(andon_contracts::SourceRef {
                source: "/andon/qms/1000".into(),
                id: "x".into(),
            }),
            sources: vec![],
        };
        assert!(
            hold_block_request(
                &stock,
                None,
                &[row(StockType::QualityInspection, 5000)],
                date,
                &refs
            )
            .is_none()
        );
        let (body, blocked) = hold_block_request(
            &stock,
            None,
            &[
                row(StockType::Unrestricted, 7000),
                row(StockType::Blocked, 1),
            ],
            date,
            &refs,
        )
        .unwrap();
        andon_contracts::validate("api/GoodsMovementRequest", &body).unwrap();
        assert_eq!(body["items"][0]["movement_type"], "344");
        assert_eq!(blocked["0001"].milli, 7000);
        let back = hold_unblock_request(&stock, &blocked, date, &refs).unwrap();
        assert_eq!(back["items"][0]["movement_type"], "343");
        assert_eq!(back["items"][0]["quantity"]["value"], 7.0);
    }

    #[test]
    fn events_without_a_flow_make_no_command() {
        let (e, d) = event(
            EventKind::OperationStarted,
            "/andon/mes/1000",
            "100000001",
            json!({"order": "100000001", "operation": "0010", "plant": "1000", "work_center": "LINE-1",
                   "started_at": "2026-11-02T06:10:00Z"}),
        );
        assert!(plan(&e, &d, LotFacts::default(), &Defects::none()).is_empty());
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(seg("FG/1.A"), "FG%2F1.A");
        assert_eq!(seg(".."), "%2E%2E");
    }
}
