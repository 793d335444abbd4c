# The two front doors: `make lab` (the two-node lab, states applied) and
# `make test` (lint, render, unit and lab tests). Both install what they need.
# Run as root: the lab uses network namespaces and systemd-nspawn.

# Debian's own interpreter, not another build that PATH may prefer: this venv
# runs the lab's master and the tests (the lab hosts have their own Python).
PYTHON_FOR_VENV := /usr/bin/python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
DEBIAN_PACKAGES := debootstrap systemd-container python3-venv iproute2 util-linux dpkg-dev \
  libvirt-dev pkg-config gcc python3-dev openssh-client e2fsprogs \
  iperf3 arping iputils-ping tcpdump
# promtool (tests/unit/test_metrics_rules.py) comes with Debian's prometheus package, which
# is installed without what it recommends (the node exporter) and whose server is stopped
# and disabled at once: nothing of it runs on this machine.
DEBIAN_PACKAGES_NO_RECOMMENDS := prometheus qemu-utils
DEBIAN_SERVICES_OFF := prometheus
SLS := $(shell git ls-files '*.sls' 2>/dev/null)
# The lab hosts' Debian release: trixie (13), or bookworm (12):
# `make lab LAB_RELEASE=bookworm`. The bench-* targets use the lab of the same setting.
LAB_RELEASE ?= trixie
export LAB_RELEASE
# The main lab's shorter pass on Debian 12 (`make test-bookworm`, by hand): a bare
# host's first apply, a second that changes nothing, one live migration, one host
# death taken over; the lab healthy.
BOOKWORM_PASS := tests/lab/test_first_run.py \
  tests/lab/test_idempotence.py::test_second_apply_changes_nothing \
  tests/lab/test_evacuation.py::test_live_migration_under_a_100ms_ping \
  tests/lab/test_takeover.py::test_a_dead_host_is_taken_over_fenced_and_held_until_undrained \
  tests/lab/test_healthy_at_end.py
BOOKWORM_LAB := LAB_RELEASE=bookworm HVLAB_DIR=/var/lib/hvlab-bookworm HVLAB_PREFIX=hvbw-
# `make test` runs the three-host lab's tests (B8), then the cluster named otherwise, in
# a session of their own beside the main one, on Debian 12: the release kept working
# converges there from the bare image, applies again with no change, live-migrates
# under ping and has a dead host taken over.
MANY_RELEASE := bookworm
# The rolling upgrade (B9) reboots every host: `make test` runs it on a main lab of its
# own (Debian 13), in the session beside the main one, after the labs of their own.
UPGRADE_LAB := HVLAB_DIR=/var/lib/hvlab-upgrade HVLAB_PREFIX=hvup-
UPGRADE_PASS := tests/lab/test_upgrade.py tests/lab/test_healthy_at_end.py

.PHONY: pillar-reference lab lab-down lab-salt lab-shell lab-apply test test-many test-upgrade test-bookworm lint test-fast deps venv bench bench-network bench-failover bench-evacuation bench-takeover bench-keeper bench-takeover-many bench-drain-many

