//! Properties of the ERP's stock keeping over random sequences of postings on
//! [`ErpState`] (no HTTP), and concurrent postings through the router.

use std::collections::BTreeMap;

use andon_contracts::api::{
    DocumentItemRef, GoodsMovementItem, GoodsMovementRequest, MaterialDocument, SourceRefs,
};
use andon_contracts::{
    BatchId, MaterialId, MovementTypeCode, OrderId, PlantId, Quantity, StorageLocation, Unit,
};
use andon_simulators::MasterData;
use andon_simulators::erp::{ErpState, StockKey};
use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::helpers::*;

/// Movement types the properties draw from.
const TYPES: &[&str] = &[
    "101", "102", "261", "262", "531", "321", "322", "349", "350", "343", "344", "551", "553",
    "601", "301", "302",
];

/// Effect of a movement type on the total quantity of its material and batch (all plants,
/// storage locations and stock types together): +1 in, −1 out, 0 a transfer.
fn sign(movement_type: &str) -> i64 {
    match movement_type {
        "101" | "531" | "262" | "552" | "554" | "602" => 1,
        "102" | "532" | "261" | "551" | "553" | "601" => -1,
        "321" | "322" | "349" | "350" | "343" | "344" | "301" | "302" => 0,
        other => panic!("movement type {other} not covered"),
    }
}

#[derive(Debug, Clone)]
struct ItemSpec {
    movement_type: usize,
    finished: bool,
    batch: usize,
    qty: i64,
    alternative_unit: bool,
    in_plant_2000: bool,
}

#[derive(Debug, Clone)]
enum Op {
    /// Post a document with these items.
    Post(Vec<ItemSpec>),
    /// Reverse a document posted earlier.
    Reverse(Index),
    /// Reverse the last document if nothing was posted after it.
    ReverseLast,
}

fn item_spec() -> impl Strategy<Value = ItemSpec> {
    (
        0..TYPES.len(),
        any::<bool>(),
        0..2usize,
        1..=40i64,
        any::<bool>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(movement_type, finished, batch, qty, alternative_unit, in_plant_2000)| ItemSpec {
                movement_type,
                finished,
                batch,
                qty,
                alternative_unit,
                in_plant_2000,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(item_spec(), 1..=3).prop_map(Op::Post),
        2 => any::<Index>().prop_map(Op::Reverse),
        1 => Just(Op::ReverseLast),
    ]
}

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 2).expect("date")
}

fn goods_item(s: &ItemSpec) -> GoodsMovementItem {
    let movement_type = TYPES[s.movement_type];
    let (material, batch) = if s.finished {
        ("FG-1", ["F1", "F2"][s.batch])
    } else {
        ("RM-1", ["R1", "R2"][s.batch])
    };
    let (plant, other) = if s.in_plant_2000 {
        ("2000", "1000")
    } else {
        ("1000", "2000")
    };
    let quantity = match (s.finished, s.alternative_unit) {
        (false, false) => Quantity::from_milli(s.qty * 1000, Unit::parse("KG").expect("unit")),
        // A quarter of a kilogram per step, in grams.
        (false, true) => Quantity::from_milli(s.qty * 250_000, Unit::parse("G").expect("unit")),
        (true, false) => Quantity::from_milli(s.qty * 1000, Unit::parse("PC").expect("unit")),
        (true, true) => Quantity::from_milli(s.qty * 1000, Unit::parse("BOX").expect("unit")),
    };
    let order_related = matches!(movement_type, "101" | "102" | "261" | "262" | "531" | "532");
    let transfer = matches!(movement_type, "301" | "302");
    GoodsMovementItem {
        movement_type: MovementTypeCode::parse(movement_type).expect("movement type"),
        material: MaterialId::parse(material).expect("material"),
        plant: PlantId::parse(plant).expect("plant"),
        storage_location: StorageLocation::parse("0001").expect("sloc"),
        batch: Some(BatchId::parse(batch).expect("batch")),
        quantity,
        order: order_related.then(|| OrderId::parse(ORDER).expect("order")),
        reason_code: None,
        reversal_of: None,
        receiving_plant: transfer.then(|| PlantId::parse(other).expect("plant")),
        receiving_storage_location: None,
    }
}

fn request(items: Vec<GoodsMovementItem>) -> GoodsMovementRequest {
    GoodsMovementRequest {
        posting_date: date(),
        header_text: None,
        items,
        refs: SourceRefs::default(),
    }
}

