//! The local Lambda service: moto runs the real state machine, and its Task states call
//! `http://localhost:$MOTO_PORT`. `scripts/local-aws` points MOTO_PORT here. This router serves
//! the Lambda Invoke API with lakeline's real handlers, in process, and forwards every other
//! request to moto unchanged.
//!
//! Functions are "deployed" to it like to Lambda: `PUT /_lakeline/functions/{name}` with
//! `{"handler": "start-job", "env": {...}}`. The handler's dependencies are built from that
//! env on the first invoke (a cold start) and reused after. Errors come back the way Lambda
//! returns them: HTTP 200, `X-Amz-Function-Error: Unhandled`, `{"errorType","errorMessage"}`,
//! so the state machine's Retry and Catch see exactly what they would see in AWS.
//!
//! Every AWS call passes here (the SDK clients of tests, demo and hosted handlers point at the
//! router, not at moto), so the router is where calls are recorded for the permissions check:
//! with `--calls FILE` each call is appended to FILE as JSON (principal, IAM actions,
//! resources, condition keys: [`crate::calls`]), as is each stack a test or the demo deploys
//! (`PUT /_lakeline/stacks/{id}`: which local resources stand for which template resources).
//!
//! It also corrects, in one named place ([`correct_moto_s3tables`]), the two S3 Tables answers
//! of moto that do not match the AWS model and that aws-sdk-s3tables therefore cannot read;
//! every other answer passes unchanged.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{Mutex, OnceCell};

/// A function deployed to the router.
#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    /// Which lakeline handler: `validate-upload`, `start-job`, `notify-failure`,
    /// `check-compaction`.
    pub handler: String,
    /// Its environment.
    #[serde(default)]
    pub env: HashMap<String, String>,
}

struct Function {
    deployment: Deployment,
    warm: OnceCell<Arc<crate::functions::Warm>>,
}

struct State {
    moto: String,
    recorder: Option<crate::calls::Recorder>,
    functions: Mutex<HashMap<String, Arc<Function>>>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    conf: aws_config::SdkConfig,
    /// The stand-in for S3 Tables' table maintenance configuration ([`table_maintenance`]):
    /// table path → maintenance type → its value, as last put.
    maintenance: Mutex<HashMap<String, serde_json::Map<String, Value>>>,
    /// The stand-in for Glue's table optimizers ([`glue_table_optimizers`]): `catalog/database/
    /// table/type` → its configuration, as last created or updated.
    optimizers: Mutex<HashMap<String, Value>>,
}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

