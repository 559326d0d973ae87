//! One operation against the ERP's core: reads of the company's entity sets and entities,
//! the journal lines that post on insert, quality notifications; the service document and
//! `$metadata`.

use andon_contracts::{MaterialId, OrderId, Unit};
use axum::http::{Method, StatusCode};
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::entities::{self as ent, company_id};
use super::error::BcError;
use super::journal::{self, Lookup};
use super::path::Api;
use super::{Answer, Call, Note};
use crate::erp::Erp;
use crate::faults::{ApiFault, FaultKind};

/// The operation as the history names it.
pub(super) fn template(call: &Call) -> String {
    let r = &call.res;
    let mut t = String::new();
    if r.company.is_some() && r.set != "companies" {
        t.push_str("companies({company})/");
    }
    t.push_str(&r.set);
    if r.key.is_some() {
        t.push_str(if r.set == "companies" {
            "({company})"
        } else {
            "({id})"
        });
    }
    t
}

/// Runs `call`.
pub(super) fn run(erp: &Erp, call: &Call) -> Answer {
    let note = Note {
        op: template(call),
        ..Note::default()
    };
    let result = match (&call.method, call.res.set.as_str()) {
        (&Method::GET, "") => Ok(service_document(call)),
        (&Method::GET, "$metadata") => return metadata(call, note),
        (&Method::GET, "companies") => companies(call),
        (_, _) if !own_company(call) => Err(BcError::not_found(format!(
            "The company '{}' does not exist",
            call.res.company.as_deref().unwrap_or("")
        ))),
        (&Method::POST, _) => return write(erp, call, note),
        (&Method::GET, _) => read(erp, call),
        (m, _) => Err(BcError::method(format!(
            "The {m} method is not allowed on {}",
            note.op
        ))),
    };
    match result {
        Ok(v) => Answer::ok(StatusCode::OK, v, note),
        Err(e) => Answer::error(e, note),
    }
}

/// Whether the path names the plant's company (a company-less path names none).
fn own_company(call: &Call) -> bool {
    call.res
        .company
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case(&company_id(&call.plant)))
}

/// The entity sets of each API.
pub(super) fn sets(api: Api) -> &'static [&'static str] {
    match api {
        Api::Standard => &["companies", "items", "itemLedgerEntries", "subscriptions"],
        Api::Manufacturing => &[
            "companies",
            "productionOrders",
            "manufacturingItems",
            "itemJournalLines",
            "outputJournalLines",
            "capacityLedgerEntries",
            "qualityNotifications",
            "lotInventories",
        ],
    }
}

fn service_document(call: &Call) -> Value {
    let value: Vec<Value> = sets(call.api)
        .iter()
        .map(|s| json!({ "name": s, "kind": "EntitySet", "url": s }))
        .collect();
    json!({ "@odata.context": format!("{}/{}/$metadata", call.base, call.api.root()), "value": value })
}

fn metadata(call: &Call, note: Note) -> Answer {
    match super::contract::metadata(call.release(), call.api.metadata_name()) {
        Some(xml) => Answer {
            status: StatusCode::OK,
            body: Ok(None),
            raw: Some(("application/xml", xml.as_bytes().to_vec())),
            note,
        },
        None => Answer::error(BcError::not_found("No $metadata for this release"), note),
    }
}

fn companies(call: &Call) -> Result<Value, BcError> {
    let c = ent::company(&call.plant, call.release());
    match &call.res.key {
        None => Ok(call.opts.collection(&call.context("companies"), vec![c])),
        Some(_) if own_company(call) => Ok(c),
        Some(k) => Err(BcError::not_found(format!(
            "The company '{k}' does not exist"
        ))),
    }
}

