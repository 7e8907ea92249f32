# The two commands: `make run` (demo on SQLite) and `make test` (everything CI runs). Both work as root on a
# fresh Debian machine: they install what they need from Debian and PyPI.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTANCE := $(CURDIR)/instance
HOST ?= 127.0.0.1
PORT ?= 5000
# PostgreSQL for the second test run: used when it answers, skipped (with a notice) when not.
PG_ADMIN_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
APT_RUN := python3-venv fonts-dejavu-core fonts-noto-core fonts-noto-cjk
# nginx-light: the TLS-terminating reverse proxy of tests/browser/test_https_proxy.py (started by the test)
APT_TEST := chromium fonts-dejavu-core fonts-noto-core fonts-noto-cjk poppler-utils dcmtk orthanc nginx-light wrk dovecot-imapd gnupg libxml2-utils
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck pytest translations translations-update clean bench-caselist bench-imaging bench-web bench-qm bench-mail no-system-orthanc

# --- setup -----------------------------------------------------------------------------------------------
# policy-rc.d (exit 101) for the install: packages such as nginx must not start their system service on port 80
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "apt-get install$$missing"; \
	  rc=/usr/sbin/policy-rc.d; own=""; if [ ! -e $$rc ]; then printf '#!/bin/sh\nexit 101\n' > $$rc; chmod +x $$rc; own=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  status=$$?; if [ -n "$$own" ]; then rm -f $$rc; fi; exit $$status; fi
endef

$(BIN)/python:
	$(call apt_install,$(APT_RUN))
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-run

translations: $(VENV)/.installed-run
	$(BIN)/pybabel -q compile -d tumorboard/translations

translations-update: $(VENV)/.installed-test
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k _l -k translate_plural:1,2 -o tumorboard/translations/messages.pot .
	$(BIN)/pybabel -q update -N -w 120 -i tumorboard/translations/messages.pot -d tumorboard/translations

$(INSTANCE)/secret_key:
	mkdir -p $(INSTANCE)
	umask 077; $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))' > $@

# --- run -------------------------------------------------------------------------------------------------
run: $(VENV)/.installed-run translations $(INSTANCE)/secret_key
	@export TUMORBOARD_ENV=development TUMORBOARD_INSTANCE_PATH=$(INSTANCE) \
	        TUMORBOARD_SECRET_KEY="$$(cat $(INSTANCE)/secret_key)" \
	        TUMORBOARD_OBDS_MELDER_ID="$${TUMORBOARD_OBDS_MELDER_ID:-DEMO-MELDER}" \
	        TUMORBOARD_OBDS_MELDER_NAME="$${TUMORBOARD_OBDS_MELDER_NAME:-Demo-Tumorzentrum}"; \
	$(BIN)/tumorboard db upgrade && $(BIN)/tumorboard demo load && \
	echo && echo "  Tumorboard läuft auf http://$(HOST):$(PORT)/  (Strg-C beendet alles)" && \
	echo "  Demo-Logins, Passwort jeweils: tumorboard-demo" && \
	echo "    koordination (Koordination) · dr.berger (Ärztin, Radiologie) · qm (QM) · admin (Administration)" && \
	echo && exec $(BIN)/tumorboard run --host $(HOST) --port $(PORT)

# --- test ------------------------------------------------------------------------------------------------
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# The PostgreSQL pass runs after the SQLite pass, not beside it: on two cores both would share them, and tests with
# real processes and deadlines (a listener back within 10 s, a registration that waits out a 15 s lock, wrk, the
# login-timing medians) are written for a busy machine, not for one that the suite itself keeps twice as busy.
pytest: $(VENV)/.installed-test translations
	$(call apt_install,$(APT_TEST))
	@$(MAKE) -s no-system-orthanc
	$(BIN)/pytest -q
	@if $(BIN)/python -c 'import socket; socket.create_connection(("127.0.0.1", 5432), 2).close()' 2>/dev/null; then \
	  echo "PostgreSQL answers on 127.0.0.1:5432: database tests again on PostgreSQL"; \
	  TUMORBOARD_TEST_PG_ADMIN_URL="$(PG_ADMIN_URL)" $(BIN)/pytest -q -m db; \
	else echo "PostgreSQL not reachable on 127.0.0.1:5432: database tests ran on SQLite only"; fi

test: lint typecheck pytest

# --- benchmarks (not part of `make test`) ------------------------------------------------------------------
# Case list page and agenda PDF of a 60-case session among 50,000 cases (issue 3); figures in docs/benchmarks.md.
bench-caselist: $(VENV)/.installed-test translations
	$(call apt_install,fonts-dejavu-core)
	$(BIN)/python benchmarks/caselist.py --db both

# QM (issue 11): the one-year evidence bundle of the nine demo boards (~9,400 cases) and the year's dashboard, on
# SQLite and PostgreSQL (127.0.0.1:5432); exit code 1 if a target is missed. Figures in docs/benchmarks.md.
bench-qm: $(VENV)/.installed-test translations
	$(call apt_install,fonts-dejavu-core)
	$(BIN)/python benchmarks/qm_bundle.py --db both

# Web load (issue 16): wrk, 32 connections for 30 s on a case page, the session page and the calendar feed, against
# gunicorn with 4 workers, on SQLite and PostgreSQL; figures in docs/benchmarks.md.
bench-web: $(VENV)/.installed-test translations
	$(call apt_install,wrk)
	$(BIN)/python benchmarks/web_load.py

# DICOM E-Mail intake (issue 14): a 500-mail study (one CT instance per signed and encrypted mail) through Dovecot
# started by the benchmark, indexed within 30 s of its last mail; the poller's peak RSS with a 50 MB mail < 300 MB.
# Figures in docs/benchmarks.md.
bench-mail: $(VENV)/.installed-test
	$(call apt_install,dovecot-imapd gnupg openssl)
	$(BIN)/python benchmarks/mail.py

# DICOM listener benchmark (issue 4): ours vs a minimal pynetdicom SCP, DCMTK storescp and Orthanc, same storescu;
# then peak memory while receiving a 1 GB study. Figures in docs/benchmarks.md. Needs root (unshare --net).
bench-imaging: $(VENV)/.installed-test
	$(call apt_install,dcmtk orthanc)
	@$(MAKE) -s no-system-orthanc
	$(BIN)/python benchmarks/imaging.py --load

# Debian's orthanc package enables (and on systemd hosts starts) a system service listening on all interfaces;
# tests and benchmarks run their own Orthanc inside a private network namespace, so the service must not run.
no-system-orthanc:
	@if command -v systemctl >/dev/null && systemctl is-enabled orthanc >/dev/null 2>&1; then \
	  systemctl disable --now orthanc >/dev/null 2>&1 || true; fi
	@if [ -x /etc/init.d/orthanc ] && /etc/init.d/orthanc status >/dev/null 2>&1; then /etc/init.d/orthanc stop >/dev/null || true; fi

clean:
	rm -rf $(VENV) build *.egg-info
