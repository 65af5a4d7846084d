# make install: the agent into a venv under /opt/apim-probe, `probe` on PATH
# (/usr/local/bin/probe), the safe default config (deploy/default/probe.toml:
# probes nothing until edited) to /etc/apim-probe/probe.toml (only when absent:
# never over an edited one), and the systemd units. Included from the top Makefile. Then:
#   systemctl enable --now apim-probe.service          (Prometheus scrapes it)
# or
#   systemctl enable --now apim-probe-textfile.timer   (node_exporter textfile)
# DESTDIR stages the files elsewhere (the venv then only runs from there).
# APIM_WHEELS=DIR installs from wheels built elsewhere (`pip wheel -w DIR .` on a
# host that reaches PyPI), with no index: for hosts without PyPI.

APIM_PREFIX ?= /opt/apim-probe
APIM_CONFDIR ?= /etc/apim-probe
APIM_UNITDIR ?= /etc/systemd/system
APIM_BINDIR ?= /usr/local/bin
APIM_UNITS := apim-probe.service apim-probe-textfile.service apim-probe-textfile.timer
APIM_PYTHON ?= python3
APIM_WHEELS ?=

.PHONY: install uninstall

install:
	@$(call python_guard,$(APIM_PYTHON))
	$(APIM_PYTHON) -m venv $(DESTDIR)$(APIM_PREFIX)
ifeq ($(APIM_WHEELS),)
	$(DESTDIR)$(APIM_PREFIX)/bin/python -m pip install -q --upgrade pip
	$(DESTDIR)$(APIM_PREFIX)/bin/python -m pip install -q .
else
	$(DESTDIR)$(APIM_PREFIX)/bin/python -m pip install -q --no-index --find-links $(APIM_WHEELS) \
		apim-probe
endif
	install -d -m 0755 $(DESTDIR)$(APIM_CONFDIR)
	@if [ -e $(DESTDIR)$(APIM_CONFDIR)/probe.toml ]; then \
		echo "keeping $(DESTDIR)$(APIM_CONFDIR)/probe.toml"; \
	else \
		install -m 0644 deploy/default/probe.toml $(DESTDIR)$(APIM_CONFDIR)/probe.toml; \
		echo "installed $(DESTDIR)$(APIM_CONFDIR)/probe.toml: it probes nothing until you edit it"; \
	fi
	install -d -m 0755 $(DESTDIR)$(APIM_BINDIR)
	ln -sfn $(APIM_PREFIX)/bin/probe $(DESTDIR)$(APIM_BINDIR)/probe
	install -d -m 0755 $(DESTDIR)$(APIM_UNITDIR)
	@for unit in $(APIM_UNITS); do \
		sed -e 's#/opt/apim-probe#$(APIM_PREFIX)#g' -e 's#/etc/apim-probe#$(APIM_CONFDIR)#g' \
			systemd/$$unit > $(DESTDIR)$(APIM_UNITDIR)/$$unit; \
		chmod 0644 $(DESTDIR)$(APIM_UNITDIR)/$$unit; \
		echo "installed $(DESTDIR)$(APIM_UNITDIR)/$$unit"; \
	done
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "validate: $(APIM_PREFIX)/bin/probe --check-config -c $(APIM_CONFDIR)/probe.toml"

uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		systemctl disable --now $(APIM_UNITS) 2>/dev/null || true; \
	fi
	@for unit in $(APIM_UNITS); do rm -f $(DESTDIR)$(APIM_UNITDIR)/$$unit; done
	@if [ "$$(readlink $(DESTDIR)$(APIM_BINDIR)/probe)" = "$(APIM_PREFIX)/bin/probe" ]; then \
		rm -f $(DESTDIR)$(APIM_BINDIR)/probe; fi
	rm -rf $(DESTDIR)$(APIM_PREFIX)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "kept $(APIM_CONFDIR) (your config)"
