"""A config that formats its text once.

mmengine formats a config's text with yapf (``Config.pretty_text``) each
time it is asked for it, and a training asks five times for the same text:
the runner logs it, dumps it to the work dir, the visualizer's backend
saves it, ``RuntimeInfoHook`` puts it into the message hub and every
checkpoint carries it (~0.2 s of CPU each on the mini configs, ~1 s per
run).
"""
from mmengine.config import Config


class FormatOnceConfig(Config):
    """mmengine's :class:`~mmengine.config.Config` whose ``pretty_text``
    keeps the formatted text of the last unformatted text it saw: the same
    content gives the same text as mmengine's, formatted once; changed
    content is formatted again."""

    @property
    def pretty_text(self) -> str:
        if not self._format_python_code:
            return super().pretty_text
        object.__setattr__(self, '_format_python_code', False)
        try:
            raw = super().pretty_text
        finally:
            object.__setattr__(self, '_format_python_code', True)
        kept = self.__dict__.get('_formatted_text')
        if kept is None or kept[0] != raw:
            kept = (raw, super().pretty_text)
            object.__setattr__(self, '_formatted_text', kept)
        return kept[1]


def format_once(cfg: Config) -> Config:
    """Make a config loaded by mmengine (``Config.fromfile``, which always
    returns the base class) a :class:`FormatOnceConfig`, in place.

    Args:
        cfg (Config): The config.

    Returns:
        Config: The same object.
    """
    if type(cfg) is Config:  # (Config.__setattr__ sets config keys)
        object.__setattr__(cfg, '__class__', FormatOnceConfig)
    return cfg
