//! One operation of a service against the ERP's core: reads of entity sets, entities and
//! navigations, the creates (deep insert of a material document, a confirmation) and the
//! function import `Cancel`; `$metadata` and the service document.

use andon_contracts::api::ReversalRequest;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::entities::{self as ent, Place};
use super::error::SapError;
use super::{Answer, Body, Call, Note, create};
use crate::erp::Erp;

/// Runs `call`.
pub(super) fn run(erp: &Erp, call: &Call) -> Answer {
    let op = template(call);
    let note = Note {
        op: op.clone(),
        ..Note::default()
    };
    let result = match (&call.method, call.res.set.as_str()) {
        (&Method::GET, "") => Ok(service_document(&call.service)),
        (&Method::GET, "$metadata") => return metadata(call, note),
        (&Method::POST, _) => return write(erp, call, note),
        (&Method::GET, _) => read(erp, call),
        (m, _) => Err(SapError::of(
            "method-not-allowed",
            format!("Method {m} is not allowed on {op}"),
        )),
    };
    match result {
        Ok((v, etag)) => Answer {
            status: StatusCode::OK,
            body: Body::Json(v),
            etag,
            note,
        },
        Err(e) => Answer::error(e, note),
    }
}

/// The operation as the history names it: the set, `({key})` and the navigation.
fn template(call: &Call) -> String {
    let r = &call.res;
    let mut t = r.set.clone();
    if r.key.is_some() {
        t.push_str("({key})");
    }
    if let Some(n) = &r.nav {
        t.push('/');
        t.push_str(n);
    }
    t
}

fn service_document(service: &str) -> (Value, Option<String>) {
    let sets: &[&str] = match service {
        "API_PRODUCTION_ORDER_2_SRV" => &[
            "A_ProductionOrder_2",
            "A_ProductionOrderOperation_2",
            "A_ProductionOrderComponent_4",
        ],
        "API_PROD_ORDER_CONFIRMATION_2_SRV" => &["ProdnOrdConf2"],
        "API_MATERIAL_DOCUMENT_SRV" => &["A_MaterialDocumentHeader", "A_MaterialDocumentItem"],
        "API_MATERIAL_STOCK_SRV" => &["A_MatlStkInAcctMod"],
        "API_QUALITYNOTIFICATION_SRV" => &["A_QualityNotification"],
        _ => &[
            "A_Product",
            "A_ProductDescription",
            "A_ProductPlant",
            "A_ProductUnitsOfMeasure",
        ],
    };
    (json!({ "d": { "EntitySets": sets } }), None)
}

fn metadata(call: &Call, note: Note) -> Answer {
    match andon_contracts::dialects::s4hana::metadata(call.binding.release, &call.service) {
        Some(xml) => Answer {
            status: StatusCode::OK,
            body: Body::Raw("application/xml".into(), xml.as_bytes().to_vec()),
            etag: None,
            note,
        },
        None => Answer::error(SapError::not_found("No $metadata for this service"), note),
    }
}

type Read = Result<(Value, Option<String>), SapError>;

fn unknown(call: &Call) -> SapError {
    SapError::not_found(format!(
        "Resource not found for segment '{}'",
        template(call)
    ))
}

fn read(erp: &Erp, call: &Call) -> Read {
    match call.service.as_str() {
        "API_PRODUCTION_ORDER_2_SRV" => read_orders(erp, call),
        "API_PROD_ORDER_CONFIRMATION_2_SRV" => read_confirmations(erp, call),
        "API_MATERIAL_DOCUMENT_SRV" => read_documents(erp, call),
        "API_MATERIAL_STOCK_SRV"
            if call.res.set == "A_MatlStkInAcctMod" && call.res.key.is_none() =>
        {
            let md = erp.core.master();
            let rows = ent::stock(&call.place, &erp.lock(), &call.plant, &md);
            Ok((call.opts.collection(rows), None))
        }
        "API_PRODUCT_SRV" => read_products(erp, call),
        "API_QUALITYNOTIFICATION_SRV" => read_notifications(erp, call),
        _ => Err(unknown(call)),
    }
}

