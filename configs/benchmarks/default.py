# The default suite of tools/benchmark.py: every method of the mini suite on
# the three built-in CPU tasks x 3 seeds: mini (synthetic -> real: palette and
# texture shift) and adverse (clear day -> night, fog, rain; small rare object
# classes on a dominant background), both from one street-scene generator,
# and aerial (overhead tiles from another generator: town -> countryside,
# summer -> winter, true -> false colour). One leaderboard per task; a
# method is judged over all three (one task says little about a method).
# The mini-only suite is configs/benchmarks/mini.py; its runs are shared
# with this one (same run ids), so either reuses the other's finished runs.
_base_ = ['./mini.py']
tasks = ['mini', 'adverse', 'aerial']
