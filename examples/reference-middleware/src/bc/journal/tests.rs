use serde_json::json;

use super::*;

const CID: &str = "5d115c9c-44e3-ef11-9345-6045bde9ca09";
const KEY: &str = "0123456789abcdef0123456789abcdef";

fn plant() -> PlantId {
    PlantId::parse("2000").unwrap()
}

fn movement(items: Value) -> Value {
    json!({
        "posting_date": "2026-11-02",
        "header_text": "Delivery 80000017",
        "items": items,
        "source": {"source": "/andon/wms/2000", "id": "e-1"}
    })
}

fn item(movement_type: &str) -> Value {
    json!({"movement_type": movement_type, "material": "FG-1", "plant": "2000", "storage_location": "0001",
           "batch": "B1", "quantity": {"value": 12.5, "unit": "PC"}})
}

fn one(movement_type: &str, extra: Value) -> Value {
    let mut i = item(movement_type);
    for (k, v) in extra.as_object().unwrap() {
        i[k] = v.clone();
    }
    let postings = outbound("/api/v1/material-documents", &movement(json!([i])), KEY).unwrap();
    assert_eq!(postings.len(), 1);
    assert_eq!(postings[0].set, "itemJournalLines");
    postings[0].body.clone()
}

#[test]
fn postings_are_found_again_by_their_natural_key() {
    assert_eq!(
        Check::ItemLedger("AN-1".into()).query(&plant(), CID),
        format!(
            "/plant/2000/api/v2.0/companies({CID})/itemLedgerEntries\
             ?$filter=documentNumber%20eq%20%27AN-1%27"
        )
    );
    assert!(
        Check::CapacityLedger("AN-1".into())
            .query(&plant(), CID)
            .contains("/api/andon/manufacturing/v1.0/companies(")
    );
    assert!(
        Check::QualityNotification("NC-1".into())
            .query(&plant(), CID)
            .ends_with("/qualityNotifications?$filter=nonconformanceNumber%20eq%20%27NC-1%27")
    );
    assert!(found(&json!({"value": [{"entryNumber": 1}]})).unwrap());
    assert!(!found(&json!({"value": []})).unwrap());
}

#[test]
fn document_numbers_are_stable_short_and_per_item() {
    let d = document_number(KEY, 0);
    assert_eq!(d, document_number(KEY, 0), "the same on every retry");
    assert!(d.len() <= DOCUMENT_NUMBER_MAX, "{d}");
    assert!(d.starts_with("AN-"));
    assert!(
        d.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    );
    assert_ne!(d, document_number(KEY, 1));
    assert_ne!(d, document_number("ffffffffffffffffffffffffffffffff", 0));
    let two = outbound(
        "/api/v1/material-documents",
        &movement(json!([item("601"), item("601")])),
        KEY,
    )
    .unwrap();
    assert_eq!(two.len(), 2, "one insert per item");
    assert_eq!(two[0].body["documentNumber"], document_number(KEY, 0));
    assert_eq!(two[1].body["documentNumber"], document_number(KEY, 1));
    assert_eq!(two[1].check, Check::ItemLedger(document_number(KEY, 1)));
}

