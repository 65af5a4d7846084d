# The apim-probe network lab (see lab/README.md). Include from the top Makefile:
#   include lab/lab.mk
PYTHON ?= python3

.PHONY: lab-up lab-down lab-status

lab-up:
	$(PYTHON) -m lab up

lab-down:
	$(PYTHON) -m lab down

lab-status:
	$(PYTHON) -m lab status
