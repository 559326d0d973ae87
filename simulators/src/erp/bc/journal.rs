//! The bodies the plant extension's API pages take, checked against the release's rules and
//! turned into the core's requests: an item journal line into a goods movement of one item,
//! an output journal line into a confirmation, a quality notification into one.
//!
//! Like Business Central, a property the page does not have is refused; release 25 requires
//! `postingDate` and `unitOfMeasureCode` on item journal lines (release 24 defaults them to
//! the business date and the item's base unit).

use andon_contracts::api::{
    ConfirmationRequest, GoodsMovementItem, GoodsMovementRequest, QualityNotificationRequest,
};
use andon_contracts::objects::StockType;
use andon_contracts::{
    BatchId, MaterialId, MovementTypeCode, OperationId, OrderId, PlantId, Quantity,
    StorageLocation, Unit,
};
use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::entities::{milli_of, status_of};
use super::error::BcError;

/// A body refused: the answer, and every violation as `pointer: message`.
pub type Refused = Box<(BcError, Vec<String>)>;

/// Whether release 25's changes are in force at `release`.
pub fn is_25(release: &str) -> bool {
    release >= "25"
}

/// What the checks need to know of the plant's master data and orders.
pub trait Lookup {
    /// The base unit of `material`, if the plant has it.
    fn base_unit(&self, material: &MaterialId) -> Option<Unit>;
    /// The material `order` makes, if the plant has the order.
    fn order_material(&self, order: &OrderId) -> Option<MaterialId>;
    /// The unit `order`'s quantities are in.
    fn order_unit(&self, order: &OrderId) -> Option<Unit>;
    /// Today's business date.
    fn today(&self) -> NaiveDate;
}

/// The properties of a body, read and checked.
struct Props<'a> {
    o: &'a Map<String, Value>,
    v: Vec<String>,
    refused: Option<BcError>,
}

impl<'a> Props<'a> {
    fn new(body: &'a Value, allowed: &[&str], required: &[&str]) -> Result<Self, Refused> {
        let Some(o) = body.as_object() else {
            let msg = "The request body must be a JSON object".to_string();
            return Err(Box::new((
                BcError::bad_request(msg.clone()),
                vec![format!("/: {msg}")],
            )));
        };
        let mut p = Self {
            o,
            v: Vec::new(),
            refused: None,
        };
        for k in o.keys().filter(|k| !k.starts_with('@')) {
            if !allowed.contains(&k.as_str()) {
                p.v.push(format!(
                    "/{k}: The property '{k}' does not exist on this entity"
                ));
            }
        }
        for r in required {
            if p.text(r).is_none() && !matches!(o.get(*r), Some(Value::Number(_) | Value::Bool(_)))
            {
                p.v.push(format!("/{r}: The property '{r}' is required"));
            }
        }
        Ok(p)
    }

    fn text(&self, k: &str) -> Option<&'a str> {
        self.o
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    fn bad(&mut self, k: &str, message: String) {
        self.v.push(format!("/{k}: {message}"));
    }

    /// A business refusal of a body that kept the page's shape (`order-required`,
    /// `movement-type`): answered with its own code, the body still counted valid.
    fn refuse(&mut self, e: BcError) {
        self.refused = Some(e);
    }

