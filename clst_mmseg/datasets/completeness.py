"""Is an official dataset on disk complete? GTA5, SYNTHIA-RAND-CITYSCAPES and
Cityscapes held to the counts, file names, archives and image sizes of their
official downloads (``official_datasets.yaml``).

A partial download trains without a word otherwise (a dataset class lists
what it finds), so :func:`completeness_problems` names what is missing in
terms of what to download: GTA5's parts (``03_images.zip``, index range),
Cityscapes' cities, SYNTHIA's index ranges; labels that are there but not
converted get the converter's command. Each problem is a :class:`Problem`
carrying the command (or download) that fixes it.
"""
import os.path as osp
import re
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from PIL import Image

from .official_layouts import cityscapes_paths, gta_paths, synthia_paths

#: The facts file, beside this module.
FACTS_PATH = osp.join(osp.dirname(__file__), 'official_datasets.yaml')
#: Where docs/datasets.md explains each dataset.
DOCS = 'docs/datasets.md'
#: Images whose size is compared with the official one.
SIZE_SAMPLE = 20
_CS_IMAGE = re.compile(r'^(?P<stem>.+)_leftImg8bit\.png$')


class Problem(str):
    """One problem line, and the command or download that fixes it.

    A ``str`` (so problem lists compare with plain strings) with a ``fix``
    attribute.

    Args:
        text (str): The problem, naming the file or key.
        fix (str, optional): What fixes it (a command to run, an archive to
            download). Defaults to None.
    """

    def __new__(cls, text: str, fix: Optional[str] = None) -> 'Problem':
        obj = super().__new__(cls, text)
        obj.fix = fix
        return obj

    def __reduce__(self):
        return Problem, (str(self), self.fix)


def with_prefix(prefix: str, problem: str) -> 'Problem':
    """``problem`` with ``prefix`` in front, its fix kept."""
    return Problem(f'{prefix}{problem}', getattr(problem, 'fix', None))


@lru_cache(maxsize=None)
def _load(path: str) -> Dict:
    import yaml
    with open(path) as f:
        return yaml.safe_load(f)


def load_official_facts(path: str = FACTS_PATH) -> Dict[str, Dict]:
    """The official datasets' facts (``official_datasets.yaml``).

    Args:
        path (str): Facts file. Defaults to the package's.

    Returns:
        dict: Dataset key (``gta``, ``synthia``, ``cityscapes``) -> facts.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'official dataset facts not found: {path}')
    return _load(path)


def official_dataset(type_name: str, facts: Dict[str, Dict]
                     ) -> Optional[str]:
    """The facts key of a registered dataset class name (exact names only:
    the built-in tasks subclass these classes with their own data)."""
    return next((key for key, f in facts.items()
                 if type_name in f.get('dataset_types', ())), None)


def fix_download(facts: Dict, root: str, archives: Sequence[str]) -> str:
    """The download-and-convert line for some of a dataset's archives."""
    names = ', '.join(archives)
    return (f'download {names} from {facts["url"]} ({DOCS}); '
            + facts['extract'].format(root=root.rstrip('/')) + '; then '
            + convert_command(facts, root))


def convert_command(facts: Dict, root: str) -> str:
    """The converter command of a dataset at ``root``."""
    return facts['converter'].format(root=root.rstrip('/'))


def missing_root_fix(facts: Dict, root: str) -> str:
    """What to do when a dataset's data_root does not exist."""
    archives = facts['archives']
    if 'parts' in facts:
        archives = [f'{facts["parts"][0]["part"]}_images.zip ... '
                    f'{facts["parts"][-1]["part"]}_labels.zip (all '
                    f'{2 * len(facts["parts"])} archives)']
    return fix_download(facts, root, archives)


def _ranges(indices: Iterable[int], fmt: str) -> str:
    """``00001-02500, 02510`` of sorted indices (at most 4 ranges shown)."""
    indices = sorted(indices)
    spans: List[Tuple[int, int]] = []
    for i in indices:
        if spans and i == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    text = [fmt.format(a).replace('.png', '') + (
        '' if a == b else '-' + fmt.format(b).replace('.png', ''))
            for a, b in spans[:4]]
    return ', '.join(text) + (f' and {len(spans) - 4} more ranges'
                              if len(spans) > 4 else '')


