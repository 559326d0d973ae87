//! The S/4HANA create bodies read and checked against the release's rules, then turned into
//! the core's requests: a material document's deep insert into a goods movement, a
//! production order confirmation into a confirmation.
//!
//! Like SAP Gateway, a property the entity type does not have is refused ("Property 'X' is
//! invalid"); each release adds its own required properties (2502: `EntryUnitISOCode` on
//! every item, `PostingDate` on confirmations).

use andon_contracts::api::{
    ConfirmationRequest, GoodsMovementItem, GoodsMovementRequest, QualityNotificationRequest,
};
use andon_contracts::{
    BatchId, MaterialId, MovementTypeCode, OperationId, OrderId, PlantId, Quantity,
    StorageLocation, Unit,
};
use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::error::SapError;
use super::odata::{parse_date, parse_decimal};
use super::units;

/// Release 2502's changes are in force at `release`.
pub(super) fn is_2502(release: &str) -> bool {
    release >= "2502"
}

/// A body refused: SAP's answer, and every violation as `pointer: message`.
pub type Refused = Box<(SapError, Vec<String>)>;

/// What a body check found: every violation as `pointer: message`.
#[derive(Debug, Default)]
pub struct Violations(pub Vec<String>);

impl Violations {
    fn push(&mut self, pointer: &str, message: impl Into<String>) {
        self.0.push(format!("{pointer}: {}", message.into()));
    }

    /// The first violation as SAP's 400, or `Ok`.
    fn into_result(self) -> Result<(), Refused> {
        match self.0.first() {
            None => Ok(()),
            Some(first) => {
                let (target, message) = first.split_once(": ").unwrap_or(("", first));
                Err(Box::new((
                    SapError::bad_request(message.to_string()).at(target.to_string()),
                    self.0,
                )))
            }
        }
    }
}

/// Reads the properties of `o` at `at` against `allowed` and `required`; the values
/// asked for come back as text (decimals and dates parsed by the caller).
struct Props<'a> {
    o: &'a Map<String, Value>,
    at: String,
}

impl<'a> Props<'a> {
    fn check(&self, v: &mut Violations, allowed: &[&str], required: &[&str]) {
        for k in self.o.keys() {
            if k != "__metadata" && !allowed.contains(&k.as_str()) {
                v.push(
                    &format!("{}/{k}", self.at),
                    format!("Property '{k}' is invalid"),
                );
            }
        }
        for r in required {
            let missing = match self.o.get(*r) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if missing {
                v.push(
                    &format!("{}/{r}", self.at),
                    format!("Property '{r}' is required"),
                );
            }
        }
    }

    /// Property `k` parsed by `f`, a violation when it does not parse.
    fn parsed<T>(
        &self,
        v: &mut Violations,
        k: &str,
        f: impl Fn(String) -> Result<T, andon_contracts::IdError>,
    ) -> Option<T> {
        id(v, &format!("{}/{k}", self.at), self.opt(k), f)
    }

    fn text(&self, k: &str) -> Option<&'a str> {
        self.o.get(k).and_then(Value::as_str)
    }

    fn opt(&self, k: &str) -> Option<String> {
        self.text(k).filter(|s| !s.is_empty()).map(str::to_string)
    }

    fn decimal(&self, v: &mut Violations, k: &str) -> Option<i64> {
        let raw = self.o.get(k)?;
        let m = parse_decimal(raw);
        if m.is_none() {
            v.push(
                &format!("{}/{k}", self.at),
                format!("Invalid value for '{k}': expected Edm.Decimal with at most 3 decimals"),
            );
        }
        m
    }

    fn date(&self, v: &mut Violations, k: &str) -> Option<NaiveDate> {
        let raw = self.text(k)?;
        let d = parse_date(raw);
        if d.is_none() {
            v.push(
                &format!("{}/{k}", self.at),
                format!("Invalid value '{raw}' for '{k}': expected Edm.DateTime (/Date(ms)/)"),
            );
        }
        d
    }
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, Refused> {
    v.as_object().ok_or_else(|| {
        let m = "The body must be a JSON object".to_string();
        Box::new((
            SapError::bad_request(m.clone()).at(at),
            vec![format!("{at}: {m}")],
        ))
    })
}

