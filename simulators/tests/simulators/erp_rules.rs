//! The ERP's business rules (docs/domain.md, "The ERP's business rules"), each
//! rejection checked for status, problem+json, code, detail and an unchanged state, and the
//! postings that pass checked for their stock effect.

use andon_contracts::StockType::{Blocked, QualityInspection, Unrestricted};
use serde_json::json;

use crate::helpers::*;

// ---- posting period ----------------------------------------------------------------------

#[tokio::test]
async fn posting_in_a_closed_period_is_422_period_closed_with_the_sap_message() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut body = consume_r1(1.0);
    body["posting_date"] = json!("2026-09-30");
    let r = sim.post_movement(&body).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "period-closed",
        "Posting only possible in periods 2026/11 and 2026/10 in company code 1000",
    );
    assert_eq!(
        sim.stock_of("1000", "RM-1", "R1").await["unrestricted"],
        100.0
    );
}

#[tokio::test]
async fn confirming_in_a_closed_period_is_422_period_closed() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut body = confirmation(ORDER, "0010", 10.0, false);
    body["posting_date"] = json!("2026-12-01");
    let r = sim.post_confirmation(&body).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "period-closed",
        "periods 2026/11 and 2026/10",
    );
}

#[tokio::test]
async fn opening_a_period_through_the_config_lets_the_posting_through() {
    let sim = Sim::start();
    sim.config(json!({"open_periods": ["2026/09"]})).await;
    let mut body = consume_r1(1.0);
    body["posting_date"] = json!("2026-09-30");
    sim.post_movement(&body).await.assert_status(201);
    let mut late = consume_r1(1.0);
    late["posting_date"] = json!("2026-11-02");
    let before = sim.snapshot();
    let r = sim.post_movement(&late).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "period-closed",
        "Posting only possible in periods 2026/09 in company code 1000",
    );
}

// ---- stock deficit -----------------------------------------------------------------------

#[tokio::test]
async fn consuming_more_than_unrestricted_stock_is_422_stock_deficit_naming_the_shortfall() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim.post_movement(&consume_r1(110.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "stock-deficit",
        "Deficit of SL Unrestricted-use 10 KG : RM-1 1000 0001 R1",
    );
    assert_eq!(
        sim.stock_of("1000", "RM-1", "R1").await["unrestricted"],
        100.0
    );
}

#[tokio::test]
async fn a_document_whose_items_together_exceed_the_stock_posts_nothing() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let body = movement(vec![
        for_order(item("261", "RM-1", "R1", 60.0, "KG")),
        for_order(item("261", "RM-1", "R1", 60.0, "KG")),
    ]);
    let r = sim.post_movement(&body).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "stock-deficit",
        "Deficit of SL Unrestricted-use 20 KG",
    );
}

#[tokio::test]
async fn goods_receipt_of_an_inspected_material_goes_to_quality_inspection_and_cannot_be_shipped() {
    let sim = Sim::start();
    let r = sim
        .post_movement(&movement(vec![for_order(item(
            "101", "FG-1", "F1", 10.0, "PC",
        ))]))
        .await;
    let doc = r.assert_status(201);
    assert_eq!(doc["items"][0]["stock_type"], "quality_inspection");
    let stock = sim.stock_of("1000", "FG-1", "F1").await;
    assert_eq!(stock.get("quality_inspection"), Some(&10.0));
    assert_eq!(stock.get("unrestricted"), None);

    let before = sim.snapshot();
    let r = sim
        .post_movement(&movement(vec![item("601", "FG-1", "F1", 1.0, "PC")]))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "stock-deficit",
        "Deficit of SL Unrestricted-use 1 PC : FG-1 1000 0001 F1",
    );
    let r = sim
        .post_movement(&movement(vec![for_order(item(
            "261", "FG-1", "F1", 1.0, "PC",
        ))]))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "stock-deficit",
        "Deficit of SL Unrestricted-use 1 PC",
    );
    let r = sim
        .post_movement(&movement(vec![item("551", "FG-1", "F1", 1.0, "PC")]))
        .await;
    sim.assert_rejected(&before, &r, 422, "stock-deficit", "Unrestricted-use");
}

