# flowwatch: `make demo` and `make test` are all a fresh machine needs; `make help` lists the rest.

SWIFT       ?= swift
BPF_CLANG   ?= $(firstword $(wildcard /opt/swift/usr/bin/clang) $(shell command -v clang 2>/dev/null))
BPFTOOL     ?= bpftool
ARCH        := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH   := $(shell gcc -print-multiarch 2>/dev/null || echo $(shell uname -m)-linux-gnu)
SUDO        := $(if $(filter 0,$(shell id -u)),,sudo)

# Debian packages: build (libbpf, libelf, zlib, libpcap, bpftool), the demo/tests (iproute2, ping,
# socat, tcpdump, tshark; openssl makes the TLS tests' certificates) and the bench (iperf3).
DEB_PACKAGES := libbpf-dev libelf-dev libpcap-dev zlib1g-dev bpftool iproute2 iputils-ping \
                socat tcpdump tshark iperf3 openssl

BPF_OUT     := bpf/.output
BPF_OBJ     := $(BPF_OUT)/flowwatch.bpf.o
BPF_SKEL    := Sources/CFlowwatchLinux/flowwatch.skel.h
BPF_CFLAGS  := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -I/usr/include/$(MULTIARCH) -Ibpf
BPF_SRCS    := $(wildcard bpf/*.c bpf/*.h)

ifeq ($(V),1)
Q :=
SWIFT_QUIET :=
else
Q := @
SWIFT_QUIET := -q
endif

.PHONY: all help deps build bpf test demo bench clean

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/:.*## /\t/' | expand -t 12

deps: ## install the Debian packages that are missing (quick when all are there)
	$(Q)missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi; \
	command -v $(SWIFT) >/dev/null || { echo "swift is not on PATH (expected the Swift toolchain at /opt/swift)"; exit 1; }; \
	test -n "$(BPF_CLANG)" || { echo "no clang to build the BPF program"; exit 1; }

BENCH_OBJ   := $(BPF_OUT)/output_floor.bpf.o
BENCH_SKEL  := Sources/CFlowwatchBench/output_floor.skel.h

bpf: $(BPF_SKEL) $(BENCH_SKEL) $(BPF_OUT)/foreign_drop_icmp.bpf.o ## build the BPF objects and the embedding headers

# A foreign tc program for the tests (not part of flowwatch).
$(BPF_OUT)/foreign_drop_icmp.bpf.o: bpf/testdata/foreign_drop_icmp.bpf.c
	@mkdir -p $(BPF_OUT)
	@echo "  BPF      $@"
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OBJ): $(BPF_SRCS)
	@mkdir -p $(BPF_OUT)
	@echo "  BPF      $@"
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c bpf/flowwatch.bpf.c -o $@

$(BPF_SKEL): $(BPF_OBJ)
	@echo "  SKEL     $@"
	$(Q)$(BPFTOOL) gen skeleton $< name flowwatch_bpf > $@.tmp && mv $@.tmp $@

# fwbench's perf output floor (not part of flowwatch).
$(BENCH_OBJ): bpf/bench/output_floor.bpf.c bpf/events.h
	@mkdir -p $(BPF_OUT)
	@echo "  BPF      $@"
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BENCH_SKEL): $(BENCH_OBJ)
	@echo "  SKEL     $@"
	$(Q)$(BPFTOOL) gen skeleton $< name output_floor_bpf > $@.tmp && mv $@.tmp $@

# Release binaries carry the Swift runtime and Foundation inside (--static-swift-stdlib): they
# run on a node without the toolchain, and replay starts in 12.6 ms of CPU instead of 14.9 (perf
# stat, 20 runs each, a 144-record recording: fewer libraries to map and relocate).
# --no-export-dynamic undoes the -export-dynamic the static runtime's link arguments add: nothing
# loads code into flowwatch that would look its symbols up, and the 49,779 exported symbols
# (578 without) cost every start a walk of the table (the runtime's one dladdr, 1.7M
# instructions) and about 1 ms (50 replays of samples/tcp.fwrec, 3 interleaved rounds).
RELEASE = -c release --static-swift-stdlib -Xlinker --no-export-dynamic

build: deps bpf ## build the BPF program and the flowwatch binary (.build/release/flowwatch)
	@echo "  SWIFT    flowwatch (release)"
	$(Q)$(SWIFT) build $(SWIFT_QUIET) $(RELEASE) --product flowwatch

test: deps bpf ## build and run every test (privileged ones need root; under CI=true they must run)
	@echo "  SWIFT    tests"
	$(Q)$(SWIFT) build $(SWIFT_QUIET) --build-tests
	$(Q)$(SWIFT) test --skip-build
	@echo "  BENCH    smoke run (make bench measures for real)"
	$(Q)if [ "$$(id -u)" = 0 ] || [ "$$CI" = true ]; then \
		BENCH_PINGS=500 ROUNDS=1 RUNS=1 BENCH_ITERATIONS=100000 SECONDS_PER_RUN=1 RATES=10000 DRIVE_RATES=20000 \
			BENCH_OUT=$$(mktemp) $(SUDO) scripts/bench.sh .build/debug/flowwatch >/dev/null; \
	else echo "  (skipped: the bench builds a demo node, which needs root)"; fi

demo: build ## build a demo node in network namespaces and show its live flows (Ctrl-C ends it)
	$(Q)$(SUDO) scripts/demo.sh .build/release/flowwatch

bench: build ## measure flowwatch beside its baselines on a demo node; writes docs/benchmarks.md
	$(Q)$(SWIFT) build $(SWIFT_QUIET) $(RELEASE) --product fwbench
	$(Q)$(SUDO) scripts/bench.sh .build/release/flowwatch

clean: ## remove build outputs
	rm -rf $(BPF_OUT) $(BPF_SKEL) .build
