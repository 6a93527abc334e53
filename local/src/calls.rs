//! What each AWS request asks of IAM: the router describes every request it forwards or serves
//! as the IAM actions it needs, on which resource ARNs, with the condition keys our policies
//! can test, and appends that (with the principal from the SigV4 header) to a JSON Lines file.
//! `tests/permissions` evaluates the file against the template's policies.
//!
//! [`describe`] is a plain function of the request (method, path, query, headers, body), held
//! to a table of requests in the tests below. A request it cannot map becomes the action
//! `unmapped:<service>:<what>`, which no policy grants: an unknown call fails the check rather
//! than passing unseen.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{json, Value};

/// The emulator's account (moto's default).
pub const ACCOUNT: &str = "123456789012";

/// One IAM authorization a request needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// `service:Action`.
    pub action: String,
    /// The resource ARN (`*` for actions without resource types).
    pub resource: String,
    /// Condition keys the request sets, as IAM would see them.
    pub context: BTreeMap<String, String>,
}

impl Access {
    fn new(action: impl Into<String>, resource: impl Into<String>) -> Access {
        Access {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<String>) -> Access {
        self.context.insert(key.to_string(), value.into());
        self
    }
}

/// A request as the router sees it. Header names are lowercase.
pub struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The path, still percent-encoded.
    pub path: &'a str,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// Headers, names lowercase.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// From a SigV4 `Authorization` header: (access key id, region, service).
pub fn credential_scope(authorization: &str) -> Option<(String, String, String)> {
    let cred = authorization.split("Credential=").nth(1)?;
    let cred = cred.split([',', ' ']).next()?;
    let mut parts = cred.split('/');
    let key = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    Some((key, region, service))
}

pub(crate) fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .to_string()
}

/// Query (or form body) pairs, decoded (`+` is a space in forms).
fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The IAM authorizations `req` needs, made by a caller that signed for `service` in
/// `region`.
pub fn describe(req: &Request, service: &str, region: &str) -> Vec<Access> {
    match service {
        "s3" => s3(req),
        "lambda" => lambda(req, region),
        "emr-serverless" => emr_serverless(req, region),
        "s3tables" => s3tables(req),
        _ => {
            if let Some(target) = req.header("x-amz-target") {
                json_protocol(req, target, region)
            } else {
                query_protocol(req, service, region)
            }
        }
    }
}

// ------------------------------------------------------------------------------------ S3