#[tokio::test]
async fn blocked_stock_cannot_be_consumed() {
    let sim = Sim::start();
    sim.post_movement(&movement(vec![item("344", "RM-1", "R1", 100.0, "KG")]))
        .await
        .assert_status(201);
    let before = sim.snapshot();
    let r = sim.post_movement(&consume_r1(1.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "stock-deficit",
        "Deficit of SL Unrestricted-use 1 KG",
    );
    assert_eq!(
        sim.stock_of("1000", "RM-1", "R1").await.get("blocked"),
        Some(&100.0)
    );
}

// ---- unknown master data ----------------------------------------------------------------

#[tokio::test]
async fn an_unknown_material_is_422_unknown_master_data() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim
        .post_movement(&movement(vec![item("551", "XX-9", "R1", 1.0, "KG")]))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Material XX-9 not maintained in plant 1000",
    );
}

#[tokio::test]
async fn a_material_not_maintained_in_the_plant_is_422_unknown_master_data() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut it = item("551", "FG-1", "F1", 1.0, "PC");
    it["plant"] = json!("2000");
    let r = sim.post_movement(&movement(vec![it])).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Material FG-1 not maintained in plant 2000",
    );
}

#[tokio::test]
async fn an_unknown_plant_is_422_unknown_master_data() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut it = item("551", "RM-1", "R1", 1.0, "KG");
    it["plant"] = json!("3000");
    let r = sim.post_movement(&movement(vec![it])).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Plant 3000 is not defined",
    );
}

#[tokio::test]
async fn an_unknown_storage_location_is_422_unknown_master_data() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut it = item("551", "RM-1", "R1", 1.0, "KG");
    it["storage_location"] = json!("0009");
    let r = sim.post_movement(&movement(vec![it])).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Storage location 0009 is not defined for plant 1000",
    );
}

#[tokio::test]
async fn an_unknown_batch_is_422_unknown_master_data() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim
        .post_movement(&movement(vec![for_order(item(
            "261", "RM-1", "NOPE", 1.0, "KG",
        ))]))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Batch NOPE does not exist for material RM-1 in plant 1000",
    );
}

#[tokio::test]
async fn an_unknown_order_is_422_unknown_master_data_for_movements_and_confirmations() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut it = item("261", "RM-1", "R1", 1.0, "KG");
    it["order"] = json!("999999");
    let r = sim.post_movement(&movement(vec![it])).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Order 999999 does not exist",
    );
    let r = sim
        .post_confirmation(&confirmation("999999", "0010", 1.0, false))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Order 999999 does not exist",
    );
}

#[tokio::test]
async fn an_unknown_operation_is_422_unknown_master_data() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim
        .post_confirmation(&confirmation(ORDER, "0030", 1.0, false))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Operation 0030 does not exist in order 100000001",
    );
}

#[tokio::test]
async fn a_quality_notification_for_an_unknown_material_is_422_and_a_known_one_is_201() {
    let sim = Sim::start();
    let mut body = json!({
        "nonconformance": "NC-1",
        "type": "Q2",
        "plant": "1000",
        "material": "XX-9",
        "defect_code": "SCRATCH",
        "text": "Scratched housing",
        "source": {"source": "/andon/qms/1000", "id": "nc-1"},
    });
    let before = sim.snapshot();
    let r = sim.post("/api/v1/quality-notifications", &body).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Material XX-9 not maintained in plant 1000",
    );
    body["material"] = json!("FG-1");
    body["batch"] = json!("F1");
    let n = sim
        .post("/api/v1/quality-notifications", &body)
        .await
        .assert_status(201);
    assert_eq!(n["nonconformance"], "NC-1");
    assert_eq!(sim.effects("erp.quality_notification").len(), 1);
}

