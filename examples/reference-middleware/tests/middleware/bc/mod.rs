//! A plant whose ERP is Microsoft Dynamics 365 Business Central, against a small fake of it
//! ([`fake`]; the simulator is built elsewhere): subscriptions made through the handshake,
//! kept in the store and renewed by the system's clock, notifications read back into MES
//! calls that continue their trace, journal lines posted once even when an answer is lost.

mod fake;

use std::path::Path;
use std::time::Duration;

use andon_contracts::{PlantId, System};
use andon_reference_middleware::{BcRelease, Config, Defect, ErpDialect};
use chrono::TimeDelta;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::helpers::{TempDir, dead_letters_of, eventually, post_event, stats_of, wait_healthy};
use fake::{CID, Fake, ITEM_ID, ORDER_ID, PLANT};

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const WAIT: Duration = Duration::from_secs(10);

/// The middleware in-process, with plant 1000 on Business Central 24.
struct BcMw {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), andon_reference_middleware::Error>>,
}

impl BcMw {
    async fn start(bc: &Fake, apps: &Fake, dir: &Path, defects: &[Defect]) -> Self {
        let mut c = Config::new(dir)
            .target(System::Erp, bc.url.clone())
            .erp_dialect(
                PlantId::parse(PLANT).unwrap(),
                ErpDialect::BusinessCentral(BcRelease::R24),
            );
        for system in [System::Mes, System::Qms, System::Wms] {
            c = c.target(system, apps.url.clone());
        }
        for d in defects {
            c = c.defect(*d);
        }
        c.client_timeout = Duration::from_millis(500);
        c.backoff_base = Duration::from_millis(20);
        c.backoff_max = Duration::from_millis(200);
        c.idle_poll = Duration::from_millis(50);
        c.bc_renew_every = Duration::from_millis(50);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(andon_reference_middleware::run_on(
            c,
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        wait_healthy(&url).await;
        Self {
            url,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }

    /// Waits until every command is delivered (or dead).
    async fn settled(&self) {
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            if let Some(s) = stats_of(&client, &self.url).await
                && s["backlog"] == 0
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the middleware did not settle");
    }
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    assert!(
        eventually(WAIT, &mut cond).await,
        "waited in vain for {what}"
    );
}

/// Sends a notification of `collection` entity `id` from the fake's subscription on it.
async fn notify(
    bc: &Fake,
    collection: &str,
    id: &str,
    change: &str,
    at: &str,
    secret: Option<&str>,
) -> u16 {
    let sub = bc.with(|b| {
        b.subs
            .iter()
            .find(|s| s.resource.ends_with(collection))
            .cloned()
            .expect("subscribed")
    });
    let body = json!({"value": [{
        "subscriptionId": sub.id, "clientState": secret.unwrap_or(&sub.client_state),
        "expirationDateTime": sub.expires.to_rfc3339(),
        "resource": format!("api/andon/manufacturing/v1.0/companies({CID})/{collection}({id})"),
        "changeType": change, "lastModifiedDateTime": at}]});
    // One change, one trace (as andon's ERP sends them): the order's creation is TRACE.
    let trace = if collection == "productionOrders" && change == "created" {
        TRACE.to_string()
    } else {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("{collection}|{id}|{change}|{at}"));
        d.iter().take(16).map(|b| format!("{b:02x}")).collect()
    };
    reqwest::Client::new()
        .post(&sub.url)
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .json(&body)
        .send()
        .await
        .expect("notify")
        .status()
        .as_u16()
}

/// An andon event of the contract's examples, for plant 1000, under a fresh id.
fn example(name: &str) -> Value {
    let path = format!(
        "{}/../../contracts/examples/valid/cloudevent/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut e: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("example")).unwrap();
    e["id"] = json!(uuid::Uuid::new_v4().to_string());
    e
}

async fn subscribed(bc: &Fake) {
    wait_for("two subscriptions", || bc.with(|b| b.subs.len() == 2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bc_plant_is_subscribed_and_its_notifications_are_read_back_into_mes_calls() {
    let (bc, apps, dir) = (fake::bc().await, fake::recorder().await, TempDir::new());
    let mw = BcMw::start(&bc, &apps, dir.path(), &[]).await;
    subscribed(&bc).await;
    let resources: Vec<String> = bc.with(|b| b.subs.iter().map(|s| s.resource.clone()).collect());
    assert_eq!(
        resources,
        vec![
            format!("api/andon/manufacturing/v1.0/companies({CID})/productionOrders"),
            format!("api/andon/manufacturing/v1.0/companies({CID})/manufacturingItems"),
        ]
    );
    bc.with(|b| {
        for s in &b.subs {
            assert_eq!(s.url, format!("{}/events/erp/bc/{PLANT}", mw.url));
            assert_eq!(s.client_state.len(), 32, "a secret");
        }
    });

    let at = "2026-11-02T06:10:00Z";
    assert_eq!(
        notify(&bc, "productionOrders", ORDER_ID, "created", at, None).await,
        202
    );
    assert_eq!(
        notify(&bc, "productionOrders", ORDER_ID, "created", at, None).await,
        200,
        "a redelivery is recognised"
    );
    assert_eq!(
        notify(
            &bc,
            "productionOrders",
            ORDER_ID,
            "updated",
            at,
            Some("guess")
        )
        .await,
        403,
        "a notification without the subscription's secret is refused"
    );
    wait_for("the work order in MES", || {
        !apps.seen("POST", "/api/v1/work-orders").is_empty()
    })
    .await;
    assert_eq!(
        notify(&bc, "manufacturingItems", ITEM_ID, "updated", at, None).await,
        202
    );
    mw.settled().await;

    let reads = bc.seen("GET", &format!("productionOrders({ORDER_ID})"));
    assert_eq!(reads.len(), 1, "read back once: {reads:#?}");
    assert_eq!(reads[0].query, "$expand=routingLines,components");
    assert_eq!(
        reads[0]
            .header("traceparent")
            .and_then(|t| t.split('-').nth(1)),
        Some(TRACE)
    );
    let posted = apps.seen("POST", "/api/v1/work-orders");
    assert_eq!(
        posted.len(),
        1,
        "one work order for one change: {posted:#?}"
    );
    let wo = &posted[0];
    assert_eq!(wo.body["order"], "100000001");
    assert_eq!(wo.body["plant"], PLANT);
    assert_eq!(
        wo.body["planned_quantity"],
        json!({"value": 480.0, "unit": "PC"})
    );
    assert_eq!(wo.body["components"][0]["reservation_item"], "0001");
    assert!(
        wo.body["source"]["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("/andon/erp/")),
        "the notification itself is named as the source: {}",
        wo.body
    );
    let trace = |s: &fake::Seen| {
        s.header("traceparent")
            .and_then(|t| t.split('-').nth(1))
            .map(str::to_string)
    };
    assert_eq!(
        trace(wo).as_deref(),
        Some(TRACE),
        "the notification's trace continues"
    );
    let materials = apps.seen("PUT", "/api/v1/materials/RM-1000-02");
    assert_eq!(materials.len(), 3, "MES, QMS and WMS: {materials:#?}");
    assert_eq!(
        materials[0].body["alternative_units"],
        json!([{"unit": "G", "numerator": 1, "denominator": 1000}])
    );
    let dl = dead_letters_of(&mw.url).await;
    assert_eq!(dl.len(), 1, "only the refused notification: {dl:#?}");
    assert_eq!(
        (dl[0]["target"].as_str(), dl[0]["status"].as_u64()),
        (Some("ingress"), Some(403))
    );
    mw.stop().await;
}

/// Posts an operation confirmation of plant 1000 whose first answer is lost, and a
/// shipment of two items; returns the fake.
async fn post_with_a_lost_answer(defects: &[Defect]) -> Fake {
    let (bc, apps, dir) = (fake::bc().await, fake::recorder().await, TempDir::new());
    let mw = BcMw::start(&bc, &apps, dir.path(), defects).await;
    bc.with(|b| b.lose_next_post = true);
    let client = reqwest::Client::new();
    assert_eq!(
        post_event(
            &client,
            &mw.url,
            System::Mes,
            &example("operation-confirmed")
        )
        .await,
        202
    );
    wait_for("the confirmation posted", || {
        bc.with(|b| !b.capacity_ledger.is_empty())
    })
    .await;
    mw.settled().await;
    assert_eq!(
        post_event(
            &client,
            &mw.url,
            System::Wms,
            &example("shipment-confirmed")
        )
        .await,
        202
    );
    mw.settled().await;
    assert!(dead_letters_of(&mw.url).await.is_empty());
    mw.stop().await;
    bc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posting_whose_answer_was_lost_is_read_back_and_not_posted_again() {
    let bc = post_with_a_lost_answer(&[]).await;
    let posts = bc.seen("POST", "/outputJournalLines");
    assert_eq!(posts.len(), 1, "posted once: {posts:#?}");
    let line = &posts[0].body;
    let doc = line["documentNumber"].as_str().unwrap();
    assert!(doc.len() <= 20, "{doc}");
    assert_eq!(
        line["postingDate"], "2026-11-22",
        "the event's posting date"
    );
    assert_eq!(line["unitOfMeasureCode"], "PC");
    assert_eq!(
        line["finished"],
        example("operation-confirmed")["data"]["final"]
    );
    let reads = bc.seen("GET", "/capacityLedgerEntries");
    assert!(!reads.is_empty(), "read back after the lost answer");
    assert_eq!(reads[0].query, format!("$filter=documentNumber eq '{doc}'"));
    assert_eq!(bc.with(|b| b.capacity_ledger.len()), 1, "booked once");

    let sales = bc.seen("POST", "/itemJournalLines");
    assert_eq!(sales.len(), 2, "one insert per shipped item: {sales:#?}");
    assert_ne!(
        sales[0].body["documentNumber"],
        sales[1].body["documentNumber"]
    );
    for s in &sales {
        assert_eq!(s.body["entryType"], "Sale");
        assert_eq!(s.body["postingDate"], "2026-11-24");
        assert_eq!(s.body["unitOfMeasureCode"], "PC");
        assert!(
            s.header("idempotency-key").is_none(),
            "Business Central has none"
        );
    }
    assert!(
        bc.seen("GET", "/itemLedgerEntries").is_empty(),
        "no read-back without an ambiguous outcome"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bc_no_readback_posts_the_line_whose_answer_was_lost_again() {
    let bc = post_with_a_lost_answer(&[Defect::BcNoReadback]).await;
    assert_eq!(bc.seen("POST", "/outputJournalLines").len(), 2);
    assert!(bc.seen("GET", "/capacityLedgerEntries").is_empty());
    assert_eq!(bc.with(|b| b.capacity_ledger.len()), 2, "booked twice");
}

/// Subscribes, then moves the fake's clock two business days on (with the next `PATCH`
/// refused 412), then lets one subscription expire.
async fn two_days_later(defects: &[Defect]) -> (Fake, BcMw, TempDir) {
    let (bc, apps, dir) = (fake::bc().await, fake::recorder().await, TempDir::new());
    let mw = BcMw::start(&bc, &apps, dir.path(), defects).await;
    subscribed(&bc).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        bc.seen("PATCH", "subscriptions").is_empty(),
        "nothing to renew at first"
    );
    bc.with(|b| {
        b.refuse_next_patch = true;
        b.now += TimeDelta::days(2);
    });
    let _ = apps;
    (bc, mw, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_renewed_by_the_systems_clock_and_recreated_when_gone() {
    let (bc, mw, dir) = two_days_later(&[]).await;
    wait_for("both renewed", || {
        bc.with(|b| {
            b.subs
                .iter()
                .all(|s| s.expires == b.now + TimeDelta::days(3))
        })
    })
    .await;
    let patches = bc.seen("PATCH", "subscriptions");
    assert_eq!(patches[0].status, 412, "the first was refused as stale");
    for p in patches.iter().filter(|p| p.status == 200) {
        assert!(
            p.header("if-match").is_some_and(|e| e.starts_with("W/")),
            "{p:?}"
        );
        assert_eq!(
            p.body["notificationUrl"],
            format!("{}/events/erp/bc/{PLANT}", mw.url)
        );
    }
    assert_eq!(bc.with(|b| b.created), 2, "renewed, not re-created");
    // One expires (is gone): it is made again.
    bc.with(|b| b.subs.remove(0));
    wait_for("a new subscription", || {
        bc.with(|b| b.created == 3 && b.subs.len() == 2)
    })
    .await;
    let apps = fake::recorder().await;
    mw.stop().await;

    // A restart reuses the subscriptions kept in the store, pointed at its new address.
    let again = BcMw::start(&bc, &apps, dir.path(), &[]).await;
    wait_for("pointed at the new address", || {
        bc.with(|b| b.subs.iter().all(|s| s.url.starts_with(&again.url)))
    })
    .await;
    assert_eq!(
        bc.with(|b| b.created),
        3,
        "no new subscription after a restart"
    );
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subscription_renewal_lets_subscriptions_lapse() {
    let (bc, mw, _dir) = two_days_later(&[Defect::NoSubscriptionRenewal]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(bc.seen("PATCH", "subscriptions").is_empty());
    assert!(
        bc.seen("GET", "subscriptions(").is_empty(),
        "never looked at again"
    );
    bc.with(|b| b.subs.remove(0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bc.with(|b| b.created), 2, "not re-created");
    mw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_ups_read_items_and_lot_inventories_and_refusals_are_not_read_back() {
    let (bc, apps, dir) = (fake::bc().await, fake::recorder().await, TempDir::new());
    let mw = BcMw::start(&bc, &apps, dir.path(), &[]).await;
    let client = reqwest::Client::new();

    // 500 G consumed of a KG item: the item's units convert it; a 429 is waited out.
    bc.with(|b| b.refuse_next_post = Some((429, "Application_TooManyRequests")));
    let mut consumed = example("material-consumed");
    consumed["data"]["quantity"] = json!({"value": 500, "unit": "G"});
    assert_eq!(
        post_event(&client, &mw.url, System::Mes, &consumed).await,
        202
    );
    mw.settled().await;
    let lookups = bc.seen("GET", "/manufacturingItems");
    assert_eq!(
        lookups[0].query,
        "$filter=number eq 'RM-1000-07'&$expand=unitsOfMeasure"
    );
    let issues = bc.seen("POST", "/itemJournalLines");
    assert_eq!(issues.len(), 2, "refused 429, then posted: {issues:#?}");
    assert_eq!(issues[0].status, 429);
    let line = &issues[1].body;
    assert_eq!(
        (
            &line["entryType"],
            &line["quantity"],
            &line["unitOfMeasureCode"],
            &line["orderNumber"]
        ),
        (
            &json!("Consumption"),
            &json!(0.5),
            &json!("KG"),
            &json!("100000001")
        )
    );
    assert_eq!(
        issues[0].body, issues[1].body,
        "the same line, the same document number"
    );
    assert!(
        bc.seen("GET", "/itemLedgerEntries").is_empty(),
        "a 429 is not ambiguous: no read-back"
    );

    // A hold blocks the lot's unrestricted stock as it is now; refused for short inventory
    // (400), it is a dead letter with the system's code.
    bc.with(|b| b.refuse_next_post = Some((400, "Internal_InsufficientInventory")));
    let mut hold = example("lot-hold-placed");
    hold["sequence"] = json!(1);
    assert_eq!(post_event(&client, &mw.url, System::Qms, &hold).await, 202);
    mw.settled().await;
    let stock = bc.seen("GET", "/lotInventories");
    assert_eq!(
        stock[0].query,
        "$filter=itemNumber eq 'FG-1000-01' and lotNumber eq 'B000123'"
    );
    let block = bc.seen("POST", "/itemJournalLines").pop().unwrap();
    assert_eq!(
        (
            &block.body["inventoryStatus"],
            &block.body["newInventoryStatus"],
            &block.body["quantity"]
        ),
        (&json!("Unrestricted"), &json!("Blocked"), &json!(7.0))
    );
    let dl = dead_letters_of(&mw.url).await;
    assert_eq!(dl.len(), 1, "{dl:#?}");
    assert_eq!(
        (dl[0]["status"].as_u64(), dl[0]["reason"].as_str()),
        (Some(400), Some("Internal_InsufficientInventory"))
    );
    assert_eq!(
        apps.seen("POST", "/holds").len(),
        2,
        "MES and WMS hold the lot"
    );

    // A nonconformance: a quality notification keyed by its number.
    let nc = example("nonconformance-from-mes");
    assert_eq!(post_event(&client, &mw.url, System::Mes, &nc).await, 202);
    mw.settled().await;
    let qn = bc.seen("POST", "/qualityNotifications");
    assert_eq!(qn.len(), 1);
    assert_eq!(qn[0].body["nonconformanceNumber"], "MES-NC-000311");
    assert_eq!(qn[0].body["itemNumber"], "FG-1000-01");
    mw.stop().await;
}
