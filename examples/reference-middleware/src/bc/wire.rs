//! Business Central on the wire: the URLs below a plant's base (`/plant/{plant}`), OData v4
//! queries (`$filter` string literals, percent-encoded), decimals, and the entities read back
//! (production orders, manufacturing items, lot inventories) mapped to andon's objects. What
//! the middleware posts is in [`super::journal`].

use andon_contracts::api::{SourceRefs, WorkOrderCancellation, WorkOrderDownload};
use andon_contracts::objects::{
    OrderComponent, OrderOperation, StockRow, StockType, UnitConversion,
};
use andon_contracts::{
    BatchId, Material, MaterialId, OperationId, OrderId, PlantId, Quantity, StorageLocation, Unit,
};
use serde_json::Value;

use crate::command::seg;
use crate::fields::{parsed, text};

/// The standard API.
pub const STANDARD: &str = "api/v2.0";
/// The API of the plant's extension (publisher `andon`, group `manufacturing`).
pub const CUSTOM: &str = "api/andon/manufacturing/v1.0";

/// The plant's base below the ERP's root: `/plant/{plant}`.
pub fn base(plant: &PlantId) -> String {
    format!("/plant/{}", seg(plant.as_str()))
}

/// `GET api/v2.0/companies` of `plant`'s system.
pub fn companies(plant: &PlantId) -> String {
    format!("{}/{STANDARD}/companies", base(plant))
}

/// An entity set of company `cid` in the standard API.
pub fn standard(plant: &PlantId, cid: &str, set: &str) -> String {
    format!("{}/{STANDARD}/companies({})/{set}", base(plant), seg(cid))
}

/// An entity set of company `cid` in the extension's API.
pub fn custom(plant: &PlantId, cid: &str, set: &str) -> String {
    format!("{}/{CUSTOM}/companies({})/{set}", base(plant), seg(cid))
}

/// The extension API's `$batch` of `plant`'s system.
pub fn batch(plant: &PlantId) -> String {
    format!("{}/{CUSTOM}/$batch", base(plant))
}

/// `api/v2.0/subscriptions` of `plant`'s system.
pub fn subscriptions(plant: &PlantId) -> String {
    format!("{}/{STANDARD}/subscriptions", base(plant))
}

/// One subscription: `api/v2.0/subscriptions('{id}')`.
pub fn subscription(plant: &PlantId, id: &str) -> String {
    format!(
        "{}('{}')",
        subscriptions(plant),
        seg(&id.replace('\'', "''"))
    )
}

/// An OData v4 string literal: `'value'`, a quote doubled.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A `$filter` of `field eq 'value'` terms joined by `and`.
pub fn filter(terms: &[(&str, &str)]) -> String {
    terms
        .iter()
        .map(|(field, value)| format!("{field} eq {}", literal(value)))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Percent-encodes a query value: everything but unreserved characters and the comma of
/// `$expand` lists, so a space is `%20`, a quote `%27`, a slash `%2F`.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `path` with the query `pairs` (`$filter`, `$expand`; values percent-encoded).
pub fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// `GET` of one production order with its routing lines and components.
pub fn order_read(plant: &PlantId, cid: &str, id: &str) -> String {
    with_query(
        &custom(plant, cid, &format!("productionOrders({})", seg(id))),
        &[("$expand", "routingLines,components".into())],
    )
}

/// `GET` of one manufacturing item with its units of measure.
pub fn item_read(plant: &PlantId, cid: &str, id: &str) -> String {
    with_query(
        &custom(plant, cid, &format!("manufacturingItems({})", seg(id))),
        &[("$expand", "unitsOfMeasure".into())],
    )
}

/// `GET` of the manufacturing item numbered `material` (the material master look-up).
pub fn item_lookup(plant: &PlantId, cid: &str, material: &MaterialId) -> String {
    with_query(
        &custom(plant, cid, "manufacturingItems"),
        &[
            ("$filter", filter(&[("number", material.as_str())])),
            ("$expand", "unitsOfMeasure".into()),
        ],
    )
}

/// `GET` of the stock rows of one lot (the stock look-up).
pub fn lot_lookup(plant: &PlantId, cid: &str, material: &MaterialId, batch: &BatchId) -> String {
    with_query(
        &custom(plant, cid, "lotInventories"),
        &[(
            "$filter",
            filter(&[
                ("itemNumber", material.as_str()),
                ("lotNumber", batch.as_str()),
            ]),
        )],
    )
}

/// The rows of an OData v4 collection (`value`).
pub fn rows(collection: &Value) -> Result<&[Value], String> {
    collection
        .get("value")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| "no \"value\" array in the answer".into())
}