// ---- order status --------------------------------------------------------------------------

#[tokio::test]
async fn posting_against_an_order_in_status_created_is_422_order_status() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut it = item("261", "RM-1", "R1", 1.0, "KG");
    it["order"] = json!(ORDER_CREATED);
    let r = sim.post_movement(&movement(vec![it])).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "order-status",
        "Order 100000002 is not released (status CRTD)",
    );
    let r = sim
        .post_confirmation(&confirmation(ORDER_CREATED, "0010", 1.0, false))
        .await;
    sim.assert_rejected(&before, &r, 422, "order-status", "is not released");
}

#[tokio::test]
async fn posting_against_a_cancelled_order_is_422_order_status() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut it = item("101", "FG-1", "F1", 1.0, "PC");
    it["order"] = json!(ORDER_CANCELLED);
    let r = sim.post_movement(&movement(vec![it])).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "order-status",
        "Order 100000003 is flagged for deletion",
    );
    let r = sim
        .post_confirmation(&confirmation(ORDER_CANCELLED, "0010", 1.0, false))
        .await;
    sim.assert_rejected(&before, &r, 422, "order-status", "flagged for deletion");
}

#[tokio::test]
async fn a_technically_completed_order_refuses_postings() {
    let sim = Sim::start();
    {
        let mut st = sim.erp.state.lock().expect("state lock");
        let id = andon_contracts::OrderId::parse(ORDER).expect("order");
        st.orders.get_mut(&id).expect("order").order.status =
            andon_contracts::OrderStatus::TechnicallyCompleted;
    }
    let before = sim.snapshot();
    let r = sim.post_movement(&consume_r1(1.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "order-status",
        "is technically completed (status TECO)",
    );
}

// ---- confirmations ----------------------------------------------------------------------

#[tokio::test]
async fn confirming_beyond_the_planned_quantity_plus_ten_percent_is_422_over_confirmation() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim
        .post_confirmation(&confirmation(ORDER, "0010", 111.0, false))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "over-confirmation",
        "exceeds the planned 100 PC by more than 10 %",
    );

    sim.post_confirmation(&confirmation(ORDER, "0010", 60.0, false))
        .await
        .assert_status(201);
    let before = sim.snapshot();
    let r = sim
        .post_confirmation(&confirmation(ORDER, "0010", 51.0, false))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "over-confirmation",
        "Confirmed yield 111 PC for operation 0010",
    );
    // Exactly at the tolerance is fine.
    sim.post_confirmation(&confirmation(ORDER, "0010", 50.0, false))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn the_over_confirmation_tolerance_is_configurable() {
    let sim = Sim::start();
    sim.config(json!({"over_confirmation_tolerance_pct": 0}))
        .await;
    let before = sim.snapshot();
    let r = sim
        .post_confirmation(&confirmation(ORDER, "0010", 101.0, false))
        .await;
    sim.assert_rejected(&before, &r, 422, "over-confirmation", "by more than 0 %");
    sim.post_confirmation(&confirmation(ORDER, "0010", 100.0, false))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn the_confirmation_group_stays_the_same_per_order_and_operation_and_the_counter_increments()
{
    let sim = Sim::start();
    let a = sim
        .post_confirmation(&confirmation(ORDER, "0010", 10.0, false))
        .await
        .assert_status(201);
    let b = sim
        .post_confirmation(&confirmation(ORDER, "0010", 10.0, false))
        .await
        .assert_status(201);
    let c = sim
        .post_confirmation(&confirmation(ORDER, "0020", 10.0, false))
        .await
        .assert_status(201);
    let d = sim
        .post_confirmation(&confirmation(ORDER, "0010", 5.0, false))
        .await
        .assert_status(201);
    assert_eq!(a["confirmation_group"], b["confirmation_group"]);
    assert_eq!(a["confirmation_group"], d["confirmation_group"]);
    assert_ne!(a["confirmation_group"], c["confirmation_group"]);
    assert_eq!(
        [&a, &b, &d].map(|x| x["confirmation_counter"].as_u64()),
        [Some(1), Some(2), Some(3)]
    );
    assert_eq!(c["confirmation_counter"], 1);
    assert_eq!(a["order_status"], "partially_confirmed");
    assert_eq!(sim.effects("erp.confirmation").len(), 4);
}

#[tokio::test]
async fn a_final_confirmation_of_the_last_operation_sets_the_order_confirmed() {
    let sim = Sim::start();
    // Final on the first operation only: still partially confirmed.
    let a = sim
        .post_confirmation(&confirmation(ORDER, "0010", 100.0, true))
        .await
        .assert_status(201);
    assert_eq!(a["order_status"], "partially_confirmed");
    let b = sim
        .post_confirmation(&confirmation(ORDER, "0020", 100.0, true))
        .await
        .assert_status(201);
    assert_eq!(b["order_status"], "confirmed");
    let o = sim
        .get(&format!("/api/v1/production-orders/{ORDER}"))
        .await
        .assert_status(200);
    assert_eq!(o["status"], "confirmed");
    let list = sim
        .get("/api/v1/production-orders?plant=1000&status=confirmed")
        .await
        .assert_status(200);
    assert_eq!(list["orders"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_goods_receipt_of_the_full_quantity_after_the_final_confirmation_delivers_the_order() {
    let sim = Sim::start();
    sim.post_confirmation(&confirmation(ORDER, "0020", 100.0, true))
        .await
        .assert_status(201);
    let doc = sim
        .post_movement(&movement(vec![for_order(item(
            "101", "FG-1", "F1", 100.0, "PC",
        ))]))
        .await
        .assert_status(201);
    let o = sim
        .get(&format!("/api/v1/production-orders/{ORDER}"))
        .await
        .assert_status(200);
    assert_eq!(o["status"], "delivered");
    // Reversing the receipt takes the delivery back.
    let number = doc["material_document"].as_str().expect("number");
    sim.post(
        &format!("/api/v1/material-documents/2026/{number}/reversal"),
        &json!({"posting_date": TODAY, "source": source()}),
    )
    .await
    .assert_status(201);
    let o = sim
        .get(&format!("/api/v1/production-orders/{ORDER}"))
        .await
        .assert_status(200);
    assert_eq!(o["status"], "confirmed");
}

#[tokio::test]
async fn the_order_is_delivered_whether_the_goods_receipt_or_the_final_confirmation_comes_first() {
    let sim = Sim::start();
    sim.post_movement(&movement(vec![for_order(item(
        "101", "FG-1", "F1", 100.0, "PC",
    ))]))
    .await
    .assert_status(201);
    let c = sim
        .post_confirmation(&confirmation(ORDER, "0020", 100.0, true))
        .await
        .assert_status(201);
    assert_eq!(c["order_status"], "delivered");
    // A later confirmation does not take the delivery back.
    let c = sim
        .post_confirmation(&confirmation(ORDER, "0010", 100.0, true))
        .await
        .assert_status(201);
    assert_eq!(c["order_status"], "delivered");
    let c = sim
        .post_confirmation(&confirmation(ORDER, "0020", 0.0, true))
        .await
        .assert_status(201);
    assert_eq!(c["order_status"], "delivered");
    let o = sim
        .get(&format!("/api/v1/production-orders/{ORDER}"))
        .await
        .assert_status(200);
    assert_eq!(o["status"], "delivered");
}

// ---- units --------------------------------------------------------------------------------

#[tokio::test]
async fn a_unit_without_conversion_is_422_uom_conversion() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim
        .post_movement(&movement(vec![for_order(item(
            "261", "RM-1", "R1", 1.0, "L",
        ))]))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "uom-conversion",
        "Unit L is not defined for material RM-1 (base unit KG)",
    );
    let mut body = confirmation(ORDER, "0010", 1.0, false);
    body["yield"]["unit"] = json!("KG");
    let r = sim.post_confirmation(&body).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "uom-conversion",
        "Unit KG is not defined for material FG-1",
    );
}

#[tokio::test]
async fn grams_are_converted_to_kilograms_before_posting() {
    let sim = Sim::start();
    let doc = sim
        .post_movement(&movement(vec![for_order(item(
            "261", "RM-1", "R1", 500.0, "G",
        ))]))
        .await
        .assert_status(201);
    assert_eq!(
        doc["items"][0]["quantity"],
        json!({"value": 500.0, "unit": "G"})
    );
    assert_eq!(
        doc["items"][0]["quantity_base"],
        json!({"value": 0.5, "unit": "KG"})
    );
    assert_eq!(
        sim.stock_of("1000", "RM-1", "R1").await["unrestricted"],
        99.5
    );
    assert_eq!(sim.r1_unrestricted(), 99_500);
}

#[tokio::test]
async fn a_quantity_finer_than_a_thousandth_of_the_base_unit_is_422_uom_conversion_saying_so() {
    let sim = Sim::start();
    let before = sim.snapshot();
    // 0.5 G is 0.0005 KG: G is defined, but the result is not a whole thousandth of a KG.
    let r = sim
        .post_movement(&movement(vec![for_order(item(
            "261", "RM-1", "R1", 0.5, "G",
        ))]))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "uom-conversion",
        "0.5 G is not a whole number of thousandths of KG",
    );
}

