# lakeline: the two promises are `make demo` and `make test`; both set up what they need.
# Everything AWS runs against moto server on 127.0.0.1, installed into .venv by scripts/local-aws.

SHELL := /bin/bash
CARGO ?= cargo
LOCAL_AWS := scripts/local-aws
# The router's record of every AWS call of a run (principal, IAM actions, resources), which the
# permissions check holds to the template's policies (docs/permissions.md).
CALLS := $(abspath $(or $(CARGO_TARGET_DIR),target))/permissions
# The binaries every step runs. Each build here selects the whole workspace (`--workspace`):
# one resolution of features, so the router, the command line, the demo and the tests share
# one build of the dependencies. Selecting fewer packages (`-p lakeline-local`) resolves other
# features and compiles the AWS SDK, Arrow and Iceberg all over again: minutes and gigabytes.
BIN := $(abspath $(or $(CARGO_TARGET_DIR),target))/debug

.PHONY: help test unit lint fmt demo local-up local-down clean

help:
	@echo "make demo        run the pipeline locally on the sample data (local AWS emulator)"
	@echo "make test        unit + integration tests against the local AWS emulator, the Spark jobs' tests, the tables read by pyiceberg and DuckDB, the status page in headless Chromium"
	@echo "make lint        cargo fmt --check and clippy -D warnings"
	@echo "make local-up    keep the local AWS running (source the printed env file)"
	@echo "make local-down  stop it"
	@echo "make lint-template  sam validate, cfn-lint, checkov, asl-validator, template tests"
	@echo "make package     sam build (release arm64, slow)"
	@echo "make publish-jobs STACK=<stack>  after sam deploy: jobs/*.py as versioned, checksummed EMR Serverless entry points"
	@echo "make bench       lakeline vs its peers, side by side"

## Unit and integration tests; one emulator for the whole run, unique names per test. Then
## every AWS call they made is checked against the template's policies for its principal.
test:
	scripts/sam-tools asl
	$(CARGO) build --quiet --workspace --bins
	$(BIN)/lakeline registry check config/datasets.yaml
	LAKELINE_CALLS_LOG=$(CALLS)/test.jsonl $(LOCAL_AWS) run $(CARGO) test --workspace --all-targets
	scripts/sam-tools permissions $(CALLS)/test.jsonl
	# The sweep at 50 partitions x 1,000 files, alone: its 50,000 objects would slow the others.
	LAKELINE_CALLS_LOG=$(CALLS)/scale.jsonl $(LOCAL_AWS) run $(CARGO) test --workspace --test scale -- --ignored --nocapture
	scripts/sam-tools permissions $(CALLS)/scale.jsonl
	LAKELINE_BIN="$(BIN)/lakeline" LAKELINE_REQUIRE_BIN=1 scripts/spark-tools test
	LAKELINE_BIN="$(BIN)/lakeline" scripts/table-readers test

## Unit tests only: no emulator needed.
unit:
	$(CARGO) test --workspace --lib --bins

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

demo:
	$(CARGO) build --quiet --workspace --bins
	LAKELINE_CALLS_LOG=$(CALLS)/demo.jsonl $(LOCAL_AWS) run $(BIN)/lakeline-local demo
	@scripts/sam-tools permissions --summary $(CALLS)/demo.jsonl

local-up:
	@env_file=$$($(LOCAL_AWS) up) && echo "local AWS is up: source $$env_file"

local-down:
	$(LOCAL_AWS) down

clean:
	$(CARGO) clean
	rm -rf .venv .local .venv-sam .venv-checkov .venv-bench .venv-spark .venv-tables tools/node_modules .aws-sam

## The SAM template (template.yaml): sam validate --lint, cfn-lint, checkov, asl-validator and
## tests/template, offline; the tools install themselves into .venv-sam, .venv-checkov and
## tools/node_modules on first use (scripts/sam-tools).
.PHONY: lint-template package
lint-template:
	scripts/sam-tools lint

## sam build: release arm64 binaries of the six functions (cargo-lambda from the pinned venv;
## ~17 min cold on 2 cores, measured, so not part of lint/test/CI). Then: scripts/sam-tools sam deploy --guided
package:
	scripts/sam-tools build

## After `sam deploy`: jobs/*.py to s3://<lake>/<ArtifactPrefix>jobs/<version>/ with SHA256SUMS
## (content-addressed, written once, S3-verified checksums) for EMR Serverless entry points; prints
## the URIs for the registry. The Glue job needs none of it: sam deploy packages its script.
.PHONY: publish-jobs
publish-jobs:
	@test -n "$(STACK)" || { echo "usage: make publish-jobs STACK=<stack name> [REGION=<region>]"; exit 2; }
	scripts/sam-tools publish-jobs --stack $(STACK) $(if $(REGION),--region $(REGION))

## lakeline vs its peers, side by side (init time, CSV throughput/RSS, Parquet footer check,
## compaction listing, pipeline cost, package size): one table, also target/bench/results.json.
## Installs the pinned peers into .venv-bench (bench/requirements.txt); not part of `make test`.
## Knobs: BENCH_OBJECTS (100000), BENCH_INIT_RUNS (30), BENCH_CSV_MIB, BENCH_ROWS, BENCH_ARM64=1.
.PHONY: bench
bench:
	bench/bench.sh
