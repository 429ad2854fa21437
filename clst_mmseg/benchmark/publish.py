"""Build a suite's leaderboards from the store and write them:
``<results_dir>/<task>/<report_name>.{md,tex,csv,html}``, the per-run table
``<report_name>_runs.csv`` and the plots ``<report_name>_*.png``; and,
for a suite of several tasks, ``<results_dir>/<report_name>_cross_task.*``.

A report never outlives its records: a task without a finished run has its
report files removed, and every file of a report that a rebuild does not
write again (a plot whose data is gone) is removed with it."""
import datetime
import os
import os.path as osp
import statistics
from typing import Callable, Dict, List, Sequence

from .identity import code_notes
from .protocol_cards import cards_link_line
from .references import DEFAULT_PATH, load_references
from .report import (comparisons, leaderboard, records_frame, task_classes,
                     task_metrics)
from .selection_report import publish_selection
from .store import ResultsStore
from .suite import REPO_ROOT, Suite
from .tables import (CPU_SCOPE, comparison_lines, comparison_note,
                     html_page, latex, markdown)

#: What publish writes per report stem (``<results_dir>/<task>/<name>``):
#: the leaderboard, its runs, its plots and the selection report.
_REPORT_SUFFIXES = ('.md', '.tex', '.html', '.csv', '_runs.csv',
                    '_selection.md', '_selection.tex', '_selection.html',
                    '_selection.csv', '_selection_picks.csv')
_PLOTS = ('_scores', '_per_class', '_curves', '_delta_iou',
          '_selection_criteria', '_pseudo_labels')
#: Figures of a report that other tools draw from the same records
#: (tools/plot_clst_contrastive.py): removed only with the whole report.
_OTHER_TOOLS = ('_contrastive.png', '_contrastive.svg',
                '_centroid_distance.png', '_centroid_distance.svg')
#: The cross-task report (``<results_dir>/<name>_cross_task``).
_CROSS_TASK_SUFFIXES = ('.md', '.tex', '.csv', '_agreement.csv')


def report_files(stem: str) -> List[str]:
    """Every file :func:`publish` may write for one task's report."""
    return [stem + s for s in _REPORT_SUFFIXES] + [
        f'{stem}{p}.{ext}' for p in _PLOTS for ext in ('png', 'svg', 'pdf')]


def remove_stale(paths: Sequence[str]) -> List[str]:
    """Delete those of ``paths`` that exist; returns them."""
    gone = []
    for path in paths:
        if osp.isfile(path):
            os.unlink(path)
            gone.append(path)
    return gone


def _removed_line(what: str, gone: Sequence[str]) -> str:
    return (f'{what}: removed {len(gone)} stale report file(s) its records '
            'no longer support: ' + ', '.join(
                osp.basename(p) for p in gone))


def method_rows(suite: Suite) -> List[Dict]:
    """The suite's methods as leaderboard rows (name, title, reference,
    role)."""
    base, upper = suite.options['baselines'], suite.options['upper_bounds']
    return [
        dict(name=m.name, title=m.title, reference=m.reference,
             role='baseline' if m.name in base else
             'upper_bound' if m.name in upper else 'method')
        for m in suite.methods
    ]


def suite_records(suite: Suite, store: ResultsStore) -> List[Dict]:
    """The stored records of the suite's runs (any status)."""
    out = []
    for run in suite.runs:
        rec = store.read(run.task, run.run_id)
        if rec is not None:
            out.append(rec)
    return out


def _display(path: str) -> str:
    rel = osp.relpath(path)
    return path if rel.startswith('..') else rel


def _short(rev):
    return rev[:10] if rev else 'unknown'