#[tokio::test]
async fn a_material_handled_in_batches_needs_a_batch() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut it = for_order(item("261", "RM-1", "R1", 1.0, "KG"));
    it.as_object_mut().expect("object").remove("batch");
    let r = sim.post_movement(&movement(vec![it])).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "batch-required",
        "Material RM-1 is handled in batches: enter a batch",
    );
}

#[tokio::test]
async fn boxes_are_converted_to_pieces_before_posting() {
    let sim = Sim::start();
    let doc = sim
        .post_movement(&movement(vec![for_order(item(
            "101", "FG-1", "F1", 2.0, "BOX",
        ))]))
        .await
        .assert_status(201);
    assert_eq!(
        doc["items"][0]["quantity_base"],
        json!({"value": 24.0, "unit": "PC"})
    );
    assert_eq!(
        sim.stock_of("1000", "FG-1", "F1").await["quality_inspection"],
        24.0
    );
    // Confirmations in boxes count in pieces.
    let c = sim
        .post_confirmation(&{
            let mut b = confirmation(ORDER, "0010", 1.0, false);
            b["yield"]["unit"] = json!("BOX");
            b
        })
        .await
        .assert_status(201);
    assert_eq!(c["yield"], json!({"value": 12.0, "unit": "PC"}));
}