fn id<T>(
    v: &mut Violations,
    at: &str,
    raw: Option<String>,
    f: impl Fn(String) -> Result<T, andon_contracts::IdError>,
) -> Option<T> {
    let raw = raw?;
    match f(raw.clone()) {
        Ok(x) => Some(x),
        Err(e) => {
            v.push(at, format!("Invalid value '{raw}': {e}"));
            None
        }
    }
}

const HEADER_PROPS: &[&str] = &[
    "GoodsMovementCode",
    "PostingDate",
    "DocumentDate",
    "MaterialDocumentHeaderText",
    "ReferenceDocument",
    "to_MaterialDocumentItem",
];

const ITEM_PROPS: &[&str] = &[
    "Material",
    "Plant",
    "StorageLocation",
    "Batch",
    "GoodsMovementType",
    "QuantityInEntryUnit",
    "EntryUnit",
    "ManufacturingOrder",
    "IssuingOrReceivingPlant",
    "IssuingOrReceivingStorageLoc",
    "MaterialDocumentItemText",
    "GoodsMovementRefDocType",
];

/// The GoodsMovementCodes a movement type may be posted with (`None`: any).
fn codes_for(movement: &str) -> Option<&'static [&'static str]> {
    Some(match movement {
        "101" | "102" => &["02"],
        "531" | "532" => &["02", "05"],
        "261" | "262" | "201" | "202" | "551" | "552" | "601" => &["03"],
        "301" | "311" | "321" | "343" | "344" | "350" => &["04"],
        _ => return None,
    })
}

/// A material document's deep insert (`POST A_MaterialDocumentHeader`) as a goods movement
/// for `plant` at `release`; `Err` carries SAP's answer and every violation.
pub fn goods_movement(
    body: &Value,
    plant: &PlantId,
    release: &str,
) -> Result<GoodsMovementRequest, Refused> {
    let o = object(body, "")?;
    let h = Props {
        o,
        at: String::new(),
    };
    let mut v = Violations::default();
    h.check(
        &mut v,
        HEADER_PROPS,
        &[
            "GoodsMovementCode",
            "PostingDate",
            "to_MaterialDocumentItem",
        ],
    );
    let posting_date = h.date(&mut v, "PostingDate");
    let code = h.opt("GoodsMovementCode").unwrap_or_default();
    let raw_items = match o.get("to_MaterialDocumentItem") {
        Some(Value::Array(a)) => a.as_slice(),
        Some(Value::Object(r)) => r
            .get("results")
            .and_then(Value::as_array)
            .map_or(&[][..], |a| a.as_slice()),
        _ => &[],
    };
    if raw_items.is_empty() && o.contains_key("to_MaterialDocumentItem") {
        v.push(
            "/to_MaterialDocumentItem",
            "A material document needs at least one item",
        );
    }
    let mut items = Vec::new();
    for (i, raw) in raw_items.iter().enumerate() {
        let at = format!("/to_MaterialDocumentItem/results/{i}");
        match raw.as_object() {
            Some(io) => items.extend(item(&mut v, Props { o: io, at }, plant, release, &code)),
            None => v.push(&at, "An item must be a JSON object"),
        }
    }
    v.into_result()?;
    Ok(GoodsMovementRequest {
        posting_date: posting_date.unwrap_or_default(),
        header_text: h.opt("MaterialDocumentHeaderText"),
        items,
        refs: Default::default(),
    })
}

