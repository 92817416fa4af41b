"""The demo command rejects invalid arguments before it starts any long step."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--timesteps", "0"], "--timesteps must be in [1, 30], not 0"),
        (["--quick", "-T", "70"], "--timesteps must be in [1, 30], not 70: the network file format stores T in [1, 30]"),
        (["--precharge", "-1"], "--precharge must be in [0, 30], not -1"),
        (["--precharge", "31"], "--precharge must be in [0, 30], not 31: the network file format stores P in [0, 30]"),
        (["--images", "0"], "--images must be >= 1, not 0"),
        (["--simulator", "xsim"], "invalid choice: 'xsim'"),
    ],
)
def test_demo_rejects_invalid_argument(arguments, message, tmp_path):
    command = [sys.executable, "-m", "tmn_hw.demo", "--work", str(tmp_path), *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert not any(tmp_path.iterdir())
