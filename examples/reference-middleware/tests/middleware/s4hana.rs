//! Plants whose ERP is SAP S/4HANA (releases 2408 and 2502): SAP business events read back,
//! goods movements and confirmations posted as OData deep inserts, CSRF tokens renewed,
//! redeliveries booked once.

use andon_contracts::{PlantId, System};
use andon_reference_middleware::{Defect, ErpDialect, Release};
use andon_simulators::faults::FaultKind;
use andon_simulators::history::RequestEntry;
use serde_json::json;

use crate::helpers::{Mw, PLANT, Plant, dead_lettered};
use crate::scenarios::run_orders;

/// A request to a plant's S/4HANA services, as the ERP recorded it.
#[derive(Debug)]
struct SapReq {
    method: String,
    path: String,
    status: u16,
    request_id: Option<String>,
}

fn sap_requests(plant: &Plant) -> Vec<SapReq> {
    plant.history.with_records(|rs| {
        rs.iter()
            .filter_map(|r| match r.entry.request() {
                Some(RequestEntry {
                    method,
                    path,
                    idempotency_key,
                    status,
                    ..
                }) if path.contains("/sap/opu/odata/sap/") => Some(SapReq {
                    method: method.clone(),
                    path: path.clone(),
                    status: *status,
                    request_id: idempotency_key.clone(),
                }),
                _ => None,
            })
            .collect()
    })
}

/// Puts plant 1000's ERP on S/4HANA `release` (at start, or as a vendor upgrade mid-run).
async fn set_release(plant: &Plant, release: Release) {
    let binding = format!("s4hana@{}", release.name());
    let answer = reqwest::Client::new()
        .put(format!("{}/_andon/config", plant.urls[&System::Erp]))
        .json(&json!({"dialects": {PLANT: binding}}))
        .send()
        .await
        .expect("configure the ERP");
    assert!(answer.status().is_success(), "{}", answer.status());
}

/// The simulators with plant 1000's ERP on S/4HANA `release`, and the middleware told so.
async fn s4_plant(release: Release) -> (Plant, Mw) {
    s4_plant_with(release, &[]).await
}

/// As [`s4_plant`], with `defects` on.
async fn s4_plant_with(release: Release, defects: &[Defect]) -> (Plant, Mw) {
    let plant = Plant::start().await;
    set_release(&plant, release).await;
    let defects = defects.to_vec();
    let mw = Mw::start_with(&plant, move |c| {
        defects.into_iter().fold(
            c.erp_dialect(PlantId::parse(PLANT).unwrap(), ErpDialect::S4hana(release)),
            |c, d| c.defect(d),
        )
    })
    .await;
    (plant, mw)
}

/// Every acknowledged event has its effects once; nothing was dead-lettered. SAP bodies
/// carry no source reference (andon attributes S/4HANA calls by trace id), so the ERP's
/// effects are counted against the events that imply them: one 261 item per consumption,
/// one confirmation per confirmed operation.
async fn exactly_once(plant: &Plant, mw: &Mw) {
    let dl = mw.dead_letters().await;
    assert!(dl.is_empty(), "no dead letter: {dl:#?}");
    assert_eq!(plant.doubled_effects(), vec![], "effects realised twice");
    let lost: Vec<_> = plant
        .lost_effects(&dead_lettered(&dl))
        .into_iter()
        .filter(|(_, _, effect)| !effect.starts_with("erp."))
        .collect();
    assert_eq!(lost, vec![], "acknowledged events without their effect");
    let emitted = |kind: &str| {
        plant
            .emitted()
            .values()
            .filter(|e| e.type_ == format!("andon.{kind}.v1"))
            .count()
    };
    let issues = plant
        .effects_named("erp.goods_movement")
        .iter()
        .filter(|e| e.detail["movement_type"] == "261")
        .count();
    assert_eq!(
        issues,
        emitted("material.consumed"),
        "one 261 per consumption"
    );
    assert_eq!(
        plant.effects_named("erp.confirmation").len(),
        emitted("operation.confirmed"),
        "one confirmation per confirmed operation"
    );
}

