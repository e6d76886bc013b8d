# flowjoy — see README.md. `sudo make demo` and `sudo make test` work on a
# fresh Debian 12 machine: `deps` installs what is missing.

GO        ?= go
BIN       := bin/flowjoy
PKGS      := ./...
FUZZTIME  ?= 2m
CI_FUZZTIME ?= 20000x

# Debian packages the build, the tests and the demo use.
DEB_PKGS := clang llvm libpcap-dev libbpf-dev tshark tcpdump bpftool iproute2 \
            ethtool dnsutils dnsmasq openssl curl openssh-server openssh-client \
            iperf3 python3 procps iputils-ping time linux-perf

.PHONY: all build deps generate check-generated test unit fuzz fuzz-short bench bench-live demo clean vet

all: build

build:
	$(GO) build -o $(BIN) ./cmd/flowjoy

# Installs only the Debian packages that are missing.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v $(GO) >/dev/null || { echo "make deps: Go is missing (https://go.dev/dl)"; exit 1; }

# Rebuilds the eBPF objects and their Go bindings (needs clang).
generate:
	$(GO) generate ./bpf/...

# CI: the committed objects must be what `make generate` builds.
check-generated: generate
	@git diff --exit-code --stat -- bpf || { echo "bpf objects differ from 'make generate': commit them"; exit 1; }

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)

unit:
	$(GO) test -count=1 -timeout 15m $(PKGS)

# Every fuzz target for CI_FUZZTIME (CI) or FUZZTIME (make fuzz).
fuzz-short:
	@FUZZTIME=$(CI_FUZZTIME) scripts/fuzz-all.sh

fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz-all.sh

test: deps build vet check-generated unit fuzz-short

bench: deps build
	scripts/bench.sh $(CAPTURE)

# Live capture cost: eBPF and libpcap engines against no capture, on veth
# load between namespaces it makes (root; see docs/PERFORMANCE.md).
bench-live: deps build
	scripts/bench-live.sh

demo: deps build
	scripts/demo.sh

clean:
	rm -rf bin tests/out
