"""The same bytes on the other maker's processor (issue 30), checked on one machine.

QEMU's user-mode emulator runs this machine's Python on an emulated processor of the other maker
(an AMD EPYC on an Intel host, an Intel Haswell on an AMD one). Its CPUID is what MKL asks before
choosing a code path, so MKL takes that maker's paths there; TCG's floating point is IEEE
arithmetic, but for the few instructions whose bits each maker chooses (below). docs/benchmarks.md
("An emulated processor of the other maker") shows that an emulated EPYC gives a real AMD machine's
fingerprint, and that before issue 30's change it computed eq. 20's `** 0.5` otherwise than the
Intel host. The emulator runs some 400 to 1,000 times slower than the host, so the probe is short:
two training steps of DiffuRec and of V1 on 200 users of ml-100k, and the ranks of 32 of them. It
fails when eq. 20's square roots are taken per step again (`alpha_bar_t ** 0.5` in float32), as
before issue 30. RecBole's models are left to tests/test_vector_math.py: a few of their steps take
minutes under the emulator.

Equal bytes under the emulator carry over to the other maker's hardware only if the emulated run
executed no instruction whose bits each maker decides (RCPPS, RSQRTPS, x87's transcendental ones),
which QEMU computes its own way; before issue 30, MKL's square root on the emulated EPYC did
(benchmarks/emulated_instructions.py). So the test also fails when the emulated run executes one,
even where the hashes agree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from data_stage_support import ML100K_INTER
from emulated_instructions import approximate_instructions
from diffurec.preprocess import preprocess
from diffurec.split import leave_one_out
from pipeline.files.recbole_inter import read_inter

ROOT = Path(__file__).resolve().parents[1]
QEMU = shutil.which("qemu-x86_64")
# An emulated model of each maker that TCG can run (AVX2 and FMA, no AVX-512).
OTHER_MAKER = {"GenuineIntel": "EPYC-Rome", "AuthenticAMD": "Haswell"}


def host_maker() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("vendor_id"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError("/proc/cpuinfo names no vendor_id")


def probe(split: Path, emulated: str | None = None, record: Path | None = None) -> list[str]:
    """The hash lines of benchmarks/cpu_parity.py, pinned as a stage is, natively or `emulated`; an
    emulated run writes the instructions it ran and its memory map into the folder `record`."""
    command = [sys.executable, str(ROOT / "benchmarks" / "cpu_parity.py"), str(split), "--steps", "2",
               "--users", "32", "--variant", "baseline", "--variant", "v1", "--baseline", "none"]
    if emulated:
        command = [QEMU, "-cpu", emulated, "-d", "in_asm", "-D", str(record / "asm.log"), *command,
                   "--maps", str(record / "maps.txt")]
    pinned = {**os.environ, "DIFFUREC_CPU_PINS": "on"}  # the tests run unpinned (conftest.py)
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=pinned, check=True)
    return [line for line in done.stdout.splitlines() if "training" in line or line.startswith("dropout")]


@pytest.mark.skipif(QEMU is None, reason="needs QEMU's user-mode emulator: apt-get install qemu-user "
                                         "(.ci/run installs it, so CI runs this test)")
def test_an_emulated_processor_of_the_other_maker_computes_the_same_bytes(tmp_path):
    split = tmp_path / "ml-100k.parquet"
    # 200 users are enough: every training step is a batch of 256 windows either way.
    leave_one_out(preprocess(read_inter(ML100K_INTER), 5, 5)).iloc[:200].to_parquet(split, index=False)
    native = probe(split)
    assert [line.split(":")[0] for line in native[1:]] == ["baseline", "v1"]
    assert probe(split, OTHER_MAKER[host_maker()], tmp_path) == native
    # And the emulator's bits are the other maker's hardware's: it ran no instruction whose result
    # that maker decides (the module's docstring).
    found = approximate_instructions(tmp_path / "asm.log", tmp_path / "maps.txt")
    places = sorted({f"{one.mnemonic} in {Path(one.library).name or 'anonymous memory'} {one.function}"
                     for one in found})
    assert not found, f"{len(found)} approximate instructions ran on the other maker's path: {'; '.join(places)}"


APPROXIMATING_PROGRAM = r"""
#include <immintrin.h>
#include <stdio.h>
/* One RCPPS, one RSQRTPS, and the exact SQRTPS and DIVPS beside them; then its memory map. */
int main(int argc, char **argv) {
    float out[4][4];
    __m128 x = _mm_set1_ps((float)argc + 1.0f);  /* not a constant the compiler could fold */
    _mm_storeu_ps(out[0], _mm_rcp_ps(x));
    _mm_storeu_ps(out[1], _mm_rsqrt_ps(x));
    _mm_storeu_ps(out[2], _mm_sqrt_ps(x));
    _mm_storeu_ps(out[3], _mm_div_ps(_mm_set1_ps(1.0f), x));
    FILE *in = fopen("/proc/self/maps", "r"), *copy = fopen(argv[1], "w");
    int c;
    while ((c = fgetc(in)) != EOF) fputc(c, copy);
    fclose(copy);
    return out[0][0] + out[1][0] + out[2][0] + out[3][0] > 0.0f ? 0 : 1;
}
"""


@pytest.mark.skipif(QEMU is None or shutil.which("gcc") is None,
                    reason="needs QEMU's user-mode emulator and gcc (.ci/run installs qemu-user)")
def test_the_scan_names_each_approximate_instruction_a_program_ran_and_no_exact_one(tmp_path):
    source, program = tmp_path / "approximating.c", tmp_path / "approximating"
    source.write_text(APPROXIMATING_PROGRAM)
    subprocess.run(["gcc", "-O1", str(source), "-o", str(program)], check=True)
    subprocess.run([QEMU, "-d", "in_asm", "-D", str(tmp_path / "asm.log"), str(program), str(tmp_path / "maps.txt")],
                   check=True, capture_output=True)
    found = approximate_instructions(tmp_path / "asm.log", tmp_path / "maps.txt")
    assert sorted(one.mnemonic for one in found) == ["rcpps", "rsqrtps"]
    assert {(Path(one.library).name, one.function) for one in found} == {("approximating", "main")}
