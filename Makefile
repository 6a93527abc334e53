# lakeline: the two promises are `make demo` and `make test`; both set up what they need.
# Everything AWS runs against moto server on 127.0.0.1, installed into .venv by scripts/local-aws.

SHELL := /bin/bash
CARGO ?= cargo
LOCAL_AWS := scripts/local-aws

.PHONY: help test unit lint fmt demo local-up local-down clean

help:
	@echo "make demo        run the pipeline locally on the sample data (local AWS emulator)"
	@echo "make test        unit + integration tests against the local AWS emulator"
	@echo "make lint        cargo fmt --check and clippy -D warnings"
	@echo "make local-up    keep the local AWS running (source the printed env file)"
	@echo "make local-down  stop it"

## Unit and integration tests; one emulator for the whole run, unique names per test.
test:
	$(LOCAL_AWS) run $(CARGO) test --workspace --all-targets

## Unit tests only: no emulator needed.
unit:
	$(CARGO) test --workspace --lib --bins

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

demo:
	$(CARGO) build --quiet -p lakeline-cli
	$(LOCAL_AWS) run $(CARGO) run --quiet -p lakeline-cli -- demo

local-up:
	@env_file=$$($(LOCAL_AWS) up) && echo "local AWS is up: source $$env_file"

local-down:
	$(LOCAL_AWS) down

clean:
	$(CARGO) clean
	rm -rf .venv .local
