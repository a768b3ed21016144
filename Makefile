# lunas — the two commands a newcomer needs are `make run` and `make test`.
# Both bring up PostgreSQL and Redis when they are not reachable (see
# scripts/services.sh) and stop what they started when they end.

GO        ?= go
export LUNAS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable
export LUNAS_REDIS_URL    ?= redis://127.0.0.1:6379/0

.PHONY: run test test-faults bench fuzz build vet tools

build:
	$(GO) build -o bin/lunas ./cmd/lunas
	$(GO) build -o bin/fakegw ./cmd/fakegw

# Run lunas (all in one process) with the fake Midtrans, fake Xendit and an
# SMTP sink (web UI on http://127.0.0.1:8025), so the whole payment flow can
# be walked locally without any gateway account. Ctrl-C stops everything.
run: build
	./scripts/with-services.sh ./scripts/run-local.sh

# The whole test suite, with the race detector, against real PostgreSQL and Redis.
test: tools
	./scripts/with-services.sh $(GO) test -race -count=1 -timeout 20m ./...

# Installs what tests read PDFs with (pdftotext) when it is missing and we may.
tools:
	@command -v pdftotext >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils) >/dev/null; } || { echo "pdftotext missing: sudo apt-get install -y poppler-utils"; exit 1; }

vet:
	$(GO) vet ./...

# Benchmarks (-benchmem) and the load run; the load run's table goes in the
# README's Performance section. Knobs: ORDERS, RATE, CONCURRENCY.
ORDERS ?= 2000
RATE ?= 0
CONCURRENCY ?= 64
bench: build
	go build -o bin/loadgen ./cmd/loadgen
	./scripts/with-services.sh sh -c '$(GO) test -run "^$$" -bench . -benchmem -benchtime 2s ./gateway/midtrans ./invoice ./proforma ./mail && \
		./bin/loadgen -orders $(ORDERS) -rate $(RATE) -concurrency $(CONCURRENCY) -workers 10 && \
		./bin/loadgen -orders $(ORDERS) -rate 300 -concurrency $(CONCURRENCY) -workers 10 -pgbench 0'

# The fault suite: private PostgreSQL, Redis, SMTP sink and fake gateways,
# one serve and two work processes, broken on purpose (see cmd/faults).
test-faults: build
	$(GO) build -o bin/faults ./cmd/faults
	./bin/faults

# Fuzz every parser that faces the outside for FUZZTIME each; found inputs
# are kept under testdata/fuzz and replayed by `make test`.
FUZZTIME ?= 60s
fuzz:
	./scripts/with-services.sh sh -c '\
	  $(GO) test -run "^$$" -fuzz "^FuzzVerify$$" -fuzztime $(FUZZTIME) ./gateway/midtrans && \
	  $(GO) test -run "^$$" -fuzz "^FuzzVerify$$" -fuzztime $(FUZZTIME) ./gateway/ovo && \
	  $(GO) test -run "^$$" -fuzz "^FuzzOrderRequest$$" -fuzztime $(FUZZTIME) ./api && \
	  $(GO) test -run "^$$" -fuzz "^FuzzProofUpload$$" -fuzztime $(FUZZTIME) ./api'