/// Serves on 127.0.0.1:`port` until the process is stopped; `moto` is moto's base URL; `calls`,
/// the JSON Lines file each call is appended to.
pub async fn serve(
    port: u16,
    moto: String,
    calls: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    // The hosted handlers call AWS through the router too, so their calls are recorded (each
    // signs as its own role: functions.rs).
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .load()
        .await;
    let recorder = match calls {
        Some(path) => Some(
            crate::calls::Recorder::open(&path)
                .with_context(|| format!("opening the call log {}", path.display()))?,
        ),
        None => None,
    };
    let state = Arc::new(State {
        moto,
        recorder,
        functions: Mutex::new(HashMap::new()),
        client: Client::builder(TokioExecutor::new()).build_http(),
        conf,
        maintenance: Mutex::new(HashMap::new()),
        optimizers: Mutex::new(HashMap::new()),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    eprintln!(
        "lakeline-local router on 127.0.0.1:{port}, forwarding to {}",
        state.moto
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(route(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn route(state: &State, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    if path == "/_lakeline/health" {
        return respond(StatusCode::OK, "ok");
    }
    if let Some(name) = path.strip_prefix("/_lakeline/functions/") {
        return deploy(state, name, req).await;
    }
    if path.starts_with("/_lakeline/stacks/") {
        return register_stack(state, req).await;
    }
    if req.method() == Method::POST {
        if let Some(name) = path
            .strip_prefix("/2015-03-31/functions/")
            .and_then(|r| r.strip_suffix("/invocations"))
        {
            return invoke(state, name, req).await;
        }
    }
    forward(state, req).await
}

async fn deploy(state: &State, name: &str, req: Request<Incoming>) -> Resp {
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let deployment: Deployment = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return respond(StatusCode::BAD_REQUEST, format!("bad deployment: {e}")),
    };
    if !crate::functions::HANDLERS.contains(&deployment.handler.as_str()) {
        return respond(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown handler {:?}; known: {:?}",
                deployment.handler,
                crate::functions::HANDLERS
            ),
        );
    }
    let f = Arc::new(Function {
        deployment,
        warm: OnceCell::new(),
    });
    state.functions.lock().await.insert(name.to_string(), f);
    respond(StatusCode::OK, "deployed")
}

/// The function name from the Invoke path: a plain name, or a URL-encoded ARN (maybe with a
/// qualifier).
fn function_name(raw: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .to_string();
    match decoded.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_string(),
        None => decoded,
    }
}

/// Records a stack's local resources (the body, JSON) in the call log.
async fn register_stack(state: &State, req: Request<Incoming>) -> Resp {
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mut stack: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return respond(StatusCode::BAD_REQUEST, format!("bad stack: {e}")),
    };
    stack["kind"] = json!("stack");
    if let Some(r) = &state.recorder {
        r.write(&stack);
    }
    respond(StatusCode::OK, "registered")
}

/// The principal of a request: the access key of its SigV4 signature, or `unsigned`.
fn principal_of(headers: &hyper::HeaderMap) -> (String, Option<(String, String)>) {
    let auth = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::calls::credential_scope);
    match auth {
        Some((key, region, service)) => (key, Some((region, service))),
        None => ("unsigned".to_string(), None),
    }
}

/// Describes and records one call (nothing without a call log).
fn record_call(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    status: u16,
    default_service: &str,
) {
    let Some(rec) = &state.recorder else {
        return;
    };
    let (principal, scope) = principal_of(&parts.headers);
    let (region, service) =
        scope.unwrap_or_else(|| ("us-east-1".to_string(), default_service.to_string()));
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let accesses = crate::calls::describe(
        &crate::calls::Request {
            method: parts.method.as_str(),
            path,
            query,
            headers: &headers,
            body,
        },
        &service,
        &region,
    );
    rec.write(&crate::calls::record(
        &principal,
        parts.method.as_str(),
        path,
        &accesses,
        status,
    ));
}

async fn invoke(state: &State, raw_name: &str, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let resp = invoke_function(state, raw_name, &body).await;
    record_call(state, &parts, &body, resp.status().as_u16(), "lambda");
    resp
}

async fn invoke_function(state: &State, raw_name: &str, body: &Bytes) -> Resp {
    let name = function_name(raw_name);
    let Some(f) = state.functions.lock().await.get(&name).cloned() else {
        let body = json!({"Type": "User", "Message": format!("Function not found: {name}")});
        return respond(StatusCode::NOT_FOUND, body.to_string());
    };
    let payload: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return respond(
                    StatusCode::BAD_REQUEST,
                    json!({"Type": "User", "Message": format!("payload is not JSON: {e}")})
                        .to_string(),
                )
            }
        }
    };
    let warm = f
        .warm
        .get_or_try_init(|| async {
            crate::functions::Warm::build(&f.deployment, &state.conf)
                .await
                .map(Arc::new)
        })
        .await;
    let result = match warm {
        Ok(w) => w.invoke(payload).await,
        // A failed cold start is reported like Lambda reports an init error.
        Err(e) => Err(("Runtime.InitError".to_string(), e.to_string())),
    };
    match result {
        Ok(v) => respond(StatusCode::OK, v.to_string()),
        Err((error_type, message)) => {
            let mut r = respond(
                StatusCode::OK,
                json!({"errorType": error_type, "errorMessage": message}).to_string(),
            );
            r.headers_mut().insert(
                "X-Amz-Function-Error",
                hyper::header::HeaderValue::from_static("Unhandled"),
            );
            r
        }
    }
}

