"""Only the package list lives here: every package under the design card's folders, as renkei.<folder>.

pyproject.toml maps "renkei" to the repository root (package-dir), so `connectors/` installs as
`renkei.connectors`; tests/ and bench/ are not packaged.
"""

from setuptools import find_packages, setup

FOLDERS = ("bin", "config", "connectors", "devices", "mappings", "pipelines")

setup(
    packages=["renkei"] + [f"renkei.{name}" for name in find_packages(include=[*FOLDERS, *(f"{f}.*" for f in FOLDERS)])]
)