// ---- movement types -----------------------------------------------------------------------

#[tokio::test]
async fn movement_types_move_stock_between_stock_types_as_sap_does() {
    let sim = Sim::start();
    let post = |items: Vec<serde_json::Value>| {
        let body = movement(items);
        let sim = &sim;
        async move { sim.post_movement(&body).await.assert_status(201) }
    };
    // 101: 50 PC of FG-1 F1 into quality inspection.
    post(vec![for_order(item("101", "FG-1", "F1", 50.0, "PC"))]).await;
    // 321: 30 accepted to unrestricted; 350: 10 rejected to blocked; 553: 5 scrapped from QI.
    post(vec![item("321", "FG-1", "F1", 30.0, "PC")]).await;
    post(vec![item("350", "FG-1", "F1", 10.0, "PC")]).await;
    post(vec![item("553", "FG-1", "F1", 5.0, "PC")]).await;
    // 344: 8 of the unrestricted put on hold; 343: 3 released.
    post(vec![item("344", "FG-1", "F1", 8.0, "PC")]).await;
    post(vec![item("343", "FG-1", "F1", 3.0, "PC")]).await;
    // 601: ship 20; 551: scrap 2 from unrestricted.
    post(vec![item("601", "FG-1", "F1", 20.0, "PC")]).await;
    post(vec![item("551", "FG-1", "F1", 2.0, "PC")]).await;
    let fg = sim.stock_of("1000", "FG-1", "F1").await;
    // QI: 50 − 30 − 10 − 5 = 5; unrestricted: 30 − 8 + 3 − 20 − 2 = 3; blocked: 10 + 8 − 3 = 15.
    assert_eq!(fg.get("quality_inspection"), Some(&5.0), "{fg:?}");
    assert_eq!(fg.get("unrestricted"), Some(&3.0), "{fg:?}");
    assert_eq!(fg.get("blocked"), Some(&15.0), "{fg:?}");

    // 261: consume 40 KG of RM-1; 301: move 10 KG to plant 2000.
    post(vec![for_order(item("261", "RM-1", "R1", 40.0, "KG"))]).await;
    let mut transfer = item("301", "RM-1", "R1", 10.0, "KG");
    transfer["receiving_plant"] = json!("2000");
    let doc = post(vec![transfer]).await;
    assert_eq!(doc["items"][0]["quantity_base"]["value"], 10.0);
    assert_eq!(
        sim.stock_of("1000", "RM-1", "R1").await.get("unrestricted"),
        Some(&50.0)
    );
    assert_eq!(
        sim.stock_of("2000", "RM-1", "R1").await.get("unrestricted"),
        Some(&10.0)
    );

    let st = sim.erp.state.lock().expect("state lock");
    assert_eq!(st.balance(&key("1000", "FG-1", "F1", Blocked)), 15_000);
    assert_eq!(
        st.balance(&key("1000", "FG-1", "F1", QualityInspection)),
        5_000
    );
    assert_eq!(st.balance(&key("1000", "FG-1", "F1", Unrestricted)), 3_000);
    drop(st);
    assert_eq!(sim.effects("erp.goods_movement").len(), 10);
}

