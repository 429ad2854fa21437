#!/usr/bin/env python
"""Render the protocol cards (configs/_base_/protocols/*.yaml) into
docs/protocols/: one Markdown page per card and an index. Every card is
first held to its configs; a card that disagrees stops the rendering.

Usage: python tools/render_protocol_cards.py [--check]

--check writes nothing and exits 1 when a rendered page is out of date.
"""
import argparse
import os
import os.path as osp
import sys

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
# Let the tool run from a checkout without installing the package.
sys.path.insert(0, ROOT)

from clst_mmseg.benchmark.protocol_cards import (card_paths,  # noqa: E402
                                                 check_card, load_card,
                                                 rendered_docs)
from clst_mmseg.benchmark.references import load_references  # noqa: E402


def main(argv=None) -> int:
    """Render (or check) the cards; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--check', action='store_true',
                   help='exit 1 if docs/protocols/ is out of date')
    args = p.parse_args(argv)
    problems = []
    for path in card_paths(ROOT):
        problems += check_card(load_card(path), ROOT)
    if problems:
        for line in problems:
            print(f'error: {line}', file=sys.stderr)
        return 1
    docs = rendered_docs(ROOT, load_references())
    stale = []
    for rel, text in docs.items():
        path = osp.join(ROOT, rel)
        old = open(path).read() if osp.isfile(path) else None
        if old == text:
            continue
        stale.append(rel)
        if not args.check:
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text)
    if args.check and stale:
        print('error: out of date: ' + ', '.join(stale) + '; run python '
              'tools/render_protocol_cards.py', file=sys.stderr)
        return 1
    print(('up to date: ' if args.check else 'written: ') +
          (', '.join(stale) if stale and not args.check else
           f'{len(docs)} page(s)'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