    /// `k` parsed by `parse`, a violation when it does not parse.
    fn parsed<T, E: std::fmt::Display>(
        &mut self,
        k: &str,
        parse: impl FnOnce(&'a str) -> Result<T, E>,
    ) -> Option<T> {
        let t = self.text(k)?;
        match parse(t) {
            Ok(x) => Some(x),
            Err(e) => {
                self.bad(k, format!("'{t}' is not valid: {e}"));
                None
            }
        }
    }

    fn date(&mut self, k: &str) -> Option<NaiveDate> {
        self.parsed(k, |t| NaiveDate::parse_from_str(t, "%Y-%m-%d"))
    }

    /// A quantity in thousandths; `positive`: above zero.
    fn amount(&mut self, k: &str, positive: bool) -> Option<i64> {
        let v = self.o.get(k)?;
        match milli_of(v) {
            Some(m) if !positive || m > 0 => Some(m),
            Some(_) => {
                self.bad(k, format!("The value of '{k}' must be greater than 0"));
                None
            }
            None => {
                self.bad(k, format!("The value of '{k}' must be a number"));
                None
            }
        }
    }

    fn done<T>(self, value: Option<T>) -> Result<T, Refused> {
        if let (None, Some(e)) = (self.v.first(), self.refused) {
            let why = vec![format!("/: {}", e.message)];
            return Err(Box::new((e, why)));
        }
        match (self.v.first(), value) {
            (None, Some(v)) => Ok(v),
            (first, _) => {
                let first = first
                    .cloned()
                    .unwrap_or_else(|| "/: The request is not valid".into());
                let message = first
                    .split_once(": ")
                    .map_or(first.as_str(), |(_, m)| m)
                    .to_string();
                let case = if message.contains("does not exist") {
                    "unknown-property"
                } else if message.contains("is required") || message.contains("needs") {
                    "required"
                } else if message.contains("exceeds") {
                    "too-long"
                } else {
                    "invalid-value"
                };
                let e = BcError::case("invalid-request", Some(case), message, "");
                Err(Box::new((e, self.v)))
            }
        }
    }
}

const ITEM_LINE: &[&str] = &[
    "documentNumber",
    "externalDocumentNumber",
    "postingDate",
    "entryType",
    "itemNumber",
    "locationCode",
    "lotNumber",
    "quantity",
    "unitOfMeasureCode",
    "orderNumber",
    "inventoryStatus",
    "newInventoryStatus",
    "newLocationCode",
    "description",
];

/// The movement type an item journal line amounts to (a transfer's statuses defaulted).
fn movement(
    entry: &str,
    from: Option<StockType>,
    to: Option<StockType>,
    relocate: bool,
) -> Option<&'static str> {
    use StockType::*;
    Some(match (entry, from, to, relocate) {
        ("Consumption", None, None, false) => "261",
        ("Sale", None, None, false) => "601",
        ("Transfer", Some(QualityInspection), Some(Unrestricted), false) => "321",
        ("Transfer", Some(QualityInspection), Some(Blocked), false) => "350",
        ("Transfer", Some(Unrestricted), Some(Blocked), false) => "344",
        ("Transfer", Some(Blocked), Some(Unrestricted), false) => "343",
        ("Transfer", Some(Unrestricted), Some(Unrestricted), true) => "311",
        _ => return None,
    })
}

/// An item journal line of `plant` as the goods movement (one item) it posts.
pub fn item_line(
    body: &Value,
    plant: &PlantId,
    release: &str,
    at: &dyn Lookup,
) -> Result<GoodsMovementRequest, Refused> {
    let mut required = vec![
        "documentNumber",
        "entryType",
        "itemNumber",
        "locationCode",
        "quantity",
    ];
    if is_25(release) {
        required.extend(["postingDate", "unitOfMeasureCode"]);
    }
    let mut p = Props::new(body, ITEM_LINE, &required)?;
    if p.text("documentNumber")
        .is_some_and(|d| d.chars().count() > 20)
    {
        p.bad(
            "documentNumber",
            "The length of 'documentNumber' exceeds 20 characters".into(),
        );
    }
    let material = p.parsed("itemNumber", MaterialId::parse);
    let location = p.parsed("locationCode", StorageLocation::parse);
    let batch = p.parsed("lotNumber", BatchId::parse);
    let milli = p.amount("quantity", true);
    let posting_date = p
        .date("postingDate")
        .or_else(|| (!is_25(release)).then(|| at.today()));
    let unit = p.parsed("unitOfMeasureCode", Unit::parse).or_else(|| {
        let base = material.as_ref().and_then(|m| at.base_unit(m));
        base.filter(|_| !is_25(release))
    });
    let order = p.parsed("orderNumber", OrderId::parse);
    let kind = entry_kind(&mut p, &order, &material, location.as_ref(), release, at);
    let item = (|| {
        let (mt, needs_order, relocate, new_location) = kind?;
        Some(GoodsMovementItem {
            movement_type: MovementTypeCode::parse(mt).ok()?,
            material: material?,
            plant: plant.clone(),
            storage_location: location?,
            batch,
            quantity: Quantity::from_milli(milli?, unit?),
            order: order.filter(|_| needs_order),
            reason_code: None,
            reversal_of: None,
            receiving_plant: relocate.then(|| plant.clone()),
            receiving_storage_location: new_location.filter(|_| relocate),
        })
    })();
    let req = (|| {
        Some(GoodsMovementRequest {
            posting_date: posting_date?,
            header_text: None,
            items: vec![item?],
            refs: Default::default(),
        })
    })();
    p.done(req)
}

