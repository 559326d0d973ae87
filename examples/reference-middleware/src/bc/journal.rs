//! andon's ERP requests on a Business Central system: goods movements, confirmations and
//! quality notifications translated into the journal-line and quality-notification inserts
//! of the plant's extension API, each with its natural key (`documentNumber`, derived from
//! the command's idempotency key; the nonconformance number) and the ledger query that
//! finds it again.

use andon_contracts::PlantId;
use andon_contracts::api::{
    ConfirmationRequest, GoodsMovementItem, GoodsMovementRequest, QualityNotificationRequest,
};
use andon_contracts::objects::StockType;
use serde_json::{Map, Value, json};

use super::wire::{custom, decimal, filter, rows, short, standard, status_name, with_query};

/// The longest `documentNumber` (Code[20]).
pub const DOCUMENT_NUMBER_MAX: usize = 20;
/// The longest `externalDocumentNumber` (Code[35]).
const EXTERNAL_DOCUMENT_MAX: usize = 35;

/// How a posting is found again by its natural key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `api/v2.0/…/itemLedgerEntries?$filter=documentNumber eq '…'`.
    ItemLedger(String),
    /// `…/capacityLedgerEntries?$filter=documentNumber eq '…'` (extension).
    CapacityLedger(String),
    /// `…/qualityNotifications?$filter=nonconformanceNumber eq '…'` (extension).
    QualityNotification(String),
}

impl Check {
    /// The `GET` that finds the posting in company `cid` of `plant`'s system.
    pub fn query(&self, plant: &PlantId, cid: &str) -> String {
        let (path, field, value) = match self {
            Self::ItemLedger(d) => (
                standard(plant, cid, "itemLedgerEntries"),
                "documentNumber",
                d,
            ),
            Self::CapacityLedger(d) => (
                custom(plant, cid, "capacityLedgerEntries"),
                "documentNumber",
                d,
            ),
            Self::QualityNotification(n) => (
                custom(plant, cid, "qualityNotifications"),
                "nonconformanceNumber",
                n,
            ),
        };
        with_query(&path, &[("$filter", filter(&[(field, value)]))])
    }
}

/// Whether a ledger query's answer found the posting.
pub fn found(collection: &Value) -> Result<bool, String> {
    Ok(!rows(collection)?.is_empty())
}

/// One insert an ERP command becomes on a Business Central system.
#[derive(Debug, Clone, PartialEq)]
pub struct Posting {
    /// The extension's entity set (`itemJournalLines`).
    pub set: &'static str,
    /// The body.
    pub body: Value,
    /// How it is found again.
    pub check: Check,
}

/// The `documentNumber` of item `index` of the command keyed `key`: `AN-` and the first 16
/// hex digits (upper case) of SHA-256(`key|index`); 19 characters, the same on every retry.
pub fn document_number(key: &str, index: usize) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{key}|{index}"));
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02X}")).collect();
    format!("AN-{hex}")
}

/// Translates the andon request `body` of the ERP command at `path`, keyed `key`, into the
/// inserts a Business Central system takes; `Err` when it cannot be (a movement type
/// Business Central has no journal for, a body that cannot be read).
pub fn outbound(path: &str, body: &Value, key: &str) -> Result<Vec<Posting>, String> {
    match path {
        "/api/v1/material-documents" => {
            let r: GoodsMovementRequest =
                serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
            if r.items.is_empty() {
                return Err("a goods movement without items".into());
            }
            r.items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let doc = document_number(key, i);
                    Ok(Posting {
                        set: "itemJournalLines",
                        body: journal_line(item, &r, &doc)?,
                        check: Check::ItemLedger(doc),
                    })
                })
                .collect()
        }
        "/api/v1/confirmations" => {
            let r: ConfirmationRequest =
                serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
            let doc = document_number(key, 0);
            Ok(vec![Posting {
                set: "outputJournalLines",
                body: output_line(&r, &doc)?,
                check: Check::CapacityLedger(doc),
            }])
        }
        "/api/v1/quality-notifications" => {
            let r: QualityNotificationRequest =
                serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
            Ok(vec![Posting {
                set: "qualityNotifications",
                body: quality_notification(&r),
                check: Check::QualityNotification(r.nonconformance.clone()),
            }])
        }
        other => Err(format!("no Business Central translation of {other}")),
    }
}

/// The stock statuses a transfer moves between (from, to).
pub type Statuses = (StockType, StockType);

