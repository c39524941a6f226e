# castnet — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/castnet
HLSJS := web/static/vendor/hls.min.js
FUZZTIME ?= 8

.PHONY: run test build deps deps-test vet fuzz bench clean

run: deps build
	./$(BIN) dev

build: $(HLSJS)
	$(GO) build -o $(BIN) ./cmd/castnet

deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

# hls.js comes from npm at the version pinned in package-lock.json.
$(HLSJS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(dir $(HLSJS))
	cp node_modules/hls.js/dist/hls.min.js $(HLSJS)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

test: deps-test build vet
	$(GO) test -race -count=1 -timeout 30m ./...
	scripts/fuzz.sh $(FUZZTIME)

fuzz:
	scripts/fuzz.sh 60

# The benchmark suite (about 15 minutes): every figure beside a bare
# baseline measured in the same run. Tables on stdout, figures and pprof
# profiles in bench-results/. PARTS=ingest (or transcode, latency, glass, soak)
# runs one part; BENCHFLAGS=-short is the smoke run CI makes.
bench: deps build
	./$(BIN) bench -out bench-results $(BENCHFLAGS) $(PARTS)

clean:
	rm -rf bin node_modules $(HLSJS)
