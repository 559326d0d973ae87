//! The ERP of some plants is Microsoft Dynamics 365 Business Central (`ERP_DIALECTS`, e.g.
//! `2000=business-central@24`; releases 24 and 25). As for S/4HANA, the middleware keeps its
//! flows — outbox commands are planned in andon's canonical form — and speaks Business
//! Central at the edges:
//!
//! * **in**: Business Central has no events, only webhooks. The middleware subscribes to the
//!   plant's `productionOrders` and `manufacturingItems` ([`subscription`]; created once the
//!   HTTP server listens, renewed before they expire, judged by the system's own clock);
//!   each notification names a changed entity. [`event`] turns one into an inbox entry keyed
//!   by (resource, change, `lastModifiedDateTime`), so a redelivery plans nothing twice,
//!   and [`plan`] into the MES/QMS/WMS commands of the andon event it stands for, with a
//!   [`crate::command::Body::ReadBack`] body built at delivery time from the entity read
//!   back ([`wire`]). A notification names no event: those calls carry no `source`, only the
//!   notification's `traceparent`.
//! * **out**: a command to the ERP of a Business Central plant is translated just before it
//!   is sent ([`journal::outbound`]): a goods movement becomes one `itemJournalLines` insert per
//!   item, a confirmation an `outputJournalLines` insert, a quality notification a
//!   `qualityNotifications` insert. Business Central has no idempotency key: every accepted
//!   insert posts again. The natural key is a `documentNumber` derived from the command's
//!   idempotency key ([`journal::document_number`]); after an ambiguous outcome the middleware
//!   reads the ledger back by it before it posts again.

pub mod journal;
pub mod subscription;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use andon_contracts::api::SourceRefs;
use andon_contracts::{CloudEvent, PlantId, System};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::command::{Body, Command, ReadBack, Verb};

/// The dialect's name in `ERP_DIALECTS`.
pub const DIALECT: &str = "business-central";
/// Its short name.
pub const ALIAS: &str = "bc";

/// A release of Business Central the middleware speaks. What it sends is valid in both:
/// `postingDate` and `unitOfMeasureCode` (optional in 24, required in 25) are always sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Release {
    /// 2024 release wave 1.
    R24,
    /// 2024 release wave 2.
    R25,
}

impl Release {
    /// The release a dialect named without one means.
    pub const NEWEST: Release = Release::R25;

    /// `24` or `25`.
    pub fn name(self) -> &'static str {
        match self {
            Self::R24 => "24",
            Self::R25 => "25",
        }
    }

    /// The release named `24` or `25`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "24" => Some(Self::R24),
            "25" => Some(Self::R25),
            _ => None,
        }
    }
}

/// Types of the inbox entries of Business Central notifications start with this.
pub const EVENT_PREFIX: &str = "bc.";

/// Whether `type_` is that of a Business Central notification kept in the inbox.
pub fn is_bc_event(type_: &str) -> bool {
    type_.starts_with(EVENT_PREFIX)
}

/// A collection the middleware hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    /// `api/andon/manufacturing/v1.0/…/productionOrders`.
    ProductionOrders,
    /// `api/andon/manufacturing/v1.0/…/manufacturingItems`.
    ManufacturingItems,
    /// `api/v2.0/…/items` (same ids as `manufacturingItems`).
    Items,
}

impl Collection {
    /// The entity set's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ProductionOrders => "productionOrders",
            Self::ManufacturingItems => "manufacturingItems",
            Self::Items => "items",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::ProductionOrders,
            Self::ManufacturingItems,
            Self::Items,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }
}

/// What happened to the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `created`.
    Created,
    /// `updated`.
    Updated,
    /// `deleted`.
    Deleted,
}

