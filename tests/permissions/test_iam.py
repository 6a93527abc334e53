"""The evaluator (iam.py) held to AWS's documented behaviour: "Policy evaluation logic", "IAM
JSON policy elements: Condition operators" (a key absent from the request; ...IfExists; Null),
NotAction/NotResource, wildcards, and the examples of the S3 and IAM user guides that our
template's statements follow."""

import pytest

from iam import (ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, UNDECIDED, Request, Statement, arn_like,
                 evaluate, wildcard)

ROLE = "arn:aws:iam::123456789012:role/stack-CurateFunctionRole"
OTHER = "arn:aws:iam::123456789012:role/someone-else"


def st(effect, action=None, resource=None, sid="S", **kw):
    doc = {"Effect": effect, "Sid": sid}
    if action is not None:
        doc["Action"] = action
    if resource is not None:
        doc["Resource"] = resource
    for k, v in kw.items():
        doc[{"not_action": "NotAction", "not_resource": "NotResource", "principal": "Principal",
             "condition": "Condition"}[k]] = v
    return Statement.of(doc, "test")


def req(action, resource, principal=ROLE, ctx=None, **context):
    """A request; condition keys as `ctx`, or as keywords with `__` for `:`."""
    context = {k.replace("__", ":"): v for k, v in context.items()}
    return Request(principal, action, resource, dict(context, **(ctx or {})))


@pytest.mark.parametrize("pattern,value,want", [
    ("arn:aws:s3:::b/raw/*", "arn:aws:s3:::b/raw/x/y.csv", True),
    ("arn:aws:s3:::b/raw/*", "arn:aws:s3:::b/rawx", False),
    ("arn:aws:s3:::b/curated/*/_m.json", "arn:aws:s3:::b/curated/o/dt=1/_m.json", True),
    ("arn:aws:s3:::b/curated/*.parquet", "arn:aws:s3:::b/curated/o/x.parquet.tmp", False),
    ("arn:aws:s3:::b/?.csv", "arn:aws:s3:::b/a.csv", True),
    ("arn:aws:s3:::b/?.csv", "arn:aws:s3:::b/ab.csv", False),
    ("arn:aws:s3:::b", "arn:aws:s3:::b/x", False),
])
def test_resource_wildcards(pattern, value, want):
    assert wildcard(pattern, value) is want


def test_arn_like_matches_part_by_part():
    assert arn_like("arn:aws:iam::123456789012:role/stack-*", ROLE)
    assert arn_like("arn:aws:iam::*:role/*", OTHER)
    assert not arn_like("arn:aws:iam::123456789012:user/*", ROLE)


