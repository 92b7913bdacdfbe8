"""The README's framework snippets run as copied: each block that imports something, in
a fresh interpreter (the Django one as a settings module, its middleware loaded)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def framework_snippets() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Framework integrations") : text.index("## Benchmarks")]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return [block for block in blocks if re.search(r"^import |^from ", block, flags=re.M)]


def run(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


SNIPPETS = framework_snippets()


def test_the_section_has_a_runnable_snippet_per_framework() -> None:
    joined = "\n".join(SNIPPETS)
    for module in ("asgi", "django", "flask", "celery"):
        assert f"analyticskit.integrations.{module}" in joined


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.splitlines()[0][:40])
def test_a_readme_snippet_runs_as_copied(snippet: str, tmp_path: Path) -> None:
    for package in re.findall(r"^from (fastapi|flask|celery) import", snippet, flags=re.M):
        pytest.importorskip(package)
    if snippet.startswith("# settings.py"):
        pytest.importorskip("django")
        (tmp_path / "readme_settings.py").write_text(snippet)
        code = (
            "import django\nfrom django.core.handlers.wsgi import WSGIHandler\n"
            "django.setup()\nWSGIHandler()\n"
        )
        result = run(code, tmp_path, DJANGO_SETTINGS_MODULE="readme_settings", PYTHONPATH=".")
    else:
        result = run(snippet, tmp_path)
    assert result.returncode == 0, result.stderr