impl Change {
    /// `created`, `updated` or `deleted`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Created, Self::Updated, Self::Deleted]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// One notification of a webhook `POST` (`{"value": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incoming {
    /// The subscription it was sent for.
    #[serde(default)]
    pub subscription_id: String,
    /// The secret the subscription was created with.
    #[serde(default)]
    pub client_state: Option<String>,
    /// When the subscription expires (business time).
    #[serde(default)]
    pub expiration_date_time: Option<String>,
    /// The changed entity: `api/…/companies(…)/productionOrders(<id>)`.
    pub resource: String,
    /// `created`, `updated` or `deleted`.
    pub change_type: String,
    /// When the entity changed (business time).
    pub last_modified_date_time: String,
}

/// The body of a webhook `POST`.
#[derive(Debug, Clone, Deserialize)]
pub struct Webhook {
    /// The notifications.
    pub value: Vec<Incoming>,
}

/// What a notification names: the entity to read back and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The company id in the resource.
    pub company: String,
    /// The collection.
    pub collection: Collection,
    /// The entity's id (a GUID).
    pub id: String,
    /// What happened.
    pub change: Change,
}

/// Whether `s` is an OData key or company id the middleware accepts (a GUID, or letters,
/// digits and `-`).
fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The key inside `name(key)` or `name('key')` at the start of `s`, and what follows.
fn keyed<'a>(s: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let rest = s.strip_prefix(name)?.strip_prefix('(')?;
    let (key, after) = rest.split_once(')')?;
    let key = key.trim_matches('\'');
    is_id(key).then_some((key, after))
}

impl Notification {
    /// Reads `resource` (relative to the plant base, with or without a leading `/`, or a
    /// full URL) and `change_type`.
    pub fn parse(resource: &str, change_type: &str) -> Result<Self, String> {
        let change = Change::parse(change_type)
            .ok_or_else(|| format!("changeType {change_type:?} is not created|updated|deleted"))?;
        let bad = || format!("resource {resource:?} names no entity the middleware watches");
        let at = resource.rfind("companies(").ok_or_else(bad)?;
        let (company, rest) = keyed(&resource[at..], "companies").ok_or_else(bad)?;
        let rest = rest.strip_prefix('/').ok_or_else(bad)?;
        let (set, _) = rest.split_once('(').ok_or_else(bad)?;
        let collection = Collection::parse(set).ok_or_else(bad)?;
        let (id, tail) = keyed(rest, set).ok_or_else(bad)?;
        if !(tail.is_empty() || tail.starts_with('?')) {
            return Err(bad());
        }
        Ok(Self {
            company: company.to_string(),
            collection,
            id: id.to_string(),
            change,
        })
    }

    /// The resource in one spelling: `companies({company})/{collection}({id})`.
    pub fn canonical(&self) -> String {
        format!(
            "companies({})/{}({})",
            self.company,
            self.collection.name(),
            self.id
        )
    }

    /// Reads the notification kept in the inbox entry `event`.
    pub fn decode(event: &CloudEvent) -> Result<Self, String> {
        let data = event.data.to_value();
        let field = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("data.{k} is missing"))
        };
        Self::parse(field("resource")?, field("changeType")?)
    }
}