/// A collection, or the entity of the key among them (404 if none).
fn pick(call: &Call, all: Vec<Value>) -> Result<Value, BcError> {
    match &call.res.key {
        None => Ok(call.opts.collection(&call.context(&call.res.set), all)),
        Some(k) => all
            .into_iter()
            .find(|e| {
                e.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.eq_ignore_ascii_case(k))
            })
            .ok_or_else(|| {
                BcError::of(
                    "not-found",
                    format!("The {} with id '{k}' does not exist", call.res.set),
                    call.release(),
                )
            }),
    }
}

fn read(erp: &Erp, call: &Call) -> Result<Value, BcError> {
    let md = erp.core.master();
    let plant = &call.plant;
    let materials = || md.materials.iter().filter(|m| m.plants.contains(plant));
    let expand = &call.opts.expand;
    let all = match (call.api, call.res.set.as_str()) {
        (Api::Standard, "items") => {
            let st = erp.lock();
            materials().map(|m| ent::item(m, &st, plant)).collect()
        }
        (Api::Standard, "itemLedgerEntries") => ledger(erp, call, |l| l.items.clone()),
        (Api::Manufacturing, "manufacturingItems") => {
            let units = expand.iter().any(|x| x == "unitsOfMeasure");
            materials()
                .map(|m| ent::manufacturing_item(m, units))
                .collect()
        }
        (Api::Manufacturing, "productionOrders") => {
            let st = erp.lock();
            st.orders
                .values()
                .filter(|r| &r.order.plant == plant)
                .map(|r| {
                    let desc = md
                        .material_in(&r.order.material, plant)
                        .map_or("", |m| m.description.as_str());
                    ent::production_order(r, &st, desc, expand)
                })
                .collect()
        }
        (Api::Manufacturing, "capacityLedgerEntries") => ledger(erp, call, |l| l.capacity.clone()),
        (Api::Manufacturing, "qualityNotifications") => {
            ledger(erp, call, |l| l.notifications.clone())
        }
        (Api::Manufacturing, "lotInventories") if call.res.key.is_none() => {
            ent::lot_inventories(&erp.lock(), plant, &md)
        }
        (Api::Manufacturing, "itemJournalLines" | "outputJournalLines") => Vec::new(),
        _ => {
            return Err(BcError::case(
                "not-found",
                Some("segment"),
                format!("Resource not found for the segment '{}'", call.res.set),
                "",
            ));
        }
    };
    pick(call, all)
}

fn ledger(erp: &Erp, call: &Call, of: impl Fn(&super::ledger::Ledger) -> Vec<Value>) -> Vec<Value> {
    let ledgers = erp.bc.ledgers.lock().unwrap_or_else(|e| e.into_inner());
    ledgers.get(&call.plant).map(of).unwrap_or_default()
}

/// The plant's master data and orders, as the body checks read them.
struct PlantLookup<'a> {
    erp: &'a Erp,
    call: &'a Call,
}

impl Lookup for PlantLookup<'_> {
    fn base_unit(&self, material: &MaterialId) -> Option<Unit> {
        let md = self.erp.core.master();
        md.material_in(material, &self.call.plant)
            .map(|m| m.base_unit.clone())
    }

    fn order_material(&self, order: &OrderId) -> Option<MaterialId> {
        let st = self.erp.lock();
        st.orders
            .get(order)
            .filter(|r| r.order.plant == self.call.plant)
            .map(|r| r.order.material.clone())
    }

    fn order_unit(&self, order: &OrderId) -> Option<Unit> {
        let st = self.erp.lock();
        st.orders
            .get(order)
            .map(|r| r.order.planned_quantity.unit.clone())
    }

    fn today(&self) -> NaiveDate {
        self.erp.core.clock.today()
    }
}

type Written = Result<Value, BcError>;

