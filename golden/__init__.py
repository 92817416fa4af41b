"""Golden model of tmn-hw: float and bit-exact integer TMN neurons, and ANN-to-SNN conversion."""