/// What a movement type is in an item journal: the entry type and, for a transfer between
/// statuses, the statuses (`None` for a transfer between locations).
pub fn entry_of(movement_type: &str) -> Result<(&'static str, Option<Statuses>), String> {
    use StockType::{Blocked, QualityInspection, Unrestricted};
    Ok(match movement_type {
        "101" | "531" => ("Output", None),
        "261" => ("Consumption", None),
        "601" => ("Sale", None),
        "321" => ("Transfer", Some((QualityInspection, Unrestricted))),
        "350" => ("Transfer", Some((QualityInspection, Blocked))),
        "344" => ("Transfer", Some((Unrestricted, Blocked))),
        "343" => ("Transfer", Some((Blocked, Unrestricted))),
        "311" => ("Transfer", None),
        other => {
            return Err(format!(
                "movement type {other} has no item journal in Business Central"
            ));
        }
    })
}

/// One item of a goods movement as an `itemJournalLines` insert. `postingDate` and
/// `unitOfMeasureCode` are always sent (release 25 requires them; 24 would default them).
pub fn journal_line(
    item: &GoodsMovementItem,
    r: &GoodsMovementRequest,
    document_number: &str,
) -> Result<Value, String> {
    let movement = item.movement_type.as_str();
    let (entry, statuses) = entry_of(movement)?;
    if item
        .receiving_plant
        .as_ref()
        .is_some_and(|p| *p != item.plant)
    {
        return Err(format!(
            "movement type {movement} to another plant: one company per plant"
        ));
    }
    let mut line = Map::new();
    line.insert("documentNumber".into(), json!(document_number));
    if let Some(t) = r.header_text.as_deref().filter(|t| !t.is_empty()) {
        line.insert(
            "externalDocumentNumber".into(),
            json!(short(t, EXTERNAL_DOCUMENT_MAX)),
        );
    }
    line.insert("postingDate".into(), json!(r.posting_date.to_string()));
    line.insert("entryType".into(), json!(entry));
    line.insert("itemNumber".into(), json!(item.material.as_str()));
    line.insert("locationCode".into(), json!(item.storage_location.as_str()));
    if let Some(b) = &item.batch {
        line.insert("lotNumber".into(), json!(b.as_str()));
    }
    line.insert("quantity".into(), decimal(item.quantity.milli));
    line.insert(
        "unitOfMeasureCode".into(),
        json!(item.quantity.unit.as_str()),
    );
    if matches!(entry, "Output" | "Consumption")
        && let Some(o) = &item.order
    {
        line.insert("orderNumber".into(), json!(o.as_str()));
    }
    match (movement, statuses) {
        ("311", _) => {
            let to = item
                .receiving_storage_location
                .as_ref()
                .ok_or("movement type 311 without a receiving storage location")?;
            line.insert("newLocationCode".into(), json!(to.as_str()));
        }
        (_, Some((from, to))) => {
            line.insert("inventoryStatus".into(), json!(status_name(from)));
            line.insert("newInventoryStatus".into(), json!(status_name(to)));
        }
        _ => {}
    }
    Ok(Value::Object(line))
}

/// A confirmation as an `outputJournalLines` insert (`postingDate` always). Business Central
/// has no rework quantity on an output journal line; it is not sent.
pub fn output_line(r: &ConfirmationRequest, document_number: &str) -> Result<Value, String> {
    if r.scrap.milli != 0 && r.scrap.unit != r.yield_.unit {
        return Err(format!(
            "scrap in {} and yield in {}: an output journal line has one unit",
            r.scrap.unit, r.yield_.unit
        ));
    }
    Ok(json!({
        "documentNumber": document_number,
        "postingDate": r.posting_date.to_string(),
        "orderNumber": r.order.as_str(),
        "operationNumber": r.operation.as_str(),
        "outputQuantity": decimal(r.yield_.milli),
        "scrapQuantity": decimal(r.scrap.milli),
        "unitOfMeasureCode": r.yield_.unit.as_str(),
        "finished": r.final_,
    }))
}

/// A quality notification as a `qualityNotifications` insert, keyed by the nonconformance
/// number of the system that found the defect; `lotNumber` only when there is one.
pub fn quality_notification(r: &QualityNotificationRequest) -> Value {
    let mut n = json!({
        "nonconformanceNumber": r.nonconformance,
        "type": r.type_,
        "itemNumber": r.material.as_str(),
        "defectCode": r.defect_code,
        "description": r.text,
    });
    if let Some(b) = &r.batch {
        n["lotNumber"] = json!(b.as_str());
    }
    n
}

#[cfg(test)]
mod tests;