/// The inbox id of a notification: the first 32 hex digits of
/// SHA-256(`resource|changeType|lastModifiedDateTime`), of the resource in one spelling
/// ([`Notification::canonical`]) and the time in RFC 3339 with milliseconds. The same change
/// notified again (a redelivery, or by a re-created subscription) has the same id.
pub fn notification_id(resource: &str, change_type: &str, last_modified: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{resource}|{change_type}|{last_modified}"));
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The trace id of a `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let t = traceparent.split('-').nth(1)?;
    (t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())).then_some(t)
}

/// The inbox `source` of the notifications of `plant`'s system.
pub fn source(plant: &PlantId) -> String {
    format!("/bc/{plant}")
}

/// The inbox entry of notification `n` from `plant`'s system, which came with
/// `traceparent`: source `/bc/{plant}`, id its trace id (else [`notification_id`]), type
/// `bc.{collection}.{change}`, time `lastModifiedDateTime`. `Err` when it names nothing the
/// middleware watches or its time cannot be read.
pub fn event(plant: &PlantId, n: &Incoming, traceparent: &str) -> Result<CloudEvent, String> {
    let parsed = Notification::parse(&n.resource, &n.change_type)?;
    let time = chrono::DateTime::parse_from_rfc3339(&n.last_modified_date_time)
        .map_err(|e| format!("lastModifiedDateTime {:?}: {e}", n.last_modified_date_time))?
        .with_timezone(&chrono::Utc);
    Ok(CloudEvent {
        specversion: "1.0".into(),
        // The trace id of the notification when it has one (one change, one trace: a
        // redelivery carries the same; andon's checkers find dead letters by it), else a
        // digest of what it names.
        id: crate::bc::trace_id(traceparent).map_or_else(
            || {
                notification_id(
                    &parsed.canonical(),
                    parsed.change.name(),
                    &time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                )
            },
            str::to_string,
        ),
        source: source(plant),
        type_: format!(
            "{EVENT_PREFIX}{}.{}",
            parsed.collection.name(),
            parsed.change.name()
        ),
        subject: n.resource.clone(),
        time,
        datacontenttype: "application/json".into(),
        plant: plant.clone(),
        sequence: 0,
        traceparent: traceparent.to_string(),
        data: json!({
            "subscriptionId": n.subscription_id,
            "resource": n.resource,
            "changeType": n.change_type,
            "lastModifiedDateTime": n.last_modified_date_time,
        })
        .into(),
    })
}

/// The commands a notification implies: those of the andon event it stands for (DESIGN.md's
/// flow table), with bodies read back at delivery time. The MES path of a changed order and
/// the material of a changed item are known only then (a notification names an id, not a
/// number): the read-back resolves them. A deleted entity implies nothing (Business Central
/// notifies no flow by deletion).
pub fn plan(event: &CloudEvent, n: &Notification) -> Vec<Command> {
    // The source a call names: the plant's ERP and the notification (the changed entity's id
    // and its time), which andon resolves to the change by the trace the call continues.
    let refs = SourceRefs {
        source: Some(andon_contracts::SourceRef {
            source: format!("/andon/erp/{}", event.plant),
            id: format!(
                "{}@{}",
                n.id,
                event
                    .time
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
        }),
        sources: Vec::new(),
    };
    let command = |target, verb, path: &str, aggregate: String, object| Command {
        target,
        verb,
        path: path.to_string(),
        aggregate,
        body: Body::ReadBack {
            plant: event.plant.clone(),
            object,
            refs: refs.clone(),
        },
        done_on: None,
        hold: false,
    };
    let (company, id) = (n.company.clone(), n.id.clone());
    match (n.collection, n.change) {
        (_, Change::Deleted) => Vec::new(),
        (Collection::ProductionOrders, change) => {
            let created = change == Change::Created;
            let (verb, path) = if created {
                (Verb::Post, "/api/v1/work-orders")
            } else {
                (Verb::Put, "/api/v1/work-orders/{order}")
            };
            vec![Command {
                done_on: created.then(|| "work-order-exists".into()),
                ..command(
                    System::Mes,
                    verb,
                    path,
                    format!("bc-order/{id}"),
                    ReadBack::BcOrder {
                        company,
                        id: id.clone(),
                        created,
                    },
                )
            }]
        }
        (Collection::ManufacturingItems | Collection::Items, _) => {
            [System::Mes, System::Qms, System::Wms]
                .into_iter()
                .map(|target| {
                    command(
                        target,
                        Verb::Put,
                        "/api/v1/materials/{material}",
                        format!("bc-item/{id}"),
                        ReadBack::BcItem {
                            company: company.clone(),
                            id: id.clone(),
                        },
                    )
                })
                .collect()
        }
    }
}

/// How far the inserts of one ERP command got, kept with its outbox row: the items known to
/// be posted (skipped from then on) and those whose insert may have been posted (marked
/// before it is sent, cleared on a definite answer: after a timeout, a reset, a 5xx or a
/// crash, the ledger is read back before the item is posted again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Items posted.
    #[serde(default)]
    pub posted: BTreeSet<usize>,
    /// Items whose insert may have been posted.
    #[serde(default)]
    pub uncertain: BTreeSet<usize>,
}

impl Progress {
    /// The progress stored as `text` (none yet: nothing sent).
    pub fn parse(text: Option<&str>) -> Self {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    /// As stored.
    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The company id of each plant's system, read once (`GET api/v2.0/companies`).
#[derive(Debug, Default)]
pub struct Companies(Mutex<BTreeMap<PlantId, String>>);

impl Companies {
    /// The id of `plant`'s company, once read.
    pub fn get(&self, plant: &PlantId) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(plant)
            .cloned()
    }

    /// Keeps the id of `plant`'s company.
    pub fn set(&self, plant: &PlantId, id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(plant.clone(), id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "5d115c9c-44e3-ef11-9345-6045bde9ca09";
    const OID: &str = "8f1c1f43-2a5c-4a6b-9d0e-0a1b2c3d4e5f";
    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn incoming(resource: &str, change: &str, at: &str) -> Incoming {
        serde_json::from_value(json!({
            "subscriptionId": "s-1", "clientState": "secret", "expirationDateTime": "2026-11-05T06:00:00Z",
            "resource": resource, "changeType": change, "lastModifiedDateTime": at
        }))
        .unwrap()
    }

    fn order_resource() -> String {
        format!("api/andon/manufacturing/v1.0/companies({CID})/productionOrders({OID})")
    }

    #[test]
    fn releases_parse() {
        assert_eq!(Release::parse("24"), Some(Release::R24));
        assert_eq!(Release::parse(" 25 "), Some(Release::R25));
        assert_eq!(Release::parse("23"), None);
        assert_eq!(Release::NEWEST.name(), "25");
    }

    #[test]
    fn a_resource_names_the_company_the_collection_and_the_entity() {
        let n = Notification::parse(&order_resource(), "created").unwrap();
        assert_eq!(
            n,
            Notification {
                company: CID.into(),
                collection: Collection::ProductionOrders,
                id: OID.into(),
                change: Change::Created,
            }
        );
        for form in [
            format!("/{}", order_resource()),
            format!("http://erp:7001/plant/1000/{}", order_resource()),
            format!("api/andon/manufacturing/v1.0/companies('{CID}')/productionOrders('{OID}')"),
        ] {
            assert_eq!(Notification::parse(&form, "created").unwrap(), n, "{form}");
        }
        let item = Notification::parse(
            &format!("api/v2.0/companies({CID})/items({OID})"),
            "updated",
        )
        .unwrap();
        assert_eq!(
            (item.collection, item.change),
            (Collection::Items, Change::Updated)
        );
        for bad in [
            format!("api/v2.0/companies({CID})/customers({OID})"),
            format!("api/v2.0/companies({CID})/items"),
            format!("api/v2.0/companies({CID})/items({OID})/extra"),
            format!("api/v2.0/companies(x y)/items({OID})"),
            "productionOrders(1)".to_string(),
        ] {
            assert!(Notification::parse(&bad, "updated").is_err(), "{bad}");
        }
        assert!(Notification::parse(&order_resource(), "moved").is_err());
    }

    #[test]
    fn a_notification_becomes_an_inbox_entry_keyed_by_its_change() {
        let plant = PlantId::parse("2000").unwrap();
        let n = incoming(&order_resource(), "created", "2026-11-02T06:10:00Z");
        let e = event(&plant, &n, TP).unwrap();
        assert_eq!(e.source, "/bc/2000");
        assert_eq!(e.type_, "bc.productionOrders.created");
        assert!(is_bc_event(&e.type_));
        assert_eq!(e.traceparent, TP);
        assert_eq!(e.time.to_rfc3339(), "2026-11-02T06:10:00+00:00");
        assert_eq!(e.id.len(), 32);
        assert!(
            e.data.to_value().get("clientState").is_none(),
            "the secret is not kept"
        );
        assert_eq!(
            Notification::decode(&e).unwrap(),
            Notification::parse(&order_resource(), "created").unwrap()
        );
        // Redelivered (even by another subscription, the resource or the time spelt
        // otherwise): the same entry.
        let mut again = n.clone();
        again.subscription_id = "s-2".into();
        assert_eq!(event(&plant, &again, TP).unwrap().id, e.id);
        again.resource = format!("/{}", order_resource());
        again.last_modified_date_time = "2026-11-02T06:10:00.000Z".into();
        assert_eq!(event(&plant, &again, TP).unwrap().id, e.id);
        // Another change of the same entity (another trace): another entry.
        let other = "00-0af7651916cd43dd8448eb211c80319d-b7ad6b7169203331-01";
        let later = incoming(&order_resource(), "updated", "2026-11-02T06:10:00Z");
        assert_ne!(event(&plant, &later, other).unwrap().id, e.id);
        // Without a trace, a digest of what it names: the change type and time tell apart.
        let (a, b) = (
            incoming(&order_resource(), "created", "2026-11-02T06:10:00Z"),
            incoming(&order_resource(), "created", "2026-11-02T06:10:01Z"),
        );
        assert_ne!(
            event(&plant, &a, "").unwrap().id,
            event(&plant, &b, "").unwrap().id
        );
        assert!(
            event(
                &plant,
                &incoming(&order_resource(), "created", "yesterday"),
                TP
            )
            .is_err()
        );
        let body: Webhook = serde_json::from_value(json!({"value": [
            {"subscriptionId": "s", "clientState": "c", "expirationDateTime": "2026-11-05T06:00:00Z",
             "resource": order_resource(), "changeType": "updated", "lastModifiedDateTime": "2026-11-02T06:10:00Z"}]}))
        .unwrap();
        assert_eq!(body.value[0].client_state.as_deref(), Some("c"));
    }

    #[test]
    fn notifications_plan_the_commands_of_the_andon_events_they_stand_for() {
        let plant = PlantId::parse("2000").unwrap();
        let plan_of = |resource: &str, change: &str| {
            let e = event(
                &plant,
                &incoming(resource, change, "2026-11-02T06:10:00Z"),
                TP,
            )
            .unwrap();
            plan(&e, &Notification::decode(&e).unwrap())
        };
        let released = plan_of(&order_resource(), "created");
        assert_eq!(released.len(), 1);
        assert_eq!(
            (
                released[0].target,
                released[0].verb,
                released[0].path.as_str()
            ),
            (System::Mes, Verb::Post, "/api/v1/work-orders")
        );
        assert_eq!(released[0].done_on.as_deref(), Some("work-order-exists"));
        let Body::ReadBack { refs, object, .. } = &released[0].body else {
            panic!("{released:?}")
        };
        let named = refs
            .source
            .as_ref()
            .expect("the notification named as the source");
        assert!(named.source.starts_with("/andon/erp/"), "{named:?}");
        assert!(matches!(object, ReadBack::BcOrder { created: true, .. }));
        let changed = plan_of(&order_resource(), "updated");
        assert_eq!(changed[0].verb, Verb::Put);
        assert_eq!(changed[0].aggregate, released[0].aggregate);
        assert!(plan_of(&order_resource(), "deleted").is_empty());
        let item = plan_of(
            &format!("api/andon/manufacturing/v1.0/companies({CID})/manufacturingItems({OID})"),
            "updated",
        );
        let targets: Vec<System> = item.iter().map(|c| c.target).collect();
        assert_eq!(targets, vec![System::Mes, System::Qms, System::Wms]);
        assert!(
            item.iter()
                .all(|c| c.path == "/api/v1/materials/{material}")
        );
    }
}
