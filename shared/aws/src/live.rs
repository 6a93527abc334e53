//! A function's dependencies with a registry that follows its S3 object without a cold start:
//! at most every `LAKELINE_REGISTRY_TTL_SECONDS` (default 60) an invocation asks S3 for the
//! object's ETag; a changed one is loaded and checked, and the dependencies are rebuilt around
//! it. A new version that does not load is refused: the function keeps serving the last good
//! one, logs the error and emits the `RegistryRejected` metric (whose alarm alerts a human).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tracing::{error, info};

use crate::{describe, load_registry, Emit, Env, ProcessEnv};
use lakeline_core::metrics::{Emf, Unit};
use lakeline_core::registry::Registry;
use lakeline_core::Error;

/// The cold start every registry-reading function shares: the SDK configuration from the
/// environment, the function's dependencies built by `from_env` (its `Deps::from_env`), and
/// the [`Live`] wrapper that rebuilds them when the registry at `LAKELINE_REGISTRY` changes.
/// `function` names the metrics it emits.
pub async fn start<D>(
    function: &'static str,
    from_env: impl AsyncFnOnce(&aws_config::SdkConfig, &dyn Env) -> Result<D, Error>,
) -> Result<Live<D>, Error> {
    let conf = crate::sdk_config().await;
    let deps = from_env(&conf, &ProcessEnv).await?;
    Live::new(deps, &ProcessEnv, crate::s3_client(&conf), function).await
}

/// Default time between two looks at the registry object.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

struct State<D> {
    deps: Arc<D>,
    etag: Option<String>,
    checked: Instant,
}

/// Dependencies `D` built around the registry, rebuilt when it changes.
pub struct Live<D> {
    location: String,
    artifact_prefix: Option<String>,
    /// The environment's placeholder values, fixed for the life of the instance.
    vars: lakeline_core::placeholders::Vars,
    ttl: Duration,
    s3: aws_sdk_s3::Client,
    function: &'static str,
    state: Mutex<State<D>>,
}

impl<D> Live<D> {
    /// Wraps `deps`, built at cold start from the registry at `LAKELINE_REGISTRY`.
    pub async fn new(
        deps: D,
        env: &dyn Env,
        s3: aws_sdk_s3::Client,
        function: &'static str,
    ) -> Result<Live<D>, Error> {
        let location = env.require("LAKELINE_REGISTRY")?;
        let ttl = match env.var("LAKELINE_REGISTRY_TTL_SECONDS") {
            Some(v) if !v.trim().is_empty() => {
                Duration::from_secs(v.trim().parse().map_err(|_| Error::Env {
                    name: "LAKELINE_REGISTRY_TTL_SECONDS".into(),
                    message: format!("{v:?} is not a number of seconds"),
                })?)
            }
            _ => DEFAULT_TTL,
        };
        let live = Live {
            artifact_prefix: env.var("LAKELINE_ARTIFACT_PREFIX"),
            vars: env.placeholder_vars(),
            location,
            ttl,
            s3,
            function,
            state: Mutex::new(State {
                deps: Arc::new(deps),
                etag: None,
                checked: Instant::now(),
            }),
        };
        let etag = live.etag().await.unwrap_or(None);
        live.state.lock().await.etag = etag;
        Ok(live)
    }

    /// The registry object's ETag (`None` for a local path, which never changes under a
    /// running function).
    async fn etag(&self) -> Result<Option<String>, String> {
        let Some((bucket, key)) = self
            .location
            .strip_prefix("s3://")
            .and_then(|r| r.split_once('/'))
        else {
            return Ok(None);
        };
        self.s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(|h| h.e_tag().map(str::to_string))
            .map_err(|e| describe(&e))
    }

    /// The current dependencies; when the TTL has passed and the registry object changed,
    /// `rebuild(old, new registry)` makes the new ones.
    pub async fn current(&self, rebuild: impl FnOnce(&D, Registry) -> D) -> Arc<D> {
        let mut st = self.state.lock().await;
        if st.checked.elapsed() < self.ttl {
            return Arc::clone(&st.deps);
        }
        st.checked = Instant::now();
        let etag = match self.etag().await {
            Ok(e) => e,
            Err(e) => {
                // S3 did not answer: keep serving what we have, look again after the TTL.
                error!(registry = %self.location, error = %e, "cannot look at the registry; serving the loaded one");
                return Arc::clone(&st.deps);
            }
        };
        if etag.is_none() || etag == st.etag {
            return Arc::clone(&st.deps);
        }
        let loaded = load_registry(&self.location, &self.s3, &self.vars)
            .await
            .and_then(|r| match &self.artifact_prefix {
                Some(p) => r.check_entry_points(p.trim(), &self.location).map(|()| r),
                None => Ok(r),
            });
        match loaded {
            Ok(reg) => {
                info!(registry = %self.location, etag = ?etag, sha256 = %reg.content_hash(), "registry reloaded");
                st.deps = Arc::new(rebuild(&st.deps, reg));
                st.etag = etag;
            }
            Err(e @ Error::RegistryUnreadable { .. }) => {
                // Reading failed (throttled, timed out, denied): this version was never judged.
                // Keep the old ETag, so the next look after the TTL reads it again; taking it
                // for refused would keep a good registry out until its bytes change.
                error!(registry = %self.location, etag = ?etag, error = %e, "cannot read the new registry version; serving the loaded one, reading it again after the TTL");
            }
            Err(e) => {
                error!(registry = %self.location, etag = ?etag, error = %e, "new registry version refused; serving the last good one");
                Emf::new(&[("Function", self.function)])
                    .metric("RegistryRejected", Unit::Count, 1.0)
                    .property("Error", e.to_string())
                    .emit();
                // Not again until the object changes once more.
                st.etag = etag;
            }
        }
        Arc::clone(&st.deps)
    }
}
