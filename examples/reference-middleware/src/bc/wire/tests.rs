use serde_json::json;

use super::*;

const CID: &str = "5d115c9c-44e3-ef11-9345-6045bde9ca09";

fn plant() -> PlantId {
    PlantId::parse("2000").unwrap()
}

#[test]
fn urls_and_filters_are_odata_v4_and_percent_encoded() {
    assert_eq!(companies(&plant()), "/plant/2000/api/v2.0/companies");
    assert_eq!(
        subscription(&plant(), "a'b"),
        "/plant/2000/api/v2.0/subscriptions('a%27%27b')"
    );
    assert_eq!(literal("O'Brien"), "'O''Brien'");
    let m = MaterialId::parse("RM-1/A").unwrap();
    assert_eq!(
        item_lookup(&plant(), CID, &m),
        format!(
            "/plant/2000/api/andon/manufacturing/v1.0/companies({CID})/manufacturingItems\
             ?$filter=number%20eq%20%27RM-1%2FA%27&$expand=unitsOfMeasure"
        )
    );
    let b = BatchId::parse("B1").unwrap();
    assert_eq!(
        lot_lookup(&plant(), CID, &m, &b),
        format!(
            "/plant/2000/api/andon/manufacturing/v1.0/companies({CID})/lotInventories\
             ?$filter=itemNumber%20eq%20%27RM-1%2FA%27%20and%20lotNumber%20eq%20%27B1%27"
        )
    );
    assert_eq!(
        order_read(&plant(), CID, "o-1"),
        format!(
            "/plant/2000/api/andon/manufacturing/v1.0/companies({CID})/productionOrders(o-1)\
             ?$expand=routingLines,components"
        )
    );
}

#[test]
fn decimals_and_unit_ratios_are_read_exactly() {
    assert_eq!(milli(&json!(12.5)), Some(12_500));
    assert_eq!(milli(&json!(0.001)), Some(1));
    assert_eq!(milli(&json!(-3)), Some(-3_000));
    assert_eq!(milli(&json!("7.250")), Some(7_250));
    assert_eq!(milli(&json!(1.0001)), None);
    assert_eq!(decimal(12_500), json!(12.5));
    assert_eq!(decimal(1), json!(0.001));
    assert_eq!(ratio(&json!(0.001)), Some((1, 1000)));
    assert_eq!(ratio(&json!(1e-3)), Some((1, 1000)));
    assert_eq!(ratio(&json!(12)), Some((12, 1)));
    assert_eq!(ratio(&json!(2.5)), Some((5, 2)));
    assert_eq!(ratio(&json!(0)), None);
    assert_eq!(ratio(&json!(-1)), None);
}

#[test]
fn an_order_an_item_and_lot_stock_read_back_map_to_andons_objects() {
    let order = json!({
        "id": "o-1", "number": "100000001", "status": "Released", "cancelled": false, "itemNumber": "FG-1",
        "description": "Housing", "quantity": 12, "unitOfMeasureCode": "PC", "locationCode": "0001",
        "startingDate": "2026-11-02", "endingDate": "2026-11-03", "finishedQuantity": 0,
        "lastModifiedDateTime": "2026-11-02T06:00:00Z",
        "routingLines": [{"operationNumber": "0010", "workCenterNumber": "LINE-1", "description": "Assemble", "finishedQuantity": 0},
                         {"operationNumber": 20, "workCenterNumber": "LINE-2", "finishedQuantity": 0}],
        "components": [{"lineNumber": "0001", "itemNumber": "RM-1", "quantity": 2.5, "unitOfMeasureCode": "KG",
                        "locationCode": "0001", "consumedQuantity": 0},
                       {"lineNumber": 2, "itemNumber": "RM-2", "quantity": 3, "unitOfMeasureCode": "PC",
                        "locationCode": "0002", "consumedQuantity": 0}]
    });
    let wo = work_order(&order, &plant(), &SourceRefs::default()).unwrap();
    let body = serde_json::to_value(&wo).unwrap();
    assert!(body.get("source").is_none(), "no source reference");
    assert_eq!(wo.order.as_str(), "100000001");
    assert_eq!(wo.planned_quantity.milli, 12_000);
    assert_eq!(wo.operations[1].operation.as_str(), "0020");
    assert_eq!(wo.components[0].quantity.milli, 2_500);
    assert_eq!(wo.components[1].reservation_item, "0002");
    assert!(!is_cancelled(&order));
    let mut cancelled = order.clone();
    cancelled["cancelled"] = json!(true);
    assert!(is_cancelled(&cancelled));
    let mut no_ops = order.clone();
    no_ops["routingLines"][0]
        .as_object_mut()
        .unwrap()
        .remove("workCenterNumber");
    assert!(work_order(&no_ops, &plant(), &SourceRefs::default()).is_err());

    let item = json!({"id": "i-1", "number": "RM-1", "displayName": "Resin", "baseUnitOfMeasureCode": "KG",
                      "lotTracked": true, "inspectionRequired": true, "lastModifiedDateTime": "2026-11-02T06:00:00Z",
                      "unitsOfMeasure": [{"code": "KG", "qtyPerUnitOfMeasure": 1}, {"code": "G", "qtyPerUnitOfMeasure": 0.001}]});
    let m = material(&item, &plant()).unwrap();
    assert_eq!(m.description, "Resin");
    assert_eq!(
        m.alternative_units.len(),
        1,
        "the base unit is no alternative"
    );
    assert_eq!(
        (
            m.alternative_units[0].numerator,
            m.alternative_units[0].denominator
        ),
        (1, 1000)
    );
    assert_eq!(
        m.to_base_milli(&Quantity::from_milli(500_000, Unit::parse("G").unwrap())),
        Some(500)
    );
    assert!(m.inspection_required && m.batch_managed);
    assert_eq!(m.plants, vec![plant()]);

    let rows = stock_rows(
        &json!({"value": [
            {"itemNumber": "FG-1", "locationCode": "0001", "lotNumber": "B1", "inventoryStatus": "Unrestricted",
             "quantity": 7, "unitOfMeasureCode": "PC"},
            {"itemNumber": "FG-1", "locationCode": "0001", "lotNumber": "B1", "inventoryStatus": "InTransit",
             "quantity": 1, "unitOfMeasureCode": "PC"}]}),
        &plant(),
    )
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].stock_type, rows[0].quantity.milli),
        (StockType::Unrestricted, 7_000)
    );
    assert_eq!(
        company_id(&json!({"value": [{"id": CID, "name": "PLANT 2000"}]})).unwrap(),
        CID
    );
    assert!(company_id(&json!({"value": []})).is_err());
}