fn read_orders(erp: &Erp, call: &Call) -> Read {
    let st = erp.lock();
    let (r, o) = (&call.res, &call.opts);
    let mine = || st.orders.values().filter(|x| x.order.plant == call.plant);
    let nav_of = |rec, nav: &str| match nav {
        "to_ProductionOrderOperation" => Some(ent::operations(&call.place, rec)),
        "to_ProductionOrderComponent" => Some(ent::components(&call.place, rec, &st)),
        _ => None,
    };
    match (r.set.as_str(), &r.key) {
        ("A_ProductionOrder_2", None) => Ok((
            o.collection(mine().map(|x| ent::order(&call.place, x)).collect()),
            None,
        )),
        ("A_ProductionOrder_2", Some(_)) => {
            let id = r.key_of("ManufacturingOrder").unwrap_or("");
            let rec = mine()
                .find(|x| x.order.order.as_str() == id)
                .ok_or_else(|| {
                    SapError::not_found(format!("Production order {id} does not exist"))
                })?;
            if let Some(nav) = &r.nav {
                let rows = nav_of(rec, nav).ok_or_else(|| unknown(call))?;
                return Ok((o.collection(rows), None));
            }
            let mut e = ent::order(&call.place, rec);
            let etag = e["__metadata"]["etag"].as_str().map(str::to_string);
            for nav in &o.expand {
                let rows = nav_of(rec, nav).ok_or_else(|| {
                    SapError::bad_request(format!("Navigation '{nav}' is not defined"))
                })?;
                e[nav.as_str()] = json!({ "results": rows });
            }
            Ok((json!({ "d": o.selected(e) }), etag))
        }
        ("A_ProductionOrderOperation_2", None) => Ok((
            o.collection(
                mine()
                    .flat_map(|x| ent::operations(&call.place, x))
                    .collect(),
            ),
            None,
        )),
        ("A_ProductionOrderComponent_4", None) => Ok((
            o.collection(
                mine()
                    .flat_map(|x| ent::components(&call.place, x, &st))
                    .collect(),
            ),
            None,
        )),
        _ => Err(unknown(call)),
    }
}

fn read_confirmations(erp: &Erp, call: &Call) -> Read {
    let st = erp.lock();
    let r = &call.res;
    if r.set != "ProdnOrdConf2" || r.nav.is_some() {
        return Err(unknown(call));
    }
    let rows = st
        .confirmations
        .iter()
        .filter(|c| c.plant == call.plant)
        .map(|c| {
            let key = (c.confirmation_group.clone(), c.confirmation_counter);
            ent::confirmation(
                &call.place,
                c,
                "",
                st.cancelled_confirmations.contains(&key),
            )
        });
    match &r.key {
        None => Ok((call.opts.collection(rows.collect()), None)),
        Some(_) => {
            let (g, n) = (
                r.key_of("ConfirmationGroup").unwrap_or(""),
                r.key_of("ConfirmationCount").unwrap_or(""),
            );
            rows.into_iter()
                .find(|c| {
                    c["ConfirmationGroup"] == g && c["ConfirmationCount"] == format!("{:0>8}", n)
                })
                .map(|e| (json!({ "d": e }), None))
                .ok_or_else(|| SapError::not_found(format!("Confirmation {g}/{n} does not exist")))
        }
    }
}