def _time_lines(done: Sequence[Dict]) -> List[str]:
    """Run times from the records (so docs need not quote them)."""
    walls = sorted(r['wall_time_s'] / 60 for r in done
                   if r.get('wall_time_s'))
    if not walls:
        return []
    line = (f'Wall time per run: {walls[0]:.1f}-{walls[-1]:.1f} min '
            f'(median {statistics.median(walls):.1f})')
    try:
        start = min(datetime.datetime.fromisoformat(r['started_at'])
                    for r in done)
        end = max(datetime.datetime.fromisoformat(r['finished_at'])
                  for r in done)
        line += (f'; first start to last finish: '
                 f'{(end - start).total_seconds() / 60:.0f} min')
    except (KeyError, TypeError, ValueError):
        pass  # records without timestamps
    return [line + '.']


def provenance_lines(records: Sequence[Dict], expected: int) -> List[str]:
    """Where the numbers come from: counts, code, software, hardware."""
    done = [r for r in records if r.get('status') == 'finished']
    lines = [f'Built from {len(done)} finished run record(s) of the suite\'s'
             f' {expected} run(s) by `tools/benchmark.py`.']
    revs: Dict[str, List] = {}  # revision -> [runs, dirty runs, patches]
    for r in done:
        git = r.get('git') or {}
        count = revs.setdefault(_short(git.get('revision')), [0, 0, set()])
        count[0] += 1
        count[1] += bool(git.get('dirty'))
        if git.get('dirty') and git.get('diff_file'):
            count[2].add(f'diffs/{git["diff_file"]}')
    if revs:
        lines.append('Code: git ' + ', '.join(
            f'{rev} ({n} run{"s" if n > 1 else ""}'
            f'{f", {d} with uncommitted changes" if d else ""}'
            f'{": " + ", ".join(sorted(p)) if p else ""})'
            for rev, (n, d, p) in sorted(revs.items())) + '.')
        dirty = sum(d for _, d, _ in revs.values())
        lines.append(
            f'{dirty} of {len(done)} run(s) from a tree with uncommitted '
            'changes (their patches are beside the records, in diffs/).'
            if dirty else 'Every run from committed code (clean tree).')
    lines += _time_lines(done)
    soft = set()
    for r in done:
        v = r.get('versions') or {}
        soft.add(', '.join(f'{k} {v[k]}' for k in (
            'python', 'torch', 'mmsegmentation', 'mmengine', 'mmcv',
            'mmcv-lite') if v.get(k)))
    if soft:
        lines.append('Software: ' + '; '.join(sorted(soft)) + '.')
    hw = set()
    for r in done:
        h = r.get('hardware') or {}
        gpus = h.get('gpus') or []
        dev = (f'{len(gpus)}x {gpus[0]["name"]}' if gpus else
               f'CPU {h.get("cpu")} ({h.get("cpu_count")} cores)')
        hw.add(dev)
    if hw:
        lines.append('Hardware: ' + '; '.join(sorted(hw)) + '.')
    left_out = [
        f'{r.get("method")}/s{r.get("seed")} {r.get("status")} '
        f'({(r.get("reason") or {}).get("kind")}: '
        f'{(r.get("reason") or {}).get("message")})'
        for r in records if r.get('status') in ('failed', 'interrupted')
    ]
    if left_out:  # a diverged seed is not silently missing from a mean
        lines.append('Not in the table: ' + '; '.join(left_out) + '.')
    return lines


def set_aside_lines(store: ResultsStore, runs: Sequence,
                    records: Sequence[Dict]) -> List[str]:
    """The runs without a valid record whose record was set aside as
    invalid (``invalid_records/``): why, and that they are planned again."""
    have = {r['run_id'] for r in records}
    notes = []
    for run in runs:
        aside = [] if run.run_id in have else store.set_aside(run.task,
                                                              run.run_id)
        if aside:
            path, why = aside[-1]
            notes.append(f'{run.method}/s{run.seed}: its record was invalid '
                         f'({why}; kept as {path}); the run is planned again')
    return ['Not in the table: ' + '; '.join(notes) + '.'] if notes else []


