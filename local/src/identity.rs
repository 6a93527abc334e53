//! Who makes each AWS call locally. moto without authorization accepts any access key, so the
//! key names the principal: each function signs with its template role's key, each documented
//! person (the CLI's users) with theirs, the test harness and the demo's set-up with an admin
//! key that is not checked. The router reads the key from each request's SigV4 header and
//! records it with the call; `tests/permissions` checks every call against the template's
//! policies for that principal (see docs/permissions.md).
//!
//! Keys: `lakeline-role-<template role logical id>`, `lakeline-person-<person>`,
//! `lakeline-admin`; moto's state-machine interpreter signs its Task calls with `ak`.

use aws_config::SdkConfig;
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};

/// The key of the harness's and the demo's own set-up and inspection calls (creating buckets,
/// reading results back): recorded, never checked.
pub const ADMIN_KEY: &str = "lakeline-admin";
/// The key moto's state-machine interpreter signs its Task calls with (fixed in moto).
pub const STATE_MACHINE_KEY: &str = "ak";
/// Prefix of a template role's key.
pub const ROLE_PREFIX: &str = "lakeline-role-";
/// Prefix of a documented person's key.
pub const PERSON_PREFIX: &str = "lakeline-person-";

/// The template role (logical id in the expanded template) of each function, by handler name.
pub const FUNCTION_ROLES: &[(&str, &str)] = &[
    ("validate-upload", "ValidateUploadFunctionRole"),
    ("curate", "CurateFunctionRole"),
    ("start-job", "StartJobFunctionRole"),
    ("check-compaction", "CheckCompactionFunctionRole"),
    ("compact", "CompactFunctionRole"),
    ("notify-failure", "NotifyFailureFunctionRole"),
];

/// The role of the EventBridge schedule that starts the maintenance sweep (SAM's
/// `<StateMachine><Event>Role`): a sweep the harness or the demo starts "as the schedule would"
/// signs as it.
pub const SWEEP_SCHEDULE_ROLE: &str = "MaintenanceStateMachineSweepRole";

/// The people the docs tell to run `lakeline` commands against a stack. Their least policies
/// are not in the template (people's roles belong to the account, not the stack): they are
/// defined in `tests/permissions/people.yaml` and documented in docs/permissions.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Person {
    /// Runs `lakeline redrive`, `rerun`, `replay`, `redrive-dlq`, `compaction-report` and a
    /// maintenance sweep by hand.
    Operator,
    /// Runs `lakeline registry push` (one of `RegistryWriterArns`).
    RegistryWriter,
    /// A producer: uploads under `raw/` (one of `RawWriterArns`).
    Producer,
    /// Runs `lakeline table sync`, `append` and `show` against an S3 Tables namespace.
    TableWriter,
    /// Runs `lakeline table erase --include-raw` (one of `EraserArns`): erases rows from a
    /// table and deletes the uploads that hold them.
    Eraser,
}

impl Person {
    /// The name in keys and in `tests/permissions/people.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Person::Operator => "operator",
            Person::RegistryWriter => "registry-writer",
            Person::Producer => "producer",
            Person::TableWriter => "table-writer",
            Person::Eraser => "eraser",
        }
    }
}

/// The template role of a function (by handler name).
pub fn function_role(handler: &str) -> Option<&'static str> {
    FUNCTION_ROLES
        .iter()
        .find(|(h, _)| *h == handler)
        .map(|(_, r)| *r)
}

/// The access key of a template role.
pub fn role_key(role: &str) -> String {
    format!("{ROLE_PREFIX}{role}")
}

/// `conf` signing with `access_key` (endpoint, region and everything else kept).
pub fn signed_as(conf: &SdkConfig, access_key: &str) -> SdkConfig {
    conf.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key,
            "lakeline-local",
            None,
            None,
            "lakeline-local",
        )))
        .build()
}

/// `conf` as a function's role (by handler name). Panics on an unknown handler: a typo must
/// not quietly fall back to another identity.
pub fn as_function(conf: &SdkConfig, handler: &str) -> SdkConfig {
    let role =
        function_role(handler).unwrap_or_else(|| panic!("no template role for handler {handler}"));
    signed_as(conf, &role_key(role))
}

/// `conf` as a template role (by logical id).
pub fn as_role(conf: &SdkConfig, role: &str) -> SdkConfig {
    signed_as(conf, &role_key(role))
}

/// The ARN the permissions check gives a documented person (`tests/permissions/check.py`'s
/// `person_arn`): what a stack's parameters name, e.g. `EraserArns`.
pub fn person_arn(person: Person) -> String {
    format!("arn:aws:iam::123456789012:role/lakeline-{}", person.name())
}

/// `conf` as a documented person.
pub fn as_person(conf: &SdkConfig, person: Person) -> SdkConfig {
    signed_as(conf, &format!("{PERSON_PREFIX}{}", person.name()))
}

/// `conf` as the unchecked admin of set-up and inspection.
pub fn as_admin(conf: &SdkConfig) -> SdkConfig {
    signed_as(conf, ADMIN_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_has_a_role_and_keys_are_distinct() {
        for h in crate::functions::HANDLERS {
            assert!(function_role(h).is_some(), "{h}");
        }
        let mut keys: Vec<String> = FUNCTION_ROLES.iter().map(|(_, r)| role_key(r)).collect();
        keys.extend(
            [
                Person::Operator,
                Person::RegistryWriter,
                Person::Producer,
                Person::TableWriter,
                Person::Eraser,
            ]
            .iter()
            .map(|p| format!("{PERSON_PREFIX}{}", p.name())),
        );
        keys.push(ADMIN_KEY.into());
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
