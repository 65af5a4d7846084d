# apim-probe: everything runs from here. Run as root on Debian/Ubuntu:
#   make demo   the network lab, one probe round on an APIM-shaped VNet, lab removed
#   make test   lint, type check, unit and lab tests
#   make soak   the agent for 10 minutes on 1,000 lab targets (SOAK_SECONDS to shorten)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# What the lab, the tests and the benchmarks need from Debian.
APT_PACKAGES := iproute2 nftables dnsmasq-base procps python3 python3-venv python3-pip \
	prometheus prometheus-alertmanager systemd nmap hping3 tcpdump util-linux openssl
# The deploy tests (tests/deploy/): the OCI image built and run with podman
# (runc: crun refuses this machine class's hybrid cgroups; catatonit for kube
# play's pause image), and systemd booted in systemd-nspawn on a debootstrap'd
# Debian rootfs (cached under /var/cache/apim-probe, keyed by its package list).
DEPLOY_APT_PACKAGES := debootstrap podman runc catatonit systemd-container util-linux \
	uidmap slirp4netns fuse-overlayfs
# Only the benchmarks need these (peers measured side by side); `make test` does not.
BENCH_APT_PACKAGES := prometheus-blackbox-exporter

.PHONY: all deps venv test unit lab-test k8s-check systemd-check lint typecheck generated demo demo-in-lab bench bench-alert soak lab-up \
	lab-down clean image deploy-deps wheels dist deb base release release-check sbom

all: test

# apt-get only for what is missing, so repeated runs stay fast.
define apt_install
missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	| grep -q 'install ok installed' || echo $$p; done); \
if [ -n "$$missing" ]; then \
	echo "installing:" $$missing; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $$missing >/dev/null; \
fi
endef

deps:
	@$(call apt_install,$(APT_PACKAGES))

deploy-deps:
	@$(call apt_install,$(DEPLOY_APT_PACKAGES))

# Python >= 3.11, or the one line saying what to do instead (probe/__init__.py
# words it, so `probe` on an old interpreter says the same). $(1): the interpreter.
python_guard = $(1) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	{ $(1) -B -c 'import sys; sys.path.insert(0, "$(CURDIR)"); import probe'; exit 1; }

$(VENV)/.installed: pyproject.toml
	@$(call python_guard,$(PYTHON))
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check probe tests lab bench grafana prometheus deploy
	$(VENV)/bin/lint-imports

typecheck: venv
	$(VENV)/bin/mypy --strict probe

unit: venv
	$(PY) -m pytest -q -m 'not lab and not release'

lab-test: deps deploy-deps venv
	$(PY) -m pytest -q -m lab

test: deps deploy-deps venv lint typecheck
	$(PY) -m pytest -q -m 'not release'

# The deployments, checked as a user would before shipping them: the kustomize
# renderings through kubernetes-validate --strict and `podman kube play` in the
# lab; the systemd units live under systemd in nspawn (the .deb too).
k8s-check: deps deploy-deps venv
	@command -v kubectl >/dev/null || { echo "make k8s-check needs kubectl (its built-in kustomize)"; exit 2; }
	@mkdir -p build
	@for k in base overlays/restricted overlays/prometheus-operator overlays/workload-identity; do \
		echo "kubectl kustomize deploy/kubernetes/$$k | kubernetes-validate --strict"; \
		kubectl kustomize deploy/kubernetes/$$k \
			| $(VENV)/bin/python -c 'import sys, yaml; print("---\n".join(yaml.safe_dump(d) for d in yaml.safe_load_all(sys.stdin) if d and d["apiVersion"] != "monitoring.coreos.com/v1"))' \
			> build/k8s-rendered.yaml && $(VENV)/bin/kubernetes-validate --strict -k 1.32.0 build/k8s-rendered.yaml || exit 1; \
	done
	$(PY) -m pytest -q tests/deploy/test_kubernetes.py
	$(PY) -m pytest -q -m lab tests/deploy/test_container_lab.py -k kube_play