def publish(suite: Suite, store: ResultsStore,
            echo: Callable[[str], None] = print) -> Dict[str, List[str]]:
    """Write every task's leaderboard files and print the Markdown.

    Args:
        suite (Suite): The suite (which runs and methods make the table).
        store (ResultsStore): Where the records are.
        echo (callable): Prints the Markdown and notes.

    Returns:
        dict: task -> written paths.
    """
    # matplotlib only when there is a table
    from .plots import method_palette, plot_all, vector_copies
    records = suite_records(suite, store)
    frame = records_frame(records)
    refs = load_references(suite.options['references'] or DEFAULT_PATH)
    rows = method_rows(suite)
    titles = {r['name']: r['title'] for r in rows}
    palette = method_palette(rows)
    scope = CPU_SCOPE if suite.options.get('cpu_tasks') else ''
    written = {}
    for task in suite.tasks:
        task_runs = [r for r in suite.runs if r.task == task]
        task_records = [r for r in records if r['task'] == task]
        stem = osp.join(suite.results_dir, task, suite.report_name)
        if frame.empty or not (frame['task'] == task).any():
            gone = remove_stale(report_files(stem) +
                                [stem + s for s in _OTHER_TOOLS])
            echo(f'{task}: no finished run yet; nothing to report' +
                 (f'\n{_removed_line(task, gone)}' if gone else ''))
            continue
        sub = frame[frame['task'] == task]
        board = leaderboard(frame, task, rows, refs)
        code_marked, code_lines = code_notes(task_records, titles)
        board['code_mark'] = board['method'].isin(code_marked)
        metrics, classes = task_metrics(sub), task_classes(sub)
        tests = comparisons(frame, task, metrics[0], suite.comparisons)
        comps = comparison_lines(tests, titles)
        heading = comparison_note(int(tests['p'].notna().sum())
                                  if len(tests) else 0)
        title = suite.task_title(task)
        footer = provenance_lines(task_records, len(task_runs))
        footer += code_lines
        footer += set_aside_lines(store, task_runs, task_records)
        out_dir = osp.join(suite.results_dir, task)
        os.makedirs(out_dir, exist_ok=True)
        footer += [ln for ln in [cards_link_line(out_dir, REPO_ROOT)] if ln]
        images = plot_all(sub, task_records, board, metrics, classes, title,
                          stem, palette)
        delta_md, delta_png = class_delta_report(frame, task, rows, title,
                                                 stem)
        images += delta_png
        md = markdown(title, board, metrics, classes, comps, footer,
                      heading, scope)
        md_file = md + '\n' + delta_md + '\n' + '\n'.join(
            f'![{osp.basename(p)}]({osp.basename(p)})' for p in images) + \
            '\n'
        paths = {
            f'{stem}.md': md_file,
            f'{stem}.tex': latex(title, task, board, metrics, classes, comps,
                                 heading, scope),
            f'{stem}.html': html_page(title, board, metrics, classes, comps,
                                      images, footer, heading, scope),
        }
        for path, text in paths.items():
            with open(path, 'w') as f:
                f.write(text)
        board.to_csv(f'{stem}.csv', index=False, float_format='%.4f')
        sub.to_csv(f'{stem}_runs.csv', index=False, float_format='%.4f')
        written[task] = list(paths) + [f'{stem}.csv', f'{stem}_runs.csv'
                                       ] + images + [
                                           v for p in images
                                           for v in vector_copies(p)
                                       ]
        echo(md)
        written[task] += publish_selection(
            task, title, records, rows, metrics[0], stem, suite.comparisons,
            echo, palette)
        echo('written: ' + ', '.join(_display(p) for p in written[task]))
        gone = remove_stale([p for p in report_files(stem)
                             if p not in written[task]])
        if gone:
            echo(_removed_line(task, gone))
    if len(suite.tasks) > 1:
        stem = osp.join(suite.results_dir, f'{suite.report_name}_cross_task')
        reported = [t for t in suite.tasks if t in written]
        if len(reported) > 1:
            written['cross_task'] = cross_task_report(suite, frame, rows,
                                                      echo, scope)
        else:
            gone = remove_stale([stem + s for s in _CROSS_TASK_SUFFIXES])
            echo(f'across tasks: {len(reported)} task(s) with finished runs;'
                 ' no cross-task summary' +
                 (f'\n{_removed_line("across tasks", gone)}' if gone else ''))
    return written