#[tokio::test]
async fn a_plant_to_plant_transfer_needs_a_receiving_plant_that_knows_the_material() {
    let sim = Sim::start();
    // Schema: 301 without receiving plant is a contract violation.
    let before = sim.snapshot();
    let r = sim
        .post_movement(&movement(vec![item("301", "RM-1", "R1", 1.0, "KG")]))
        .await;
    sim.assert_rejected(&before, &r, 400, "invalid-request", "receiving_plant");
    // FG-1 is not maintained in plant 2000.
    sim.post_movement(&movement(vec![for_order(item(
        "101", "FG-1", "F1", 5.0, "PC",
    ))]))
    .await
    .assert_status(201);
    sim.post_movement(&movement(vec![item("321", "FG-1", "F1", 5.0, "PC")]))
        .await
        .assert_status(201);
    let before = sim.snapshot();
    let mut it = item("301", "FG-1", "F1", 1.0, "PC");
    it["receiving_plant"] = json!("2000");
    let r = sim.post_movement(&movement(vec![it])).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "unknown-master-data",
        "Material FG-1 not maintained in plant 2000",
    );
}

#[tokio::test]
async fn an_unknown_movement_type_is_422() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim
        .post_movement(&movement(vec![item("999", "RM-1", "R1", 1.0, "KG")]))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "movement-type",
        "Movement type 999 is not defined",
    );
}

// ---- reversals ----------------------------------------------------------------------------

