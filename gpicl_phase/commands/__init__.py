"""What each ``gpicl-phase`` command does: turn parsed flags into library calls, and errors into one line on
stderr and an exit code (the flags themselves are declared in ``cli.py``).

JAX is imported only by the commands that train, so ``status``, ``analyze``, ``app`` and ``export`` start
without it.
"""

from gpicl_phase.commands.read import cmd_analyze, cmd_app, cmd_data, cmd_export, cmd_status
from gpicl_phase.commands.run import cmd_demo, cmd_refine, cmd_sweep, cmd_train

__all__ = ["cmd_analyze", "cmd_app", "cmd_data", "cmd_demo", "cmd_export", "cmd_refine", "cmd_status", "cmd_sweep",
           "cmd_train"]