def _baseline_row(rows: Sequence[Dict]) -> Dict:
    base = [r for r in rows if r['role'] == 'baseline']
    return base[0] if base else {}


def class_delta_report(frame, task: str, rows: Sequence[Dict], title: str,
                       stem: str):
    """The task's per-class IoU change against the baseline: Markdown and
    the heatmap ``<stem>_delta_iou.png`` (+ SVG, PDF); nothing without a
    baseline row with finished runs."""
    from .class_deltas import class_deltas, deltas_markdown, plot_class_deltas
    base = _baseline_row(rows)
    deltas = class_deltas(frame, task, rows, base['name']) if base else None
    if deltas is None or deltas.empty:
        return '', []
    path = plot_class_deltas(
        deltas, f'{title}: per-class IoU change vs {base["title"]}',
        f'{stem}_delta_iou.png')
    return deltas_markdown(deltas, base['title']), [path]


def cross_task_report(suite: Suite, frame, rows: Sequence[Dict],
                      echo: Callable[[str], None],
                      scope: str = '') -> List[str]:
    """The summary over the suite's tasks (gain over the baseline per
    task, mean gain, mean rank, tasks below the baseline), the aggregates
    over tasks and seeds (IQM of normalised scores, probability of
    improvement) and the rank agreement between tasks:
    ``<results_dir>/<report_name>_cross_task.{md,tex,csv}`` and
    ``..._cross_task_agreement.csv`` (Kendall's tau per pair of tasks)."""
    from .aggregate import (aggregate_table, consistent_pairs,
                            named_improvements, rank_agreement,
                            runs_by_task)
    from .cross_task import (agreement_lines, aggregate_lines,
                             cross_task_summary, summary_latex,
                             summary_markdown, task_scores)
    base = _baseline_row(rows)
    if not base:
        return []
    uppers = [r for r in rows if r['role'] == 'upper_bound']
    upper = uppers[0] if uppers else {}
    titles = {r['name']: r['title'] for r in rows}
    task_titles = {t: suite.task_title(t) for t in suite.tasks}
    scores = task_scores(frame, suite.tasks, rows, base['name'])
    summary = cross_task_summary(scores, suite.tasks, rows)
    runs = runs_by_task(frame, suite.tasks)
    methods = [r['name'] for r in rows if r['role'] == 'method']
    agg = aggregate_table(runs, rows, base['name'], upper.get('name'))
    named = named_improvements(runs, suite.comparisons, skip=[base['name']])
    agreement = rank_agreement(runs, suite.tasks, methods)
    pairs = consistent_pairs(runs, [t for t in suite.tasks if any(
        t in runs.get(m, {}) for m in methods)], methods)
    metrics = sorted(set(scores['metric'])) if len(scores) else []
    extra = aggregate_lines(agg, named, titles, base['title'],
                            upper.get('title'))
    extra += agreement_lines(agreement, pairs, titles,
                             ' / '.join(metrics) or 'points')
    md = summary_markdown(summary, scores, suite.tasks, task_titles,
                          base['title'], extra, scope)
    tex = summary_latex(summary, scores, agg, agreement, suite.tasks,
                        task_titles, base['title'], upper.get('title'),
                        scope)
    stem = osp.join(suite.results_dir, f'{suite.report_name}_cross_task')
    os.makedirs(suite.results_dir, exist_ok=True)
    for path, text in ((f'{stem}.md', md), (f'{stem}.tex', tex)):
        with open(path, 'w') as f:
            f.write(text)
    table = summary.merge(agg.drop(columns='title'), on='method', how='left') \
        if len(agg) else summary
    table.to_csv(f'{stem}.csv', index=False, float_format='%.4f')
    agreement.to_csv(f'{stem}_agreement.csv', index=False,
                     float_format='%.4f')
    echo(md)
    return [f'{stem}.md', f'{stem}.tex', f'{stem}.csv',
            f'{stem}_agreement.csv']
