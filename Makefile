# lunas — the two commands a newcomer needs are `make run` and `make test`.
# Both bring up PostgreSQL and Redis when they are not reachable (see
# scripts/services.sh) and stop what they started when they end.

GO        ?= go
export LUNAS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable
export LUNAS_REDIS_URL    ?= redis://127.0.0.1:6379/0

.PHONY: walkthrough run test test-faults test-faults-sabotage bench fuzz build vet lint tools

# -buildvcs=auto: stamp the git revision into the binary (`bin/lunas version`)
# even where GOFLAGS turns stamping off; a tree without git just goes unstamped.
build:
	$(GO) build -buildvcs=auto -o bin/lunas ./cmd/lunas
	$(GO) build -o bin/fakegw ./cmd/fakegw

# Run lunas (all in one process) with the fake Midtrans, fake Xendit and an
# SMTP sink (web UI on http://127.0.0.1:8025), so the whole payment flow can
# be walked locally without any gateway account. Ctrl-C stops everything.
run: build
	./scripts/with-services.sh ./scripts/run-local.sh

# The README's walkthrough, run exactly as written against a fresh `make run`
# stack on its own ports (scripts/walkthrough.sh); CI runs it.
walkthrough: build
	./scripts/with-services.sh ./scripts/walkthrough.sh

# The whole test suite, with the race detector, against real PostgreSQL and Redis.
# It runs several lunas stacks at once and needs 300 PostgreSQL connections: a
# local server that allows fewer is left alone and a private one started.
test: tools
	LUNAS_PG_MIN_CONNECTIONS=300 ./scripts/with-services.sh $(GO) test -race -count=1 -timeout 20m ./...

# Installs what tests need beside the servers when it is missing and we may:
# pdftotext (tests read PDFs) and redis-sentinel (the Sentinel failover test).
tools:
	@command -v pdftotext >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils) >/dev/null; } || { echo "pdftotext missing: sudo apt-get install -y poppler-utils"; exit 1; }
	@command -v redis-sentinel >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-sentinel) >/dev/null; } || { echo "redis-sentinel missing: sudo apt-get install -y redis-sentinel"; exit 1; }

vet:
	$(GO) vet ./...

# What CI checks besides the tests: go vet, staticcheck and golangci-lint (pinned releases;
# `go list -m -versions honnef.co/go/tools` lists them), that go.mod and
# go.sum are tidy, and the ownership check: each table of store/migrations
# has one package that writes it, and no exported function takes a SQL
# fragment (ownership_test.go; it prints each table's writer).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# golangci-lint (pinned) runs .golangci.yml: the house rules by machine —
# gosec's SQL-string rules, no globals or init, no floats in money
# packages, errcheck. Built from source on first use (a few minutes).
GOLANGCI ?= github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
lint: vet
	GOBIN=$(CURDIR)/bin $(GO) install $(STATICCHECK)
	bin/staticcheck ./...
	GOBIN=$(CURDIR)/bin $(GO) install $(GOLANGCI)
	bin/golangci-lint run ./...
	$(GO) mod tidy -diff
	$(GO) test -count=1 -run '^TestOneWriterPerTable$$' -v .
	@# the fault suite's sabotage patches still apply to the code they break
	@for p in cmd/faults/sabotage/*.patch; do git apply --check "$$p" || { echo "$$p no longer applies: refresh it (scripts/faults-sabotage.sh)"; exit 1; }; done

# Benchmarks (-benchmem) and the load run; the load run's table goes in the
# docs/performance.md. Knobs: ORDERS, RATE, CONCURRENCY.
ORDERS ?= 2000
RATE ?= 0
CONCURRENCY ?= 64
# The load run's settlement pool: 40 applies at once (each waits on Midtrans's status call), the
# other pools at 10 (LUNAS_WORKER_POOLS; 80 connections of PostgreSQL's 100).
POOLS ?= critical:40
# usagebench (issue 13): USAGE_EVENTS in the sustained run, then the 100,000-message hot-row broadcast.
USAGE_EVENTS ?= 500000
# webhookbench (issue 18): WEBHOOK_EVENTS events to 3 endpoints; deliveries/s and lag.
WEBHOOK_EVENTS ?= 5000
# subbench (issue 14): SUB_INVOICES subscriptions due the same day, issued with PDF and mail.
SUB_INVOICES ?= 10000
# wabench (issue 23): WA_BATCHES Meta status webhooks of 1,000 statuses; batch latency, rating statuses/s, ratio to pgbench.
WA_BATCHES ?= 100
bench: build
	go build -o bin/loadgen ./cmd/loadgen
	go build -o bin/usagebench ./cmd/usagebench
	go build -o bin/webhookbench ./cmd/webhookbench
	go build -o bin/subbench ./cmd/subbench
	go build -o bin/wabench ./cmd/wabench
	./scripts/with-services.sh sh -c '$(GO) test -run "^$$" -bench . -benchmem -benchtime 2s ./gateway/midtrans ./invoice ./proforma ./mail && \
		./bin/loadgen -orders $(ORDERS) -rate $(RATE) -concurrency $(CONCURRENCY) -workers 10 -pools $(POOLS) && \
		./bin/loadgen -orders $(ORDERS) -rate 300 -concurrency $(CONCURRENCY) -workers 10 -pools $(POOLS) -pgbench 0 && \
		./bin/usagebench -events $(USAGE_EVENTS) && \
		./bin/webhookbench -events $(WEBHOOK_EVENTS) -endpoints 3 && \
		./bin/subbench -invoices $(SUB_INVOICES) && \
		./bin/wabench -batches $(WA_BATCHES)'

# The fault suite: private PostgreSQL, Redis, SMTP sink and fake gateways,
# one serve and two work processes, broken on purpose (see cmd/faults).
test-faults: build
	$(GO) build -o bin/faults ./cmd/faults
	./bin/faults

# Every check of the fault suite shown failing against a broken build
# (cmd/faults/sabotage/*.patch applied to a worktree of HEAD); ~15 min.
test-faults-sabotage:
	scripts/faults-sabotage.sh

# Fuzz every parser that faces the outside for FUZZTIME each; found inputs
# are kept under testdata/fuzz and replayed by `make test`.
FUZZTIME ?= 60s
fuzz:
	./scripts/with-services.sh sh -c '\
	  $(GO) test -run "^$$" -fuzz "^FuzzVerify$$" -fuzztime $(FUZZTIME) ./gateway/midtrans && \
	  $(GO) test -run "^$$" -fuzz "^FuzzVerify$$" -fuzztime $(FUZZTIME) ./gateway/ovo && \
	  $(GO) test -run "^$$" -fuzz "^FuzzOrderRequest$$" -fuzztime $(FUZZTIME) ./api && \
	  $(GO) test -run "^$$" -fuzz "^FuzzProofUpload$$" -fuzztime $(FUZZTIME) ./api && \
	  $(GO) test -run "^$$" -fuzz "^FuzzBodyView$$" -fuzztime $(FUZZTIME) ./payment && \
	  $(GO) test -run "^$$" -fuzz "^FuzzInternal$$" -fuzztime $(FUZZTIME) ./webhook && \
	  $(GO) test -run "^$$" -fuzz "^FuzzParse$$" -fuzztime $(FUZZTIME) ./whatsapp && \
	  $(GO) test -run "^$$" -fuzz "^FuzzCheckProof$$" -fuzztime $(FUZZTIME) ./review'