#[tokio::test]
async fn the_reversal_endpoint_restores_the_stock_and_a_second_reversal_is_422_already_reversed() {
    let sim = Sim::start();
    let initial = sim.snapshot().stock;
    let doc = sim
        .post_movement(&movement(vec![
            for_order(item("261", "RM-1", "R1", 30.0, "KG")),
            item("344", "RM-1", "R1", 20.0, "KG"),
        ]))
        .await
        .assert_status(201);
    assert_eq!(sim.r1_unrestricted(), 50_000);
    let number = doc["material_document"]
        .as_str()
        .expect("number")
        .to_string();
    let path = format!("/api/v1/material-documents/2026/{number}/reversal");
    let rev = sim
        .post(&path, &json!({"posting_date": TODAY, "source": source()}))
        .await
        .assert_status(201);
    // Last item first: 344 is undone by 343, then 261 by 262.
    assert_eq!(rev["items"][0]["movement_type"], "343");
    assert_eq!(
        rev["items"][0]["reversal_of"],
        json!({"material_document": number, "year": 2026, "item": 2})
    );
    assert_eq!(rev["items"][1]["movement_type"], "262");
    assert_eq!(
        rev["items"][1]["reversal_of"],
        json!({"material_document": number, "year": 2026, "item": 1})
    );
    assert_eq!(
        sim.stock_of("1000", "RM-1", "R1").await,
        [("unrestricted".to_string(), 100.0)].into()
    );
    let nonzero = |m: std::collections::BTreeMap<andon_simulators::erp::StockKey, i64>| {
        m.into_iter().filter(|(_, q)| *q != 0).collect::<Vec<_>>()
    };
    assert_eq!(nonzero(sim.snapshot().stock), nonzero(initial));
    // The original shows its items reversed.
    let orig = sim
        .get(&format!("/api/v1/material-documents/2026/{number}"))
        .await
        .assert_status(200);
    assert_eq!(orig["items"][0]["reversed"], true);

    let before = sim.snapshot();
    let r = sim
        .post(&path, &json!({"posting_date": TODAY, "source": source()}))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "already-reversed",
        &format!("Material document {number} 2026 item 2 has already been reversed"),
    );
}

#[tokio::test]
async fn a_document_that_moves_stock_on_and_off_a_stock_type_can_be_reversed() {
    let sim = Sim::start();
    // 12 KG into quality inspection, then 1 KG of it rejected to blocked.
    let doc = sim
        .post_movement(&movement(vec![
            item("322", "RM-1", "R1", 12.0, "KG"),
            item("350", "RM-1", "R1", 1.0, "KG"),
        ]))
        .await
        .assert_status(201);
    let number = doc["material_document"].as_str().expect("number");
    sim.post(
        &format!("/api/v1/material-documents/2026/{number}/reversal"),
        &json!({"posting_date": TODAY, "source": source()}),
    )
    .await
    .assert_status(201);
    assert_eq!(
        sim.stock_of("1000", "RM-1", "R1").await,
        [("unrestricted".to_string(), 100.0)].into()
    );
}

#[tokio::test]
async fn reversing_a_goods_receipt_takes_it_out_of_the_stock_type_it_went_to() {
    let sim = Sim::start();
    let doc = sim
        .post_movement(&movement(vec![for_order(item(
            "101", "FG-1", "F1", 12.0, "PC",
        ))]))
        .await
        .assert_status(201);
    let number = doc["material_document"].as_str().expect("number");
    let rev = sim
        .post(
            &format!("/api/v1/material-documents/2026/{number}/reversal"),
            &json!({"posting_date": TODAY, "source": source()}),
        )
        .await
        .assert_status(201);
    assert_eq!(rev["items"][0]["movement_type"], "102");
    assert_eq!(rev["items"][0]["stock_type"], "quality_inspection");
    assert!(sim.stock_of("1000", "FG-1", "F1").await.is_empty());
}

