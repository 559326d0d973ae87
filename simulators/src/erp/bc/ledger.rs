//! What Business Central writes when a journal line is posted through the dialect: item
//! ledger entries (by `documentNumber`, the natural key a middleware reads back by),
//! capacity ledger entries of output lines, and quality notifications as created. Kept per
//! plant beside the core, which holds the business effects themselves.

use std::collections::BTreeMap;

use andon_contracts::PlantId;
use andon_contracts::api::{Confirmation, MaterialDocument, QualityNotificationRequest};
use serde_json::{Value, json};

use super::entities::{date, guid, number, tagged};

/// One plant's ledgers.
#[derive(Debug, Default)]
pub struct Ledger {
    next: u64,
    /// Item ledger entries.
    pub items: Vec<Value>,
    /// Capacity ledger entries.
    pub capacity: Vec<Value>,
    /// Quality notifications.
    pub notifications: Vec<Value>,
}

/// Every plant's ledgers.
pub type Ledgers = BTreeMap<PlantId, Ledger>;

/// The entry type of a movement type.
fn entry_type(mt: &str) -> &'static str {
    match mt {
        "101" | "531" => "Output",
        "261" | "262" => "Consumption",
        "601" => "Sale",
        _ => "Transfer",
    }
}

impl Ledger {
    fn next_entry(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Writes the item ledger entries of `doc` under `document_number`; the number of the
    /// entry that received (the only one, or a transfer's positive one).
    pub fn post_items(
        &mut self,
        doc: &MaterialDocument,
        document_number: &str,
        description: &str,
    ) -> u64 {
        let mut last = 0;
        for it in &doc.items {
            let p = &it.posted;
            let mt = p.movement_type.as_str();
            let q = it.quantity_base.milli;
            let lot = p.batch.as_ref().map(|b| b.as_str()).unwrap_or("");
            let write = |ledger: &mut Self, location: &str, signed: i64| {
                let n = ledger.next_entry();
                ledger.items.push(tagged(json!({
                    "id": guid("itemLedgerEntry", &format!("{}/{n}", p.plant)),
                    "entryNumber": n,
                    "itemNumber": p.material.as_str(),
                    "postingDate": date(doc.posting_date),
                    "entryType": entry_type(mt),
                    "documentNumber": document_number,
                    "description": description,
                    "quantity": number(signed),
                    "locationCode": location,
                    "lotNumber": lot,
                })));
                n
            };
            let from = p.storage_location.as_str();
            last = match mt {
                "101" | "531" | "262" => write(self, from, q),
                "261" | "601" => write(self, from, -q),
                _ => {
                    let to = p
                        .receiving_storage_location
                        .as_ref()
                        .map_or(from, |s| s.as_str());
                    write(self, from, -q);
                    write(self, to, q)
                }
            };
        }
        last
    }

    /// Writes the capacity ledger entry of `conf`; its entry number.
    pub fn post_output(&mut self, conf: &Confirmation, document_number: &str) -> u64 {
        let n = self.next_entry();
        self.capacity.push(tagged(json!({
            "id": guid("capacityLedgerEntry", &format!("{}/{n}", conf.plant)),
            "entryNumber": n,
            "documentNumber": document_number,
            "postingDate": date(conf.posting_date),
            "orderNumber": conf.order.as_str(),
            "operationNumber": conf.operation.as_str(),
            "outputQuantity": number(conf.yield_.milli),
            "scrapQuantity": number(conf.scrap.milli),
            "unitOfMeasureCode": conf.yield_.unit.as_str(),
            "finished": conf.final_,
        })));
        n
    }

    /// Keeps a created quality notification; the entity.
    pub fn post_notification(&mut self, number_: &str, req: &QualityNotificationRequest) -> Value {
        let e = tagged(json!({
            "id": guid("qualityNotification", &format!("{}/{number_}", req.plant)),
            "number": number_,
            "nonconformanceNumber": req.nonconformance,
            "type": req.type_,
            "itemNumber": req.material.as_str(),
            "lotNumber": req.batch.as_ref().map(|b| b.as_str()).unwrap_or(""),
            "defectCode": req.defect_code,
            "description": req.text,
        }));
        self.notifications.push(e.clone());
        e
    }
}
