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
	$(GO) test -count=1 ./...

# Installs the real components the tests run against, from Debian packages,
# when they are missing.
test-deps:
	./scripts/test-deps

# The benchmarks whose figures docs/benchmarks.md records.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./sqlite ./service

build:
	$(GO) build -o bin/mailaudit ./cmd/mailaudit
