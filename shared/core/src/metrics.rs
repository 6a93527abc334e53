//! CloudWatch embedded metric format (EMF): one JSON line on stdout per event, which
//! CloudWatch Logs turns into metrics without any API call from the function. This module
//! builds the line; `lakeline_aws::Emit` prints it.

use serde_json::{json, Map, Value};

/// The namespace of every lakeline metric.
pub const NAMESPACE: &str = "lakeline";

/// A metric unit.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// A count.
    Count,
    /// Bytes.
    Bytes,
    /// Milliseconds.
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF document: dimensions and values recorded together.
#[derive(Debug, Clone, Default)]
pub struct Emf {
    dims: Vec<(String, String)>,
    metrics: Vec<(String, Unit, f64)>,
    props: Vec<(String, Value)>,
}

impl Emf {
    /// A document with these dimensions (e.g. `[("Function","validate-upload"),("Dataset","orders")]`).
    pub fn new(dims: &[(&str, &str)]) -> Emf {
        Emf {
            dims: dims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Emf::default()
        }
    }

    /// Records a value.
    pub fn metric(mut self, name: &str, unit: Unit, value: f64) -> Emf {
        self.metrics.push((name.to_string(), unit, value));
        self
    }

    /// Adds a searchable property that is not a dimension.
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Emf {
        self.props.push((name.to_string(), value.into()));
        self
    }

    /// Renders the JSON line, stamped `timestamp_ms` (Unix epoch milliseconds). Printing it,
    /// and reading the clock, is the AWS edge's job (`lakeline_aws::Emit`).
    pub fn render(&self, timestamp_ms: u64) -> String {
        let ts = timestamp_ms;
        let mut root = Map::new();
        let dim_names: Vec<&str> = self.dims.iter().map(|(k, _)| k.as_str()).collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": ts,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dim_names],
                    "Metrics": self.metrics.iter().map(|(n, u, _)| json!({"Name": n, "Unit": u.as_str()})).collect::<Vec<_>>(),
                }],
            }),
        );
        for (k, v) in &self.props {
            root.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.dims {
            root.insert(k.clone(), Value::String(v.clone()));
        }
        for (n, _, v) in &self.metrics {
            root.insert(n.clone(), json!(v));
        }
        Value::Object(root).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_emf() {
        let line = Emf::new(&[("Function", "validate-upload"), ("Dataset", "orders")])
            .metric("FilesRejected", Unit::Count, 1.0)
            .metric("BytesRead", Unit::Bytes, 42.0)
            .property("Reason", "type")
            .render(1_765_000_000_123);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_765_000_000_123u64);
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "lakeline");
        assert_eq!(m["Dimensions"][0], json!(["Function", "Dataset"]));
        assert_eq!(
            m["Metrics"][1],
            json!({"Name": "BytesRead", "Unit": "Bytes"})
        );
        assert_eq!(v["Dataset"], "orders");
        assert_eq!(v["FilesRejected"], 1.0);
        assert_eq!(v["Reason"], "type");
        assert!(!line.contains('\n'));
    }
}
