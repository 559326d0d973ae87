//! The Business Central side of delivery: the company of a plant, notifications read back
//! (the body and the MES/QMS/WMS call resolved with it), the material and stock look-ups,
//! and ERP commands posted as journal-line inserts, deduplicated by their document number.
//!
//! Business Central has no idempotency key: every accepted insert posts again. So before an
//! insert is sent, its item is marked *uncertain* with the row ([`Progress`]); a definite
//! answer (2xx, 4xx, 429) clears the mark, an ambiguous one (timeout, reset, 5xx) or a crash
//! leaves it, and an uncertain item is looked for in the ledger by its document number
//! before it is posted again (`bc-no-readback` skips that look).

use andon_contracts::api::{MaterialMasterUpdate, SourceRefs};
use andon_contracts::objects::StockRow;
use andon_contracts::{Material, MaterialId, PlantId, System};
use serde::Serialize;
use serde_json::Value;

use super::{Delivery, Step, Target, classify, unreadable};
use crate::bc::Progress;
use crate::bc::journal::{self, Check, Posting};
use crate::bc::wire;
use crate::command::{Command, LotRef, ReadBack, Verb, seg};
use crate::defects::Defect;
use crate::store::{self, Prepared};

/// Whether an answer leaves it open if the insert was posted: a request timeout or a
/// server error (the transport failures are handled where they happen).
fn ambiguous(status: u16) -> bool {
    status == 408 || (500..=599).contains(&status)
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, Step> {
    serde_json::to_value(value).map_err(|e| unreadable(e.to_string()))
}

fn not_found(call: String, what: String) -> Step {
    Step::Reject {
        status: 404,
        reason: "not-found".into(),
        problem: Some(Value::String(what)),
        call,
    }
}

impl Delivery {
    /// The id of `plant`'s company (`GET api/v2.0/companies`, read once).
    pub(super) async fn bc_company(
        &self,
        plant: &PlantId,
        traceparent: &Option<String>,
    ) -> Result<String, Step> {
        if let Some(id) = self.companies.get(plant) {
            return Ok(id);
        }
        let answer = self
            .lookup(&wire::companies(plant), &[], traceparent)
            .await?;
        let id = wire::company_id(&answer).map_err(unreadable)?;
        self.companies.set(plant, &id);
        Ok(id)
    }

    /// The plant of ERP command `c` with request `body`, when its ERP is Business Central.
    pub(super) fn bc_plant(&self, c: &Command, body: &Value) -> Option<PlantId> {
        (c.target == System::Erp)
            .then(|| super::plant_of(body))
            .flatten()
            .and_then(|p| PlantId::parse(p).ok())
            .filter(|p| self.dialects.bc(p).is_some())
    }

    /// The body of a Business Central read-back with `command` resolved with it, to be
    /// stored.
    pub(super) async fn bc_read_back(
        &self,
        plant: &PlantId,
        object: &ReadBack,
        refs: &SourceRefs,
        command: &Command,
        traceparent: &Option<String>,
    ) -> Result<Prepared, Step> {
        let (resolved, body) = self
            .bc_resolve(plant, object, refs, command, traceparent)
            .await?;
        Ok(Prepared::Rerouted {
            command: Box::new(resolved),
            body,
        })
    }

    /// A production order read back becomes the work order download (`created`), else its
    /// update or — when it reads `cancelled: true` — its cancellation; an item becomes the
    /// material master update of its number.
    async fn bc_resolve(
        &self,
        plant: &PlantId,
        object: &ReadBack,
        refs: &SourceRefs,
        command: &Command,
        traceparent: &Option<String>,
    ) -> Result<(Command, Value), Step> {
        match object {
            ReadBack::BcOrder {
                company,
                id,
                created,
            } => {
                let path = wire::order_read(plant, company, id);
                let e = self.lookup(&path, &[], traceparent).await?;
                let order = wire::order_number(&e).map_err(unreadable)?;
                let on = format!("/api/v1/work-orders/{}", seg(order.as_str()));
                if !created && wire::is_cancelled(&e) {
                    let c = Command {
                        verb: Verb::Post,
                        path: format!("{on}/cancellation"),
                        ..command.clone()
                    };
                    return Ok((c, to_json(&wire::cancellation(refs))?));
                }
                let wo = wire::work_order(&e, plant, refs).map_err(unreadable)?;
                let path = if *created { command.path.clone() } else { on };
                Ok((
                    Command {
                        path,
                        ..command.clone()
                    },
                    to_json(&wo)?,
                ))
            }
            ReadBack::BcItem { company, id } => {
                let path = wire::item_read(plant, company, id);
                let e = self.lookup(&path, &[], traceparent).await?;
                let m = wire::material(&e, plant).map_err(unreadable)?;
                self.material_changed(&m);
                let c = Command {
                    path: format!("/api/v1/materials/{}", seg(m.material.as_str())),
                    ..command.clone()
                };
                let update = MaterialMasterUpdate {
                    material: m,
                    refs: refs.clone(),
                };
                Ok((c, to_json(&update)?))
            }
            other => Err(Step::Untranslatable {
                error: format!("{other:?} is not read from Business Central"),
                call: command.call(),
            }),
        }
    }

    /// The material master of `plant`'s system (`manufacturingItems?$filter=number eq …`,
    /// read afresh; refreshes the cache). An item that is not there is a dead letter.
    pub(super) async fn bc_material(
        &self,
        plant: &PlantId,
        material: &MaterialId,
        traceparent: &Option<String>,
    ) -> Result<Material, Step> {
        let cid = self.bc_company(plant, traceparent).await?;
        let path = wire::item_lookup(plant, &cid, material);
        let answer = self.lookup(&path, &[], traceparent).await?;
        let Some(e) = wire::first(&answer).map_err(unreadable)? else {
            return Err(not_found(
                format!("GET {path}"),
                format!("no manufacturing item {material} in plant {plant}"),
            ));
        };
        let m = wire::material(e, plant).map_err(unreadable)?;
        self.material_changed(&m);
        Ok(m)
    }

    /// The stock of a lot in its plant's system (`lotInventories`).
    pub(super) async fn bc_stock(
        &self,
        lot: &LotRef,
        traceparent: &Option<String>,
    ) -> Result<Vec<StockRow>, Step> {
        let cid = self.bc_company(&lot.plant, traceparent).await?;
        let path = wire::lot_lookup(&lot.plant, &cid, &lot.material, &lot.batch);
        let answer = self.lookup(&path, &[], traceparent).await?;
        wire::stock_rows(&answer, &lot.plant).map_err(unreadable)
    }

    /// Posts the andon request `body` of ERP command `c` (row `row_id`, keyed `key`) to
    /// `plant`'s Business Central system: one insert per item, each skipped when known to be
    /// posted and looked for in the ledger first when it may have been.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn bc_post(
        &self,
        erp: &Target,
        row_id: i64,
        c: &Command,
        plant: &PlantId,
        body: &Value,
        key: &str,
        traceparent: &Option<String>,
    ) -> Step {
        let postings = match journal::outbound(&c.path, body, key) {
            Ok(p) => p,
            Err(error) => {
                return Step::Untranslatable {
                    error,
                    call: c.call(),
                };
            }
        };
        let cid = match self.bc_company(plant, traceparent).await {
            Ok(id) => id,
            Err(step) => return step,
        };
        let mut progress = match self
            .store
            .call(move |conn, _| store::bc::progress(conn, row_id))
            .await
        {
            Ok(p) => p,
            Err(e) => return stored_failed(&e),
        };
        for (i, p) in postings.iter().enumerate() {
            if progress.posted.contains(&i) {
                continue;
            }
            let at = Insert {
                erp,
                row_id,
                plant,
                cid: &cid,
                index: i,
            };
            match self.bc_insert(&at, p, &mut progress, traceparent).await {
                Step::Done => {}
                other => return other,
            }
        }
        Step::Done
    }

    /// One insert of a command (see [`Delivery::bc_post`]).
    async fn bc_insert(
        &self,
        at: &Insert<'_>,
        p: &Posting,
        progress: &mut Progress,
        traceparent: &Option<String>,
    ) -> Step {
        let i = at.index;
        // DEFECT: bc-no-readback — after an ambiguous outcome the line is simply posted again.
        if progress.uncertain.contains(&i) && !self.settings.defects.has(Defect::BcNoReadback) {
            match self.bc_found(at, &p.check, traceparent).await {
                Ok(true) => {
                    tracing::info!(plant = %at.plant, check = ?p.check, "the insert whose answer was lost is in the ledger: not posted again");
                    progress.uncertain.remove(&i);
                    progress.posted.insert(i);
                    return self.save_progress(at.row_id, progress, Step::Done).await;
                }
                Ok(false) => {}
                Err(step) => return step,
            }
        }
        progress.uncertain.insert(i);
        let marked = self.save_progress(at.row_id, progress, Step::Done).await;
        if marked != Step::Done {
            return marked;
        }
        let path = wire::custom(at.plant, at.cid, p.set);
        let call = format!("POST {path}");
        let answer = match self
            .bc_send(at.erp, at.plant, path, p.body.clone(), traceparent.clone())
            .await
        {
            Ok(a) => a,
            // Timed out, reset or refused: it may have been posted; it stays uncertain.
            Err(step) => return step,
        };
        let step = classify(&answer, None, &call);
        if ambiguous(answer.status) {
            return step;
        }
        progress.uncertain.remove(&i);
        if step == Step::Done {
            progress.posted.insert(i);
        }
        self.save_progress(at.row_id, progress, step).await
    }

    /// Whether the posting `check` names is in the ledger of the company of `at`.
    async fn bc_found(
        &self,
        at: &Insert<'_>,
        check: &Check,
        traceparent: &Option<String>,
    ) -> Result<bool, Step> {
        let answer = self
            .lookup(&check.query(at.plant, at.cid), &[], traceparent)
            .await?;
        journal::found(&answer).map_err(unreadable)
    }

    /// Stores `progress` of row `row_id`, then goes on with `then` (a retry when it could
    /// not be stored: the item is looked for again).
    async fn save_progress(&self, row_id: i64, progress: &Progress, then: Step) -> Step {
        let p = progress.clone();
        match self
            .store
            .call(move |conn, _| store::bc::set_progress(conn, row_id, &p))
            .await
        {
            Ok(()) => then,
            Err(e) => stored_failed(&e),
        }
    }
}

/// Where one insert goes.
struct Insert<'a> {
    erp: &'a Target,
    row_id: i64,
    plant: &'a PlantId,
    cid: &'a str,
    index: usize,
}

fn stored_failed(e: &store::StoreError) -> Step {
    Step::Retry {
        after: None,
        throttled: false,
        error: format!("storing the inserts' progress failed: {e}"),
    }
}
