# The README's two commands, `make demo` and `make test`, and the steps they are made of.
# `make test` is what CI runs (.ci/run): on a fresh Debian machine it installs what the tests need first.

PYTHON ?= python3
VENV ?= .venv
# Debian packages the tests run for real: Prometheus (collector tests, the alerting rules and the Grafana
# dashboard's queries), Alertmanager (alert delivery), Chromium (the dashboard in a browser), Java 17 (the Spark
# build's tests).
APT_PACKAGES := prometheus prometheus-alertmanager chromium openjdk-17-jre-headless
# Only for the Hadoop s3a connector's jars it ships (hadoop-aws, the AWS SDK bundle), which the Spark build's
# S3 test puts on its classpath; --no-deps, as it pins an old pyspark.
S3A_JARS := sagemaker-pyspark==1.4.5
PYTEST_ARGS ?=
# pytest-xdist workers, each taking whole test files (module fixtures such as the backfilled Prometheus are set
# up once per file) in collection order, the longest first (tests/conftest.py, SLOWEST_FIRST): two for CI's two
# cores; PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
# EMR 7's Spark 3.5 (deploy/emr's image) beside pyspark 4: two Spark versions cannot share one virtual environment,
# so a second one runs the sample month's Spark parity tests on 3.5 while the main suite runs (the test-emr7 extra);
# the main suite leaves that file to it (pyspark 4's parity test is tests/test_spark_engine.py's smaller month).
SPARK35_VENV ?= .venv-spark35
SPARK35_TESTS ?= tests/test_spark_build.py
SPARK35_TMP ?= /tmp/chargeback-spark35-tests

# Packages are installed with uv (from PyPI, into the virtual environments), several times faster than pip on a
# fresh machine, where the test environments' downloads (two pysparks among them) are most of the setup.
UV = $(VENV)/bin/uv

.PHONY: demo test setup-test system-packages venv install install-test install-spark35 lint pytest pytest-spark35 docs

demo: install  ## build the sample month, print its bill and serve the dashboard (DEMO_ARGS=--no-dashboard)
	$(VENV)/bin/chargeback demo $(DEMO_ARGS)

test: setup-test lint docs pytest  ## set up, lint, build the docs strictly, run the whole test suite (CI)

# The Debian packages and the Python environment at once: neither needs the other.
setup-test:
	@$(MAKE) --no-print-directory -j2 system-packages install-test

system-packages:
	@command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null \
		&& command -v chromium >/dev/null && command -v java >/dev/null \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES))

venv:
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(VENV)/bin/pip install -q 'uv>=0.5'

install: venv
	$(UV) pip install -q --python $(VENV)/bin/python -e .

install-test: venv
	$(UV) pip install -q --python $(VENV)/bin/python -e '.[test]'
	$(UV) pip install -q --python $(VENV)/bin/python --no-deps $(S3A_JARS)

# The second environment's setup, one shell command (the pytest target runs it in the background).
INSTALL_SPARK35 = (test -x $(SPARK35_VENV)/bin/python || $(PYTHON) -m venv $(SPARK35_VENV)) \
	&& $(UV) pip install -q --python $(SPARK35_VENV)/bin/python -e '.[test-emr7]' \
	&& $(UV) pip install -q --python $(SPARK35_VENV)/bin/python --no-deps $(S3A_JARS)

install-spark35: venv
	$(INSTALL_SPARK35)

lint:  ## ruff's rules, and its formatter's layout (`ruff format .` fixes what --check reports)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The main suite on pyspark 4 (all but SPARK35_TESTS) and, beside it in the background, the second environment's
# setup (a download, on a fresh machine) then SPARK35_TESTS on Spark 3.5; fails if either fails, printing the Spark
# 3.5 run's output after the main suite's.
pytest:
	@($(INSTALL_SPARK35) && $(SPARK35_VENV)/bin/python -m pytest -p no:cacheprovider -q \
		--basetemp=$(SPARK35_TMP) $(SPARK35_TESTS)) > .pytest-spark35.log 2>&1 & spark35=$$!; \
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		$(addprefix --ignore=,$(SPARK35_TESTS)) $(PYTEST_ARGS); main=$$?; \
	wait $$spark35; other=$$?; echo "--- the Spark tests on Spark 3.5 ($(SPARK35_VENV)): $(SPARK35_TESTS)"; \
	cat .pytest-spark35.log; rm -f .pytest-spark35.log; test $$main -eq 0 -a $$other -eq 0

pytest-spark35:  ## only the Spark parity tests on Spark 3.5
	$(SPARK35_VENV)/bin/python -m pytest -p no:cacheprovider $(SPARK35_TESTS)

# The documentation site (mkdocs.yml, docs/), built strictly: a broken link or anchor, or a page missing from
# the navigation, fails. site/ is git-ignored. NO_MKDOCS_2_WARNING quiets mkdocs-material's notice.
docs:
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site
