//! API pieces MES, QMS and WMS share: lot holds and status (MES, WMS) and material master
//! replication (MES, QMS, WMS).

use std::sync::{Arc, MutexGuard};

use andon_contracts::api::{
    HoldReleaseRequest, HoldRequest, LotStatusUpdate, MaterialMasterUpdate,
};
use andon_contracts::objects::StockType;
use andon_contracts::{BatchId, MaterialId, PlantId};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use crate::core::{Core, Ctx, JsonBody};
use crate::lots::{Applied, LotKey, Lots};
use crate::problem::ApiError;

/// A system that keeps lot status.
pub trait LotKeeper: Send + Sync + 'static {
    /// Shared parts.
    fn core(&self) -> &Core;
    /// The lots.
    fn lots(&self) -> MutexGuard<'_, Lots>;
    /// Status of a lot this system first hears about.
    fn initial_status(&self, key: &LotKey) -> StockType {
        let md = self.core().master();
        let inspected = md
            .material_in(&key.1, &key.0)
            .is_some_and(|m| m.inspection_required);
        if inspected {
            StockType::QualityInspection
        } else {
            StockType::Unrestricted
        }
    }
}

/// A system that keeps a copy of the material master.
pub trait MaterialReplica: Send + Sync + 'static {
    /// Shared parts.
    fn core(&self) -> &Core;
}

/// Routes for lot holds and status.
pub fn lot_routes<T: LotKeeper>(sys: Arc<T>) -> Router {
    Router::new()
        .route("/api/v1/lots/{plant}/{material}/{batch}", get(get_lot::<T>))
        .route(
            "/api/v1/lots/{plant}/{material}/{batch}/holds",
            post(place_hold::<T>),
        )
        .route(
            "/api/v1/lots/{plant}/{material}/{batch}/holds/{hold_id}/release",
            post(release_hold::<T>),
        )
        .route(
            "/api/v1/lots/{plant}/{material}/{batch}/status",
            put(set_status::<T>),
        )
        .with_state(sys)
}

/// Route for material master replication.
pub fn material_routes<T: MaterialReplica>(sys: Arc<T>) -> Router {
    Router::new()
        .route(
            "/api/v1/materials/{material}",
            put(put_material::<T>).get(get_material::<T>),
        )
        .with_state(sys)
}

fn lot_key(core: &Core, plant: &str, material: &str, batch: &str) -> Result<LotKey, ApiError> {
    let bad = |e: andon_contracts::IdError| ApiError::invalid(e.to_string(), vec![]);
    let key = (
        PlantId::parse(plant).map_err(bad)?,
        MaterialId::parse(material).map_err(bad)?,
        BatchId::parse(batch).map_err(bad)?,
    );
    let md = core.master();
    if md.plant(&key.0).is_none() {
        return Err(ApiError::unknown_master_data(format!(
            "Plant {} is not defined",
            key.0
        )));
    }
    if md.material_in(&key.1, &key.0).is_none() {
        return Err(ApiError::unknown_master_data(format!(
            "Material {} not maintained in plant {}",
            key.1, key.0
        )));
    }
    Ok(key)
}

fn record(
    core: &Core,
    ctx: &Ctx,
    what: &str,
    key: &LotKey,
    sources: Vec<andon_contracts::SourceRef>,
    applied: &Applied,
    extra: serde_json::Value,
) {
    core.effect(
        ctx,
        &format!("{}.{what}", core.system),
        format!("{}/{}/{}", key.0, key.1, key.2),
        sources,
        serde_json::json!({
            "sequence": applied.sequence,
            "previous_sequence": applied.previous_sequence,
            "stale": applied.stale,
            "status": applied.status.status,
            "holds": applied.status.holds,
            "available": applied.status.available,
            "change": extra,
        }),
    );
}

