# kamea-wss — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build run run-cluster test lint sanitize tsan fuzz bench abuse faults soak clean

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

# ThreadSanitizer: every suite but the fuzz pass, each server with four event loops unless a
# test asks for another count (KAMEA_TEST_THREADS); reports are checked in every server's
# stderr by tests/logs/ (TSan goes on after a report, so one run shows them all).
tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKAMEA_TSAN=ON
	cmake --build build-tsan -j $(JOBS)
	scripts/build-doc.sh build-tsan/doc
	KAMEA_SANITIZED=thread KAMEA_TEST_THREADS=4 TSAN_OPTIONS="second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
		scripts/test.sh build-tsan

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

# Not in CI: steady fan-out, churn and abuse for SOAK_MINUTES; writes its section and plot in
# docs/reliability.md, fails unless RSS, open files and latency are flat after the warm-up.
SOAK_MINUTES ?= 10
soak: build
	KAMEA_WSS_BIN=$(BUILD)/kamea-wss node tests/campaigns/soak.mjs --minutes $(SOAK_MINUTES)

clean:
	rm -rf build build-asan build-tsan build-fuzz
