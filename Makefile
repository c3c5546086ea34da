# kamea-wss — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build run run-cluster test lint sanitize fuzz bench abuse faults clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)
	scripts/build-doc.sh $(BUILD)/doc

run: build
	scripts/run-local.sh

run-cluster: build
	scripts/run-cluster.sh

test: build
	scripts/test.sh $(BUILD)

# clang-format and clang-tidy over the tree, warnings as errors (.clang-format, .clang-tidy).
lint: deps $(BUILD)/build.ninja
	scripts/lint.sh $(BUILD)

sanitize: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKAMEA_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	scripts/build-doc.sh build-asan/doc
	KAMEA_SANITIZED=1 scripts/test.sh build-asan

fuzz: deps
	scripts/fuzz.sh

bench: build
	bench/run.sh

# The campaigns at full scale; each rewrites its table in docs/reliability.md.
CAMPAIGN_SCALE ?= 10
abuse: build
	KAMEA_WSS_BIN=$(BUILD)/kamea-wss node tests/campaigns/run.mjs abuse --scale $(CAMPAIGN_SCALE)

faults: build
	KAMEA_WSS_BIN=$(BUILD)/kamea-wss node tests/campaigns/run.mjs faults --scale $(CAMPAIGN_SCALE)

clean:
	rm -rf build build-asan build-fuzz
