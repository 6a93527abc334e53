"""IAM policy evaluation for one request, small and table-tested (test_iam.py), for the parts of
IAM lakeline's template uses. Follows AWS's "Policy evaluation logic" for a principal and a
resource in the same account:

1. an explicit Deny in any applicable statement (identity or resource policy) wins;
2. otherwise an Allow in an identity policy, or in a resource policy whose Principal names the
   caller (or is "*"), allows;
3. otherwise the request is implicitly denied.

Out of scope (the template has none): permissions boundaries, session policies, SCPs/RCPs,
cross-account access, policy variables (`${aws:username}`). A condition operator outside
OPERATORS is never guessed at: an Allow that needs it grants nothing and a Deny that needs it
makes the decision UNDECIDED, both reported with the operator's name.

Why our own: no maintained library evaluates a request (action, resource, condition keys)
against identity and resource policies. policyuniverse and parliament analyse or lint
policies; moto's evaluator ignores conditions (an Allow with a Condition denies) and resource
policies. See docs/permissions.md.
"""

import re
from dataclasses import dataclass, field

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, UNDECIDED = "allow", "explicit-deny", "implicit-deny", "undecided"


def _as_list(x):
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def wildcard(pattern, value, ignore_case=False):
    """IAM's wildcard match: `*` any run of characters (`/` and `:` included), `?` one."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def action_matches(pattern, action):
    """Actions compare without case (`s3:getobject` is `s3:GetObject`)."""
    return wildcard(pattern, action, ignore_case=True)


def resource_matches(pattern, arn):
    if "${" in pattern:
        raise ValueError(f"policy variables are not supported here: {pattern}")
    return wildcard(pattern, arn)


def arn_like(pattern, arn):
    """ArnLike: each of the six colon-separated parts of the ARN matched on its own (the last,
    the resource, may hold colons)."""
    p, a = pattern.split(":", 5), arn.split(":", 5)
    if len(p) != 6 or len(a) != 6:
        return wildcard(pattern, arn)
    return all(wildcard(x, y) for x, y in zip(p, a))


def _str_eq(v, c):
    return v == c


def _str_eq_ic(v, c):
    return v.lower() == c.lower()


def _str_like(v, c):
    return wildcard(c, v)


def _arn_eq(v, c):
    return v == c


def _bool(v, c):
    return str(v).lower() == str(c).lower()


# name -> (match one context value against one policy value, negated)
OPERATORS = {
    "StringEquals": (_str_eq, False),
    "StringNotEquals": (_str_eq, True),
    "StringEqualsIgnoreCase": (_str_eq_ic, False),
    "StringNotEqualsIgnoreCase": (_str_eq_ic, True),
    "StringLike": (_str_like, False),
    "StringNotLike": (_str_like, True),
    "ArnEquals": (_arn_eq, False),
    "ArnNotEquals": (_arn_eq, True),
    "ArnLike": (arn_like, False),
    "ArnNotLike": (arn_like, True),
    "Bool": (_bool, False),
}


class NotUnderstood(Exception):
    """A condition operator this evaluator does not implement."""


def condition_holds(condition, context):
    """All operators of a Condition block hold (AND), each for all its keys (AND), a key
    matching any of its values (OR). Context keys compare without case, like IAM's.

    A key absent from the request: a positive operator does not match, a negated one
    (`...Not...`) does, `...IfExists` matches; `Null: {key: "true"}` holds exactly when it is
    absent (AWS: "Condition keys that are not present")."""
    ctx = {k.lower(): v for k, v in context.items()}
    for op, block in (condition or {}).items():
        name, if_exists = (op[:-8], True) if op.endswith("IfExists") else (op, False)
        for key, wanted in block.items():
            wanted = [str(w) for w in _as_list(wanted)]
            present = key.lower() in ctx
            if name == "Null":
                if len(wanted) != 1 or wanted[0].lower() not in ("true", "false"):
                    raise NotUnderstood(f"Null with {wanted}")
                if (wanted[0].lower() == "true") != (not present):
                    return False
                continue
            if ":" in name or name not in OPERATORS:
                raise NotUnderstood(op)
            match, negated = OPERATORS[name]
            if not present:
                if if_exists or negated:
                    continue
                return False
            values = [str(v) for v in _as_list(ctx[key.lower()])]
            hit = any(match(v, w) for v in values for w in wanted)
            if hit == negated:
                return False
    return True


@dataclass
class Statement:
    """One policy statement with where it comes from (`source`, e.g. a role or the bucket
    policy) for reports."""
    effect: str
    source: str
    sid: str = ""
    actions: list = field(default_factory=list)
    not_actions: list = field(default_factory=list)
    resources: list = field(default_factory=list)
    not_resources: list = field(default_factory=list)
    principal: object = None
    not_principal: object = None
    condition: dict = field(default_factory=dict)
    index: int = 0

    @classmethod
    def of(cls, doc, source, index=0):
        return cls(
            effect=doc["Effect"], source=source, sid=doc.get("Sid", ""), index=index,
            actions=_as_list(doc.get("Action")), not_actions=_as_list(doc.get("NotAction")),
            resources=_as_list(doc.get("Resource")), not_resources=_as_list(doc.get("NotResource")),
            principal=doc.get("Principal"), not_principal=doc.get("NotPrincipal"),
            condition=doc.get("Condition") or {},
        )

    @property
    def name(self):
        return f"{self.source}:{self.sid or '#' + str(self.index)}"

    def covers_action(self, action):
        if self.not_actions:
            return not any(action_matches(p, action) for p in self.not_actions)
        return any(action_matches(p, action) for p in self.actions)

    def covers_resource(self, resource):
        if self.not_resources:
            return not any(resource_matches(p, resource) for p in self.not_resources)
        return any(resource_matches(p, resource) for p in self.resources)


def principal_named(principal, caller_arn, account):
    """Whether a resource policy's Principal names the caller. `*` names everyone; an account
    (its root ARN or ID) delegates to that account's IAM, so it grants nothing by itself (it is
    not a match for an Allow here; the identity policy decides)."""
    if principal == "*":
        return True
    if isinstance(principal, dict):
        for kind, values in principal.items():
            for v in _as_list(values):
                if kind == "AWS" and (v == "*" or v == caller_arn):
                    return True
    return False


@dataclass
class Request:
    principal_arn: str
    action: str
    resource: str
    context: dict = field(default_factory=dict)
    account: str = "123456789012"


@dataclass
class Decision:
    outcome: str
    allowed_by: list = field(default_factory=list)
    denied_by: list = field(default_factory=list)
    not_understood: list = field(default_factory=list)

    @property
    def allowed(self):
        return self.outcome == ALLOW


def applies(st, req, resource_policy):
    """(applies, why-not-understood)."""
    if not st.covers_action(req.action) or not st.covers_resource(req.resource):
        return False, None
    if resource_policy:
        if st.not_principal is not None:
            return False, "NotPrincipal"
        if not principal_named(st.principal, req.principal_arn, req.account):
            return False, None
    try:
        return condition_holds(st.condition, req.context), None
    except NotUnderstood as e:
        return False, str(e)


def evaluate(req, identity, resource=()):
    """The decision for `req` under `identity` statements (the caller's policies) and
    `resource` statements (the resource's policy)."""
    d = Decision(IMPLICIT_DENY)
    for statements, is_resource in ((identity, False), (resource, True)):
        for st in statements:
            ok, unknown = applies(st, req, is_resource)
            if unknown:
                d.not_understood.append((st.name, unknown))
                if st.effect == "Deny":
                    d.outcome = UNDECIDED
            if not ok:
                continue
            (d.denied_by if st.effect == "Deny" else d.allowed_by).append(st)
    if d.denied_by:
        d.outcome = EXPLICIT_DENY
    elif d.outcome != UNDECIDED and d.allowed_by:
        d.outcome = ALLOW
    return d