def _numbered(kind: str, facts: Dict, root: str, data_list: List[Dict],
              require_labels: bool, label_suffix: str,
              allow_partial: bool) -> Tuple[List[Problem], List[str]]:
    """GTA5 / SYNTHIA: images and labels by index."""
    paths = gta_paths if kind == 'gta' else synthia_paths
    fmt = facts['name_format']
    first, count = facts['first_index'], facts['count']
    expected = range(first, first + count)
    present = {}
    for item in data_list:
        name = osp.basename(item['img_path'])
        stem = osp.splitext(name)[0]
        if stem.isdigit() and fmt.format(int(stem)) == name and \
                int(stem) in expected:
            present[int(stem)] = item
    problems: List[Problem] = []
    notes = [f'{facts["title"]}: {len(present):,} of {count:,} images']
    missing_img = [i for i in expected if i not in present]
    missing_lbl, unconverted = [], []
    if require_labels:
        for i, item in sorted(present.items()):
            seg = item.get('seg_map_path')
            if seg and not osp.isfile(seg):
                official = paths(root, i)[1]
                (unconverted if osp.isfile(official) else
                 missing_lbl).append(i)
    if unconverted:
        problems.append(Problem(
            f'{len(unconverted):,} {facts["title"]} label(s) not converted '
            f'(the official labels are there, no *{label_suffix}: '
            f'{_ranges(unconverted, fmt)})', convert_command(facts, root)))
    if allow_partial:
        if missing_img:
            notes[0] += ' (partial: allowed)'
        missing_img = []
    groups = facts.get('parts') or [dict(part=None, first=first,
                                         last=first + count - 1)]
    name = fmt.replace('.png', '')
    whole: List[Dict] = []  # consecutive parts with no image at all

    def flush_whole():
        if not whole:
            return
        a, b = whole[0], whole[-1]
        n = sum(g['last'] - g['first'] + 1 for g in whole)
        parts = (f'part {a["part"]}' if a is b else
                 f'parts {a["part"]}-{b["part"]}')
        archives = facts['archives'][0].format(part=a['part']) + (
            '' if a is b else ' ... ' +
            facts['archives'][0].format(part=b['part']))
        problems.append(Problem(
            f'{facts["title"]} {parts} ({name.format(a["first"])}-'
            f'{name.format(b["last"])}): all {n:,} images missing',
            fix_download(facts, root, [f'{archives} and their labels '
                                       'archives'])))
        whole.clear()

    for group in groups:
        span = range(group['first'], group['last'] + 1)
        imgs = [i for i in missing_img if i in span]
        lbls = [i for i in missing_lbl if i in span]
        if group['part'] and len(imgs) == len(span):
            whole.append(group)
            continue
        flush_whole()
        if not imgs and not lbls:
            continue
        where = (f'part {group["part"]} ({name.format(group["first"])}'
                 f'-{name.format(group["last"])})' if group['part']
                 else f'{facts["title"]}')
        what, archives = [], []
        if imgs:
            what.append(f'{len(imgs):,} of {len(span):,} images missing '
                        f'({_ranges(imgs, fmt)})')
            archives += facts['archives']
        if lbls:
            what.append(f'{len(lbls):,} official label(s) missing '
                        f'({_ranges(lbls, fmt)})')
            archives.append(facts['archives'][-1])
        if group['part']:
            archives = [a.format(part=group['part']) for a in archives]
        problems.append(Problem(
            f'{facts["title"]} {where}: ' + '; '.join(what),
            fix_download(facts, root, list(dict.fromkeys(archives)))))
    flush_whole()
    return problems, notes


