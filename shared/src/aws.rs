//! The few AWS helpers every function shares: one way to build clients (so tests and the demo
//! can point them at the local emulator with `AWS_ENDPOINT_URL`), one classification of SDK
//! errors into transient or not, and loading the registry from a path or an `s3://` URI.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::registry::Registry;
use crate::Error;

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
        Some(e) => format!(
            "{}: {}",
            e.code().unwrap_or("UnknownError"),
            e.message().unwrap_or("(no message)")
        ),
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

/// Loads the registry from a local path or an `s3://bucket/key` URI.
pub async fn load_registry(location: &str, s3: &aws_sdk_s3::Client) -> Result<Registry, Error> {
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
    Registry::from_yaml(&text, location)
}

/// Reads a required environment variable.
pub fn env(name: &str) -> Result<String, Error> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Error::Env {
            name: name.to_string(),
            message: "is not set".into(),
        }),
    }
}