/// What an item journal line's entry type, statuses, location and order amount to: the
/// movement type, whether it names its order, whether it moves to another location, and
/// that location. `None` (with the violation or refusal noted) when nothing.
fn entry_kind(
    p: &mut Props<'_>,
    order: &Option<OrderId>,
    material: &Option<MaterialId>,
    location: Option<&StorageLocation>,
    release: &str,
    at: &dyn Lookup,
) -> Option<(&'static str, bool, bool, Option<StorageLocation>)> {
    let entry = p.text("entryType").unwrap_or_default();
    let transfer = entry == "Transfer";
    for k in ["inventoryStatus", "newInventoryStatus", "newLocationCode"] {
        if !transfer && p.text(k).is_some() {
            p.bad(
                k,
                format!("The value of '{k}' is allowed on Transfer lines only"),
            );
        }
    }
    let from = status(p, "inventoryStatus").or(transfer.then_some(StockType::Unrestricted));
    let to = status(p, "newInventoryStatus").or(from);
    let new_location = p.parsed("newLocationCode", StorageLocation::parse);
    let relocate = new_location.as_ref().is_some_and(|n| Some(n) != location);
    let needs_order = matches!(entry, "Output" | "Consumption");
    if !needs_order && p.text("orderNumber").is_some() {
        p.bad(
            "orderNumber",
            format!("The value of 'orderNumber' is not allowed on {entry} lines"),
        );
    }
    let mt = match (entry, order, material) {
        ("Output", Some(o), Some(m)) => Some(if at.order_material(o).as_ref() == Some(m) {
            "101"
        } else {
            "531"
        }),
        ("Output", _, _) => None,
        _ => movement(
            entry,
            from.filter(|_| transfer),
            to.filter(|_| transfer),
            relocate,
        ),
    };
    if needs_order && order.is_none() {
        let msg = format!(
            "Order No. must have a value in Item Journal Line ({entry}). It cannot be zero or empty."
        );
        p.refuse(BcError::case("order-required", None, msg, release));
    } else if mt.is_none() && !entry.is_empty() && p.v.is_empty() {
        let msg = format!(
            "entryType '{entry}' cannot be posted with inventoryStatus {from:?}, newInventoryStatus {to:?} and newLocationCode {new_location:?}."
        );
        p.refuse(BcError::of("movement-type", msg, release));
    }
    Some((mt?, needs_order, relocate, new_location))
}

/// An inventory status property, a violation when it names none.
fn status(p: &mut Props<'_>, k: &str) -> Option<StockType> {
    let t = p.text(k)?;
    let s = status_of(t);
    if s.is_none() {
        p.bad(
            k,
            format!("'{t}' is not an inventory status: Unrestricted, QualityInspection or Blocked"),
        );
    }
    s
}

const OUTPUT_LINE: &[&str] = &[
    "documentNumber",
    "postingDate",
    "orderNumber",
    "operationNumber",
    "outputQuantity",
    "scrapQuantity",
    "unitOfMeasureCode",
    "finished",
    "workCenterNumber",
];

/// An output journal line of `plant` as the confirmation it posts.
pub fn output_line(
    body: &Value,
    plant: &PlantId,
    at: &dyn Lookup,
) -> Result<ConfirmationRequest, Refused> {
    let required = [
        "documentNumber",
        "postingDate",
        "orderNumber",
        "operationNumber",
        "outputQuantity",
        "scrapQuantity",
        "unitOfMeasureCode",
        "finished",
    ];
    let mut p = Props::new(body, OUTPUT_LINE, &required)?;
    let order = p.parsed("orderNumber", OrderId::parse);
    let operation = p.parsed("operationNumber", OperationId::parse);
    let output = p.amount("outputQuantity", false);
    let scrap = p.amount("scrapQuantity", false).or(Some(0));
    let posting_date = p.date("postingDate");
    let unit = p
        .parsed("unitOfMeasureCode", Unit::parse)
        .or_else(|| order.as_ref().and_then(|o| at.order_unit(o)));
    let finished = match p.o.get("finished") {
        None | Some(Value::Null) => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            p.bad(
                "finished",
                "The value of 'finished' must be true or false".into(),
            );
            None
        }
    };
    let req = (|| {
        let unit = unit?;
        Some(ConfirmationRequest {
            order: order?,
            operation: operation?,
            plant: plant.clone(),
            yield_: Quantity::from_milli(output?, unit.clone()),
            scrap: Quantity::from_milli(scrap?, unit),
            rework: None,
            final_: finished?,
            posting_date: posting_date?,
            work_center: None,
            refs: Default::default(),
        })
    })();
    p.done(req)
}

const NOTIFICATION: &[&str] = &[
    "nonconformanceNumber",
    "type",
    "itemNumber",
    "lotNumber",
    "defectCode",
    "description",
];