def _cityscapes(facts: Dict, root: str, split: Optional[str],
                data_list: List[Dict], require_labels: bool,
                allow_partial: bool) -> Tuple[List[Problem], List[str]]:
    """Cityscapes: images per split and city, labels per image."""
    spec = (facts.get('splits') or {}).get(split)
    if spec is None:  # a split without official counts (test)
        return [], []
    per_city: Dict[str, int] = {}
    missing_lbl, unconverted = [], []
    for item in data_list:
        img = item['img_path']
        city = osp.basename(osp.dirname(img))
        m = _CS_IMAGE.match(osp.basename(img))
        per_city[city] = per_city.get(city, 0) + 1
        seg = item.get('seg_map_path')
        if require_labels and m and seg and not osp.isfile(seg):
            official = cityscapes_paths(root, split, city, m['stem'])[1]
            (unconverted if osp.isfile(official) else missing_lbl).append(
                f'{city}/{m["stem"]}')
    total = sum(per_city.values())
    notes = [f'{facts["title"]} {split}: {total:,} of {spec["count"]:,} '
             'images']
    problems: List[Problem] = []
    if unconverted:
        problems.append(Problem(
            f'{len(unconverted):,} Cityscapes {split} label(s) not converted '
            '(the official *_gtFine_labelIds.png are there, no '
            f'*_gtFine_labelTrainIds.png; e.g. {unconverted[0]})',
            convert_command(facts, root)))
    if missing_lbl:
        problems.append(Problem(
            f'{len(missing_lbl):,} Cityscapes {split} image(s) without their '
            f'gtFine label files (e.g. {missing_lbl[0]})',
            fix_download(facts, root, [facts['archives'][0]])))
    short = {c: (per_city.get(c, 0), n) for c, n in spec['cities'].items()
             if per_city.get(c, 0) < n}
    if short and allow_partial:
        notes[0] += ' (partial: allowed)'
    elif short:
        shown = ', '.join(f'{c} {have} of {n}'
                          for c, (have, n) in list(short.items())[:6])
        more = len(short) - 6
        problems.append(Problem(
            f'Cityscapes {split}: {total:,} of {spec["count"]:,} images; '
            f'short cities: {shown}' + (f' and {more} more' if more > 0
                                        else ''),
            fix_download(facts, root, [facts['archives'][-1]])))
    return problems, notes


def _size_problems(facts: Dict, data_list: List[Dict],
                   sample: int) -> List[Problem]:
    """Compare the image size of ``sample`` evenly spaced images with the
    official size; a problem when most of them differ (a resized copy), so
    that a single odd frame of a download does not stop a run."""
    if not data_list or not facts.get('image_size'):
        return []
    n = len(data_list)
    k = min(sample, n)
    picks = [data_list[int((j + 0.5) * n / k)]['img_path'] for j in range(k)]
    want = tuple(facts['image_size'])
    odd = []
    for path in picks:
        try:
            with Image.open(path) as img:
                if img.size != want:
                    odd.append((path, img.size))
        except OSError:
            continue  # reported by the per-file check
    if len(odd) * 2 <= k:
        return []
    path, size = odd[0]
    return [Problem(
        f'{len(odd)} of {k} sampled {facts["title"]} images are not the '
        f'official {want[0]}x{want[1]} (e.g. {path}: {size[0]}x{size[1]}): '
        'a resized copy? Every protocol here resizes the official images '
        'itself', f'use the official download ({facts["url"]})')]


def completeness_problems(type_name: str,
                          data_root: Optional[str],
                          img_dir: Optional[str],
                          data_list: List[Dict],
                          require_labels: bool,
                          label_suffix: str,
                          allow_partial: bool = False,
                          facts: Optional[Dict[str, Dict]] = None,
                          size_sample: int = SIZE_SAMPLE
                          ) -> Tuple[List[Problem], List[str]]:
    """Hold one folder dataset to its official download.

    Args:
        type_name (str): Registered dataset class name (``GTADataset`` ...).
        data_root (str, optional): The dataset's root.
        img_dir (str, optional): Its image folder (Cityscapes: the split is
            its last component).
        data_list (list[dict]): The dataset's items (``img_path``,
            ``seg_map_path``).
        require_labels (bool): Whether label files are checked.
        label_suffix (str): Suffix of the converted label files.
        allow_partial (bool): A deliberate subset: missing images and
            image sizes other than the official one are not problems (the
            counts become notes). Defaults to False.
        facts (dict, optional): The facts; defaults to
            :func:`load_official_facts` (tests pass scaled-down counts).
        size_sample (int): Images whose size is compared. Defaults to 20.

    Returns:
        tuple[list[Problem], list[str]]: Problems (each with its fix) and
        notes (what was counted); both empty for a dataset type without
        official facts.
    """
    facts = load_official_facts() if facts is None else facts
    kind = official_dataset(type_name, facts)
    if kind is None or data_root is None:
        return [], []
    f = facts[kind]
    if kind == 'cityscapes':
        split = osp.basename(osp.normpath(img_dir)) if img_dir else None
        problems, notes = _cityscapes(f, data_root, split, data_list,
                                      require_labels, allow_partial)
    else:
        problems, notes = _numbered(kind, f, data_root, data_list,
                                    require_labels, label_suffix,
                                    allow_partial)
    if not allow_partial:
        problems += _size_problems(f, data_list, size_sample)
    return problems, notes