systemd-check: deps deploy-deps venv
	$(PY) -m pytest -q tests/deploy/test_systemd.py tests/deploy/test_systemd_live_lab.py tests/deploy/test_deb_lab.py

# Files generated from code: the alerting rules, their promtool tests and Grafana
# twin (prometheus/alerts.py), the dashboard (grafana/dashboard.py), the finding
# catalogue's page (probe/findings.py). Commit them with their source; the tests
# fail when they drift.
generated: venv
	$(PY) -m prometheus.alerts
	$(PY) -m grafana.dashboard
	$(PY) -m probe.findings > docs/findings.md

# The lab's namespaces are machine-wide: the demo waits for a running test
# session to finish with it (the same lock the tests take).
LAB_LOCK := /run/apim-probe-lab.lock

demo: deps venv
	@flock $(LAB_LOCK) $(MAKE) --no-print-directory demo-in-lab

demo-in-lab:
	@$(MAKE) --no-print-directory lab-up PYTHON=$(PY)
	@echo; echo "# probe --once -c examples/lab.toml   (inside the lab's jump box, apl-client)"; echo
	-ip netns exec apl-client $(VENV)/bin/probe --once -c examples/lab.toml --color always
	@$(MAKE) --no-print-directory lab-down PYTHON=$(PY)

# The correctness rounds use the shared lab and take its lock themselves.
bench: deps venv
	@$(call apt_install,$(BENCH_APT_PACKAGES))
	$(PY) -m bench.run $(BENCH_ARGS)
	$(PY) -m bench.azure

# Time to alert with real Prometheus and Alertmanager beside blackbox_exporter
# (issue 19), about 20 minutes, in namespaces of its own (apb-alert-*): bench/ALERTING.md.
bench-alert: deps venv
	@$(call apt_install,$(BENCH_APT_PACKAGES))
	$(PY) -m bench.alerting $(BENCH_ARGS)
	$(PY) -m bench.fleetview

# Not part of `make test`: ten minutes (SOAK_SECONDS=180 make soak for three), in
# namespaces of its own (soak-c, soak-s); results in bench/SOAK.md and bench/soak.json.
SOAK_SECONDS ?= 600
soak: deps venv
	SOAK_SECONDS=$(SOAK_SECONDS) $(PY) -m bench.soak

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The OCI image (Containerfile): the wheels are built here, on the host, and the
# image installs them with --no-index. podman, or docker where podman is absent.
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' probe/__init__.py)
IMAGE ?= localhost/apim-probe
CONTAINER_ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
# e.g. IMAGE_BUILD_ARGS='--build-arg BASE=docker.io/library/debian:trixie-slim --pull=never'
IMAGE_BUILD_ARGS ?=

# -- Packages (issue 20): make dist, deb, base, image, release ---------------------
# Each artefact carries the version (probe/__init__.py); dist/SHA256SUMS covers
# this version's artefacts that are in dist/.
WHEEL := apim_probe-$(VERSION)-py3-none-any.whl
SDIST := apim_probe-$(VERSION).tar.gz
ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m)
DEB := apim-probe_$(VERSION)_$(ARCH).deb
# The image, the .deb and the SBOM are made from wheels (build/wheels: the app,
# its dependencies and pip): of this tree, or of the dist wheel (`make release`).
# Building them takes pip alone, in a throwaway venv: not the dev venv.
WHEEL_SRC ?= .
PIP_VENV := build/pip-venv
PIP := $(PIP_VENV)/bin/python -m pip
define sums
cd dist && sha256sum $$(ls $(WHEEL) $(SDIST) $(DEB) apim-probe-$(VERSION)-image.tar \
	apim-probe-$(VERSION).cdx.json 2>/dev/null) > SHA256SUMS
endef

$(PIP_VENV)/bin/python:
	@$(call python_guard,$(PYTHON))
	$(PYTHON) -m venv $(PIP_VENV)

