# Source-only baseline: cross-entropy on the labelled source half only. The
# target half is still loaded, so every method shares the data pipeline and
# the iteration count (compare at equal compute).
model = dict(type='UDASegmentor')
