//! `${LAKELINE_…}` placeholders in the registry, so one registry file serves every stack.
//!
//! Glue job names are unique per account and region, so the dev and prod stacks create
//! different ones; the template hands each function its stack's names
//! (`LAKELINE_GLUE_CURATE_JOB`, `LAKELINE_GLUE_COMPACT_JOB`, `LAKELINE_EMR_APPLICATION_ID`,
//! `LAKELINE_ARTIFACT_PREFIX`). The registry says `job_name: ${LAKELINE_GLUE_CURATE_JOB}`, or
//! `${LAKELINE_GLUE_CURATE_JOB:-lakeline-curate}` with a default for tools that run without a
//! stack's environment (`lakeline registry check`). Only `LAKELINE_` names are read, so a
//! registry cannot pull arbitrary secrets out of a function's environment. The registry pushed
//! to S3 keeps its placeholders; each stack resolves them when it loads it.

use std::collections::BTreeMap;

use crate::registry::Registry;
use crate::Error;

/// Values for placeholders: `LAKELINE_…` name → value.
pub type Vars = BTreeMap<String, String>;

/// The prefix every placeholder name has.
pub const PREFIX: &str = "LAKELINE_";

/// Replaces every `${NAME}` and `${NAME:-default}` with its value from `vars` (else the
/// default); an unknown name without a default, or a malformed placeholder, is an error naming
/// the line and the placeholder.
pub fn expand(text: &str, origin: &str, vars: &Vars) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let fail = |message: String| Error::Registry {
            origin: origin.to_string(),
            line: Some(i + 1),
            field: "${…}".into(),
            message,
        };
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(fail(format!(
                    "unclosed placeholder {:?}",
                    rest[start..].trim_end()
                )));
            };
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let well_formed = name.starts_with(PREFIX)
                && name.len() > PREFIX.len()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !well_formed {
                return Err(fail(format!(
                    "placeholder ${{{inner}}}: names are {PREFIX}[A-Z0-9_]+ (the stack's settings), optionally with :-default"
                )));
            }
            match (vars.get(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(fail(format!(
                        "placeholder ${{{name}}} has no value: {name} is not set and no default is given (write ${{{name}:-value}})"
                    )))
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// Parses a registry after expanding its placeholders.
pub fn load(text: &str, origin: &str, vars: &Vars) -> Result<Registry, Error> {
    Registry::from_yaml(&expand(text, origin, vars)?, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, vars, expanded or the error's fragment).
    #[test]
    fn placeholders_expand_or_fail_naming_the_line() {
        let vars: Vars = [(
            "LAKELINE_GLUE_CURATE_JOB".to_string(),
            "dev-curate".to_string(),
        )]
        .into_iter()
        .collect();
        let cases: &[(&str, Result<&str, &str>)] = &[
            (
                "job_name: ${LAKELINE_GLUE_CURATE_JOB}\n",
                Ok("job_name: dev-curate\n"),
            ),
            (
                "job_name: ${LAKELINE_GLUE_CURATE_JOB:-lakeline-curate}\n",
                Ok("job_name: dev-curate\n"),
            ),
            (
                "a: ${LAKELINE_OTHER:-x} ${LAKELINE_OTHER:-}y\n",
                Ok("a: x y\n"),
            ),
            (
                "no placeholders: $HOME {x}\n",
                Ok("no placeholders: $HOME {x}\n"),
            ),
            ("a: 1\nb: ${LAKELINE_MISSING}\n", Err("line 2")),
            ("a: ${HOME}\n", Err("LAKELINE_[A-Z0-9_]+")),
            ("a: ${LAKELINE_lower}\n", Err("LAKELINE_[A-Z0-9_]+")),
            ("a: ${LAKELINE_X\n", Err("unclosed")),
        ];
        for (text, want) in cases {
            let got = expand(text, "r.yaml", &vars).map_err(|e| e.to_string());
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{text}"),
                Err(fragment) => {
                    let e = got.expect_err(text);
                    assert!(e.contains(fragment) && e.contains("r.yaml"), "{text}: {e}");
                }
            }
        }
    }

    #[test]
    fn the_shipped_registry_loads_with_and_without_a_stack() {
        let text = include_str!("../../../config/datasets.yaml");
        let plain = load(text, "config/datasets.yaml", &Vars::new()).unwrap();
        let stack: Vars = [(
            "LAKELINE_GLUE_CURATE_JOB".to_string(),
            "dev-curate".to_string(),
        )]
        .into_iter()
        .collect();
        let dev = load(text, "config/datasets.yaml", &stack).unwrap();
        let names = |r: &Registry| -> Vec<String> {
            r.datasets
                .values()
                .filter_map(|d| match &d.job {
                    Some(crate::jobs::JobSpec::Glue(g)) => Some(g.job_name.clone()),
                    _ => None,
                })
                .collect()
        };
        assert!(!names(&plain).is_empty());
        assert!(
            names(&plain).iter().all(|n| n == "lakeline-curate"),
            "{:?}",
            names(&plain)
        );
        assert!(
            names(&dev).iter().all(|n| n == "dev-curate"),
            "{:?}",
            names(&dev)
        );
    }
}