/// andon's `reject` fault on an insert, asked here rather than in the fault layer so that
/// each operation of a `$batch` meets it on its own, answered in Business Central's error
/// form and recorded with what it amounted to in andon's API.
pub(super) fn fault_rejects(erp: &Erp, call: &Call, note: &mut Note) -> Result<(), BcError> {
    let path = format!(
        "/plant/{}/{}/companies({})/{}",
        call.plant,
        call.api.root(),
        call.res.company.as_deref().unwrap_or(""),
        call.res.set
    );
    let takes = |k: &FaultKind| matches!(k, FaultKind::Reject { .. });
    let Some((_, ApiFault::Reject { code, detail, .. })) =
        erp.core.faults.decide_api_where("POST", &path, takes)
    else {
        return Ok(());
    };
    note.fault = Some("reject");
    let message = detail.unwrap_or_else(|| format!("The request was rejected ({code})"));
    Err(BcError::of(&code, message, call.release()))
}

fn write(erp: &Erp, call: &Call, mut note: Note) -> Answer {
    if call.res.key.is_some() {
        return Answer::error(BcError::method("Only entity sets take POST"), note);
    }
    let body = match serde_json::from_slice::<Value>(&call.body) {
        Ok(v) => v,
        Err(e) => {
            note.valid = Some(false);
            note.violations = vec![format!("/: malformed JSON: {e}")];
            let msg = format!(
                "Malformed JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            );
            return Answer::error(BcError::bad_request(msg), note);
        }
    };
    note.body = Some(body.clone());
    let result = match (call.api, call.res.set.as_str()) {
        (Api::Manufacturing, "itemJournalLines") => item_line(erp, call, &body, &mut note),
        (Api::Manufacturing, "outputJournalLines") => output_line(erp, call, &body, &mut note),
        (Api::Manufacturing, "qualityNotifications") => notification(erp, call, &body, &mut note),
        _ => Err(BcError::method(format!(
            "{} does not take POST",
            call.res.set
        ))),
    };
    match result {
        Ok(v) => Answer::ok(StatusCode::CREATED, v, note),
        Err(e) => Answer::error(e.at_release(call.release()), note),
    }
}

/// The body check's outcome into the note; the check's error as the answer.
pub(super) fn checked<T: serde::Serialize>(
    note: &mut Note,
    route: &'static str,
    r: Result<T, journal::Refused>,
) -> Result<T, BcError> {
    note.native_route = Some(route);
    match r {
        Ok(req) => {
            note.valid = Some(true);
            note.native_body = serde_json::to_value(&req).ok();
            Ok(req)
        }
        Err(refused) => {
            let (e, violations) = *refused;
            note.valid = Some(false);
            note.violations = violations;
            Err(e)
        }
    }
}

/// The line as posted: what was sent, with its id, entry number and ETag.
fn posted(body: &Value, kind: &str, plant: &andon_contracts::PlantId, entry: u64) -> Value {
    let mut v = body.clone();
    if let Value::Object(o) = &mut v {
        o.retain(|k, _| !k.starts_with('@'));
        o.insert(
            "id".into(),
            json!(ent::guid(kind, &format!("{plant}/{entry}"))),
        );
        o.insert("entryNumber".into(), json!(entry));
    }
    ent::tagged(v)
}

fn item_line(erp: &Erp, call: &Call, body: &Value, note: &mut Note) -> Written {
    let at = PlantLookup { erp, call };
    let req = checked(
        note,
        "/api/v1/material-documents",
        journal::item_line(body, &call.plant, call.release(), &at),
    )?;
    fault_rejects(erp, call, note)?;
    let doc = crate::erp::booking::post_goods(erp, &call.ctx, &req)?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let entry = {
        let mut ledgers = erp.bc.ledgers.lock().unwrap_or_else(|e| e.into_inner());
        let l = ledgers.entry(call.plant.clone()).or_default();
        l.post_items(&doc, &text("documentNumber"), &text("description"))
    };
    Ok(applied(
        posted(body, "itemJournalLine", &call.plant, entry),
        &doc,
    ))
}

/// An item journal line as posted reads back what was applied: the statuses taken from
/// and put to, the location put to (`""` where none applies).
pub(super) fn applied(mut line: Value, doc: &andon_contracts::api::MaterialDocument) -> Value {
    use andon_contracts::objects::StockType;
    let Some(it) = doc.items.first() else {
        return line;
    };
    let p = &it.posted;
    let (from, to) = match p.movement_type.as_str() {
        "321" => (
            Some(StockType::QualityInspection),
            Some(StockType::Unrestricted),
        ),
        "350" => (Some(StockType::QualityInspection), Some(StockType::Blocked)),
        "344" => (Some(StockType::Unrestricted), Some(StockType::Blocked)),
        "343" => (Some(StockType::Blocked), Some(StockType::Unrestricted)),
        "311" => (Some(StockType::Unrestricted), Some(StockType::Unrestricted)),
        "101" | "531" => (None, Some(it.stock_type)),
        _ => (Some(it.stock_type), None),
    };
    let name = |s: Option<StockType>| s.map_or("", ent::status_name);
    if let Value::Object(o) = &mut line {
        o.insert("inventoryStatus".into(), json!(name(from.or(to))));
        o.insert(
            "newInventoryStatus".into(),
            json!(name(to.filter(|_| from.is_some()))),
        );
        let moved = p
            .receiving_storage_location
            .as_ref()
            .map_or("", |s| s.as_str());
        o.insert("newLocationCode".into(), json!(moved));
    }
    ent::tagged(line)
}

fn output_line(erp: &Erp, call: &Call, body: &Value, note: &mut Note) -> Written {
    let at = PlantLookup { erp, call };
    let req = checked(
        note,
        "/api/v1/confirmations",
        journal::output_line(body, &call.plant, &at),
    )?;
    fault_rejects(erp, call, note)?;
    if at.order_material(&req.order).is_none() {
        return Err(BcError::of(
            "order-status",
            format!(
                "The Prod. Order {} does not exist in company {}",
                req.order, call.plant
            ),
            call.release(),
        ));
    }
    let conf = crate::erp::booking::book_confirmation(erp, &call.ctx, &req)?;
    let doc = body
        .get("documentNumber")
        .and_then(Value::as_str)
        .unwrap_or("");
    let entry = {
        let mut ledgers = erp.bc.ledgers.lock().unwrap_or_else(|e| e.into_inner());
        ledgers
            .entry(call.plant.clone())
            .or_default()
            .post_output(&conf, doc)
    };
    Ok(posted(body, "outputJournalLine", &call.plant, entry))
}

fn notification(erp: &Erp, call: &Call, body: &Value, note: &mut Note) -> Written {
    let req = checked(
        note,
        "/api/v1/quality-notifications",
        journal::notification(body, &call.plant),
    )?;
    fault_rejects(erp, call, note)?;
    let n = crate::erp::booking::notify(erp, &call.ctx, &req)?;
    let mut ledgers = erp.bc.ledgers.lock().unwrap_or_else(|e| e.into_inner());
    Ok(ledgers
        .entry(call.plant.clone())
        .or_default()
        .post_notification(&n.notification, &req))
}

/// The held state of a transaction, as the body checks read it.
pub(super) struct HeldLookup<'a> {
    pub st: &'a crate::erp::ErpState,
    pub md: &'a crate::masterdata::MasterData,
    pub plant: &'a andon_contracts::PlantId,
    pub today: NaiveDate,
}

impl Lookup for HeldLookup<'_> {
    fn base_unit(&self, material: &MaterialId) -> Option<Unit> {
        self.md
            .material_in(material, self.plant)
            .map(|m| m.base_unit.clone())
    }

    fn order_material(&self, order: &OrderId) -> Option<MaterialId> {
        self.st
            .orders
            .get(order)
            .filter(|r| &r.order.plant == self.plant)
            .map(|r| r.order.material.clone())
    }

    fn order_unit(&self, order: &OrderId) -> Option<Unit> {
        self.st
            .orders
            .get(order)
            .map(|r| r.order.planned_quantity.unit.clone())
    }

    fn today(&self) -> NaiveDate {
        self.today
    }
}