/// Total quantity per (material, batch) over all plants, storage locations and stock types.
fn totals(st: &ErpState) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for (k, q) in &st.stock {
        let b = k
            .batch
            .as_ref()
            .map(|b| b.as_str().to_string())
            .unwrap_or_default();
        *out.entry((k.material.as_str().to_string(), b)).or_default() += *q;
    }
    out.retain(|_, q| *q != 0);
    out
}

/// Expected change of the totals by a posted document.
fn doc_delta(doc: &MaterialDocument) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for it in &doc.items {
        let b = it
            .posted
            .batch
            .as_ref()
            .map(|b| b.as_str().to_string())
            .unwrap_or_default();
        *out.entry((it.posted.material.as_str().to_string(), b))
            .or_default() += sign(it.posted.movement_type.as_str()) * it.quantity_base.milli;
    }
    out
}

fn apply_delta(
    mut totals: BTreeMap<(String, String), i64>,
    delta: &BTreeMap<(String, String), i64>,
) -> BTreeMap<(String, String), i64> {
    for (k, d) in delta {
        *totals.entry(k.clone()).or_default() += d;
    }
    totals.retain(|_, q| *q != 0);
    totals
}

/// Balances other than zero.
fn nonzero(st: &ErpState) -> BTreeMap<StockKey, i64> {
    st.stock
        .iter()
        .filter(|(_, q)| **q != 0)
        .map(|(k, q)| (k.clone(), *q))
        .collect()
}

fn delivered(st: &ErpState) -> i64 {
    st.orders[&OrderId::parse(ORDER).expect("order")].delivered
}

fn assert_never_negative(st: &ErpState) -> Result<(), TestCaseError> {
    for (k, q) in &st.stock {
        prop_assert!(*q >= 0, "negative balance {q} at {k:?}");
    }
    Ok(())
}

/// A rejected posting or reversal leaves stock, documents and orders exactly as they were.
fn assert_unchanged(before: &ErpState, after: &ErpState) -> Result<(), TestCaseError> {
    prop_assert_eq!(&before.stock, &after.stock);
    prop_assert_eq!(&before.documents, &after.documents);
    prop_assert_eq!(delivered(before), delivered(after));
    Ok(())
}

