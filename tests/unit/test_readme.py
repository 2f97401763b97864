"""The README stays true to the code: every setting is documented, and the two commands exist."""

from __future__ import annotations

import re

from griddesk.settings import PROJECT_ROOT, Settings


def test_readme_documents_every_environment_variable():
    readme = (PROJECT_ROOT / "README.md").read_text()
    documented = set(re.findall(r"GRIDDESK_[A-Z_0-9]+", readme))
    missing = {f"GRIDDESK_{name.upper()}" for name in Settings.model_fields} - documented
    assert not missing, f"README lacks {sorted(missing)}"


def test_readme_commands_are_make_targets_and_ci_runs_the_test_command():
    readme = (PROJECT_ROOT / "README.md").read_text()
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    for target in ("run", "test", "ui"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()
