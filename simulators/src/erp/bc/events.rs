//! The ERP's changes as Business Central notifies them: for each change of a watched entity,
//! a webhook notification to the newest live subscription on its collection, naming only
//! the entity (`resource`), the kind of change and the subscriber's `clientState`; the
//! middleware reads the entity back. A change no one is subscribed to is not notified (the
//! history notes it: `bc.unnotified`).
//!
//! The history keeps every event in andon's canonical form; `traceparent` is the event's.

use andon_contracts::CloudEvent;
use andon_contracts::events::EventKind;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::entities::{date_time, guid};
use super::subscriptions::{Registry, detail};
use crate::emitter::Wire;
use crate::history::{Entry, History};

/// The collections a kind of change is notified on (in order of preference), the change
/// type and the entity's id kind; `None` for an event Business Central does not notify.
pub fn change_of(kind: EventKind) -> Option<(&'static [&'static str], &'static str, &'static str)> {
    const ORDERS: &[&str] = &["productionOrders"];
    const ITEMS: &[&str] = &["manufacturingItems", "items"];
    Some(match kind {
        EventKind::ProductionOrderReleased => (ORDERS, "created", "productionOrder"),
        EventKind::ProductionOrderChanged | EventKind::ProductionOrderCancelled => {
            (ORDERS, "updated", "productionOrder")
        }
        EventKind::MaterialChanged => (ITEMS, "updated", "item"),
        _ => return None,
    })
}

/// How `ev` goes out for a Business Central plant at business time `now`.
pub fn wire(ev: &CloudEvent, subs: &Registry, now: DateTime<Utc>, history: &History) -> Wire {
    for s in subs.purge(now) {
        history.append(
            andon_contracts::System::Erp,
            Entry::Note {
                name: "bc.subscription".into(),
                detail: detail("expired", &s).into(),
            },
        );
    }
    let Some(kind) = ev.kind() else {
        return Wire::Canonical;
    };
    let Some((sets, change, id_kind)) = change_of(kind) else {
        return Wire::Canonical;
    };
    let Some(s) = subs.live_for(&ev.plant, sets, now) else {
        return Wire::Dropped {
            note: "bc.unnotified",
            detail: json!({
                "event": ev.key(),
                "plant": ev.plant,
                "sets": sets,
                "why": format!("no live subscription on {} of plant {}", sets.join(" or "), ev.plant),
            }),
        };
    };
    let body: Value = json!({ "value": [{
        "subscriptionId": s.id,
        "clientState": s.client_state.clone().unwrap_or_default(),
        "expirationDateTime": date_time(s.expires),
        "resource": format!("{}({})", s.resource, guid(id_kind, &ev.subject)),
        "changeType": change,
        "lastModifiedDateTime": ev.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }]});
    Wire::To {
        url: s.notification_url,
        body,
    }
}