/// The properties an item may have and those it must have, per release.
fn item_props(new: bool) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut allowed = ITEM_PROPS.to_vec();
    let mut required = vec![
        "Material",
        "Plant",
        "StorageLocation",
        "GoodsMovementType",
        "QuantityInEntryUnit",
    ];
    let unit = if new { "EntryUnitISOCode" } else { "EntryUnit" };
    if new {
        allowed.push(unit);
    }
    required.push(unit);
    (allowed, required)
}

/// One item of the deep insert.
fn item(
    v: &mut Violations,
    p: Props<'_>,
    plant: &PlantId,
    release: &str,
    code: &str,
) -> Option<GoodsMovementItem> {
    let new = is_2502(release);
    let (allowed, required) = item_props(new);
    p.check(v, &allowed, &required);
    let at = |k: &str| format!("{}/{k}", p.at);
    let movement = p.parsed(v, "GoodsMovementType", MovementTypeCode::parse)?;
    if let Some(codes) = codes_for(movement.as_str())
        && !codes.contains(&code)
    {
        v.push(
            "/GoodsMovementCode",
            format!(
                "GoodsMovementCode '{code}' does not fit movement type {movement}: expected {}",
                codes.join(" or ")
            ),
        );
    }
    let item_plant = p.parsed(v, "Plant", PlantId::parse)?;
    if &item_plant != plant {
        v.push(
            &at("Plant"),
            format!("Plant {item_plant} is not a plant of this system (plant {plant})"),
        );
    }
    let unit = entry_unit(v, &p, new)?;
    let milli = p.decimal(v, "QuantityInEntryUnit")?;
    Some(GoodsMovementItem {
        movement_type: movement,
        material: p.parsed(v, "Material", MaterialId::parse)?,
        plant: item_plant,
        storage_location: p.parsed(v, "StorageLocation", StorageLocation::parse)?,
        batch: p.parsed(v, "Batch", BatchId::parse),
        quantity: Quantity::from_milli(milli, unit),
        order: p.parsed(v, "ManufacturingOrder", OrderId::parse),
        reason_code: None,
        reversal_of: None,
        receiving_plant: p.parsed(v, "IssuingOrReceivingPlant", PlantId::parse),
        receiving_storage_location: p.parsed(
            v,
            "IssuingOrReceivingStorageLoc",
            StorageLocation::parse,
        ),
    })
}

/// The unit of entry: `EntryUnit` (2408), `EntryUnitISOCode` (2502; `EntryUnit`, when also
/// sent, must name the same unit).
fn entry_unit(v: &mut Violations, p: &Props<'_>, new: bool) -> Option<Unit> {
    let at = |k: &str| format!("{}/{k}", p.at);
    let sap = p.opt("EntryUnit");
    if !new {
        return id(v, &at("EntryUnit"), sap, Unit::parse);
    }
    let iso = p.opt("EntryUnitISOCode")?;
    let Some(from_iso) = units::sap_of(&iso) else {
        v.push(
            &at("EntryUnitISOCode"),
            format!("Unit of measure with ISO code '{iso}' is not defined"),
        );
        return None;
    };
    if let Some(s) = &sap
        && s != from_iso
    {
        v.push(
            &at("EntryUnit"),
            format!("EntryUnit '{s}' and EntryUnitISOCode '{iso}' name different units"),
        );
        return None;
    }
    id(
        v,
        &at("EntryUnitISOCode"),
        Some(from_iso.to_string()),
        Unit::parse,
    )
}

const CONFIRMATION_PROPS: &[&str] = &[
    "OrderID",
    "OrderOperation",
    "Sequence",
    "WorkCenter",
    "Plant",
    "FinalConfirmationType",
    "ConfirmationUnit",
    "ConfirmationYieldQuantity",
    "ConfirmationScrapQuantity",
    "ConfirmationReworkQuantity",
    "PostingDate",
    "ConfirmationText",
];

