//! The stub against small documents and against andon's own ERP contract.

use super::*;
use serde_json::json;

const ORDERS: &str = r##"
openapi: 3.1.0
info: {title: Orders, version: "1"}
servers:
  - url: http://localhost:{port}/shop
    variables: {port: {default: "8080"}}
paths:
  /orders:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/OrderRequest'}
      responses:
        '400': {description: bad}
        '201':
          description: created
          content:
            application/json:
              examples:
                released: {value: {order: "100000001", status: released}}
                another: {value: {order: "100000002", status: created}}
  /orders/{order}:
    get:
      responses:
        200:
          $ref: '#/components/responses/Order'
    delete:
      responses:
        '204': {description: gone}
  /orders/mine:
    get:
      responses:
        '200':
          description: mine
          content:
            application/json:
              schema:
                type: object
                example: {mine: true}
  /reports:
    get:
      responses:
        '200':
          description: no example
          content:
            application/json:
              schema: {type: object}
components:
  schemas:
    OrderRequest:
      type: object
      required: [material, quantity]
      additionalProperties: false
      properties:
        material: {type: string, minLength: 1}
        quantity: {$ref: '#/components/schemas/Quantity'}
    Quantity: {type: number, exclusiveMinimum: 0}
  responses:
    Order:
      description: one order
      content:
        application/json:
          example: {order: "100000001", status: released}
"##;

async fn orders() -> StubServer {
    start_stub(ORDERS, "orders.yaml", None)
        .await
        .expect("the document is served")
}

fn post(stub: &StubServer, body: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/shop/orders", stub.uri()))
        .header("content-type", "application/json")
        .body(body.to_string())
}

