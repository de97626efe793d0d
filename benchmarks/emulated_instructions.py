"""Did an emulated run execute an instruction whose result each processor maker decides?

Nearly every floating-point instruction of x86-64 has one right answer: IEEE arithmetic (add,
multiply, divide, square root, fused multiply-add), conversions and shuffles give the same bits on
an Intel processor, an AMD one and QEMU's emulation of either. A few do not: RCPPS and RSQRTPS (and
their scalar, VEX and AVX-512 forms) return approximations of 1/x and 1/sqrt(x) whose bits each
maker chooses, and so do the x87 transcendental instructions (FSIN, FPTAN, F2XM1, ...). QEMU
computes the approximations exactly rounded, neither maker's way. So a run under the emulator that
executes none of them computes what the emulated maker's hardware computes when it runs the same
instructions; a run that executes some may not, which is how the code before issue 30 gave a third
hash under the emulator (docs/benchmarks.md, "Why the emulator is not the AMD machine, and when it
is").

QEMU logs every block of instructions it translates (`-d in_asm`), each instruction once; the
process's memory map at its end (`cpu_parity.py --maps`) says which library each address is in:

    qemu-x86_64 -cpu EPYC-Rome -d in_asm -D /tmp/asm.log .venv/bin/python benchmarks/cpu_parity.py \\
        data/split/ml-100k.parquet --steps 2 --users 32 --baseline none --maps /tmp/maps.txt
    python benchmarks/emulated_instructions.py /tmp/asm.log /tmp/maps.txt

prints every approximate instruction executed, with its library and function (named from the
library's symbols by binutils' `nm` and `readelf`, where they are installed), or that none was.
"""

from __future__ import annotations

import argparse
import bisect
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

# RCP/RSQRT in every width (SSE, VEX, AVX-512's 14- and 28-bit and FP16 forms), 3DNow!'s, x87's
# transcendental instructions.
APPROXIMATE = re.compile(
    r"v?(rcp|rsqrt)(14|28)?(ps|ss|pd|sd|ph|sh)|pfrcp\w*|pfrsqrt\w*|fsin|fcos|fsincos|fptan|fpatan|f2xm1|fyl2x|fyl2xp1"
)
# A line of QEMU's in_asm log: "0x4018543fb5:  0f 52 d2                 rsqrtps  %xmm2, %xmm2".
LOG_LINE = re.compile(r"0x([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*([a-z][a-z0-9.]*)")


class Mapping(NamedTuple):
    start: int
    end: int
    offset: int  # in the file
    path: str


class Found(NamedTuple):
    mnemonic: str
    address: int
    library: str  # the mapped file's path, "" for anonymous memory (e.g. JIT-generated code)
    function: str  # "" where not known


def read_maps(path: Path) -> list[Mapping]:
    """The mappings of a /proc/PID/maps copy, by start address."""
    mappings = []
    for line in path.read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        mappings.append(Mapping(start, end, int(fields[2], 16), fields[5] if len(fields) > 5 else ""))
    return sorted(mappings)


def _functions(library: str, file_offsets: list[int]) -> list[str]:
    """The symbol each file offset of `library` falls in; "" where binutils is absent, `library` is
    no file (anonymous memory, the heap) or no symbol holds the offset."""
    if not (library and shutil.which("nm") and shutil.which("readelf") and Path(library).is_file()):
        return [""] * len(file_offsets)
    # A loadable segment maps file offset o to virtual address o + (p_vaddr - p_offset).
    segments = []
    for line in subprocess.run(["readelf", "-lW", library], capture_output=True, text=True).stdout.splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"]:
            offset, vaddr, size = int(fields[1], 16), int(fields[2], 16), int(fields[4], 16)
            segments.append((offset, offset + size, vaddr - offset))
    symbols = []
    for line in subprocess.run(["nm", "--defined-only", library], capture_output=True, text=True).stdout.splitlines():
        fields = line.split(maxsplit=2)
        if len(fields) == 3 and fields[1] in "tTwW":
            symbols.append((int(fields[0], 16), fields[2]))
    symbols.sort()
    starts = [address for address, _ in symbols]
    names = []
    for file_offset in file_offsets:
        shift = next((shift for low, high, shift in segments if low <= file_offset < high), None)
        index = bisect.bisect_right(starts, file_offset + shift) - 1 if shift is not None else -1
        names.append(symbols[index][1] if index >= 0 else "")
    return names


def approximate_instructions(log: Path, maps: Path) -> list[Found]:
    """Every distinct address of an approximate instruction in QEMU's in_asm `log`, with its library."""
    addresses = {}
    with log.open(errors="replace") as lines:
        for line in lines:
            match = LOG_LINE.match(line)
            if match and APPROXIMATE.fullmatch(match.group(2)):
                addresses[int(match.group(1), 16)] = match.group(2)
    mappings = read_maps(maps)
    starts = [mapping.start for mapping in mappings]
    # library -> [(address, its offset in the library's file)]; "" for memory mapped from no file.
    places: dict[str, list[tuple[int, int]]] = {}
    for address in sorted(addresses):
        index = bisect.bisect_right(starts, address) - 1
        mapping = mappings[index] if index >= 0 and address < mappings[index].end else Mapping(address, address, 0, "")
        places.setdefault(mapping.path, []).append((address, address - mapping.start + mapping.offset))
    found = []
    for library, here in places.items():
        names = _functions(library, [offset for _, offset in here])
        found += [Found(addresses[address], address, library, name) for (address, _), name in zip(here, names)]
    return sorted(found, key=lambda one: one.address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help="QEMU's log of translated blocks (qemu-x86_64 -d in_asm -D LOG)")
    parser.add_argument("maps", type=Path, help="the process's /proc/self/maps at its end (cpu_parity.py --maps)")
    args = parser.parse_args()
    for path, how in ((args.log, "qemu-x86_64 -d in_asm -D LOG ..."), (args.maps, "cpu_parity.py ... --maps MAPS")):
        if not path.is_file():
            parser.error(f"{path} is not a file; write it with `{how}` (this module's docstring)")
    found = approximate_instructions(args.log, args.maps)
    for one in found:
        print(f"{one.address:#x}  {one.mnemonic:10s} {Path(one.library).name or '(anonymous)'}  {one.function}")
    print(f"{len(found)} approximate instructions executed" if found else "no approximate instruction executed")


if __name__ == "__main__":
    main()