fn read_documents(erp: &Erp, call: &Call) -> Read {
    let st = erp.lock();
    let (r, o) = (&call.res, &call.opts);
    let iso = call.is_2502();
    let mine = || {
        st.documents
            .values()
            .filter(|d| d.items.iter().any(|i| i.posted.plant == call.plant))
    };
    match (r.set.as_str(), &r.key) {
        ("A_MaterialDocumentHeader", None) => Ok((
            o.collection(
                mine()
                    .map(|d| {
                        ent::document(
                            &call.place,
                            d,
                            o.expand.iter().any(|e| e == "to_MaterialDocumentItem"),
                            iso,
                        )
                    })
                    .collect(),
            ),
            None,
        )),
        ("A_MaterialDocumentItem", None) => Ok((
            o.collection(
                mine()
                    .flat_map(|d| d.items.iter().map(move |it| (d, it)))
                    .map(|(d, it)| ent::item(&call.place, d, it, iso))
                    .collect(),
            ),
            None,
        )),
        ("A_MaterialDocumentHeader", Some(_)) => {
            let (y, n) = (
                r.key_of("MaterialDocumentYear").unwrap_or(""),
                r.key_of("MaterialDocument").unwrap_or(""),
            );
            let d = mine()
                .find(|d| d.year.to_string() == y && d.material_document == n)
                .ok_or_else(|| {
                    SapError::not_found(format!("Material document {n} {y} does not exist"))
                })?;
            match r.nav.as_deref() {
                Some("to_MaterialDocumentItem") => Ok((
                    o.collection(
                        d.items
                            .iter()
                            .map(|it| ent::item(&call.place, d, it, iso))
                            .collect(),
                    ),
                    None,
                )),
                Some(_) => Err(unknown(call)),
                None => {
                    let expand = o.expand.iter().any(|e| e == "to_MaterialDocumentItem");
                    let e = ent::document(&call.place, d, expand, iso);
                    let etag = iso.then(|| document_etag(&call.place, d));
                    let e = match &etag {
                        Some(t) => ent::with_etag(e, t),
                        None => e,
                    };
                    Ok((json!({ "d": o.selected(e) }), etag))
                }
            }
        }
        _ => Err(unknown(call)),
    }
}

/// The ETag of a material document header (2502): over the document and its items, so a
/// cancellation changes it.
fn document_etag(place: &Place, d: &andon_contracts::api::MaterialDocument) -> String {
    ent::etag(&ent::document(place, d, true, true))
}

fn read_products(erp: &Erp, call: &Call) -> Read {
    let md = erp.core.master();
    let (r, o) = (&call.res, &call.opts);
    let finished =
        |m: &andon_contracts::objects::Material| md.boms.iter().any(|b| b.material == m.material);
    let mine = || {
        md.materials
            .iter()
            .filter(|m| m.plants.is_empty() || m.plants.contains(&call.plant))
    };
    match (r.set.as_str(), &r.key) {
        ("A_Product", None) => Ok((
            o.collection(
                mine()
                    .map(|m| ent::product(&call.place, m, finished(m), &o.expand))
                    .collect(),
            ),
            None,
        )),
        ("A_Product", Some(_)) => {
            let id = r.key_of("Product").unwrap_or("");
            let m = mine().find(|m| m.material.as_str() == id).ok_or_else(|| {
                SapError::not_found(format!(
                    "Product {id} does not exist in plant {}",
                    call.plant
                ))
            })?;
            match &r.nav {
                Some(nav) => {
                    let rows =
                        ent::product_nav(&call.place, m, nav).ok_or_else(|| unknown(call))?;
                    Ok((o.collection(rows), None))
                }
                None => Ok((
                    json!({ "d": o.selected(ent::product(&call.place, m, finished(m), &o.expand)) }),
                    None,
                )),
            }
        }
        _ => Err(unknown(call)),
    }
}

/// The creates and the function imports.
fn write(erp: &Erp, call: &Call, mut note: Note) -> Answer {
    let target = (call.service.as_str(), call.res.set.as_str());
    let body = match target {
        (_, "Cancel" | "CancelProdnOrdConf") => None,
        _ if call.res.key.is_some() || call.res.nav.is_some() => {
            return Answer::error(
                SapError::of("method-not-allowed", "Only entity sets take POST"),
                note,
            );
        }
        _ => match serde_json::from_slice::<Value>(&call.body) {
            Ok(v) => Some(v),
            Err(e) => {
                note.valid = Some(false);
                note.violations = vec![format!("/: malformed JSON: {e}")];
                return Answer::error(
                    SapError::bad_request(format!(
                        "Malformed JSON at line {} column {}: {e}",
                        e.line(),
                        e.column()
                    )),
                    note,
                );
            }
        },
    };
    note.body = body.clone();
    let body = body.unwrap_or(Value::Null);
    let result = match target {
        ("API_MATERIAL_DOCUMENT_SRV", "A_MaterialDocumentHeader") => {
            post_document(erp, call, &body, &mut note)
        }
        ("API_PROD_ORDER_CONFIRMATION_2_SRV", "ProdnOrdConf2") => {
            post_confirmation(erp, call, &body, &mut note)
        }
        ("API_MATERIAL_DOCUMENT_SRV", "Cancel") => cancel_document(erp, call, &mut note),
        ("API_PROD_ORDER_CONFIRMATION_2_SRV", "CancelProdnOrdConf") => {
            cancel_confirmation(erp, call)
        }
        ("API_QUALITYNOTIFICATION_SRV", "A_QualityNotification") => {
            post_notification(erp, call, &body, &mut note)
        }
        _ => Err(SapError::of(
            "method-not-allowed",
            format!("{} {} does not take POST", call.service, call.res.set),
        )),
    };
    match result {
        Ok((status, v)) => Answer::json(status, v, note),
        Err(e) => Answer::error(e, note),
    }
}