async fn an_order_runs_end_to_end(release: Release) {
    let (plant, mw) = s4_plant(release).await;
    run_orders(&plant, &mw.url, 2).await;
    plant.settle(&mw.url).await;

    assert!(
        !plant.effects_named("mes.work_order").is_empty(),
        "the released orders were read back and downloaded to MES"
    );
    let issues: Vec<_> = plant
        .effects_named("erp.goods_movement")
        .into_iter()
        .filter(|e| e.detail["movement_type"] == "261")
        .collect();
    assert!(!issues.is_empty(), "consumptions were posted as 261");
    for e in &issues {
        let q = &e.detail["quantity"];
        assert!(
            q["value"].as_f64().is_some_and(|v| v > 0.0),
            "a quantity: {e:?}"
        );
    }
    assert!(
        !plant.effects_named("erp.confirmation").is_empty(),
        "confirmations were posted"
    );
    let sap = sap_requests(&plant);
    let posts: Vec<_> = sap.iter().filter(|r| r.method == "POST").collect();
    assert!(
        posts.iter().any(|r| r
            .path
            .ends_with("API_MATERIAL_DOCUMENT_SRV/A_MaterialDocumentHeader")),
        "{sap:#?}"
    );
    assert!(
        posts.iter().any(|r| r
            .path
            .ends_with("API_PROD_ORDER_CONFIRMATION_2_SRV/ProdnOrdConf2")),
        "{sap:#?}"
    );
    for r in &posts {
        assert!(
            r.request_id.as_deref().is_some_and(|k| k.len() == 32),
            "a repeatable request: {r:?}"
        );
        assert!(r.status < 300, "accepted: {r:?}");
    }
    assert!(
        plant.requests().iter().all(|r| r.system != System::Erp),
        "no andon call reaches an S/4HANA plant's ERP"
    );
    exactly_once(&plant, &mw).await;
    mw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s4hana_2408_plant_gets_work_orders_goods_issues_and_confirmations() {
    an_order_runs_end_to_end(Release::R2408).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s4hana_2502_plant_gets_work_orders_goods_issues_and_confirmations() {
    an_order_runs_end_to_end(Release::R2502).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_csrf_token_is_fetched_again_and_nothing_is_lost() {
    let (plant, mw) = s4_plant(Release::R2502).await;
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    let before = sap_requests(&plant).len();
    plant.fault_kind(System::Erp, FaultKind::CsrfExpiry);
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    let after: Vec<_> = sap_requests(&plant).into_iter().skip(before).collect();
    assert!(
        after.iter().any(|r| r.status == 403),
        "the expired token was refused: {after:#?}"
    );
    assert!(
        after.iter().any(|r| r.method == "POST" && r.status == 201),
        "posts went through with the new token: {after:#?}"
    );
    exactly_once(&plant, &mw).await;
    mw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_delivery_books_once() {
    let (plant, mw) = s4_plant(Release::R2408).await;
    plant.fault_kind(System::Mes, FaultKind::Duplicate);
    run_orders(&plant, &mw.url, 2).await;
    plant.settle(&mw.url).await;
    assert!(
        mw.stats().await["duplicates"].as_u64() > Some(0),
        "events were delivered twice"
    );
    exactly_once(&plant, &mw).await;
    mw.stop().await;
}

/// Plant 1000's system is upgraded from 2408 to 2502 between two orders.
async fn upgraded_mid_run(defects: &[Defect]) -> (Plant, Mw, usize) {
    let (plant, mw) = s4_plant_with(Release::R2408, defects).await;
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    let before = sap_requests(&plant).len();
    set_release(&plant, Release::R2502).await;
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    (plant, mw, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_vendor_upgrade_the_release_is_read_again_and_the_refused_call_resent() {
    let (plant, mw, before) = upgraded_mid_run(&[]).await;
    let after: Vec<_> = sap_requests(&plant).into_iter().skip(before).collect();
    let refused: Vec<_> = after
        .iter()
        .filter(|r| r.method == "POST" && r.status == 400)
        .collect();
    assert!(!refused.is_empty(), "a 2408 body was refused: {after:#?}");
    let reads = after
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("API_MATERIAL_DOCUMENT_SRV/$metadata"))
        .count();
    assert!(
        (1..=refused.len()).contains(&reads),
        "the release was read from $metadata, at most once per refusal: {after:#?}"
    );
    for r in &refused {
        assert!(
            !after
                .iter()
                .any(|a| a.status < 300 && a.request_id == r.request_id),
            "a changed body goes out under a new RequestID (the 400 is kept for the old one): {after:#?}"
        );
    }
    assert!(
        after
            .iter()
            .any(|r| r.status == 201 && r.path.ends_with("A_MaterialDocumentHeader")),
        "material documents are posted in 2502: {after:#?}"
    );
    // Nothing refused was dead-lettered: every refused call was sent again and booked.
    exactly_once(&plant, &mw).await;
    mw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_blind_keeps_the_old_body_and_dead_letters_it() {
    let (_plant, mw, _) = upgraded_mid_run(&[Defect::ReleaseBlind]).await;
    let dl = mw.dead_letters().await;
    assert!(
        dl.iter().any(|d| d["status"] == 400
            && d["problem"]["error"]["message"]["value"]
                .as_str()
                .is_some_and(|m| m.contains("EntryUnitISOCode"))),
        "{dl:#?}"
    );
    mw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_no_refresh_dead_letters_the_refused_post() {
    let (plant, mw) = s4_plant_with(Release::R2502, &[Defect::CsrfNoRefresh]).await;
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    plant.fault_kind(System::Erp, FaultKind::CsrfExpiry);
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    let dl = mw.dead_letters().await;
    assert!(dl.iter().any(|d| d["status"] == 403), "{dl:#?}");
    let fetches = sap_requests(&plant)
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("_SRV/"))
        .count();
    assert_eq!(fetches, 1, "the token is fetched once and never again");
    mw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_repeatability_posts_without_request_id() {
    let (plant, mw) = s4_plant_with(Release::R2502, &[Defect::NoRepeatability]).await;
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    let posts: Vec<_> = sap_requests(&plant)
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(!posts.is_empty());
    assert!(posts.iter().all(|r| r.request_id.is_none()), "{posts:#?}");
    mw.stop().await;
}