#[tokio::test]
async fn a_valid_request_gets_the_first_example_with_its_status() {
    let stub = orders().await;
    let r = post(&stub, r#"{"material": "RM-1", "quantity": 2.5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Json = r.json().await.unwrap();
    assert_eq!(body, json!({"order": "100000001", "status": "released"}));
}

#[tokio::test]
async fn an_invalid_body_is_400_problem_json_with_pointers() {
    let stub = orders().await;
    let r = post(
        &stub,
        r#"{"material": "", "quantity": -1, "colour": "red"}"#,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], PROBLEM_JSON);
    let p: Problem = r.json().await.unwrap();
    assert_eq!(p.code, "invalid-request");
    assert_eq!(p.instance.as_deref(), Some("/shop/orders"));
    let pointers: Vec<&str> = p.errors.iter().map(|e| e.pointer.as_str()).collect();
    assert!(pointers.contains(&"/quantity"), "{pointers:?}");
    assert!(pointers.contains(&"/material"), "{pointers:?}");
    assert!(pointers.contains(&""), "additional property: {pointers:?}");
    assert!(p.detail.contains("POST /orders"), "{}", p.detail);
}

#[tokio::test]
async fn malformed_missing_or_mistyped_bodies_are_refused() {
    let stub = orders().await;
    let r = post(&stub, "{\"material\": ").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let p: Problem = r.json().await.unwrap();
    assert!(
        p.detail.starts_with("Malformed JSON at line 1"),
        "{}",
        p.detail
    );

    let r = reqwest::Client::new()
        .post(format!("{}/shop/orders", stub.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = reqwest::Client::new()
        .post(format!("{}/shop/orders", stub.uri()))
        .header("content-type", "text/plain")
        .body("material=RM-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
}

#[tokio::test]
async fn templates_match_segments_and_literal_paths_win() {
    let stub = orders().await;
    let get = |p: &str| reqwest::get(format!("{}/shop{p}", stub.uri()));
    let r = get("/orders/4711").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Json>().await.unwrap()["order"], "100000001");
    let r = get("/orders/mine").await.unwrap();
    assert_eq!(r.json::<Json>().await.unwrap(), json!({"mine": true}));
    assert_eq!(get("/orders/1/items").await.unwrap().status(), 404);
    let r = reqwest::Client::new()
        .delete(format!("{}/shop/orders/1", stub.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let stub = orders().await;
    let r = reqwest::get(format!("{}/shop/invoices", stub.uri()))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::get(format!("{}/orders/1", stub.uri()))
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the server path is part of every route");
}

#[tokio::test]
async fn operations_are_listed_and_skipped_ones_say_why() {
    let stub = orders().await;
    let ops: Vec<String> = stub.operations().iter().map(|o| o.to_string()).collect();
    assert_eq!(
        ops,
        [
            "POST /orders -> 201",
            "GET /orders/{order} -> 200",
            "DELETE /orders/{order} -> 204",
            "GET /orders/mine -> 200"
        ]
    );
    assert!(stub.operations()[0].validates_request);
    assert_eq!(stub.base_path(), "/shop");
    assert_eq!(stub.skipped().len(), 1);
    assert_eq!(stub.skipped()[0].path, "/reports");
}

#[tokio::test]
async fn bad_yaml_names_the_file_and_line() {
    let text = "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /x: [\n";
    let err = start_stub(text, "bad.yaml", None).await.unwrap_err();
    let StubError::Syntax { line, .. } = &err else {
        panic!("{err}")
    };
    assert!(*line >= 4, "{err}");
    assert!(err.to_string().starts_with("bad.yaml:"), "{err}");
    assert!(err.to_string().contains("expected"), "{err}");
}

#[tokio::test]
async fn bad_json_names_the_line() {
    let err = start_stub(
        "{\n  \"openapi\": \"3.1.0\",\n  \"paths\": {,}\n}",
        "api.json",
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().starts_with("api.json:3:"), "{err}");
}

#[tokio::test]
async fn documents_that_are_not_openapi_3_say_what_was_expected() {
    let err = start_stub("swagger: '2.0'\npaths: {}\n", "old.yaml", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected an OpenAPI 3.x"), "{err}");
    let err = start_stub("- a\n- b\n", "list.yaml", None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("list.yaml: document: expected a mapping"),
        "{err}"
    );
    let err = start_stub("openapi: 3.1.0\npaths: {}\n", "empty.yaml", None)
        .await
        .unwrap_err();
    assert!(matches!(err, StubError::NothingToServe { .. }), "{err}");
}

#[tokio::test]
async fn an_unresolvable_external_reference_is_unsupported() {
    let text = r#"
openapi: 3.1.0
info: {title: x, version: "1"}
paths:
  /x:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: 'https://example.com/x.json'}
      responses:
        '200': {description: ok}
"#;
    let err = start_stub(text, "ext.yaml", None).await.unwrap_err();
    assert!(matches!(err, StubError::Unsupported { .. }), "{err}");
    assert!(err.to_string().starts_with("ext.yaml: POST /x:"), "{err}");
}

#[tokio::test]
async fn openapi_3_0_json_documents_are_served() {
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "x", "version": "1"},
        "paths": {"/ping": {"put": {
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "required": ["n"],
                "properties": {"n": {"type": "integer", "minimum": 0, "exclusiveMinimum": true}}
            }}}},
            "responses": {"200": {"description": "ok", "content": {"application/json": {"example": {"pong": 1}}}}}
        }}}
    });
    let stub = start_stub(&doc.to_string(), "ping.json", None)
        .await
        .unwrap();
    let put = |b: &'static str| {
        reqwest::Client::new()
            .put(format!("{}/ping", stub.uri()))
            .header("content-type", "application/json")
            .body(b)
            .send()
    };
    assert_eq!(put(r#"{"n": 1}"#).await.unwrap().status(), 200);
    assert_eq!(put(r#"{"n": 0}"#).await.unwrap().status(), 400);
}

#[tokio::test]
async fn serves_on_the_address_given() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let stub = start_stub(ORDERS, "orders.yaml", Some(addr)).await.unwrap();
    assert_eq!(stub.address(), addr);
    let busy = start_stub(ORDERS, "orders.yaml", Some(addr))
        .await
        .unwrap_err();
    assert!(matches!(busy, StubError::Bind { .. }), "{busy}");
}

#[tokio::test]
async fn andons_own_erp_contract_is_served_with_its_file_references() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/openapi/erp.yaml");
    let text = std::fs::read_to_string(file).unwrap();
    let stub = start_stub(&text, file, None).await.unwrap();
    let post = stub
        .operations()
        .iter()
        .find(|o| o.method == "POST" && o.path == "/api/v1/material-documents")
        .expect("goods movements are stubbed");
    assert!(post.validates_request);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/material-documents", stub.uri()))
        .header("content-type", "application/json")
        .body(r#"{"posting_date": "2026-11-02", "items": []}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Problem = r.json().await.unwrap();
    assert!(p.errors.iter().any(|e| e.pointer == "/items"), "{p:?}");
    let golden = include_str!(
        "../../../contracts/examples/valid/api__GoodsMovementRequest/consumption-261.json"
    );
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/material-documents", stub.uri()))
        .header("content-type", "application/json")
        .body(golden)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc: Json = r.json().await.unwrap();
    assert!(doc["material_document"].is_string(), "{doc}");
}