#[test]
fn every_movement_type_becomes_its_journal_line() {
    let out = one("101", json!({"order": "100000001"}));
    assert_eq!(
        out,
        json!({"documentNumber": document_number(KEY, 0), "externalDocumentNumber": "Delivery 80000017",
               "postingDate": "2026-11-02", "entryType": "Output", "itemNumber": "FG-1", "locationCode": "0001",
               "lotNumber": "B1", "quantity": 12.5, "unitOfMeasureCode": "PC", "orderNumber": "100000001"})
    );
    let by = one("531", json!({"order": "100000001"}));
    assert_eq!(
        (&by["entryType"], &by["orderNumber"]),
        (&json!("Output"), &json!("100000001"))
    );
    let issue = one("261", json!({"order": "100000001"}));
    assert_eq!(
        (&issue["entryType"], &issue["orderNumber"]),
        (&json!("Consumption"), &json!("100000001"))
    );
    let sale = one("601", json!({}));
    assert_eq!(sale["entryType"], "Sale");
    assert!(sale.get("orderNumber").is_none() && sale.get("inventoryStatus").is_none());
    for (mt, from, to) in [
        ("321", "QualityInspection", "Unrestricted"),
        ("350", "QualityInspection", "Blocked"),
        ("344", "Unrestricted", "Blocked"),
        ("343", "Blocked", "Unrestricted"),
    ] {
        let t = one(mt, json!({}));
        assert_eq!(t["entryType"], "Transfer", "{mt}");
        assert_eq!(
            (&t["inventoryStatus"], &t["newInventoryStatus"]),
            (&json!(from), &json!(to)),
            "{mt}"
        );
        assert!(t.get("newLocationCode").is_none());
    }
    let moved = one("311", json!({"receiving_storage_location": "0002"}));
    assert_eq!(
        (&moved["entryType"], &moved["newLocationCode"]),
        (&json!("Transfer"), &json!("0002"))
    );
    assert!(moved.get("inventoryStatus").is_none());
    for t in [&out, &by, &issue, &sale, &moved] {
        assert!(
            t.get("postingDate").is_some() && t.get("unitOfMeasureCode").is_some(),
            "both releases: {t}"
        );
    }
    let to_plant = |mt: &str, extra: Value| {
        let mut i = item(mt);
        for (k, v) in extra.as_object().unwrap() {
            i[k] = v.clone();
        }
        outbound("/api/v1/material-documents", &movement(json!([i])), KEY)
    };
    assert!(to_plant("311", json!({})).is_err(), "311 needs a location");
    assert!(
        to_plant(
            "311",
            json!({"receiving_plant": "3000", "receiving_storage_location": "0001"})
        )
        .is_err()
    );
    for other in ["102", "262", "201", "551", "301"] {
        assert!(to_plant(other, json!({})).is_err(), "{other}");
    }
}

#[test]
fn confirmations_and_quality_notifications_are_translated() {
    let c = json!({"order": "100000001", "operation": "0010", "plant": "2000",
                   "yield": {"value": 10, "unit": "PC"}, "scrap": {"value": 0.5, "unit": "PC"},
                   "rework": {"value": 1, "unit": "PC"}, "final": true, "posting_date": "2026-11-03",
                   "work_center": "LINE-1", "source": {"source": "/andon/mes/2000", "id": "e-2"}});
    let p = outbound("/api/v1/confirmations", &c, KEY).unwrap();
    assert_eq!(p[0].set, "outputJournalLines");
    assert_eq!(
        p[0].body,
        json!({"documentNumber": document_number(KEY, 0), "postingDate": "2026-11-03",
               "orderNumber": "100000001", "operationNumber": "0010", "outputQuantity": 10.0,
               "scrapQuantity": 0.5, "unitOfMeasureCode": "PC", "finished": true})
    );
    assert_eq!(p[0].check, Check::CapacityLedger(document_number(KEY, 0)));
    let q = json!({"nonconformance": "NC-2000-0042", "type": "Q3", "plant": "2000", "material": "RM-1",
                   "batch": "R1", "defect_code": "CRACK-01", "text": "Cracks",
                   "source": {"source": "/andon/qms/2000", "id": "e-7"}});
    let p = outbound("/api/v1/quality-notifications", &q, KEY).unwrap();
    assert_eq!(p[0].set, "qualityNotifications");
    assert_eq!(
        p[0].body,
        json!({"nonconformanceNumber": "NC-2000-0042", "type": "Q3", "itemNumber": "RM-1",
               "lotNumber": "R1", "defectCode": "CRACK-01", "description": "Cracks"})
    );
    assert_eq!(
        p[0].check,
        Check::QualityNotification("NC-2000-0042".into())
    );
    assert!(outbound("/api/v1/quality-notifications", &json!({}), KEY).is_err());
    assert!(outbound("/api/v1/reversals", &q, KEY).is_err());
}
