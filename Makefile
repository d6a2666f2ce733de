# Every target sets itself up: a fresh clone needs only Python 3.11+, Java 17+ and Maven.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install kafka-jars compose-pki check test test-unit test-integration test-soak mutate mutate-changed demo bench bench-state schemas clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hashgate needs Python 3.11+")'
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,simulator,banks]'
	@touch $(STAMP)

install: $(STAMP)

# Resolves Apache Kafka's jars from Maven Central into ~/.m2 (tests do this on demand too).
kafka-jars: install
	$(BIN)/python -c 'from hashgate_tools.localkafka import resolve_classpath; resolve_classpath()'

# The throw-away CA and broker certificate of docker-compose.yml's "sasl" profile (git-ignored).
compose-pki: install
	$(BIN)/python -m hashgate_tools.testpki deploy/pki kafka-sasl localhost

check: install
	$(BIN)/ruff check streams hashgate_tools tests bench
	$(BIN)/ruff format --check streams hashgate_tools tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: check kafka-jars
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

test-integration: kafka-jars
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

# The soaks: the downstream agents' kill -9 tests at full size, 50,000 verdicts (`make test`
# runs 600), and the broker restart mid-run SOAK_RESTARTS times beside a busy core, about 40 s
# a round (`make test` runs it once).
SOAK_RESTARTS ?= 30
test-soak: kafka-jars
	SOAK_VERDICTS=50000 SOAK_RESTARTS=$(SOAK_RESTARTS) $(BIN)/pytest \
		tests/integration/test_downstream_crash.py \
		tests/integration/test_broker_faults.py::test_broker_restart_mid_run_loses_nothing_and_the_worker_resumes \
		$(PYTEST_ARGS)

# Mutation testing of the safety core (docs/mutation.md), one test process at a time.
# MUTATE="streams/scan/scanner.py ..." narrows it; mutate-changed takes what differs from BASE.
# MUTATE_ARGS="--budget-min 30" stops after that long, naming the mutants left unrun.
MUTATE ?=
BASE ?= main
MUTATE_ARGS ?=
mutate: install
	$(BIN)/python -m hashgate_tools.mutation $(MUTATE_ARGS) $(MUTATE)

mutate-changed: install
	$(BIN)/python -m hashgate_tools.mutation $(MUTATE_ARGS) --changed $(BASE)

demo: kafka-jars
	$(BIN)/python -m hashgate_tools.demo

bench: kafka-jars
	$(BIN)/python -m bench

bench-state: kafka-jars
	$(BIN)/python -m bench --only hijkl

schemas: install
	$(BIN)/hashgate schemas export

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