deps: .deps.stamp
.deps.stamp: Makefile
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@missing=$$(for p in $(DEBIAN_PACKAGES_NO_RECOMMENDS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages (without recommends): $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi; \
	for s in $(DEBIAN_SERVICES_OFF); do \
	  if [ -d /run/systemd/system ]; then systemctl disable --now $$s.service >/dev/null 2>&1 || true; \
	  elif [ -x /etc/init.d/$$s ]; then /etc/init.d/$$s stop >/dev/null 2>&1 || true; update-rc.d $$s disable >/dev/null 2>&1 || true; fi; \
	done
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt .deps.stamp
	test -x $(PY) || $(PYTHON_FOR_VENV) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

lab: venv
	$(PY) -m lab up

lab-down: venv
	$(PY) -m lab down

lab-apply: venv
	$(PY) -m lab apply

lab-salt: venv
	$(PY) -m lab salt $(ARGS)

lab-shell: venv
	$(PY) -m lab shell $(HOST) $(CMD)

# docs/pillar.md is made from the schema (a unit test checks it is up to date).
pillar-reference: venv
	$(PY) _utils/hv_reference.py > docs/pillar.md

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/salt-lint $(SLS)

# Everything but the lab (seconds).
test-fast: lint
	$(PY) -m pytest -q tests --ignore=tests/lab

# The slowest tests are listed at the end: the lab part must stay well inside CI's time.
# The main session runs the main lab's tests; the render and unit tests follow the labs
# of their own in the session beside it, which ends earlier.
# The session of the labs of their own (test-many: the three-host lab, then the cluster
# named otherwise, on their own Debian release) runs beside the main one: the labs spend
# much of their time waiting on timers (sanlock's, the rollbacks'), so they share the
# two cores; its output follows the main session's.
# The bare images of both releases are built (or found cached) in the background
# meanwhile (one at a time: lab/image.py takes a lock per release).
test: lint
	@images=$$(mktemp); many=$$(mktemp); \
	( for release in $(LAB_RELEASE) $(MANY_RELEASE); do LAB_RELEASE=$$release $(PY) -m lab image || exit 1; done ) \
	  >$$images 2>&1 & builder=$$!; \
	( r=0; $(MAKE) --no-print-directory test-many || r=$$?; \
	  $(MAKE) --no-print-directory test-upgrade || r=$$?; \
	  echo "== the render and unit tests (no lab), after the labs of their own:"; \
	  $(PY) -m pytest -q -p no:cacheprovider tests --ignore=tests/lab || r=$$?; exit $$r ) >$$many 2>&1 & three=$$!; \
	rc=0; $(PY) -m pytest -q --durations=25 tests/lab || rc=$$?; \
	manyrc=0; wait $$three || manyrc=$$?; \
	echo "== make test-many and test-upgrade (the labs of their own), then the tests without a lab, run beside the session above:"; \
	cat $$many; rm -f $$many; \
	wait $$builder || { echo "the lab images did not build:"; cat $$images; rm -f $$images; exit 1; }; \
	rm -f $$images; [ $$rc -eq 0 ] && [ $$manyrc -eq 0 ]

# The labs of their own alone: the three-host lab, then the two-host cluster named
# otherwise (each booted and taken down by its test module).
test-many: venv
	HVLAB_MANY=1 LAB_RELEASE=$(MANY_RELEASE) $(PY) -m pytest -q -p no:cacheprovider --durations=10 \
	  tests/lab/test_many_hosts.py tests/lab/test_other_cluster.py

# The rolling upgrade on a main lab of its own (booted and taken down by the session).
test-upgrade: venv
	$(UPGRADE_LAB) HVLAB_MANY=1 $(PY) -m pytest -q -p no:cacheprovider --durations=5 $(UPGRADE_PASS)

# The main lab's Debian 12 pass alone (its own lab, booted and taken down by the session).
test-bookworm: venv
	$(BOOKWORM_LAB) $(PY) -m pytest -q --durations=10 $(BOOKWORM_PASS)

# Storage throughput on the running lab (prints figures; see bench/).
bench: venv
	$(PY) -m bench.storage_throughput

# Throughput and RTT between stand-in guests on the two hosts' public bridge,
# across the tunnel the lab carries now (prints figures; see bench/).
bench-network: venv
	$(PY) -m bench.network_throughput $(or $(ARGS),--both)

# P1: seconds from a failover IP's route change at the provider's stand-in to its
# new host answering ARP for it, over several moves: Online's on the running lab,
# then Hetzner's on the three-host lab (booted when not up) (prints figures; see bench/).
bench-failover: venv
	$(PY) -m bench.failover_move $(ARGS)

# P2 and P3: evacuation of 1 and of 4 guests, and packets lost during one live
# migration under a 100 ms ping, on the running lab (prints figures; see bench/).
bench-evacuation: venv
	$(PY) -m bench.evacuation $(ARGS)

# P4: a crashed host's guests answering on the survivor, over several crashes
# of hyp1 on the running lab (prints figures; see bench/).
bench-takeover: venv
	$(PY) -m bench.takeover $(ARGS)

# Guests that come back (B1): hyp2's private link cut for 30, 50 and 70 s with a
# running: true guest and a hand-started one on it; seconds from the link coming
# back to each answering, double runs sampled (prints figures; see bench/).
bench-keeper: venv
	$(PY) -m bench.keeper $(ARGS)

# P4 among three hosts (B8): hyp1 of the three-host lab crashed with four guests,
# seconds until they run and answer on the two others, how they spread, double
# runs sampled; boots that lab when it is not up (prints figures; see bench/).
bench-takeover-many: venv
	$(PY) -m bench.takeover_many $(ARGS)

# P2 among three hosts (B8): a drain of six guests spread over the two other
# hosts against a drain of one, on the three-host lab (prints figures; see bench/).
bench-drain-many: venv
	$(PY) -m bench.drain_many $(ARGS)
