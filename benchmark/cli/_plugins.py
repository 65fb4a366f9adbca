"""The plugins (benchmark.plugins) are loaded before any command is declared, so the commands'
help and choices list the tasks, datasets and models they register; a plugin that fails to
import ends the command with one line naming it, exit status 2."""

import sys

from rich.markup import escape

from benchmark import console, plugins

try:
    plugins.load()
except plugins.PluginError as e:
    console.err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
    sys.exit(2)
