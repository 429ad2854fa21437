"""Whether a model class takes the keys that overrides set, read from its
constructor's signature, so that a suite-wide override that one method
does not have stops the suite before any run (instead of a ``TypeError``
inside that method's run)."""
import inspect
from typing import Dict, Iterable, List, Optional, Set, Tuple


def constructor_args(cls: type) -> Optional[Set[str]]:
    """Keyword arguments ``cls(...)`` accepts.

    ``**kwargs`` are followed up the class hierarchy (to the next class
    whose ``__init__`` they would reach); None when they end up anywhere
    that cannot be told (e.g. a plain ``object``), i.e. anything goes.

    Args:
        cls (type): A registered model class.

    Returns:
        set[str] | None: Argument names, or None if unknowable.
    """
    names: Set[str] = set()
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        if klass is object:
            return None
        params = inspect.signature(vars(klass)['__init__']).parameters
        names.update(n for n, p in params.items() if n != 'self' and p.kind
                     not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return names
    return None


def unaccepted_keys(model_cfg: Dict, keys: Iterable[str]
                    ) -> List[Tuple[str, str, List[str]]]:
    """The dotted ``model.*`` keys that the class of the (sub-)config they
    land in does not take.

    Each key is walked from ``model``: at every dict with a ``type`` the
    next key part must be an argument of that class; the walk stops at a
    dict without ``type`` (a plain dict argument) or at a class that takes
    anything (``**kwargs`` that cannot be followed).

    Args:
        model_cfg (dict): The resolved ``model`` config.
        keys (list[str]): Dotted override keys (``model.x.y``); others are
            ignored.

    Returns:
        list[tuple]: ``(key, class name, sorted accepted arguments)``.
    """
    import clst_mmseg
    clst_mmseg.register_all_modules()  # compat layer first, our models
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    bad = []
    for key in keys:
        parts = key.split('.')
        if parts[0] != 'model' or len(parts) < 2:
            continue
        node = model_cfg
        for part in parts[1:]:
            if not isinstance(node, dict) or not isinstance(
                    node.get('type'), str):
                break
            cls = MODELS.get(node['type'])
            args = constructor_args(cls) if cls is not None else None
            if args is None:
                break
            if part not in args and part != 'type':
                bad.append((key, cls.__name__, sorted(args)))
                break
            node = node.get(part)
    return bad