/// The id of the (one) company of `GET api/v2.0/companies`.
pub fn company_id(collection: &Value) -> Result<String, String> {
    rows(collection)?
        .first()
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "no company in the answer".into())
}

/// Thousandths of a decimal (a JSON number; a string from a lenient server). `None` when it
/// has more than 3 decimals.
pub fn milli(v: &Value) -> Option<i64> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    let (int, frac) = fraction(&text)?;
    if frac.len() > 3 {
        return None;
    }
    let m = i64::try_from(int)
        .ok()?
        .checked_mul(1000)?
        .checked_add(format!("{frac:0<3}").parse::<i64>().ok()?)?;
    Some(if text.starts_with('-') { -m } else { m })
}

/// The integer part and the significant decimals of a plain decimal text (`-12.500` →
/// (12, "5")).
fn fraction(text: &str) -> Option<(u64, String)> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.contains(['e', 'E']) {
        return decimal_of_float(digits.parse::<f64>().ok()?);
    }
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    if (int.is_empty() && frac.is_empty())
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole = if int.is_empty() { 0 } else { int.parse().ok()? };
    Some((whole, frac.to_string()))
}

/// A number written with an exponent (`1e-3`), as integer part and decimals.
fn decimal_of_float(f: f64) -> Option<(u64, String)> {
    let text = format!("{f:.9}");
    let (int, frac) = text.split_once('.')?;
    Some((int.parse().ok()?, frac.trim_end_matches('0').to_string()))
}

/// A decimal of thousandths as a JSON number (`12500` → `12.5`).
pub fn decimal(milli: i64) -> Value {
    serde_json::Number::from_f64(milli as f64 / 1000.0).map_or(Value::Null, Value::Number)
}

/// `qtyPerUnitOfMeasure` (base units per one unit, e.g. `0.001` for a gram of a kilogram
/// item) as andon's (`numerator` base units = `denominator` units), reduced.
pub fn ratio(v: &Value) -> Option<(u32, u32)> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    let (int, frac) = fraction(&text)?;
    let scale = 10u64.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let frac_value: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let num = int.checked_mul(scale)?.checked_add(frac_value)?;
    if num == 0 || text.starts_with('-') {
        return None;
    }
    let g = gcd(num, scale);
    Some((u32::try_from(num / g).ok()?, u32::try_from(scale / g).ok()?))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn quantity(e: &Value, amount: &str, unit: &str) -> Result<Quantity, String> {
    let m = e
        .get(amount)
        .and_then(milli)
        .ok_or_else(|| format!("{amount} is not a decimal of at most 3 places"))?;
    Ok(Quantity::from_milli(m, parsed(e, unit, Unit::parse)?))
}

/// A four-digit code (`operationNumber`, `lineNumber`): a string as it is, a number with
/// leading zeros (`10` → `0010`).
fn code4(e: &Value, k: &str) -> Result<String, String> {
    match e.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|v| format!("{v:04}"))
            .ok_or_else(|| format!("{k} is not a whole number")),
        _ => Err(format!("{k} is missing")),
    }
}

fn list<'a>(e: &'a Value, nav: &str) -> &'a [Value] {
    e.get(nav)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A production order read back (with routing lines and components) as the work order MES
