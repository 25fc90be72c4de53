"""pixforge's command line: one entry point, ``pixforge``, with a subcommand per capability."""
from .app import evaluate, main  # noqa: F401

# Each module attaches its commands to the groups above.
from . import train  # noqa: E402,F401  (the train group and its tasks)
from . import weights  # noqa: E402,F401
from . import metrics  # noqa: E402,F401
from . import style  # noqa: E402,F401
from . import data  # noqa: E402,F401
from . import doodle  # noqa: E402,F401
from . import gan  # noqa: E402,F401
from . import stylegan  # noqa: E402,F401
from . import demo  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import translate  # noqa: E402,F401
from . import sr  # noqa: E402,F401
from . import export  # noqa: E402,F401
from . import serve  # noqa: E402,F401

__all__ = ["main"]