async fn forward(state: &State, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return respond(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    if principal_of(&parts.headers).1.map(|(_, s)| s).as_deref() == Some("glue") {
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let Some(resp) = glue_table_optimizers(state, target, &body).await {
            record_call(state, &parts, &body, resp.status().as_u16(), "glue");
            return resp;
        }
    }
    if principal_of(&parts.headers).1.map(|(_, s)| s).as_deref() == Some("s3tables") {
        if let Some(resp) = table_maintenance(state, &parts.method, parts.uri.path(), &body).await {
            record_call(state, &parts, &body, resp.status().as_u16(), "unknown");
            return resp;
        }
    }
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri: hyper::Uri = match format!("{}{pq}", state.moto).parse() {
        Ok(u) => u,
        Err(e) => return respond(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    // moto's own API (reset, state manager) is the emulator's, not an AWS call.
    let is_aws = !parts.uri.path().starts_with("/moto-api");
    let mut out = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in &parts.headers {
        // Keep Host as the caller sent it: SigV4 signatures cover it.
        out = out.header(k, v);
    }
    let out = match out.body(Full::new(body.clone())) {
        Ok(r) => r,
        Err(e) => return respond(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    let resp = match state.client.request(out).await {
        Ok(resp) => {
            let (mut resp_parts, body) = resp.into_parts();
            let mut bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let service = principal_of(&parts.headers).1.map(|(_, s)| s);
            if resp_parts.status == StatusCode::OK && service.as_deref() == Some("s3tables") {
                if let Some(fixed) = correct_moto_s3tables(&parts.method, parts.uri.path(), &bytes)
                {
                    bytes = fixed;
                    // The body changed length; hyper sets the new one.
                    resp_parts.headers.remove(hyper::header::CONTENT_LENGTH);
                }
            }
            Response::from_parts(resp_parts, Full::new(bytes))
        }
        Err(e) => respond(StatusCode::BAD_GATEWAY, format!("moto unreachable: {e}")),
    };
    if is_aws {
        record_call(state, &parts, &body, resp.status().as_u16(), "unknown");
    }
    resp
}

/// The stand-in for S3 Tables' per-table maintenance configuration, which moto 5.2.5 does not
/// have: `PutTableMaintenanceConfiguration` (`PUT /tables/{bucket}/{ns}/{name}/maintenance/
/// {type}`) keeps the value it was sent, and `GetTableMaintenanceConfiguration` (`GET
/// …/maintenance`) returns what was put. It proves what lakeline asks S3 Tables to do, with
/// the real SDK's requests and answers; whether S3 Tables then compacts is proven on AWS
/// only. `None` for every other request.
async fn table_maintenance(
    state: &State,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Option<Resp> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        (&Method::PUT, ["tables", bucket, ns, name, "maintenance", kind]) => {
            let value = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("value").cloned())?;
            let table = format!("{bucket}/{ns}/{name}");
            state
                .maintenance
                .lock()
                .await
                .entry(table)
                .or_default()
                .insert(kind.to_string(), value);
            Some(respond(StatusCode::NO_CONTENT, ""))
        }
        (&Method::GET, ["tables", bucket, ns, name, "maintenance"]) => {
            let table = format!("{bucket}/{ns}/{name}");
            let conf = state
                .maintenance
                .lock()
                .await
                .get(&table)
                .cloned()
                .unwrap_or_default();
            let arn = crate::calls::decode(bucket);
            Some(respond(
                StatusCode::OK,
                json!({"tableARN": format!("{arn}/table/{name}"), "configuration": conf})
                    .to_string(),
            ))
        }
        _ => None,
    }
}

/// The stand-in for Glue's table optimizers, which moto 5.2.5 does not have:
/// `CreateTableOptimizer` keeps the configuration it was sent (`AlreadyExistsException` when the
/// table has that type already), `UpdateTableOptimizer` replaces it
/// (`EntityNotFoundException` when there is none), and `GetTableOptimizer` returns it. It proves
/// what lakeline asks Glue to do, with the real SDK's requests and answers; that Glue then
/// expires snapshots and deletes orphan files is proven on AWS only. `None` for every other
/// request.
async fn glue_table_optimizers(state: &State, target: &str, body: &[u8]) -> Option<Resp> {
    let op = target.strip_prefix("AWSGlue.")?;
    if !matches!(
        op,
        "CreateTableOptimizer" | "UpdateTableOptimizer" | "GetTableOptimizer"
    ) {
        return None;
    }
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let s = |k: &str| req[k].as_str().unwrap_or_default().to_string();
    let key = format!(
        "{}/{}/{}/{}",
        s("CatalogId"),
        s("DatabaseName"),
        s("TableName"),
        s("Type")
    );
    let error = |kind: &str, message: String| {
        let mut r = respond(
            StatusCode::BAD_REQUEST,
            json!({"__type": kind, "Message": message}).to_string(),
        );
        r.headers_mut().insert(
            "x-amzn-errortype",
            hyper::header::HeaderValue::from_str(kind).expect("an error name is a header value"),
        );
        r
    };
    let mut optimizers = state.optimizers.lock().await;
    let conf = req["TableOptimizerConfiguration"].clone();
    Some(match (op, optimizers.contains_key(&key)) {
        ("CreateTableOptimizer", true) => error(
            "AlreadyExistsException",
            format!("table optimizer {key} already exists"),
        ),
        ("UpdateTableOptimizer", false) | ("GetTableOptimizer", false) => error(
            "EntityNotFoundException",
            format!("no table optimizer {key}"),
        ),
        ("GetTableOptimizer", true) => respond(
            StatusCode::OK,
            json!({
                "CatalogId": s("CatalogId"),
                "DatabaseName": s("DatabaseName"),
                "TableName": s("TableName"),
                "TableOptimizer": {"type": s("Type"), "configuration": optimizers[&key]},
            })
            .to_string(),
        ),
        _ => {
            optimizers.insert(key, conf);
            respond(StatusCode::OK, "{}")
        }
    })
}

/// The one correction of moto's answers, for its S3 Tables responses that do not match the AWS
/// model and that aws-sdk-s3tables therefore cannot read (moto 5.2.5 and 5.2.6; see
/// /work/shared/notes/local-aws.md): a successful `body` of the request `method path` as AWS
/// would send it, or `None` when it needs no change.
/// - GetTable (`GET /get-table`) answers `"managedByService": false`, a boolean where the
///   model has an optional string (the managing service's name): a boolean says "none", so it
///   is dropped.
/// - UpdateTableMetadataLocation (`PUT /tables/{bucket ARN}/{namespace}/{name}/metadata-location`)
///   answers `"namespace": "<ns>"` where the model has a list of strings, and `tableArn` where
///   it has `tableARN`.
///
/// Everything else passes unchanged, so a fixed moto makes this a no-op.
pub fn correct_moto_s3tables(method: &Method, path: &str, body: &[u8]) -> Option<Bytes> {
    let get_table = *method == Method::GET && path == "/get-table";
    let update_location = *method == Method::PUT
        && path.starts_with("/tables/")
        && path.ends_with("/metadata-location");
    if !get_table && !update_location {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object_mut()?;
    let mut changed = false;
    if get_table && obj.get("managedByService").is_some_and(Value::is_boolean) {
        obj.remove("managedByService");
        changed = true;
    }
    if update_location {
        if let Some(Value::String(ns)) = obj.get("namespace") {
            let ns = json!([ns]);
            obj.insert("namespace".into(), ns);
            changed = true;
        }
        if !obj.contains_key("tableARN") {
            if let Some(arn) = obj.remove("tableArn") {
                obj.insert("tableARN".into(), arn);
                changed = true;
            }
        }
    }
    changed.then(|| Bytes::from(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::{correct_moto_s3tables, function_name};
    use hyper::Method;
    use serde_json::{json, Value};

    #[test]
    fn moto_s3tables_answers_corrected() {
        let fix = |m: &Method, p: &str, body: Value| {
            correct_moto_s3tables(m, p, body.to_string().as_bytes())
                .map(|b| serde_json::from_slice::<Value>(&b).unwrap())
        };
        let get = json!({"name": "orders", "versionToken": "t1", "managedByService": false});
        assert_eq!(
            fix(&Method::GET, "/get-table", get),
            Some(json!({"name": "orders", "versionToken": "t1"}))
        );
        let update = "/tables/arn%3Aaws%3As3tables%3Aus-east-1%3A123456789012%3Abucket%2Fb/ns/orders/metadata-location";
        assert_eq!(
            fix(
                &Method::PUT,
                update,
                json!({"name": "orders", "namespace": "ns", "tableArn": "arn:t", "versionToken": "t2", "metadataLocation": "s3://w/m.json"})
            ),
            Some(
                json!({"name": "orders", "namespace": ["ns"], "tableARN": "arn:t", "versionToken": "t2", "metadataLocation": "s3://w/m.json"})
            )
        );
        // Answers that already match the model, other operations and non-JSON pass unchanged.
        for (m, p, body) in [
            (
                Method::GET,
                "/get-table",
                json!({"managedByService": "aws-glue"}),
            ),
            (Method::GET, "/get-table", json!({"name": "orders"})),
            (
                Method::PUT,
                update,
                json!({"namespace": ["ns"], "tableARN": "arn:t"}),
            ),
            (
                Method::GET,
                "/tables/x/ns/orders/metadata-location",
                json!({"namespace": "ns"}),
            ),
            (Method::PUT, "/namespaces/x", json!({"namespace": "ns"})),
        ] {
            assert_eq!(fix(&m, p, body.clone()), None, "{m} {p} {body}");
        }
        assert_eq!(
            correct_moto_s3tables(&Method::GET, "/get-table", b"<xml/>"),
            None
        );
    }

    #[test]
    fn function_names_from_invoke_paths() {
        for (raw, want) in [
            ("lakeline-start-job", "lakeline-start-job"),
            (
                "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Alakeline-start-job",
                "lakeline-start-job",
            ),
            ("arn:aws:lambda:us-east-1:123456789012:function:f:live", "f"),
        ] {
            assert_eq!(function_name(raw), want, "{raw}");
        }
    }
}
