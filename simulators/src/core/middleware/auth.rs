//! Authentication: the layer that checks bearer tokens and puts the plant scope in the
//! request, and the token endpoint (`POST /oauth/token`).

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};

use crate::problem::ApiError;

use super::super::Shared;
use super::header_str;

/// Authentication layer: checks the bearer token and puts the plant scope in the request.
pub(in crate::core) async fn auth_mw(
    State(s): State<Shared>,
    mut req: Request,
    next: Next,
) -> Response {
    if req.uri().path().starts_with("/oauth/") {
        return next.run(req).await;
    }
    let header = header_str(&req, "authorization");
    match s
        .core
        .auth
        .check(header.as_deref(), s.core.faults.tokens_valid_after())
    {
        Ok(scope) => {
            req.extensions_mut().insert(scope);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

pub(in crate::core) async fn token(
    State(s): State<Shared>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return ApiError::invalid(
            "The token request must be application/x-www-form-urlencoded",
            vec![],
        )
        .into_response();
    };
    let plants = s.core.master().plant_ids();
    match s.core.auth.issue(&form, &plants) {
        Ok(t) => Json(t).into_response(),
        Err(e) => e.into_response(),
    }
}