/// downloads, for `plant`, naming `refs` (the notification it came from).
pub fn work_order(
    e: &Value,
    plant: &PlantId,
    refs: &SourceRefs,
) -> Result<WorkOrderDownload, String> {
    let operations = list(e, "routingLines")
        .iter()
        .map(|op| {
            Ok(OrderOperation {
                operation: OperationId::parse(code4(op, "operationNumber")?)
                    .map_err(|err| format!("operationNumber: {err}"))?,
                work_center: text(op, "workCenterNumber")?.to_string(),
                description: short(text(op, "description").unwrap_or(""), 40),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let components = list(e, "components")
        .iter()
        .map(|c| {
            Ok(OrderComponent {
                reservation_item: code4(c, "lineNumber")?,
                material: parsed(c, "itemNumber", MaterialId::parse)?,
                quantity: quantity(c, "quantity", "unitOfMeasureCode")?,
                storage_location: parsed(c, "locationCode", StorageLocation::parse)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(WorkOrderDownload {
        order: parsed(e, "number", OrderId::parse)?,
        plant: plant.clone(),
        material: parsed(e, "itemNumber", MaterialId::parse)?,
        planned_quantity: quantity(e, "quantity", "unitOfMeasureCode")?,
        storage_location: parsed(e, "locationCode", StorageLocation::parse)?,
        operations,
        components,
        refs: refs.clone(),
    })
}

/// The order number of a production order read back.
pub fn order_number(e: &Value) -> Result<OrderId, String> {
    parsed(e, "number", OrderId::parse)
}

/// Whether a production order read back is cancelled (the extension's flag).
pub fn is_cancelled(e: &Value) -> bool {
    e.get("cancelled") == Some(&Value::Bool(true))
}

/// The cancellation of a production order that reads `cancelled: true`.
pub fn cancellation(refs: &SourceRefs) -> WorkOrderCancellation {
    WorkOrderCancellation {
        reason: "Production order cancelled in Business Central".into(),
        refs: refs.clone(),
    }
}

/// The first `n` characters of `s`.
pub fn short(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// A manufacturing item read back (with units of measure) as andon's material master of
/// `plant`.
pub fn material(e: &Value, plant: &PlantId) -> Result<Material, String> {
    let base_unit = parsed(e, "baseUnitOfMeasureCode", Unit::parse)?;
    let mut alternative_units = Vec::new();
    for u in list(e, "unitsOfMeasure") {
        let unit = parsed(u, "code", Unit::parse)?;
        if unit == base_unit {
            continue;
        }
        let (numerator, denominator) = u
            .get("qtyPerUnitOfMeasure")
            .and_then(ratio)
            .ok_or_else(|| format!("qtyPerUnitOfMeasure of {unit} is not a positive decimal"))?;
        alternative_units.push(UnitConversion {
            unit,
            numerator,
            denominator,
        });
    }
    let flag = |k: &str, default: bool| e.get(k).and_then(Value::as_bool).unwrap_or(default);
    Ok(Material {
        material: parsed(e, "number", MaterialId::parse)?,
        description: short(text(e, "displayName").unwrap_or(""), 40),
        base_unit,
        alternative_units,
        batch_managed: flag("lotTracked", true),
        inspection_required: flag("inspectionRequired", false),
        plants: vec![plant.clone()],
    })
}

/// The first item of a `manufacturingItems?$filter=…` answer.
pub fn first(collection: &Value) -> Result<Option<&Value>, String> {
    Ok(rows(collection)?.first())
}

/// A stock status of the extension as andon's stock type.
pub fn stock_type(status: &str) -> Option<StockType> {
    match status {
        "Unrestricted" => Some(StockType::Unrestricted),
        "QualityInspection" => Some(StockType::QualityInspection),
        "Blocked" => Some(StockType::Blocked),
        _ => None,
    }
}

/// The status name of an andon stock type.
pub fn status_name(t: StockType) -> &'static str {
    match t {
        StockType::Unrestricted => "Unrestricted",
        StockType::QualityInspection => "QualityInspection",
        StockType::Blocked => "Blocked",
    }
}

/// `lotInventories` rows as andon's stock rows of `plant`; rows of statuses andon does not
/// know are left out.
pub fn stock_rows(collection: &Value, plant: &PlantId) -> Result<Vec<StockRow>, String> {
    let mut out = Vec::new();
    for r in rows(collection)? {
        let Some(stock_type) = stock_type(text(r, "inventoryStatus")?) else {
            continue;
        };
        let lot = text(r, "lotNumber").unwrap_or("");
        out.push(StockRow {
            plant: plant.clone(),
            storage_location: parsed(r, "locationCode", StorageLocation::parse)?,
            material: parsed(r, "itemNumber", MaterialId::parse)?,
            batch: (!lot.is_empty())
                .then(|| BatchId::parse(lot.to_string()))
                .transpose()
                .map_err(|e| format!("lotNumber {lot:?}: {e}"))?,
            stock_type,
            quantity: quantity(r, "quantity", "unitOfMeasureCode")?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
