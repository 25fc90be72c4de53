"""pixforge's command line: one entry point, ``pixforge``, with a subcommand per capability."""
from .app import evaluate, main, train  # noqa: F401

# Each module attaches its commands to the groups above.
from . import weights  # noqa: E402,F401
from . import metrics  # noqa: E402,F401
from . import style  # noqa: E402,F401
from . import data  # noqa: E402,F401
from . import doodle  # noqa: E402,F401
from . import gan  # noqa: E402,F401
from . import fast  # noqa: E402,F401
from . import arbitrary  # noqa: E402,F401
from . import demo  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import sr  # noqa: E402,F401

__all__ = ["main"]