/// A production order confirmation (`POST ProdnOrdConf2`) for `plant` at `release`; the
/// order's plant is the core's to check. `today` is the posting date 2408 defaults to.
pub fn confirmation(
    body: &Value,
    plant: &PlantId,
    release: &str,
    today: NaiveDate,
) -> Result<ConfirmationRequest, Refused> {
    let o = object(body, "")?;
    let p = Props {
        o,
        at: String::new(),
    };
    let mut v = Violations::default();
    let mut required = vec![
        "OrderID",
        "OrderOperation",
        "ConfirmationUnit",
        "ConfirmationYieldQuantity",
    ];
    if is_2502(release) {
        required.push("PostingDate");
    }
    p.check(&mut v, CONFIRMATION_PROPS, &required);
    let final_ = match p.text("FinalConfirmationType").unwrap_or("") {
        "" => false,
        "X" => true,
        other => {
            v.push(
                "/FinalConfirmationType",
                format!("Invalid value '{other}' for 'FinalConfirmationType': expected '' or 'X'"),
            );
            false
        }
    };
    if let Some(pl) = p.opt("Plant")
        && pl != plant.as_str()
    {
        v.push(
            "/Plant",
            format!("Plant {pl} is not a plant of this system (plant {plant})"),
        );
    }
    let unit = id(
        &mut v,
        "/ConfirmationUnit",
        p.opt("ConfirmationUnit"),
        Unit::parse,
    );
    let yield_ = p.decimal(&mut v, "ConfirmationYieldQuantity");
    let scrap = p.decimal(&mut v, "ConfirmationScrapQuantity").unwrap_or(0);
    let rework = p.decimal(&mut v, "ConfirmationReworkQuantity");
    let posting_date = p.date(&mut v, "PostingDate");
    let order = id(&mut v, "/OrderID", p.opt("OrderID"), OrderId::parse);
    let operation = id(
        &mut v,
        "/OrderOperation",
        p.opt("OrderOperation"),
        OperationId::parse,
    );
    v.into_result()?;
    let (Some(unit), Some(yield_), Some(order), Some(operation)) = (unit, yield_, order, operation)
    else {
        return Err(Box::new((
            SapError::bad_request("Incomplete confirmation"),
            vec!["/: incomplete".into()],
        )));
    };
    Ok(ConfirmationRequest {
        order,
        operation,
        plant: plant.clone(),
        yield_: Quantity::from_milli(yield_, unit.clone()),
        scrap: Quantity::from_milli(scrap, unit.clone()),
        rework: rework.map(|r| Quantity::from_milli(r, unit)),
        final_,
        posting_date: posting_date.unwrap_or(today),
        work_center: p.opt("WorkCenter"),
        refs: Default::default(),
    })
}

const NOTIFICATION_PROPS: &[&str] = &[
    "NotificationType",
    "NotificationText",
    "Material",
    "Plant",
    "Batch",
    "DefectCode",
    "ExternalReference",
];

