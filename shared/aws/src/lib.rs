//! lakeline's AWS edge: the I/O around the decision core (`lakeline-core`). One way to build
//! clients (so tests and the demo can point them at the local emulator with
//! `AWS_ENDPOINT_URL`), one classification of SDK errors into transient or not, loading the
//! registry from a path or an `s3://` URI and keeping it fresh ([`live`]), ranged S3 reads of
//! Parquet ([`parquet`]), multipart writes ([`upload`]), alerts over SNS, and EMF metric lines
//! printed where the Lambda log agent collects them ([`Emit`]).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use lakeline_core::registry::Registry;
use lakeline_core::Error;

pub mod copy;
pub mod live;
pub mod parquet;
pub mod staged;
pub mod upload;

/// Prints an EMF document ([`Emf`](lakeline_core::metrics::Emf)) on stdout, where the Lambda log
/// agent picks it up and CloudWatch turns it into metrics.
pub trait Emit {
    /// Prints the line, stamped now. Outside Lambda (the CLI, the demo, tests) nobody collects
    /// it, so it is printed only when `AWS_LAMBDA_FUNCTION_NAME` or `LAKELINE_EMF` is set.
    fn emit(&self);
}

impl Emit for lakeline_core::metrics::Emf {
    fn emit(&self) {
        if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
            || std::env::var_os("LAKELINE_EMF").is_some()
        {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            println!("{}", self.render(now_ms));
        }
    }
}

/// An SDK failure as the library's error: transient or not, with what was attempted.
pub fn sdk_error<E>(what: &str, e: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    Error::Aws {
        transient: is_transient(e),
        message: format!("{what}: {}", describe(e)),
    }
}

/// Whether an S3 error means the object (version) is not the one asked for: gone (404) or
/// replaced (412 on If-Match).
pub fn is_gone<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    matches!(
        error_code(e).as_deref(),
        Some("NoSuchKey" | "NotFound" | "NoSuchVersion" | "PreconditionFailed")
    ) || e
        .raw_response()
        .is_some_and(|r| matches!(r.status().as_u16(), 404 | 412))
}

/// Loads the SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client; path-style addressing when an endpoint override points at an emulator
/// (virtual-host style would need DNS for `bucket.localhost`).
pub fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let b = aws_sdk_s3::config::Builder::from(conf).force_path_style(conf.endpoint_url().is_some());
    aws_sdk_s3::Client::from_conf(b.build())
}

/// Error codes AWS services use for throttling and transient server trouble.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ProvisionedThroughputExceededException",
];

/// Whether an SDK error is worth retrying: no response at all, a 5xx/429, or a throttling code.
///
/// Every service crate re-exports the same smithy `HttpResponse`, so this serves all clients.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            let status = se.raw().status().as_u16();
            TRANSIENT_CODES.contains(&code) || status == 429 || status >= 500
        }
        _ => false,
    }
}

/// The service error code of an SDK error (`NoSuchKey`, `AccessDenied`, …), if it has one.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<String> {
    err.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string)
}

/// A readable one-line description of an SDK error, with its code and message.
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    match err.as_service_error() {
        Some(e) => {
            let message = e.message().unwrap_or("(no message)");
            format!(
                "{}: {message}{}",
                e.code().unwrap_or("UnknownError"),
                kms_hint(message)
            )
        }
        None => {
            let mut s = err.to_string();
            let mut src = std::error::Error::source(err);
            while let Some(e) = src {
                s.push_str(": ");
                s.push_str(&e.to_string());
                src = e.source();
            }
            s
        }
    }
}

/// What to do about a KMS denial on an object: S3 says `kms:Decrypt` when the reader may not
/// use the key the object was encrypted with, which for an upload is a producer's own key.
pub fn kms_hint(message: &str) -> &'static str {
    if message.contains("kms:Decrypt") {
        " (an upload encrypted under a producer's own KMS key: name the key in the stack parameter ProducerKmsKeyArns, and let the stack's roles use it in the key's policy; README, \"Encrypted uploads\")"
    } else {
        ""
    }
}

