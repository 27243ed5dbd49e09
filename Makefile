# Two entry points for a fresh machine: `make demo` and `make test`.
# Everything else here is what those two need.

PYTHON ?= python3
UV := $(PYTHON) -m uv
export UV_PYTHON := 3.11

.PHONY: demo test setup services system-deps lint bench

setup:  ## create .venv from uv.lock (installs uv with pip when missing)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

demo: setup  ## seed a demo company, drive a synthetic week, build and print the e2e report
	$(UV) run --frozen callpath demo

test: setup services system-deps  ## the whole suite: real PostgreSQL, Redis, DuckDB, Chromium
	@$(UV) run --frozen pytest || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests: that is a failure" >&2; exit $$rc; }

lint: setup
	$(UV) run --frozen ruff check .

services:  ## start PostgreSQL and Redis when they are down (CI runs as root)
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0; sleep 1; done; echo "PostgreSQL or Redis did not come up" >&2; exit 1

# Debian packages for the browser and compose checks: Playwright cannot download
# browsers here, and the docker CLI has no compose plugin.
system-deps:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing >/dev/null; }; \
	  else echo "warning: missing$$missing (run as root or apt-get install it); those tests will skip" >&2; fi; \
	fi; \
	if ! docker compose version >/dev/null 2>&1 && command -v docker-compose >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  install -D -m 0755 .ci/docker-compose-plugin /usr/local/lib/docker/cli-plugins/docker-compose; \
	fi

bench: setup  ## performance runs (see BENCHMARKS.md); needs wrk
	@command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null
	$(UV) run --frozen python benchmarks/bench_visits.py
