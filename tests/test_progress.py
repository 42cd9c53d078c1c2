"""Progress as a person sees it: bars with rate and ETA on a terminal (a real pty), silence in logs."""
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

from acecoder_jax import progress

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
import logging, sys, time
logging.basicConfig(level=logging.INFO, format="LOG %(message)s", stream=sys.stderr)
from acecoder_jax import progress
for _ in progress.bar(range(40), total=40, desc="work", unit="rec"):
    time.sleep(0.05)
progress.emit(progress.step_line("train[lm]", 3, 10, {"loss": 1.5}, seconds_per_step=2.0))
for _ in progress.bar(range(5), total=5, desc="off", unit="rec", enabled=False):
    pass
"""


def _run_on_a_terminal(code: str) -> str:
    """Runs `code` with stderr on a pseudo-terminal; returns what the terminal showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # rows, columns
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave, cwd=ROOT)
    os.close(slave)
    chunks, deadline = [], time.time() + 120
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    assert proc.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_bar_on_a_terminal_shows_rate_eta_and_step_lines():
    shown = _run_on_a_terminal(SCRIPT)
    assert "work:" in shown and "40/40" in shown, shown
    assert "rec/s" in shown or "s/rec" in shown, shown  # the rate
    assert "<00:0" in shown, shown  # elapsed<remaining: the ETA
    assert "train[lm] step 3/10  loss 1.5000  2.00 s/step  eta 0m14s" in shown, shown
    assert "LOG train[lm]" not in shown  # on a terminal the line is printed, not also logged
    assert "off:" not in shown  # enabled=False wins even on a terminal


def test_without_a_terminal_bars_are_silent_and_step_lines_are_logged():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["LOG train[lm] step 3/10  loss 1.5000  2.00 s/step  eta 0m14s"], proc.stderr
    assert proc.stdout == ""


def test_step_line_fields_order_and_reward_details():
    row = {"loss": 0.01234, "reward_mean": 0.5, "tests_pass_rate": 0.625, "tests_all_pass": 0.5, "kl": 0.00123,
           "lr": 1e-6, "time_step": 1.0}
    line = progress.step_line("rl[tests]", 12, 40, row, tokens_per_s=1234.0, seconds_per_step=1.5)
    assert line == ("rl[tests] step 12/40  loss 0.0123  reward 0.500  pass 0.625  all_pass 0.500  kl 0.0012  "
                    "lr 1.00e-06  1.2k tok/s  1.50 s/step  eta 0m42s")
    # a detail logged by two rewards is ambiguous by base name: shown by neither rather than by a guess
    two = progress.step_line("rl", 1, 2, {"a_pass_rate": 0.1, "b_pass_rate": 0.9})
    assert two == "rl step 1/2"
    assert "eta 1h05m" in progress.step_line("x", 0, 1, {}, seconds_per_step=3900)
