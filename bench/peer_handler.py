"""The Python peer of a lakeline function's cold start: the same setup with boto3, then the
first poll of the Lambda Runtime API (what a custom-runtime / RIC handler does).

    python peer_handler.py FUNCTION     (validate-upload | start-job | notify-failure | check-compaction | curate)

Setup per function mirrors `Deps::from_env` of the Rust function: the same clients, the YAML
registry from LAKELINE_REGISTRY (where the function reads it), the same env variables.
"""

import json
import os
import sys
import urllib.request

import boto3
import yaml

CLIENTS = {
    "validate-upload": ["s3", "stepfunctions", "sns"],
    "start-job": ["s3", "glue", "emr-serverless"],
    "notify-failure": ["sns"],
    "check-compaction": ["s3"],
    "curate": ["s3"],
}
NEEDS_REGISTRY = {"validate-upload", "start-job", "check-compaction", "curate"}


def main():
    fn = sys.argv[1]
    session = boto3.session.Session()
    clients = {name: session.client(name) for name in CLIENTS[fn]}
    registry = None
    if fn in NEEDS_REGISTRY:
        with open(os.environ["LAKELINE_REGISTRY"], encoding="utf-8") as f:
            registry = yaml.safe_load(f)
        assert registry["datasets"], "empty registry"
    for var in {"validate-upload": ["STATE_MACHINE_ARN", "ALERT_TOPIC_ARN"],
                "notify-failure": ["ALERT_TOPIC_ARN"]}.get(fn, []):
        os.environ[var]  # noqa: B018 (required, like env.require)
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    while True:
        with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as r:
            event = json.loads(r.read() or b"{}")
            _ = (clients, registry, event)


if __name__ == "__main__":
    main()