fn reverse(
    md: &MasterData,
    st: &mut ErpState,
    doc: &MaterialDocument,
) -> Result<MaterialDocument, andon_simulators::problem::ApiError> {
    st.reverse_document(
        md,
        doc.year,
        &doc.material_document,
        date(),
        SourceRefs::default(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Stock never goes negative, a rejected posting changes nothing, every posting changes
    /// the total of its material and batch by exactly its receipts minus its issues (so
    /// 321/322/349/350/343/344/301/302 conserve it), reversing a document already reversed
    /// is `already-reversed`, and reversing the last document restores the stock before it.
    #[test]
    fn postings_keep_stock_non_negative_and_conserve_quantities(ops in prop::collection::vec(op(), 1..40)) {
        let (md, mut st) = erp_state();
        let mut docs: Vec<MaterialDocument> = Vec::new();
        let mut reversed: std::collections::BTreeSet<String> = Default::default();
        // The last document and the stock before it, while nothing else was posted.
        let mut last: Option<(MaterialDocument, BTreeMap<StockKey, i64>)> = None;
        for op in ops {
            let before = st.clone();
            let result = match &op {
                Op::Post(items) => {
                    let r = st.post_goods_movement(&md, &request(items.iter().map(goods_item).collect()));
                    if let Ok(doc) = &r {
                        last = Some((doc.clone(), nonzero(&before)));
                    }
                    r.map(|d| (d, None))
                }
                Op::Reverse(i) if !docs.is_empty() => {
                    let doc = docs[i.index(docs.len())].clone();
                    let r = reverse(&md, &mut st, &doc);
                    if reversed.contains(&doc.material_document) {
                        let e = r.as_ref().expect_err("a second reversal must fail");
                        prop_assert_eq!(e.code(), "already-reversed");
                    }
                    r.map(|d| (d, Some(doc)))
                }
                Op::Reverse(_) => continue,
                Op::ReverseLast => {
                    let Some((doc, stock_before)) = last.take() else { continue };
                    let r = reverse(&md, &mut st, &doc);
                    prop_assert!(r.is_ok(), "reversing the last document failed: {:?}", r.as_ref().err());
                    prop_assert_eq!(nonzero(&st), stock_before, "reversal did not restore the stock");
                    r.map(|d| (d, Some(doc)))
                }
            };
            assert_never_negative(&st)?;
            match result {
                Err(e) => {
                    prop_assert!(e.status() == 422 || e.status() == 400, "unexpected error {e}");
                    assert_unchanged(&before, &st)?;
                }
                Ok((doc, reversal_of)) => {
                    prop_assert_eq!(totals(&st), apply_delta(totals(&before), &doc_delta(&doc)), "{:?}", doc);
                    if let Some(orig) = reversal_of {
                        // A reversal undoes the original's effect on the totals.
                        let net = apply_delta(doc_delta(&doc), &doc_delta(&orig));
                        prop_assert!(net.is_empty(), "reversal and original do not cancel out: {:?}", net);
                        reversed.insert(orig.material_document.clone());
                        // Each original item is reversed by exactly one item naming it.
                        let mut named: Vec<DocumentItemRef> = doc
                            .items
                            .iter()
                            .map(|it| it.posted.reversal_of.clone().expect("a reversal item names what it reverses"))
                            .collect();
                        named.sort_by_key(|r| r.item);
                        let expected: Vec<DocumentItemRef> = orig
                            .items
                            .iter()
                            .map(|it| DocumentItemRef { material_document: orig.material_document.clone(), year: orig.year, item: it.item })
                            .collect();
                        prop_assert_eq!(named, expected);
                    }
                    if !matches!(op, Op::Post(_)) {
                        last = None;
                    }
                    docs.push(doc);
                }
            }
        }
    }

    /// Reversing every document, newest first, always succeeds and restores the initial
    /// stock and the order's delivered quantity exactly.
    #[test]
    fn reversing_every_document_newest_first_restores_the_initial_state(
        posts in prop::collection::vec(prop::collection::vec(item_spec(), 1..=3), 1..30)
    ) {
        let (md, mut st) = erp_state();
        let initial = nonzero(&st);
        let initial_delivered = delivered(&st);
        let mut docs = Vec::new();
        for items in posts {
            if let Ok(doc) = st.post_goods_movement(&md, &request(items.iter().map(goods_item).collect())) {
                docs.push(doc);
            }
            assert_never_negative(&st)?;
        }
        for doc in docs.iter().rev() {
            let r = reverse(&md, &mut st, doc);
            prop_assert!(r.is_ok(), "reversing {} failed: {:?}", doc.material_document, r.err());
            assert_never_negative(&st)?;
        }
        prop_assert_eq!(nonzero(&st), initial);
        prop_assert_eq!(delivered(&st), initial_delivered);
        // And every one of them is now reversed.
        for doc in &docs {
            let stored = &st.documents[&(doc.year, doc.material_document.clone())];
            prop_assert!(stored.items.iter().all(|i| i.reversed));
        }
    }
}

/// 8 tasks each post 50 × 1 KG 261 on the same batch (100 KG) at once: every posting either
/// succeeds or is a stock deficit, and the balance is exactly what the successes took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_postings_on_one_batch_lose_no_update() {
    let sim = Sim::start();
    let initial = sim.r1_unrestricted();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let router = sim.router.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut deficit) = (0u32, 0u32);
            for i in 0..50 {
                let body = consume_r1(1.0);
                let req = json_request(
                    axum::http::Method::POST,
                    "/api/v1/material-documents",
                    &body,
                    Some(&format!("t{t}-{i}")),
                );
                let r = send_to(&router, req).await;
                match r.status.as_u16() {
                    201 => ok += 1,
                    422 => {
                        r.assert_problem(
                            422,
                            "stock-deficit",
                            "Deficit of SL Unrestricted-use 1 KG",
                        );
                        deficit += 1;
                    }
                    other => panic!("unexpected {other}: {}", r.text()),
                }
                tokio::task::yield_now().await;
            }
            (ok, deficit)
        }));
    }
    let (mut ok, mut deficit) = (0, 0);
    for t in tasks {
        let (o, d) = t.await.expect("task");
        ok += o;
        deficit += d;
    }
    assert_eq!(ok + deficit, 400);
    assert_eq!(ok, 100, "100 KG allow exactly 100 postings of 1 KG");
    assert_eq!(sim.r1_unrestricted(), initial - i64::from(ok) * 1000);
    assert_eq!(sim.r1_unrestricted(), 0);
    assert_eq!(sim.effects("erp.goods_movement").len(), ok as usize);
    let docs = sim.snapshot().documents;
    assert_eq!(docs.len(), ok as usize);
    let numbers: std::collections::BTreeSet<_> =
        docs.values().map(|d| d.material_document.clone()).collect();
    assert_eq!(numbers.len(), ok as usize, "document numbers are unique");
}