# (name, identity statements, resource statements, request, outcome, deciding sids)
CASES = [
    ("no statement: implicit deny", [], [], req("s3:GetObject", "arn:aws:s3:::b/k"), IMPLICIT_DENY, []),
    ("allow", [st("Allow", "s3:GetObject", "arn:aws:s3:::b/*")], [],
     req("s3:GetObject", "arn:aws:s3:::b/k"), ALLOW, ["S"]),
    ("actions ignore case and take wildcards", [st("Allow", "S3:get*", "*")], [],
     req("s3:GetObjectTagging", "arn:aws:s3:::b/k"), ALLOW, ["S"]),
    ("an explicit deny overrides any allow",
     [st("Allow", "s3:*", "*", sid="A"), st("Deny", "s3:DeleteObject", "arn:aws:s3:::b/*", sid="D")], [],
     req("s3:DeleteObject", "arn:aws:s3:::b/k"), EXPLICIT_DENY, ["D"]),
    ("NotAction allows everything but what it names",
     [st("Allow", None, "*", not_action="iam:*")], [], req("s3:GetObject", "arn:aws:s3:::b/k"), ALLOW, ["S"]),
    ("NotAction does not allow what it names",
     [st("Allow", None, "*", not_action="iam:*")], [], req("iam:CreateUser", "*"), IMPLICIT_DENY, []),
    ("NotResource: a deny for every resource but the listed",
     [st("Allow", "s3:*", "*", sid="A")],
     [st("Deny", "s3:PutObject", None, sid="D", principal="*", not_resource=["arn:aws:s3:::b/raw/*"])],
     req("s3:PutObject", "arn:aws:s3:::b/curated/x"), EXPLICIT_DENY, ["D"]),
    ("NotResource: the listed resource is not denied",
     [st("Allow", "s3:*", "*", sid="A")],
     [st("Deny", "s3:PutObject", None, sid="D", principal="*", not_resource=["arn:aws:s3:::b/raw/*"])],
     req("s3:PutObject", "arn:aws:s3:::b/raw/x"), ALLOW, ["A"]),
    # S3 user guide: "Require SSE-C not be used": Null on the SSE-C header's key.
    ("Null false: a deny when the key is present",
     [st("Allow", "s3:PutObject", "*", sid="A")],
     [st("Deny", "s3:PutObject", "arn:aws:s3:::b/*", sid="D", principal="*",
         condition={"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}})],
     req("s3:PutObject", "arn:aws:s3:::b/k", ctx={"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"}),
     EXPLICIT_DENY, ["D"]),
    ("Null false: no deny when the key is absent",
     [st("Allow", "s3:PutObject", "*", sid="A")],
     [st("Deny", "s3:PutObject", "arn:aws:s3:::b/*", sid="D", principal="*",
         condition={"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}})],
     req("s3:PutObject", "arn:aws:s3:::b/k"), ALLOW, ["A"]),
    # S3 user guide: deny requests not over TLS.
    ("Bool aws:SecureTransport false denies plain HTTP",
     [st("Allow", "s3:GetObject", "*", sid="A")],
     [st("Deny", "s3:*", "*", sid="D", principal="*", condition={"Bool": {"aws:SecureTransport": "false"}})],
     req("s3:GetObject", "arn:aws:s3:::b/k", aws__SecureTransport="false"), EXPLICIT_DENY, ["D"]),
    ("Bool aws:SecureTransport false lets TLS pass",
     [st("Allow", "s3:GetObject", "*", sid="A")],
     [st("Deny", "s3:*", "*", sid="D", principal="*", condition={"Bool": {"aws:SecureTransport": "false"}})],
     req("s3:GetObject", "arn:aws:s3:::b/k", aws__SecureTransport="true"), ALLOW, ["A"]),
    # IAM: aws:PrincipalArn with ArnNotLike in a bucket policy ("only these roles write").
    ("ArnNotLike denies everyone but the listed roles",
     [st("Allow", "s3:PutObject", "*", sid="A")],
     [st("Deny", "s3:PutObject", "arn:aws:s3:::b/curated/*", sid="D", principal="*",
         condition={"ArnNotLike": {"aws:PrincipalArn": [ROLE]}})],
     req("s3:PutObject", "arn:aws:s3:::b/curated/x", principal=OTHER, aws__PrincipalArn=OTHER),
     EXPLICIT_DENY, ["D"]),
    ("ArnNotLike lets the listed role write",
     [st("Allow", "s3:PutObject", "*", sid="A")],
     [st("Deny", "s3:PutObject", "arn:aws:s3:::b/curated/*", sid="D", principal="*",
         condition={"ArnNotLike": {"aws:PrincipalArn": [ROLE]}})],
     req("s3:PutObject", "arn:aws:s3:::b/curated/x", aws__PrincipalArn=ROLE), ALLOW, ["A"]),
    ("two operators in one block must both hold (AND)",
     [st("Allow", "s3:PutObject", "*", sid="A")],
     [st("Deny", "s3:PutObject", "*", sid="D", principal="*",
         condition={"ArnNotLike": {"aws:PrincipalArn": [ROLE]}, "ArnNotEquals": {"aws:PrincipalArn": [OTHER]}})],
     req("s3:PutObject", "arn:aws:s3:::b/x", principal=OTHER, aws__PrincipalArn=OTHER), ALLOW, ["A"]),
    # S3 user guide: ListBucket limited to a prefix with s3:prefix.
    ("StringLike s3:prefix inside", [st("Allow", "s3:ListBucket", "arn:aws:s3:::b",
                                        condition={"StringLike": {"s3:prefix": "_lakeline/batches/*"}})], [],
     req("s3:ListBucket", "arn:aws:s3:::b", s3__prefix="_lakeline/batches/o/"), ALLOW, ["S"]),
    ("StringLike s3:prefix outside", [st("Allow", "s3:ListBucket", "arn:aws:s3:::b",
                                         condition={"StringLike": {"s3:prefix": "_lakeline/batches/*"}})], [],
     req("s3:ListBucket", "arn:aws:s3:::b", s3__prefix="curated/"), IMPLICIT_DENY, []),
    ("a positive operator on an absent key does not match",
     [st("Allow", "s3:ListBucket", "*", condition={"StringLike": {"s3:prefix": "x/*"}})], [],
     req("s3:ListBucket", "arn:aws:s3:::b"), IMPLICIT_DENY, []),
    ("a negated operator on an absent key matches",
     [st("Allow", "s3:ListBucket", "*", condition={"StringNotLike": {"s3:prefix": "x/*"}})], [],
     req("s3:ListBucket", "arn:aws:s3:::b"), ALLOW, ["S"]),
    ("...IfExists on an absent key matches",
     [st("Allow", "s3:ListBucket", "*", condition={"StringLikeIfExists": {"s3:prefix": "x/*"}})], [],
     req("s3:ListBucket", "arn:aws:s3:::b"), ALLOW, ["S"]),
    ("condition keys compare without case",
     [st("Allow", "iam:PassRole", "*", condition={"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}})], [],
     req("iam:PassRole", OTHER, iam__passedtoservice="emr-serverless.amazonaws.com"), ALLOW, ["S"]),
    ("StringEquals on the wrong service",
     [st("Allow", "iam:PassRole", "*", condition={"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}})], [],
     req("iam:PassRole", OTHER, **{"iam__PassedToService": "glue.amazonaws.com"}), IMPLICIT_DENY, []),
    # Same account: a resource policy naming the caller allows without an identity policy.
    ("a resource policy that names the caller allows",
     [], [st("Allow", "s3:GetObject", "arn:aws:s3:::b/*", principal={"AWS": ROLE})],
     req("s3:GetObject", "arn:aws:s3:::b/k"), ALLOW, ["S"]),
    ("a resource policy naming someone else allows nothing",
     [], [st("Allow", "s3:GetObject", "arn:aws:s3:::b/*", principal={"AWS": OTHER})],
     req("s3:GetObject", "arn:aws:s3:::b/k"), IMPLICIT_DENY, []),
    ("an account principal delegates to IAM: no grant by itself",
     [], [st("Allow", "kms:Decrypt", "*", principal={"AWS": "arn:aws:iam::123456789012:root"})],
     req("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/k"), IMPLICIT_DENY, []),
]


@pytest.mark.parametrize("name,identity,resource,request_,outcome,sids", CASES, ids=[c[0] for c in CASES])
def test_documented_evaluation(name, identity, resource, request_, outcome, sids):
    d = evaluate(request_, identity, resource)
    assert d.outcome == outcome, name
    deciding = d.denied_by if outcome == EXPLICIT_DENY else d.allowed_by
    assert [s.sid for s in deciding] == sids, name


def test_an_unknown_operator_never_guesses():
    allow = st("Allow", "s3:GetObject", "*", condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})
    d = evaluate(req("s3:GetObject", "arn:aws:s3:::b/k"), [allow])
    assert d.outcome == IMPLICIT_DENY and d.not_understood == [("test:S", "DateLessThan")]
    deny = st("Deny", "s3:GetObject", "*", sid="D", condition={"ForAnyValue:StringLike": {"aws:TagKeys": "x"}})
    d = evaluate(req("s3:GetObject", "arn:aws:s3:::b/k"), [st("Allow", "s3:*", "*", sid="A"), deny])
    assert d.outcome == UNDECIDED and not d.allowed