type Written = Result<(StatusCode, Value), SapError>;

/// The body check's outcome into the note; the check's error as SAP's answer.
pub(super) fn checked<T: serde::Serialize>(
    note: &mut Note,
    route: &'static str,
    r: Result<T, create::Refused>,
) -> Result<T, SapError> {
    note.native_route = Some(route);
    match r {
        Ok(req) => {
            note.valid = Some(true);
            note.native_body = serde_json::to_value(&req).ok();
            Ok(req)
        }
        Err(refused) => {
            let (e, violations) = *refused;
            note.valid = Some(false);
            note.violations = violations;
            Err(e)
        }
    }
}

fn post_document(erp: &Erp, call: &Call, body: &Value, note: &mut Note) -> Written {
    let req = checked(
        note,
        "/api/v1/material-documents",
        create::goods_movement(body, &call.plant, call.binding.release),
    )?;
    let doc = crate::erp::booking::post_goods(erp, &call.ctx, &req)?;
    let iso = call.is_2502();
    Ok((
        StatusCode::CREATED,
        json!({ "d": ent::document(&call.place, &doc, true, iso) }),
    ))
}

fn post_confirmation(erp: &Erp, call: &Call, body: &Value, note: &mut Note) -> Written {
    let today = erp.core.clock.today();
    let req = checked(
        note,
        "/api/v1/confirmations",
        create::confirmation(body, &call.plant, call.binding.release, today),
    )?;
    let owned = erp
        .lock()
        .orders
        .get(&req.order)
        .is_some_and(|r| r.order.plant == call.plant);
    if !owned {
        return Err(SapError::of(
            "order-status",
            format!("Order {} does not exist in plant {}", req.order, call.plant),
        ));
    }
    let conf = crate::erp::booking::book_confirmation(erp, &call.ctx, &req)?;
    let text = body
        .get("ConfirmationText")
        .and_then(Value::as_str)
        .unwrap_or("");
    Ok((
        StatusCode::CREATED,
        json!({ "d": ent::confirmation(&call.place, &conf, text, false) }),
    ))
}