/// Publishes an alert: the subject, the text-or-JSON message (`MessageStructure: json`) and the
/// String attributes subscription filter policies match on. Returns the message id.
pub async fn publish_alert(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    alert: &lakeline_core::alert::Alert,
) -> Result<String, SdkError<aws_sdk_sns::operation::publish::PublishError, HttpResponse>> {
    let mut req = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(alert.subject())
        .message_structure("json")
        .message(alert.sns_message());
    for (name, value) in alert.attributes() {
        let attr = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .expect("data_type is set");
        req = req.message_attributes(name, attr);
    }
    let out = req.send().await?;
    Ok(out.message_id.unwrap_or_default())
}

/// Loads the registry from a local path or an `s3://bucket/key` URI, its `${LAKELINE_…}`
/// placeholders filled from `vars` ([`lakeline_core::placeholders`]).
pub async fn load_registry(
    location: &str,
    s3: &aws_sdk_s3::Client,
    vars: &lakeline_core::placeholders::Vars,
) -> Result<Registry, Error> {
    let unreadable = |message: String| Error::RegistryUnreadable {
        origin: location.to_string(),
        message,
    };
    let text = if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| unreadable("an s3:// URI needs a bucket and a key".into()))?;
        let out = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| unreadable(describe(&e)))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| unreadable(e.to_string()))?
            .into_bytes();
        String::from_utf8(bytes.to_vec()).map_err(|e| unreadable(format!("not UTF-8: {e}")))?
    } else {
        tokio::fs::read_to_string(location)
            .await
            .map_err(|e| unreadable(e.to_string()))?
    };
    lakeline_core::placeholders::load(&text, location, vars)
}

/// Where a function reads its settings: the process environment in Lambda, a map when the
/// local router hosts the function (each deployed function has its own environment there).
pub trait Env: Send + Sync {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;

    /// A variable that must be set and non-empty.
    fn require(&self, name: &str) -> Result<String, Error> {
        match self.var(name) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(Error::Env {
                name: name.to_string(),
                message: "is not set".into(),
            }),
        }
    }

    /// The `LAKELINE_…` variables, the values registry placeholders may take.
    fn placeholder_vars(&self) -> lakeline_core::placeholders::Vars;

    /// An optional positive number.
    fn positive(&self, name: &str, default: usize) -> Result<usize, Error> {
        match self.var(name) {
            Some(v) if !v.trim().is_empty() => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::Env {
                    name: name.into(),
                    message: format!("{v:?} is not a positive number"),
                }),
            _ => Ok(default),
        }
    }
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn placeholder_vars(&self) -> lakeline_core::placeholders::Vars {
        std::env::vars()
            .filter(|(k, _)| k.starts_with(lakeline_core::placeholders::PREFIX))
            .collect()
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
    fn placeholder_vars(&self) -> lakeline_core::placeholders::Vars {
        self.iter()
            .filter(|(k, _)| k.starts_with(lakeline_core::placeholders::PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The configured region, for console links (`us-east-1` when none is configured).
pub fn region_of(conf: &SdkConfig) -> String {
    conf.region()
        .map_or("us-east-1", |r| r.as_ref())
        .to_string()
}

/// Loads the registry named by `LAKELINE_REGISTRY`; with `LAKELINE_ARTIFACT_PREFIX` set, Spark
/// entry points outside it are refused ([`Registry::check_entry_points`]).
pub async fn registry_from_env(env: &dyn Env, s3: &aws_sdk_s3::Client) -> Result<Registry, Error> {
    let location = env.require("LAKELINE_REGISTRY")?;
    let reg = load_registry(&location, s3, &env.placeholder_vars()).await?;
    if let Some(prefix) = env.var("LAKELINE_ARTIFACT_PREFIX") {
        reg.check_entry_points(prefix.trim(), &location)?;
    }
    Ok(reg)
}
