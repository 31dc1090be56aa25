# bnviz: `make run` starts the lab on the bundled data; `make test` runs every test, browser tests included.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test setup chromium iproute2 bench clean docker

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: $(VENV)/.dev chromium iproute2
	$(PY) -m pytest

setup: $(VENV)/.dev

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-ray.txt
	$(PY) -m pip install -q -r requirements-dev.txt -r requirements-ray.txt
	touch $@

# The browser tests drive Debian's chromium (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "chromium is missing: run 'sudo apt-get install -y chromium'"; exit 1; }; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# The Ray test starts its cluster in a loopback-only network namespace (`ip netns`, from iproute2).
iproute2:
	@command -v ip >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "ip is missing: run 'sudo apt-get install -y iproute2'"; exit 1; }; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q iproute2; }

BENCH_ARGS ?=

# Benchmark (not part of `make test`): writes bench/out/results.{json,md}. BENCH_ARGS=--quick smoke-tests it.
bench: $(VENV)/.bench chromium
	$(PY) -m bench.run $(BENCH_ARGS)

$(VENV)/.bench: $(VENV)/.runtime requirements-bench.txt
	$(PY) -m pip install -q -r requirements-bench.txt
	touch $@

IMAGE ?= bnviz
# The hosted demo in Docker (needs a Docker daemon): build the image, then serve it on $(PORT).
docker:
	docker build -t $(IMAGE) .
	docker run --rm -it -p $(PORT):$(PORT) -e PORT=$(PORT) $(IMAGE)

clean:
	rm -rf $(VENV) .pytest_cache
