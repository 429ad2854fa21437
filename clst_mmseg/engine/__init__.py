from .. import compat  # noqa: F401  (applied on import, before mmseg)
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