/// A quality notification (`POST A_QualityNotification`) for `plant`: `ExternalReference`
/// is the nonconformance that found the defect.
pub fn quality_notification(
    body: &Value,
    plant: &PlantId,
) -> Result<QualityNotificationRequest, Refused> {
    let o = object(body, "")?;
    let p = Props {
        o,
        at: String::new(),
    };
    let mut v = Violations::default();
    p.check(
        &mut v,
        NOTIFICATION_PROPS,
        &[
            "NotificationType",
            "Material",
            "Plant",
            "DefectCode",
            "ExternalReference",
        ],
    );
    let item_plant = p.parsed(&mut v, "Plant", PlantId::parse);
    if item_plant.as_ref().is_some_and(|x| x != plant) {
        v.push(
            "/Plant",
            format!(
                "Plant {} is not a plant of this system (plant {plant})",
                p.opt("Plant").unwrap_or_default()
            ),
        );
    }
    let material = p.parsed(&mut v, "Material", MaterialId::parse);
    let batch = p.parsed(&mut v, "Batch", BatchId::parse);
    v.into_result()?;
    let Some(material) = material else {
        return Err(Box::new((
            SapError::bad_request("Incomplete notification"),
            vec!["/: incomplete".into()],
        )));
    };
    Ok(QualityNotificationRequest {
        nonconformance: p.opt("ExternalReference").unwrap_or_default(),
        type_: p.opt("NotificationType").unwrap_or_default(),
        plant: plant.clone(),
        material,
        batch,
        defect_code: p.opt("DefectCode").unwrap_or_default(),
        text: p.opt("NotificationText").unwrap_or_default(),
        refs: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plant() -> PlantId {
        PlantId::parse("1000").unwrap()
    }

    fn issue(unit_field: (&str, &str)) -> Value {
        let mut item = json!({"Material": "RM-1000-01", "Plant": "1000", "StorageLocation": "0001",
            "Batch": "B1", "GoodsMovementType": "261", "QuantityInEntryUnit": "2.5",
            "ManufacturingOrder": "1000001"});
        item[unit_field.0] = json!(unit_field.1);
        json!({"GoodsMovementCode": "03", "PostingDate": "/Date(1796515200000)/",
               "to_MaterialDocumentItem": {"results": [item]}})
    }

    #[test]
    fn a_deep_insert_becomes_a_goods_movement() {
        let gm = goods_movement(&issue(("EntryUnit", "KG")), &plant(), "2408").unwrap();
        let it = &gm.items[0];
        assert_eq!(it.movement_type.as_str(), "261");
        assert_eq!((it.quantity.milli, it.quantity.unit.as_str()), (2500, "KG"));
        assert_eq!(it.order.as_ref().map(|o| o.as_str()), Some("1000001"));
        assert_eq!(
            gm.posting_date,
            NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()
        );
    }

    #[test]
    fn release_2502_requires_the_iso_unit_and_2408_does_not_know_it() {
        let (e, v) = *goods_movement(&issue(("EntryUnit", "KG")), &plant(), "2502").unwrap_err();
        assert!(e.message.contains("EntryUnitISOCode"), "{e:?}");
        assert!(v[0].starts_with("/to_MaterialDocumentItem/results/0/EntryUnitISOCode"));
        let gm = goods_movement(&issue(("EntryUnitISOCode", "KGM")), &plant(), "2502").unwrap();
        assert_eq!(gm.items[0].quantity.unit.as_str(), "KG");
        let (e, _) =
            *goods_movement(&issue(("EntryUnitISOCode", "KGM")), &plant(), "2408").unwrap_err();
        assert!(
            e.message.contains("Property 'EntryUnitISOCode' is invalid"),
            "{e:?}"
        );
    }

    #[test]
    fn another_plant_and_a_wrong_movement_code_are_refused() {
        let mut b = issue(("EntryUnit", "KG"));
        b["to_MaterialDocumentItem"]["results"][0]["Plant"] = json!("2000");
        assert!(
            goods_movement(&b, &plant(), "2408")
                .unwrap_err()
                .0
                .message
                .contains("not a plant of this system")
        );
        let mut b = issue(("EntryUnit", "KG"));
        b["GoodsMovementCode"] = json!("02");
        assert!(
            goods_movement(&b, &plant(), "2408")
                .unwrap_err()
                .0
                .message
                .contains("does not fit movement type 261")
        );
    }

    #[test]
    fn a_confirmation_defaults_its_posting_date_only_in_2408() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let b = json!({"OrderID": "1000001", "OrderOperation": "0010", "ConfirmationUnit": "PC",
                       "ConfirmationYieldQuantity": "10", "FinalConfirmationType": "X"});
        let c = confirmation(&b, &plant(), "2408", today).unwrap();
        assert_eq!(
            (c.posting_date, c.final_, c.yield_.milli),
            (today, true, 10_000)
        );
        let (e, _) = *confirmation(&b, &plant(), "2502", today).unwrap_err();
        assert!(e.message.contains("'PostingDate' is required"), "{e:?}");
    }
}