/// S3's REST API (path-style: `/bucket/key`) as IAM actions, per the S3 API reference's
/// "Permissions" of each operation.
fn s3(req: &Request) -> Vec<Access> {
    let path = req.path.trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) if !k.is_empty() => (decode(b), Some(decode(k))),
        Some((b, _)) => (decode(b), None),
        None => (decode(path), None),
    };
    let q = pairs(req.query);
    let has = |k: &str| q.iter().any(|(n, _)| n == k);
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let m = req.method;
    let Some(key) = key else {
        if bucket.is_empty() {
            return vec![Access::new("s3:ListAllMyBuckets", "*")];
        }
        // Bucket subresources, in the order S3 routes them.
        let sub = [
            ("notification", "BucketNotification"),
            ("versioning", "BucketVersioning"),
            ("policy", "BucketPolicy"),
            ("tagging", "BucketTagging"),
            ("lifecycle", "LifecycleConfiguration"),
            ("encryption", "EncryptionConfiguration"),
            ("location", "BucketLocation"),
            ("acl", "BucketAcl"),
            ("cors", "BucketCORS"),
            ("publicAccessBlock", "BucketPublicAccessBlock"),
            ("ownershipControls", "BucketOwnershipControls"),
        ]
        .into_iter()
        .find(|(s, _)| has(s));
        let action = match (m, sub) {
            ("GET", Some((_, what))) => format!("s3:Get{what}"),
            ("PUT", Some((_, what))) => format!("s3:Put{what}"),
            ("DELETE", Some(("policy", _))) => "s3:DeleteBucketPolicy".into(),
            ("DELETE", Some(("tagging", _))) => "s3:PutBucketTagging".into(),
            ("GET", None) if has("versions") => {
                return vec![Access::new("s3:ListBucketVersions", bucket_arn.clone())
                    .with("s3:prefix", get(&q, "prefix").unwrap_or_default())];
            }
            ("GET", None) if has("uploads") => "s3:ListBucketMultipartUploads".into(),
            ("GET" | "HEAD", None) => {
                let mut a = Access::new("s3:ListBucket", bucket_arn.clone());
                if m == "GET" {
                    a = a.with("s3:prefix", get(&q, "prefix").unwrap_or_default());
                    if let Some(d) = get(&q, "delimiter") {
                        a = a.with("s3:delimiter", d);
                    }
                }
                return vec![a];
            }
            ("PUT", None) => "s3:CreateBucket".into(),
            ("DELETE", None) => "s3:DeleteBucket".into(),
            ("POST", None) if has("delete") => return multi_delete(&bucket, req.body),
            _ => format!("unmapped:s3:{m} bucket?{}", req.query),
        };
        return vec![Access::new(action, bucket_arn)];
    };
    let obj = format!("arn:aws:s3:::{bucket}/{key}");
    let version = has("versionId");
    let v = |plain: &str, versioned: &str| {
        if version {
            versioned.to_string()
        } else {
            plain.to_string()
        }
    };
    let write = |a: Access| write_conditions(a, req);
    let mut out = Vec::new();
    match m {
        "GET" | "HEAD" if has("tagging") => {
            out.push(Access::new(
                v("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
                &obj,
            ));
        }
        "GET" if has("uploadId") => out.push(Access::new("s3:ListMultipartUploadParts", &obj)),
        "GET" if has("attributes") => out.push(Access::new(
            v("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            &obj,
        )),
        "GET" if has("acl") => out.push(Access::new(
            v("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
            &obj,
        )),
        // HEAD needs what GET needs.
        "GET" | "HEAD" => out.push(Access::new(v("s3:GetObject", "s3:GetObjectVersion"), &obj)),
        "PUT" if has("tagging") => out.push(Access::new(
            v("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            &obj,
        )),
        "PUT" if has("acl") => out.push(Access::new(
            v("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
            &obj,
        )),
        "PUT" => {
            // PutObject, UploadPart, and their copying forms (CopyObject, UploadPartCopy):
            // s3:PutObject on the target, and for a copy s3:GetObject (or GetObjectVersion)
            // on the source.
            let mut put = write(Access::new("s3:PutObject", &obj));
            if let Some(src) = req.header("x-amz-copy-source") {
                let src = decode(src);
                let (src_path, src_query) = src.split_once('?').unwrap_or((&src, ""));
                let src_arn = format!("arn:aws:s3:::{}", src_path.trim_start_matches('/'));
                let versioned = pairs(src_query).iter().any(|(k, _)| k == "versionId");
                put = put.with("s3:x-amz-copy-source", src_path.trim_start_matches('/'));
                out.push(Access::new(
                    if versioned {
                        "s3:GetObjectVersion"
                    } else {
                        "s3:GetObject"
                    },
                    src_arn,
                ));
            }
            // Tags given with the object need s3:PutObjectTagging too (PutObject's docs).
            let tagged = req.header("x-amz-tagging").is_some()
                && !has("partNumber")
                && req
                    .header("x-amz-tagging-directive")
                    .is_none_or(|d| d.eq_ignore_ascii_case("REPLACE"));
            out.insert(0, put);
            if tagged {
                out.push(Access::new("s3:PutObjectTagging", &obj));
            }
        }
        // CreateMultipartUpload and CompleteMultipartUpload are s3:PutObject.
        "POST" if has("uploads") || has("uploadId") => {
            out.push(write(Access::new("s3:PutObject", &obj)));
            if has("uploads") && req.header("x-amz-tagging").is_some() {
                out.push(Access::new("s3:PutObjectTagging", &obj));
            }
        }
        "POST" if has("restore") => out.push(Access::new("s3:RestoreObject", &obj)),
        "DELETE" if has("uploadId") => out.push(Access::new("s3:AbortMultipartUpload", &obj)),
        "DELETE" if has("tagging") => out.push(Access::new(
            v("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            &obj,
        )),
        "DELETE" => out.push(write(Access::new(
            v("s3:DeleteObject", "s3:DeleteObjectVersion"),
            &obj,
        ))),
        _ => out.push(Access::new(
            format!("unmapped:s3:{m} object?{}", req.query),
            &obj,
        )),
    }
    out
}

/// The condition keys of a write: conditional writes (S3's `s3:if-match` and `s3:if-none-match`
/// keys) and server-side encryption headers.
fn write_conditions(mut a: Access, req: &Request) -> Access {
    for (header, key) in [
        ("if-match", "s3:if-match"),
        ("if-none-match", "s3:if-none-match"),
        (
            "x-amz-server-side-encryption",
            "s3:x-amz-server-side-encryption",
        ),
        (
            "x-amz-server-side-encryption-customer-algorithm",
            "s3:x-amz-server-side-encryption-customer-algorithm",
        ),
        (
            "x-amz-server-side-encryption-aws-kms-key-id",
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
        ),
    ] {
        if let Some(v) = req.header(header) {
            a = a.with(key, v);
        }
    }
    a
}

/// DeleteObjects: s3:DeleteObject (or DeleteObjectVersion) per key of the XML body.
fn multi_delete(bucket: &str, body: &[u8]) -> Vec<Access> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for obj in text.split("<Object>").skip(1) {
        let field = |name: &str| {
            obj.split(&format!("<{name}>"))
                .nth(1)
                .and_then(|r| r.split(&format!("</{name}>")).next())
                .map(xml_unescape)
        };
        if let Some(key) = field("Key") {
            let action = if field("VersionId").is_some() {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            };
            out.push(Access::new(action, format!("arn:aws:s3:::{bucket}/{key}")));
        }
    }
    if out.is_empty() {
        out.push(Access::new(
            "unmapped:s3:DeleteObjects without keys",
            format!("arn:aws:s3:::{bucket}"),
        ));
    }
    out
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

// ------------------------------------------------------------------------------------ Lambda

/// The Lambda ARN of a function name or ARN (a qualifier kept, as IAM sees it).
pub fn function_arn(name_or_arn: &str, region: &str) -> String {
    if name_or_arn.starts_with("arn:") {
        name_or_arn.to_string()
    } else {
        format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name_or_arn}")
    }
}

fn lambda(req: &Request, region: &str) -> Vec<Access> {
    let path = decode(req.path);
    if let Some(name) = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|r| r.strip_suffix("/invocations"))
    {
        return vec![Access::new(
            "lambda:InvokeFunction",
            function_arn(name, region),
        )];
    }
    vec![Access::new(
        format!("unmapped:lambda:{} {path}", req.method),
        "*",
    )]
}

// ------------------------------------------------------------------------------------ EMR Serverless

fn emr_serverless(req: &Request, region: &str) -> Vec<Access> {
    let base = format!("arn:aws:emr-serverless:{region}:{ACCOUNT}:");
    let path = decode(req.path);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let body: Value = serde_json::from_slice(req.body).unwrap_or(Value::Null);
    match (req.method, parts.as_slice()) {
        ("POST", ["applications"]) => vec![Access::new(
            "emr-serverless:CreateApplication",
            format!("{base}/applications/*"),
        )],
        ("GET", ["applications"]) => {
            vec![Access::new(
                "emr-serverless:ListApplications",
                format!("{base}/*"),
            )]
        }
        ("GET", ["applications", app]) => vec![Access::new(
            "emr-serverless:GetApplication",
            format!("{base}/applications/{app}"),
        )],
        ("POST", ["applications", app, "jobruns"]) => {
            let mut out = vec![Access::new(
                "emr-serverless:StartJobRun",
                format!("{base}/applications/{app}"),
            )];
            // Tags on a new run need TagResource on it (the run does not exist yet).
            if body["tags"].as_object().is_some_and(|t| !t.is_empty()) {
                out.push(Access::new(
                    "emr-serverless:TagResource",
                    format!("{base}/applications/{app}/jobruns/*"),
                ));
            }
            if let Some(role) = body["executionRoleArn"].as_str() {
                out.push(
                    Access::new("iam:PassRole", role)
                        .with("iam:PassedToService", "emr-serverless.amazonaws.com"),
                );
            }
            out
        }
        ("GET", ["applications", app, "jobruns"]) => vec![Access::new(
            "emr-serverless:ListJobRuns",
            format!("{base}/applications/{app}"),
        )],
        ("GET", ["applications", app, "jobruns", run]) => vec![Access::new(
            "emr-serverless:GetJobRun",
            format!("{base}/applications/{app}/jobruns/{run}"),
        )],
        ("DELETE", ["applications", app, "jobruns", run]) => vec![Access::new(
            "emr-serverless:CancelJobRun",
            format!("{base}/applications/{app}/jobruns/{run}"),
        )],
        _ => vec![Access::new(
            format!("unmapped:emr-serverless:{} {path}", req.method),
            "*",
        )],
    }
}

// ------------------------------------------------------------------------------------ S3 Tables

/// S3 Tables' REST API (the operations lakeline and its tests call) as IAM actions. Bucket-level
/// actions are on the table bucket's ARN (it is in the path). Table-level actions are on the
/// table's ARN, `<bucket ARN>/table/<table id>`; a request names the table, not its id, so the
/// resource is every table of the bucket (`<bucket ARN>/table/*`): a policy scoped to one
/// table id cannot be checked here, one scoped to a bucket's tables can.
fn s3tables(req: &Request) -> Vec<Access> {
    let path = req.path;
    let parts: Vec<String> = path.trim_matches('/').split('/').map(decode).collect();
    let query = pairs(req.query);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let tables_of = |bucket: &str| format!("{bucket}/table/*");
    let (action, resource) = match (req.method, parts.as_slice()) {
        ("PUT", ["buckets"]) => ("CreateTableBucket", "*".to_string()),
        ("PUT", ["namespaces", bucket]) => ("CreateNamespace", bucket.to_string()),
        ("GET", ["namespaces", bucket, _ns]) => ("GetNamespace", bucket.to_string()),
        ("PUT", ["tables", bucket, _ns]) => ("CreateTable", bucket.to_string()),
        ("GET", ["tables", bucket]) => ("ListTables", bucket.to_string()),
        ("GET", ["get-table"]) => match get(&query, "tableBucketARN") {
            Some(bucket) => ("GetTable", tables_of(bucket)),
            None => (
                "unmapped:s3tables:GetTable without tableBucketARN",
                "*".into(),
            ),
        },
        ("GET", ["tables", bucket, _ns, _name]) => ("GetTable", tables_of(bucket)),
        ("GET", ["tables", bucket, _ns, _name, "metadata-location"]) => {
            ("GetTableMetadataLocation", tables_of(bucket))
        }
        ("PUT", ["tables", bucket, _ns, _name, "metadata-location"]) => {
            ("UpdateTableMetadataLocation", tables_of(bucket))
        }
        ("DELETE", ["tables", bucket, _ns, _name]) => ("DeleteTable", tables_of(bucket)),
        ("PUT", ["tables", bucket, _ns, _name, "maintenance", _kind]) => {
            ("PutTableMaintenanceConfiguration", tables_of(bucket))
        }
        ("GET", ["tables", bucket, _ns, _name, "maintenance"]) => {
            ("GetTableMaintenanceConfiguration", tables_of(bucket))
        }
        _ => {
            return vec![Access::new(
                format!("unmapped:s3tables:{} {path}", req.method),
                "*",
            )]
        }
    };
    let action = if action.starts_with("unmapped:") {
        action.to_string()
    } else {
        format!("s3tables:{action}")
    };
    vec![Access::new(action, resource)]
}

// ------------------------------------------------------------------------------------ JSON protocol

/// Services that name the operation in `X-Amz-Target` (`Prefix.Operation`), with their IAM
/// service prefix.
const JSON_TARGETS: &[(&str, &str)] = &[
    ("AWSStepFunctions", "states"),
    ("AWSGlue", "glue"),
    ("AmazonSQS", "sqs"),
    ("Logs_20140328", "logs"),
    ("TrentService", "kms"),
    ("AWSEvents", "events"),
    ("GraniteServiceVersion20100801", "cloudwatch"),
];

fn json_protocol(req: &Request, target: &str, region: &str) -> Vec<Access> {
    let (prefix, op) = target.split_once('.').unwrap_or((target, ""));
    let Some((_, service)) = JSON_TARGETS.iter().find(|(p, _)| *p == prefix) else {
        return vec![Access::new(format!("unmapped:{target}"), "*")];
    };
    let body: Value = serde_json::from_slice(req.body).unwrap_or(Value::Null);
    let s = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let action = format!("{service}:{op}");
    match *service {
        "states" => {
            let sm = |name: &str| format!("arn:aws:states:{region}:{ACCOUNT}:stateMachine:{name}");
            match op {
                "CreateStateMachine" => vec![
                    Access::new(&action, sm(&s("name"))),
                    Access::new("iam:PassRole", s("roleArn"))
                        .with("iam:PassedToService", "states.amazonaws.com"),
                ],
                "ListStateMachines" => vec![Access::new(&action, "*")],
                _ => {
                    let arn = ["executionArn", "stateMachineArn", "mapRunArn"]
                        .iter()
                        .map(|k| s(k))
                        .find(|a| !a.is_empty())
                        .unwrap_or_else(|| "*".into());
                    vec![Access::new(&action, arn)]
                }
            }
        }
        "glue" => glue(&action, &body, region),
        "sqs" => {
            let queue = if op == "CreateQueue" {
                format!("arn:aws:sqs:{region}:{ACCOUNT}:{}", s("QueueName"))
            } else {
                queue_arn(&s("QueueUrl"), region)
            };
            vec![Access::new(&action, queue)]
        }
        _ => vec![Access::new(&action, "*")],
    }
}

/// A queue's ARN from its URL (`http://host/<account>/<name>`).
fn queue_arn(url: &str, region: &str) -> String {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or(ACCOUNT);
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

/// Glue: jobs by `JobName`; Data Catalog operations need the catalog, the database and (for
/// table operations) the table (Glue's "Specifying Glue resource ARNs").
fn glue(action: &str, body: &Value, region: &str) -> Vec<Access> {
    let base = format!("arn:aws:glue:{region}:{ACCOUNT}");
    let s = |k: &str| body[k].as_str().map(str::to_string);
    if let Some(job) = s("JobName").or_else(|| {
        (action == "glue:CreateJob" || action == "glue:GetJob")
            .then(|| s("Name"))
            .flatten()
    }) {
        return vec![Access::new(action, format!("{base}:job/{job}"))];
    }
    let catalog = format!("{base}:catalog");
    let database = s("DatabaseName").or_else(|| {
        body["DatabaseInput"]["Name"]
            .as_str()
            .map(str::to_string)
            .or_else(|| (action == "glue:GetDatabase").then(|| s("Name")).flatten())
    });
    let table = s("TableName")
        .or_else(|| body["TableInput"]["Name"].as_str().map(str::to_string))
        .or_else(|| {
            matches!(action, "glue:GetTable" | "glue:DeleteTable")
                .then(|| s("Name"))
                .flatten()
        });
    let mut out = vec![Access::new(action, &catalog)];
    if let Some(db) = &database {
        out.push(Access::new(action, format!("{base}:database/{db}")));
        if let Some(t) = &table {
            out.push(Access::new(action, format!("{base}:table/{db}/{t}")));
        }
    }
    // A table optimizer runs as a role the caller hands Glue.
    if let (true, Some(role)) = (
        matches!(
            action,
            "glue:CreateTableOptimizer" | "glue:UpdateTableOptimizer"
        ),
        body["TableOptimizerConfiguration"]["roleArn"].as_str(),
    ) {
        out.push(
            Access::new("iam:PassRole", role).with("iam:PassedToService", "glue.amazonaws.com"),
        );
    }
    out
}

// ------------------------------------------------------------------------------------ Query protocol

/// Query-protocol services (SNS, STS, IAM, CloudFormation, SQS's old protocol): `Action=` in
/// the form body.
fn query_protocol(req: &Request, service: &str, region: &str) -> Vec<Access> {
    let mut form = pairs(&String::from_utf8_lossy(req.body));
    form.extend(pairs(req.query));
    let Some(op) = get(&form, "Action") else {
        return vec![Access::new(
            format!("unmapped:{service}:{} {}", req.method, req.path),
            "*",
        )];
    };
    let action = format!("{service}:{op}");
    let resource = match service {
        "sns" => match op {
            "CreateTopic" => format!(
                "arn:aws:sns:{region}:{ACCOUNT}:{}",
                get(&form, "Name").unwrap_or_default()
            ),
            _ => get(&form, "TopicArn")
                .or_else(|| get(&form, "SubscriptionArn"))
                .or_else(|| get(&form, "ResourceArn"))
                .unwrap_or("*")
                .to_string(),
        },
        "sqs" => match op {
            "CreateQueue" => format!(
                "arn:aws:sqs:{region}:{ACCOUNT}:{}",
                get(&form, "QueueName").unwrap_or_default()
            ),
            _ => queue_arn(get(&form, "QueueUrl").unwrap_or_default(), region),
        },
        // A stack by name; its ARN's last part is the stack id, which a name does not give.
        "cloudformation" => match get(&form, "StackName") {
            Some(name) if !name.starts_with("arn:") => {
                format!("arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/*")
            }
            Some(arn) => arn.to_string(),
            None => "*".to_string(),
        },
        _ => "*".to_string(),
    };
    vec![Access::new(action, resource)]
}

// ------------------------------------------------------------------------------------ the record

/// The JSON Lines file of one run's calls (`LAKELINE_CALLS_LOG`).
pub struct Recorder {
    file: Mutex<std::fs::File>,
}

impl Recorder {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path) -> std::io::Result<Recorder> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Recorder {
            file: Mutex::new(file),
        })
    }

    /// Writes one record (one line, written whole under the lock so lines never interleave).
    pub fn write(&self, record: &Value) {
        let mut line = record.to_string();
        line.push('\n');
        if let Ok(mut f) = self.file.lock() {
            // A failed write must not pass unseen: the check counts records, and the router's
            // log says why some are missing.
            if let Err(e) = f.write_all(line.as_bytes()) {
                eprintln!("lakeline-local router: writing the call log: {e}");
            }
        }
    }
}

/// The record of one call: principal, what it asked, the answer's status.
pub fn record(
    principal: &str,
    method: &str,
    path: &str,
    accesses: &[Access],
    status: u16,
) -> Value {
    json!({
        "kind": "call",
        "principal": principal,
        "request": format!("{method} {path}"),
        "status": status,
        "accesses": accesses.iter().map(|a| json!({
            "action": a.action,
            "resource": a.resource,
            "context": a.context,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> Request<'a> {
        Request {
            method,
            path,
            query,
            headers,
            body,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// (action, resource, context) of one authorization, for compact tables.
    type Flat = (String, String, Vec<(String, String)>);

    fn flat(a: &[Access]) -> Vec<Flat> {
        a.iter()
            .map(|a| {
                (
                    a.action.clone(),
                    a.resource.clone(),
                    a.context
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn s3_requests_as_iam_actions() {
        let none = h(&[]);
        let o = "arn:aws:s3:::lake/raw/a b.csv";
        type Row<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Vec<(String, String)>,
            &'a str,
            Vec<(&'a str, &'a str, Vec<(&'a str, &'a str)>)>,
        );
        let rows: Vec<Row> = vec![
            ("GET", "/lake/raw/a%20b.csv", "", none.clone(), "", vec![("s3:GetObject", o, vec![])]),
            ("HEAD", "/lake/raw/a%20b.csv", "", none.clone(), "", vec![("s3:GetObject", o, vec![])]),
            ("GET", "/lake/raw/a%20b.csv", "versionId=3", none.clone(), "", vec![("s3:GetObjectVersion", o, vec![])]),
            ("GET", "/lake/raw/a%20b.csv", "tagging", none.clone(), "", vec![("s3:GetObjectTagging", o, vec![])]),
            ("PUT", "/lake/raw/a%20b.csv", "tagging", none.clone(), "", vec![("s3:PutObjectTagging", o, vec![])]),
            ("PUT", "/lake/raw/a%20b.csv", "tagging&versionId=3", none.clone(), "", vec![("s3:PutObjectVersionTagging", o, vec![])]),
            ("PUT", "/lake/raw/a%20b.csv", "", h(&[("if-none-match", "*")]), "", vec![("s3:PutObject", o, vec![("s3:if-none-match", "*")])]),
            ("PUT", "/lake/raw/a%20b.csv", "", h(&[("x-amz-tagging", "a=b")]), "", vec![("s3:PutObject", o, vec![]), ("s3:PutObjectTagging", o, vec![])]),
            ("PUT", "/lake/raw/a%20b.csv", "", h(&[("x-amz-server-side-encryption-customer-algorithm", "AES256")]), "",
                vec![("s3:PutObject", o, vec![("s3:x-amz-server-side-encryption-customer-algorithm", "AES256")])]),
            ("PUT", "/lake/raw/a%20b.csv", "partNumber=2&uploadId=u", none.clone(), "", vec![("s3:PutObject", o, vec![])]),
            ("POST", "/lake/raw/a%20b.csv", "uploads", none.clone(), "", vec![("s3:PutObject", o, vec![])]),
            ("POST", "/lake/raw/a%20b.csv", "uploadId=u", h(&[("if-match", "\"e\"")]), "", vec![("s3:PutObject", o, vec![("s3:if-match", "\"e\"")])]),
            ("DELETE", "/lake/raw/a%20b.csv", "uploadId=u", none.clone(), "", vec![("s3:AbortMultipartUpload", o, vec![])]),
            ("DELETE", "/lake/raw/a%20b.csv", "", h(&[("if-match", "\"e\"")]), "", vec![("s3:DeleteObject", o, vec![("s3:if-match", "\"e\"")])]),
            ("DELETE", "/lake/raw/a%20b.csv", "versionId=3", none.clone(), "", vec![("s3:DeleteObjectVersion", o, vec![])]),
            // CopyObject: PutObject on the target, GetObject on the source.
            ("PUT", "/lake/quarantine/raw/a%20b.csv", "", h(&[("x-amz-copy-source", "lake/raw/a%20b.csv"), ("if-none-match", "*")]), "",
                vec![("s3:PutObject", "arn:aws:s3:::lake/quarantine/raw/a b.csv", vec![("s3:if-none-match", "*"), ("s3:x-amz-copy-source", "lake/raw/a b.csv")]),
                     ("s3:GetObject", o, vec![])]),
            ("PUT", "/lake/q/x", "", h(&[("x-amz-copy-source", "/lake/raw/x?versionId=7"), ("x-amz-tagging-directive", "REPLACE"), ("x-amz-tagging", "k=v")]), "",
                vec![("s3:PutObject", "arn:aws:s3:::lake/q/x", vec![("s3:x-amz-copy-source", "lake/raw/x")]),
                     ("s3:GetObjectVersion", "arn:aws:s3:::lake/raw/x", vec![]),
                     ("s3:PutObjectTagging", "arn:aws:s3:::lake/q/x", vec![])]),
            // UploadPartCopy.
            ("PUT", "/lake/q/x", "partNumber=1&uploadId=u", h(&[("x-amz-copy-source", "lake/raw/x"), ("x-amz-copy-source-range", "bytes=0-9")]), "",
                vec![("s3:PutObject", "arn:aws:s3:::lake/q/x", vec![("s3:x-amz-copy-source", "lake/raw/x")]),
                     ("s3:GetObject", "arn:aws:s3:::lake/raw/x", vec![])]),
            // Bucket level.
            ("GET", "/lake", "list-type=2&prefix=curated%2Forders%2F&delimiter=%2F", none.clone(), "",
                vec![("s3:ListBucket", "arn:aws:s3:::lake", vec![("s3:delimiter", "/"), ("s3:prefix", "curated/orders/")])]),
            ("GET", "/lake/", "list-type=2", none.clone(), "", vec![("s3:ListBucket", "arn:aws:s3:::lake", vec![("s3:prefix", "")])]),
            ("HEAD", "/lake", "", none.clone(), "", vec![("s3:ListBucket", "arn:aws:s3:::lake", vec![])]),
            ("GET", "/lake", "versions&prefix=raw%2F", none.clone(), "", vec![("s3:ListBucketVersions", "arn:aws:s3:::lake", vec![("s3:prefix", "raw/")])]),
            ("PUT", "/lake", "", none.clone(), "", vec![("s3:CreateBucket", "arn:aws:s3:::lake", vec![])]),
            ("PUT", "/lake", "notification", none.clone(), "", vec![("s3:PutBucketNotification", "arn:aws:s3:::lake", vec![])]),
            ("GET", "/lake", "location", none.clone(), "", vec![("s3:GetBucketLocation", "arn:aws:s3:::lake", vec![])]),
            ("POST", "/lake", "delete", none.clone(), "<Delete><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key><VersionId>1</VersionId></Object></Delete>",
                vec![("s3:DeleteObject", "arn:aws:s3:::lake/a&b", vec![]), ("s3:DeleteObjectVersion", "arn:aws:s3:::lake/c", vec![])]),
            ("PATCH", "/lake/x", "", none.clone(), "", vec![("unmapped:s3:PATCH object?", "arn:aws:s3:::lake/x", vec![])]),
        ];
        for (m, p, q, headers, body, want) in rows {
            let got = flat(&s3(&req(m, p, q, &headers, body.as_bytes())));
            let want: Vec<Flat> = want
                .into_iter()
                .map(|(a, r, c)| {
                    (
                        a.to_string(),
                        r.to_string(),
                        c.into_iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{m} {p}?{q}");
        }
    }

    #[test]
    fn json_query_and_rest_json_services() {
        let r = "us-east-1";
        let sm = "arn:aws:states:us-east-1:123456789012:stateMachine:p";
        let target = |t: &str| h(&[("x-amz-target", t)]);
        type Row<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Vec<(String, String)>,
            &'a str,
            Vec<(&'a str, &'a str)>,
        );
        let rows: Vec<Row> = vec![
            ("states", "POST", "/", target("AWSStepFunctions.StartExecution"),
                r#"{"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:p","name":"x"}"#,
                vec![("states:StartExecution", sm)]),
            ("states", "POST", "/", target("AWSStepFunctions.DescribeExecution"),
                r#"{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:p:x"}"#,
                vec![("states:DescribeExecution", "arn:aws:states:us-east-1:123456789012:execution:p:x")]),
            ("states", "POST", "/", target("AWSStepFunctions.CreateStateMachine"),
                r#"{"name":"p","roleArn":"arn:aws:iam::123456789012:role/r","definition":"{}"}"#,
                vec![("states:CreateStateMachine", sm), ("iam:PassRole", "arn:aws:iam::123456789012:role/r")]),
            ("glue", "POST", "/", target("AWSGlue.StartJobRun"), r#"{"JobName":"j"}"#,
                vec![("glue:StartJobRun", "arn:aws:glue:us-east-1:123456789012:job/j")]),
            ("glue", "POST", "/", target("AWSGlue.GetTable"), r#"{"DatabaseName":"d","Name":"t"}"#,
                vec![("glue:GetTable", "arn:aws:glue:us-east-1:123456789012:catalog"),
                     ("glue:GetTable", "arn:aws:glue:us-east-1:123456789012:database/d"),
                     ("glue:GetTable", "arn:aws:glue:us-east-1:123456789012:table/d/t")]),
            ("glue", "POST", "/", target("AWSGlue.CreateTableOptimizer"),
                r#"{"CatalogId":"123456789012","DatabaseName":"d","TableName":"t","Type":"retention","TableOptimizerConfiguration":{"roleArn":"arn:aws:iam::123456789012:role/o","enabled":true}}"#,
                vec![("glue:CreateTableOptimizer", "arn:aws:glue:us-east-1:123456789012:catalog"),
                     ("glue:CreateTableOptimizer", "arn:aws:glue:us-east-1:123456789012:database/d"),
                     ("glue:CreateTableOptimizer", "arn:aws:glue:us-east-1:123456789012:table/d/t"),
                     ("iam:PassRole", "arn:aws:iam::123456789012:role/o")]),
            ("glue", "POST", "/", target("AWSGlue.CreateTable"), r#"{"DatabaseName":"d","TableInput":{"Name":"t"}}"#,
                vec![("glue:CreateTable", "arn:aws:glue:us-east-1:123456789012:catalog"),
                     ("glue:CreateTable", "arn:aws:glue:us-east-1:123456789012:database/d"),
                     ("glue:CreateTable", "arn:aws:glue:us-east-1:123456789012:table/d/t")]),
            ("sqs", "POST", "/", target("AmazonSQS.ReceiveMessage"), r#"{"QueueUrl":"http://127.0.0.1:5/123456789012/dlq"}"#,
                vec![("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:dlq")]),
            ("sns", "POST", "/", h(&[]), "Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3At&Message=hi+there",
                vec![("sns:Publish", "arn:aws:sns:us-east-1:123456789012:t")]),
            ("sns", "POST", "/", h(&[]), "Action=CreateTopic&Name=t",
                vec![("sns:CreateTopic", "arn:aws:sns:us-east-1:123456789012:t")]),
            ("cloudformation", "POST", "/", h(&[]), "Action=DescribeStacks&StackName=lake&Version=2010-05-15",
                vec![("cloudformation:DescribeStacks", "arn:aws:cloudformation:us-east-1:123456789012:stack/lake/*")]),
            ("lambda", "POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations", h(&[]), "{}",
                vec![("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:f")]),
            ("lambda", "POST", "/2015-03-31/functions/f/invocations", h(&[]), "{}",
                vec![("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:f")]),
            ("emr-serverless", "POST", "/applications/app1/jobruns", h(&[]),
                r#"{"executionRoleArn":"arn:aws:iam::123456789012:role/emr","tags":{"k":"v"}}"#,
                vec![("emr-serverless:StartJobRun", "arn:aws:emr-serverless:us-east-1:123456789012:/applications/app1"),
                     ("emr-serverless:TagResource", "arn:aws:emr-serverless:us-east-1:123456789012:/applications/app1/jobruns/*"),
                     ("iam:PassRole", "arn:aws:iam::123456789012:role/emr")]),
            ("emr-serverless", "GET", "/applications/app1/jobruns/r1", h(&[]), "",
                vec![("emr-serverless:GetJobRun", "arn:aws:emr-serverless:us-east-1:123456789012:/applications/app1/jobruns/r1")]),
            ("s3tables", "PUT", "/namespaces/arn%3Aaws%3As3tables%3Aus-east-1%3A123456789012%3Abucket%2Fb", h(&[]), "{}",
                vec![("s3tables:CreateNamespace", "arn:aws:s3tables:us-east-1:123456789012:bucket/b")]),
            ("s3tables", "PUT", "/tables/arn%3Aaws%3As3tables%3Aus-east-1%3A123456789012%3Abucket%2Fb/ns", h(&[]), "{}",
                vec![("s3tables:CreateTable", "arn:aws:s3tables:us-east-1:123456789012:bucket/b")]),
            ("s3tables", "PUT", "/tables/arn%3Aaws%3As3tables%3Aus-east-1%3A123456789012%3Abucket%2Fb/ns/orders/metadata-location", h(&[]), "{}",
                vec![("s3tables:UpdateTableMetadataLocation", "arn:aws:s3tables:us-east-1:123456789012:bucket/b/table/*")]),
            ("s3tables", "DELETE", "/buckets/x", h(&[]), "", vec![("unmapped:s3tables:DELETE /buckets/x", "*")]),
            ("kinesis", "POST", "/", target("Kinesis_20131202.PutRecord"), "{}", vec![("unmapped:Kinesis_20131202.PutRecord", "*")]),
        ];
        for (service, m, p, headers, body, want) in rows {
            let got: Vec<(String, String)> =
                describe(&req(m, p, "", &headers, body.as_bytes()), service, r)
                    .into_iter()
                    .map(|a| (a.action, a.resource))
                    .collect();
            let want: Vec<(String, String)> = want
                .into_iter()
                .map(|(a, r)| (a.into(), r.into()))
                .collect();
            assert_eq!(got, want, "{service} {m} {p} {body}");
        }
        let get_table = describe(
            &req(
                "GET",
                "/get-table",
                "tableBucketARN=arn%3Aaws%3As3tables%3Aus-east-1%3A123456789012%3Abucket%2Fb&namespace=ns&name=orders",
                &[],
                b"",
            ),
            "s3tables",
            r,
        );
        assert_eq!(
            (get_table[0].action.as_str(), get_table[0].resource.as_str()),
            (
                "s3tables:GetTable",
                "arn:aws:s3tables:us-east-1:123456789012:bucket/b/table/*"
            )
        );
        let pass = describe(
            &req(
                "POST",
                "/applications/a/jobruns",
                "",
                &[],
                br#"{"executionRoleArn":"arn:r"}"#,
            ),
            "emr-serverless",
            r,
        );
        assert_eq!(
            pass[1]
                .context
                .get("iam:PassedToService")
                .map(String::as_str),
            Some("emr-serverless.amazonaws.com")
        );
    }

    #[test]
    fn credential_scopes() {
        let auth = "AWS4-HMAC-SHA256 Credential=lakeline-role-CurateFunctionRole/20261206/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(
            credential_scope(auth),
            Some((
                "lakeline-role-CurateFunctionRole".into(),
                "us-east-1".into(),
                "s3".into()
            ))
        );
        assert_eq!(credential_scope("Bearer x"), None);
    }
}