async fn get_lot<T: LotKeeper>(
    State(sys): State<Arc<T>>,
    ctx: Ctx,
    Path((plant, material, batch)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let key = lot_key(sys.core(), &plant, &material, &batch)?;
    ctx.scope.check(&key.0)?;
    let status = sys.lots().status(&key).ok_or_else(|| {
        ApiError::not_found(format!(
            "Lot {material} {batch} is not known in plant {plant}"
        ))
    })?;
    Ok(Json(status).into_response())
}

async fn place_hold<T: LotKeeper>(
    State(sys): State<Arc<T>>,
    ctx: Ctx,
    Path((plant, material, batch)): Path<(String, String, String)>,
    JsonBody(req): JsonBody<HoldRequest>,
) -> Result<Response, ApiError> {
    let key = lot_key(sys.core(), &plant, &material, &batch)?;
    ctx.scope.check(&key.0)?;
    let initial = sys.initial_status(&key);
    let applied = sys.lots().hold(&key, initial, &req.hold_id, req.sequence);
    record(
        sys.core(),
        &ctx,
        "hold",
        &key,
        req.refs.all(),
        &applied,
        serde_json::json!({ "hold_id": req.hold_id, "reason_code": req.reason_code }),
    );
    Ok(Json(applied.status).into_response())
}

async fn release_hold<T: LotKeeper>(
    State(sys): State<Arc<T>>,
    ctx: Ctx,
    Path((plant, material, batch, hold_id)): Path<(String, String, String, String)>,
    JsonBody(req): JsonBody<HoldReleaseRequest>,
) -> Result<Response, ApiError> {
    let key = lot_key(sys.core(), &plant, &material, &batch)?;
    ctx.scope.check(&key.0)?;
    let applied = sys
        .lots()
        .release(&key, &hold_id, req.sequence)
        .ok_or_else(|| {
            ApiError::of(
                "hold-not-found",
                format!(
                    "Hold {hold_id} is not in force on lot {material} {batch} in plant {plant}"
                ),
            )
        })?;
    record(
        sys.core(),
        &ctx,
        "release",
        &key,
        req.refs.all(),
        &applied,
        serde_json::json!({ "hold_id": hold_id }),
    );
    Ok(Json(applied.status).into_response())
}

async fn set_status<T: LotKeeper>(
    State(sys): State<Arc<T>>,
    ctx: Ctx,
    Path((plant, material, batch)): Path<(String, String, String)>,
    JsonBody(req): JsonBody<LotStatusUpdate>,
) -> Result<Response, ApiError> {
    let key = lot_key(sys.core(), &plant, &material, &batch)?;
    ctx.scope.check(&key.0)?;
    let applied = sys.lots().set_status(&key, req.status, req.sequence);
    record(
        sys.core(),
        &ctx,
        "lot_status",
        &key,
        req.refs.all(),
        &applied,
        serde_json::json!({ "status": req.status }),
    );
    Ok(Json(applied.status).into_response())
}

async fn put_material<T: MaterialReplica>(
    State(sys): State<Arc<T>>,
    ctx: Ctx,
    Path(material): Path<String>,
    JsonBody(req): JsonBody<MaterialMasterUpdate>,
) -> Result<Response, ApiError> {
    if req.material.material.as_str() != material {
        return Err(ApiError::invalid(
            format!(
                "The path names material {material} but the body names {}",
                req.material.material
            ),
            vec![andon_contracts::FieldError {
                pointer: "/material".into(),
                message: "must equal the material in the path".into(),
            }],
        ));
    }
    for p in &req.material.plants {
        ctx.scope.check(p)?;
    }
    let core = sys.core();
    {
        let mut md = core.master.write().unwrap_or_else(|e| e.into_inner());
        for p in &req.material.plants {
            if md.plant(p).is_none() {
                return Err(ApiError::unknown_master_data(format!(
                    "Plant {p} is not defined"
                )));
            }
        }
        match md
            .materials
            .iter_mut()
            .find(|m| m.material == req.material.material)
        {
            Some(m) => *m = req.material.clone(),
            None => md.materials.push(req.material.clone()),
        }
    }
    core.effect(
        &ctx,
        &format!("{}.material", core.system),
        material,
        req.refs.all(),
        serde_json::to_value(&req.material).unwrap_or_default(),
    );
    Ok(Json(req.material).into_response())
}

async fn get_material<T: MaterialReplica>(
    State(sys): State<Arc<T>>,
    ctx: Ctx,
    Path(material): Path<String>,
) -> Result<Response, ApiError> {
    let md = sys.core().master();
    let m = md
        .materials
        .iter()
        .find(|m| m.material.as_str() == material)
        .ok_or_else(|| ApiError::not_found(format!("Material {material} does not exist")))?;
    ctx.scope.check_any(&m.plants)?;
    Ok(Json(m).into_response())
}