wheels: $(PIP_VENV)/bin/python
	rm -rf build/wheels
	$(PIP) wheel -q --disable-pip-version-check --wheel-dir build/wheels '$(WHEEL_SRC)[azure]' pip

# The wheel and the sdist (python -m build, from the dev venv).
dist: venv
	rm -f dist/$(WHEEL) dist/$(SDIST)
	mkdir -p build
	$(PY) -m build --outdir dist . > build/dist.log 2>&1 || { cat build/dist.log; exit 1; }
	@$(sums)
	@cd dist && ls -l $(WHEEL) $(SDIST) SHA256SUMS

# The Debian package (deploy/deb/build.sh: plain dpkg-deb, no debhelper).
deb: wheels
	PYTHON=$(PIP_VENV)/bin/python deploy/deb/build.sh build/wheels dist
	@$(sums)

# The image's base without a registry (deploy/container/base.py, as root): a
# debootstrap minbase rootfs with Debian's python3, slimmed as Debian's -slim
# images are and cached under /var/cache/apim-probe, imported under the name
# the Containerfile's FROM uses (docker.io/library/debian:bookworm-slim).
base:
	@$(call python_guard,$(PYTHON))
	@$(call apt_install,debootstrap)
	$(PYTHON) -m deploy.container.base --engine $(CONTAINER_ENGINE)

# The build stage's images are labelled with this build's id and pruned
# afterwards (only those: other images, dangling or not, stay).
IMAGE_BUILD_ID := $(shell date +%s%N)-$(shell echo $$PPID)

image: wheels
	$(CONTAINER_ENGINE) build -f Containerfile --build-arg VERSION=$(VERSION) \
		--build-arg BUILD_ID=$(IMAGE_BUILD_ID) $(IMAGE_BUILD_ARGS) \
		-t $(IMAGE):$(VERSION) -t $(IMAGE):latest .
	$(CONTAINER_ENGINE) image prune -f --filter label=org.apim-probe.build-stage=$(IMAGE_BUILD_ID) \
		>/dev/null
	@$(CONTAINER_ENGINE) image inspect --format '{{.Size}}' $(IMAGE):$(VERSION) \
		| awk '{ printf "image $(IMAGE):$(VERSION): %.1f MB\n", $$1 / 1e6 }'

# Everything a release ships, into dist/: the wheel and sdist, the .deb and the
# image (`podman save`) made from that very wheel, a CycloneDX SBOM of what the
# wheel installs (its runtime dependencies, exact versions), and SHA256SUMS over
# all of them. `make release-check` then tests them (tests/deploy/test_release.py).
IMAGE_ARCHIVE := apim-probe-$(VERSION)-image.tar
SBOM := apim-probe-$(VERSION).cdx.json

release: venv
	$(MAKE) --no-print-directory dist
	$(MAKE) --no-print-directory deb image sbom WHEEL_SRC=dist/$(WHEEL)
	rm -f dist/$(IMAGE_ARCHIVE)
	$(CONTAINER_ENGINE) save -q -o dist/$(IMAGE_ARCHIVE) $(IMAGE):$(VERSION)
	@$(sums)
	@cd dist && ls -l $$(cut -d' ' -f3 SHA256SUMS) SHA256SUMS

# The SBOM of a venv holding only the app and its runtime dependencies (no pip,
# no setuptools), installed from build/wheels: what the image carries (the Azure
# extra included; the .deb carries the same but the extra).
sbom: venv wheels
	rm -rf build/sbom-venv
	$(PYTHON) -m venv --without-pip build/sbom-venv
	$(PIP) --python build/sbom-venv/bin/python install -q --disable-pip-version-check \
		--no-index --find-links build/wheels "apim-probe[azure]"
	mkdir -p dist
	$(VENV)/bin/cyclonedx-py environment --mc-type application --output-reproducible \
		--output-format JSON -o dist/$(SBOM) build/sbom-venv/bin/python

release-check: release
	$(PY) -m pytest -q -m release tests/deploy/test_release.py

-include lab/lab.mk
-include systemd/install.mk
