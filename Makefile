# The two commands of the README: `make demo` and `make test`.
GO ?= go

.PHONY: demo test test-deps bench build

# The main job on the embedded store: a demo organisation, a day of activity,
# an auditor's searches.
demo:
	$(GO) run ./cmd/mailaudit demo

# Every test, after installing what the tests need.
test: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	# The benchmarks once, small, so that they keep working; `make bench`
	# runs them at full size.
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./bench -activities 20000 -mailboxes 200 \
		-http.duration 500ms -http.preload 10000 \
		-report.activities 20000 -report.mailboxes 200 -report.runs 1

# Installs the real components the tests run against, from Debian packages,
# when they are missing.
test-deps:
	bash ./scripts/test-deps

# The benchmarks whose figures docs/benchmarks.md records: a million
# activities across ten thousand mailboxes (see docs/benchmarks.md).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench
	$(GO) run ./cmd/mailaudit bench

build:
	$(GO) build -o bin/mailaudit ./cmd/mailaudit
