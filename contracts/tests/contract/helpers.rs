//! Helpers for the contract tests: loading golden examples, comparing JSON, mapping kinds to
//! Rust types and resolving `$ref`s in the OpenAPI and AsyncAPI documents.

use std::path::{Path, PathBuf};

use andon_contracts::api::{
    Confirmation, ConfirmationRequest, GoodsMovementRequest, HoldReleaseRequest, HoldRequest,
    InspectionLotRequest, LotStatusUpdate, MaterialDocument, MaterialMasterUpdate,
    ProductionOrderList, QualityNotification, QualityNotificationRequest, Receipt, ReceiptRequest,
    ReversalRequest, StockList, TokenResponse, WorkOrder, WorkOrderCancellation, WorkOrderDownload,
};
use andon_contracts::events::{NonconformanceCreated, ShipmentConfirmed};
use andon_contracts::objects::{InspectionLot, LotStatus};
use andon_contracts::{
    CloudEvent, EventData, EventKind, Material, Problem, ProductionOrder, StockRow,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `contracts/`.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One golden example file.
#[derive(Debug)]
pub struct Example {
    /// Validator kind (`api/GoodsMovementRequest`).
    pub kind: String,
    /// File name without `.json`.
    pub name: String,
    /// Path, for messages.
    pub path: PathBuf,
    /// Parsed content.
    pub json: Value,
}

impl Example {
    /// `kind/name`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// The validator kind of an example directory (`api__X` → `api/X`).
pub fn kind_of_dir(dir: &str) -> String {
    dir.replace("__", "/")
}

/// Every example under `examples/<which>` (`valid` or `invalid`), sorted by path.
pub fn examples(which: &str) -> Vec<Example> {
    let base = root().join("examples").join(which);
    let mut out = Vec::new();
    for dir in sorted_entries(&base) {
        let dir_name = dir.file_name().unwrap().to_string_lossy().to_string();
        assert!(dir.is_dir(), "{} should be a directory", dir.display());
        for file in sorted_entries(&dir) {
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            let name = name
                .strip_suffix(".json")
                .unwrap_or_else(|| panic!("{} is not a .json file", file.display()))
                .to_string();
            let text = std::fs::read_to_string(&file).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
            out.push(Example {
                kind: kind_of_dir(&dir_name),
                name,
                path: file,
                json,
            });
        }
    }
    out
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    entries
}

/// JSON equality modulo key order and number formatting (`12` equals `12.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn through<T: DeserializeOwned + Serialize>(json: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// Deserializes `json` into the Rust type of `kind` and serializes it again; `None` when no
/// Rust type models the kind.
pub fn round_trip(kind: &str, json: &Value) -> Option<Result<Value, String>> {
    if let Some(name) = kind.strip_prefix("events/") {
        let event_kind = EventKind::parse(name)?;
        return Some(
            EventData::decode(event_kind, json)
                .map(|d| d.to_json())
                .map_err(|e| e.to_string()),
        );
    }
    Some(match kind {
        "cloudevent" => through::<CloudEvent>(json).and_then(|v| {
            let event: CloudEvent = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
            let data = event.typed_data()?.to_json();
            if json_eq(&data, &event.data.to_value()) {
                Ok(v)
            } else {
                Err(format!("typed data re-encodes as {data}"))
            }
        }),
        "objects/Material" => through::<Material>(json),
        "objects/ProductionOrder" => through::<ProductionOrder>(json),
        "objects/StockRow" => through::<StockRow>(json),
        "objects/LotStatus" => through::<LotStatus>(json),
        "objects/InspectionLot" => through::<InspectionLot>(json),
        "objects/GoodsMovement" => through::<MaterialDocument>(json),
        "objects/Confirmation" => through::<Confirmation>(json),
        "objects/Nonconformance" => through::<NonconformanceCreated>(json),
        "objects/Shipment" => through::<ShipmentConfirmed>(json),
        "api/ConfirmationRequest" => through::<ConfirmationRequest>(json),
        "api/Confirmation" => through::<Confirmation>(json),
        "api/GoodsMovementRequest" => through::<GoodsMovementRequest>(json),
        "api/MaterialDocument" => through::<MaterialDocument>(json),
        "api/ReversalRequest" => through::<ReversalRequest>(json),
        "api/QualityNotificationRequest" => through::<QualityNotificationRequest>(json),
        "api/QualityNotification" => through::<QualityNotification>(json),
        "api/StockList" => through::<StockList>(json),
        "api/ProductionOrderList" => through::<ProductionOrderList>(json),
        "api/WorkOrderDownload" => through::<WorkOrderDownload>(json),
        "api/WorkOrder" => through::<WorkOrder>(json),
        "api/WorkOrderCancellation" => through::<WorkOrderCancellation>(json),
        "api/MaterialMasterUpdate" => through::<MaterialMasterUpdate>(json),
        "api/HoldRequest" => through::<HoldRequest>(json),
        "api/HoldReleaseRequest" => through::<HoldReleaseRequest>(json),
        "api/LotStatusUpdate" => through::<LotStatusUpdate>(json),
        "api/InspectionLotRequest" => through::<InspectionLotRequest>(json),
        "api/ReceiptRequest" => through::<ReceiptRequest>(json),
        "api/Receipt" => through::<Receipt>(json),
        "api/TokenResponse" => through::<TokenResponse>(json),
        "api/Problem" => through::<Problem>(json),
        _ => return None,
    })
}

/// Parses a YAML document (OpenAPI, AsyncAPI) into JSON.
pub fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `(json pointer, $ref value)` in a document.
pub fn refs(doc: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, w) in map {
                    let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    if let ("$ref", Value::String(r)) = (k.as_str(), w) {
                        out.push((here.clone(), r.clone()));
                    }
                    walk(w, &here, out);
                }
            }
            Value::Array(items) => {
                for (i, w) in items.iter().enumerate() {
                    walk(w, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, "", &mut out);
    out
}

/// Resolves a `$ref` found in `doc` (a file in `dir`): an internal `#/…` pointer, or a relative
/// file with an optional fragment. Returns what it points to, or why it does not resolve.
pub fn resolve(doc: &Value, dir: &Path, reference: &str) -> Result<Value, String> {
    let (file, fragment) = match reference.split_once('#') {
        Some((file, fragment)) => (file, fragment),
        None => (reference, ""),
    };
    let target = if file.is_empty() {
        doc.clone()
    } else {
        if file.contains("://") {
            return Err(format!("{reference} is not a relative file reference"));
        }
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{reference}: {} ({e})", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{reference}: {e}"))?
    };
    target
        .pointer(fragment)
        .cloned()
        .ok_or_else(|| format!("{reference}: fragment {fragment:?} does not resolve"))
}

/// The validator kind of a schema file reference such as `../schemas/api/X.schema.json`.
pub fn kind_of_ref(reference: &str) -> Option<String> {
    let rest = reference.split("schemas/").nth(1)?;
    rest.strip_suffix(".schema.json").map(str::to_string)
}
