"""`make run` collects the static files with the production storage (whitenoise's compressed
manifest), which refuses a file that references a missing one (a source map, say): the vendored
JavaScript and every app's static files must collect cleanly, as scripts/run.sh does."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_static_files_collect_with_the_production_storage(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "ACCORD_VAR_DIR": str(tmp_path),
           "STATIC_ROOT": str(tmp_path / "static"), "SECRET_KEY": "collectstatic-test"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    for name in ("chart.umd.min.js", "cytoscape.min.js", "cytoscape-dagre.min.js"):
        assert f"accord/vendor/{name}" in manifest
