"""The README's commands are what CI runs."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ci_runs_the_readme_commands():
    readme = open(os.path.join(REPO, "README.md")).read()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    ci = [line for line in open(os.path.join(REPO, ".ci", "run")).read().splitlines()
          if line and not line.startswith(("#", "set ", "cd ", "export "))]
    assert ci == commands, (ci, commands)
