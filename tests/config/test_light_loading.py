"""Loading a configuration imports neither SQLAlchemy nor the engine (issue 9): config sits below the
engine, and a connector's settings are validated without opening (or importing) its database code."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CONFIG = """\
version: 1
connectors:
  hospital: {type: ssmix2, root: /srv/ssmix2}
  timeline: {type: builtin, members: [nurse.sato]}
  partner: {type: webhook, url: "https://partner.example.jp/hook", secret_env: PARTNER_SECRET}
pipelines:
  - name: p
    source: hospital
    destinations: [timeline, partner]
"""


def test_loading_a_config_does_not_import_sqlalchemy_or_the_engine(tmp_path: Path) -> None:
    path = tmp_path / "renkei.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    probe = textwrap.dedent(
        f"""
        import sys
        from renkei.config.loader import load_config
        import os
        os.environ.setdefault("PARTNER_SECRET", "x")
        loaded = load_config({str(path)!r})
        assert loaded.connector_settings["timeline"].members == ["nurse.sato"]
        heavy = sorted(m for m in sys.modules if m.split(".")[0] == "sqlalchemy" or m.startswith("renkei.pipelines"))
        print(",".join(heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_builtin_timeline_still_validates_its_settings(tmp_path: Path) -> None:
    from renkei.config.loader import load_config
    from renkei.errors import ConfigError

    path = tmp_path / "renkei.yaml"
    path.write_text(CONFIG.replace("members: [nurse.sato]", "memberz: [nurse.sato]"), encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert ("connectors.timeline.memberz", 4, "unknown setting for a builtin connector") in exc.errors
    else:
        raise AssertionError("a misspelt builtin setting must be a ConfigError")
