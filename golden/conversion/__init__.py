"""ANN-to-SNN conversion: tracing, BatchNorm folding, calibration, simulation and operation counts."""