/// A quality notification of `plant` as the core's request.
pub fn notification(body: &Value, plant: &PlantId) -> Result<QualityNotificationRequest, Refused> {
    let required = [
        "nonconformanceNumber",
        "type",
        "itemNumber",
        "defectCode",
        "description",
    ];
    let mut p = Props::new(body, NOTIFICATION, &required)?;
    let material = p.parsed("itemNumber", MaterialId::parse);
    let batch = p.parsed("lotNumber", BatchId::parse);
    let text = |k: &str| p.text(k).map(str::to_string);
    let (nc, ty, defect, description) = (
        text("nonconformanceNumber"),
        text("type"),
        text("defectCode"),
        text("description"),
    );
    let req = (|| {
        Some(QualityNotificationRequest {
            nonconformance: nc?,
            type_: ty?,
            plant: plant.clone(),
            material: material?,
            batch,
            defect_code: defect?,
            text: description?,
            refs: Default::default(),
        })
    })();
    p.done(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Plant;
    impl Lookup for Plant {
        fn base_unit(&self, _: &MaterialId) -> Option<Unit> {
            Unit::parse("KG").ok()
        }
        fn order_material(&self, _: &OrderId) -> Option<MaterialId> {
            MaterialId::parse("FG-100").ok()
        }
        fn order_unit(&self, _: &OrderId) -> Option<Unit> {
            Unit::parse("PC").ok()
        }
        fn today(&self) -> NaiveDate {
            NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
        }
    }

    fn plant() -> PlantId {
        PlantId::parse("1000").unwrap()
    }

    fn line(entry: &str, extra: Value) -> Value {
        let mut b = json!({"documentNumber": "D1", "entryType": entry, "itemNumber": "FG-100",
            "locationCode": "0001", "quantity": 5, "postingDate": "2026-11-03", "unitOfMeasureCode": "KG"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    }

    fn mt(body: &Value) -> String {
        let r = item_line(body, &plant(), "25", &Plant)
            .map_err(|e| e.1)
            .unwrap();
        r.items[0].movement_type.as_str().to_string()
    }

    #[test]
    fn entry_types_and_statuses_name_the_movement_type() {
        assert_eq!(
            mt(&line("Output", json!({"orderNumber": "1000001"}))),
            "101"
        );
        assert_eq!(
            mt(&line(
                "Output",
                json!({"orderNumber": "1000001", "itemNumber": "BY-1"})
            )),
            "531"
        );
        assert_eq!(
            mt(&line("Consumption", json!({"orderNumber": "1000001"}))),
            "261"
        );
        assert_eq!(mt(&line("Sale", json!({}))), "601");
        let t = |a: &str, b: &str| {
            line(
                "Transfer",
                json!({"inventoryStatus": a, "newInventoryStatus": b}),
            )
        };
        assert_eq!(mt(&t("QualityInspection", "Unrestricted")), "321");
        assert_eq!(mt(&t("QualityInspection", "Blocked")), "350");
        assert_eq!(mt(&t("Unrestricted", "Blocked")), "344");
        assert_eq!(mt(&t("Blocked", "Unrestricted")), "343");
        assert_eq!(
            mt(&line("Transfer", json!({"newLocationCode": "0002"}))),
            "311"
        );
        assert!(item_line(&t("Blocked", "QualityInspection"), &plant(), "25", &Plant).is_err());
    }

    #[test]
    fn release_25_requires_what_24_defaults() {
        let mut b = line("Sale", json!({}));
        let o = b.as_object_mut().unwrap();
        o.remove("postingDate");
        o.remove("unitOfMeasureCode");
        let r = item_line(&b, &plant(), "24", &Plant)
            .map_err(|e| e.1)
            .unwrap();
        assert_eq!(r.posting_date, Plant.today());
        assert_eq!(r.items[0].quantity.unit.as_str(), "KG");
        let e = item_line(&b, &plant(), "25", &Plant).unwrap_err();
        assert_eq!(e.1.len(), 2, "{:?}", e.1);
        assert!(e.0.message.contains("postingDate"));
    }

    #[test]
    fn unknown_properties_and_bad_values_are_refused_each() {
        let b = line("Sale", json!({"movementType": "601", "quantity": -1}));
        let e = item_line(&b, &plant(), "24", &Plant).unwrap_err();
        assert!(e.1.iter().any(|v| v.starts_with("/movementType")));
        assert!(e.1.iter().any(|v| v.starts_with("/quantity")));
        let b = line("Sale", json!({"documentNumber": "X".repeat(21)}));
        assert!(item_line(&b, &plant(), "24", &Plant).is_err());
    }

    #[test]
    fn output_lines_are_confirmations() {
        let b = json!({"documentNumber": "C1", "postingDate": "2026-11-03", "orderNumber": "1000001",
            "operationNumber": "0010", "outputQuantity": 4, "scrapQuantity": 1, "finished": true,
            "unitOfMeasureCode": "PC"});
        let c = output_line(&b, &plant(), &Plant).map_err(|e| e.1).unwrap();
        assert_eq!(
            (c.yield_.milli, c.scrap.milli, c.final_),
            (4000, 1000, true)
        );
        assert_eq!(c.yield_.unit.as_str(), "PC");
    }

    #[test]
    fn notifications_need_their_natural_key() {
        let b =
            json!({"type": "Q2", "itemNumber": "FG-100", "defectCode": "D1", "description": "x"});
        let e = notification(&b, &plant()).unwrap_err();
        assert!(e.1[0].starts_with("/nonconformanceNumber"));
    }
}