#[tokio::test]
async fn a_reversal_that_would_drive_stock_negative_is_422_stock_deficit() {
    let sim = Sim::start();
    let doc = sim
        .post_movement(&movement(vec![for_order(item(
            "101", "FG-1", "F1", 10.0, "PC",
        ))]))
        .await
        .assert_status(201);
    sim.post_movement(&movement(vec![item("321", "FG-1", "F1", 10.0, "PC")]))
        .await
        .assert_status(201);
    let number = doc["material_document"].as_str().expect("number");
    let before = sim.snapshot();
    let r = sim
        .post(
            &format!("/api/v1/material-documents/2026/{number}/reversal"),
            &json!({"posting_date": TODAY, "source": source()}),
        )
        .await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "stock-deficit",
        "Deficit of SL Quality inspection 10 PC",
    );
}

#[tokio::test]
async fn reversing_an_unknown_document_is_404() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim
        .post(
            "/api/v1/material-documents/2026/4999999999/reversal",
            &json!({"posting_date": TODAY, "source": source()}),
        )
        .await;
    sim.assert_rejected(
        &before,
        &r,
        404,
        "not-found",
        "Material document 4999999999 2026 does not exist",
    );
}

#[tokio::test]
async fn an_item_reversal_must_match_the_item_it_reverses() {
    let sim = Sim::start();
    let doc = sim
        .post_movement(&consume_r1(10.0))
        .await
        .assert_status(201);
    let number = doc["material_document"].as_str().expect("number");
    let reversal = |mt: &str, qty: f64| {
        let mut it = for_order(item(mt, "RM-1", "R1", qty, "KG"));
        it["reversal_of"] = json!({"material_document": number, "year": 2026, "item": 1});
        movement(vec![it])
    };
    let before = sim.snapshot();
    let r = sim.post_movement(&reversal("261", 10.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "reversal-mismatch",
        "Movement type 261 cannot reverse an item posted with 261",
    );
    let r = sim.post_movement(&reversal("262", 9.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "reversal-mismatch",
        "must repeat the material, plant, batch and quantity",
    );
    sim.post_movement(&reversal("262", 10.0))
        .await
        .assert_status(201);
    assert_eq!(sim.r1_unrestricted(), 100_000);
    let before = sim.snapshot();
    let r = sim.post_movement(&reversal("262", 10.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "already-reversed",
        "has already been reversed",
    );
}

#[test]
fn the_contract_checks_of_the_helpers_are_not_vacuous() {
    // The helpers validate every answer; make sure the validator does reject bad ones.
    assert!(
        andon_contracts::validate("api/StockList", &json!({"stock": [{"plant": "1"}]})).is_err()
    );
    assert!(andon_contracts::validate("api/Problem", &json!({"code": "x"})).is_err());
    assert!(andon_contracts::validate("api/MaterialDocument", &json!({})).is_err());
}

// ---- reads ----------------------------------------------------------------------------------

#[tokio::test]
async fn reads_answer_contract_shaped_bodies() {
    let sim = Sim::start();
    let m = sim
        .get("/api/v1/materials/RM-1?plant=1000")
        .await
        .assert_status(200);
    assert_eq!(m["base_unit"], "KG");
    sim.get("/api/v1/materials/FG-1?plant=2000")
        .await
        .assert_problem(
            404,
            "not-found",
            "Material FG-1 not maintained in plant 2000",
        );
    let list = sim
        .get("/api/v1/production-orders?plant=1000")
        .await
        .assert_status(200);
    assert_eq!(list["orders"].as_array().map(Vec::len), Some(3));
    let o = sim
        .get(&format!("/api/v1/production-orders/{ORDER}"))
        .await
        .assert_status(200);
    assert_eq!(o["status"], "released");
    sim.get("/api/v1/production-orders/42")
        .await
        .assert_problem(404, "not-found", "Order 42 does not exist");
    let s = sim.get("/api/v1/stock").await.assert_status(200);
    assert_eq!(s["stock"].as_array().map(Vec::len), Some(1));
    sim.get("/api/v1/stock?plant=10")
        .await
        .assert_problem(400, "invalid-request", "");
    sim.get("/api/v1/stock?colour=red")
        .await
        .assert_problem(400, "invalid-request", "colour");
}