/// `POST Cancel?MaterialDocumentYear='…'&MaterialDocument='…'&PostingDate=datetime'…'`;
/// release 2502 asks for `If-Match` with the header's ETag.
fn cancel_document(erp: &Erp, call: &Call, note: &mut Note) -> Written {
    let p = &call.opts.params;
    let need = |k: &str| {
        p.get(k)
            .cloned()
            .ok_or_else(|| SapError::bad_request(format!("Parameter '{k}' is required")))
    };
    let year: i32 = need("MaterialDocumentYear")?
        .parse()
        .map_err(|_| SapError::bad_request("MaterialDocumentYear must be a year"))?;
    let number = need("MaterialDocument")?;
    let posting_date = super::odata::parse_date(&need("PostingDate")?)
        .ok_or_else(|| SapError::bad_request("PostingDate must be an Edm.DateTime"))?;
    if call.is_2502() {
        let current = {
            let st = erp.lock();
            let d = st
                .documents
                .get(&(year, number.clone()))
                .filter(|d| d.items.iter().any(|i| i.posted.plant == call.plant))
                .ok_or_else(|| {
                    SapError::not_found(format!("Material document {number} {year} does not exist"))
                })?;
            document_etag(&call.place, d)
        };
        match &call.if_match {
            None => {
                return Err(SapError::of(
                    "precondition-required",
                    "This operation requires If-Match with the material document's ETag",
                ));
            }
            Some(t) if t != "*" && t != &current => {
                return Err(SapError::of(
                    "precondition-failed",
                    "The material document was changed since its ETag was read",
                ));
            }
            Some(_) => {}
        }
    }
    let req = ReversalRequest {
        posting_date,
        refs: Default::default(),
    };
    note.native_route = Some("/api/v1/material-documents/{year}/{number}/reversal");
    note.native_body = serde_json::to_value(&req).ok();
    let doc = crate::erp::booking::reverse_doc(erp, &call.ctx, (year, &number), &req)?;
    Ok((
        StatusCode::OK,
        json!({ "d": ent::document(&call.place, &doc, true, call.is_2502()) }),
    ))
}

fn post_notification(erp: &Erp, call: &Call, body: &Value, note: &mut Note) -> Written {
    let req = checked(
        note,
        "/api/v1/quality-notifications",
        create::quality_notification(body, &call.plant),
    )?;
    let n = crate::erp::booking::notify(erp, &call.ctx, &req)?;
    let e = ent::notification(&call.place, &n, &req, erp.core.clock.today());
    erp.s4
        .notifications
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(n.notification.clone(), e.clone());
    Ok((StatusCode::CREATED, json!({ "d": e })))
}

/// Notifications as created through the dialect; those of andon's API with what the core
/// keeps of them.
fn read_notifications(erp: &Erp, call: &Call) -> Read {
    let r = &call.res;
    if r.set != "A_QualityNotification" || r.nav.is_some() {
        return Err(unknown(call));
    }
    let kept = erp
        .s4
        .notifications
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let rows: Vec<Value> = erp
        .lock()
        .notifications
        .iter()
        .filter(|n| n.plant == call.plant)
        .map(|n| {
            kept.get(&n.notification)
                .cloned()
                .unwrap_or_else(|| ent::notification_kept(&call.place, n))
        })
        .collect();
    match r.key_of("QualityNotification") {
        None => Ok((call.opts.collection(rows), None)),
        Some(id) => rows
            .into_iter()
            .find(|e| e["QualityNotification"] == id)
            .map(|e| (json!({ "d": call.opts.selected(e) }), None))
            .ok_or_else(|| {
                SapError::not_found(format!("Quality notification {id} does not exist"))
            }),
    }
}

/// `POST CancelProdnOrdConf?ConfirmationGroup='…'&ConfirmationCount='…'`: the reversal of a
/// confirmation (andon's API has no such call: no flow cancels a confirmation).
fn cancel_confirmation(erp: &Erp, call: &Call) -> Written {
    let p = &call.opts.params;
    let need = |k: &str| {
        p.get(k)
            .cloned()
            .ok_or_else(|| SapError::bad_request(format!("Parameter '{k}' is required")))
    };
    let group = need("ConfirmationGroup")?;
    let count: u32 = need("ConfirmationCount")?
        .parse()
        .map_err(|_| SapError::bad_request("ConfirmationCount must be a number"))?;
    let reversal = {
        let mut st = erp.lock();
        let mine = st
            .confirmations
            .iter()
            .any(|c| c.confirmation_group == group && c.plant == call.plant);
        if !mine {
            return Err(SapError::not_found(format!(
                "Confirmation {group}/{count} does not exist in plant {}",
                call.plant
            )));
        }
        st.cancel_confirmation(&group, count)?
    };
    erp.core.effect(
        &call.ctx,
        "erp.confirmation",
        format!("{}/{}", reversal.order, reversal.operation),
        vec![],
        serde_json::to_value(&reversal).unwrap_or_default(),
    );
    Ok((
        StatusCode::OK,
        json!({ "d": ent::confirmation(&call.place, &reversal, "", false) }),
    ))
}
