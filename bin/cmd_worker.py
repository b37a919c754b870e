"""`renkei worker CONFIG`: run processing and delivery jobs of a PostgreSQL store (pipelines/cluster)."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import click

from renkei.bin.common import data_dir_of, data_option, handle_errors
from renkei.config.loader import load_config
from renkei.errors import ConfigError
from renkei.pipelines.migrations.runner import require_current


@click.command()
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=2, show_default=True, help="jobs run at once (threads)"
)
@click.option("--worker-id", default=None, metavar="ID", help="this worker's name in logs and job records [host:pid]")
@data_option
@handle_errors
def worker(config_file: Path, concurrency: int, worker_id: str | None, data: str | None) -> None:
    """Run jobs of the PostgreSQL store named by RENKEI_STORE_URL: any number of workers, on any host.

    `renkei run CONFIG` on the same store runs the sources (listeners, scans) and defers the jobs."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from renkei.pipelines.cluster.runner import run_worker
    except ModuleNotFoundError as exc:
        raise ConfigError(f"renkei worker needs the PostgreSQL extra: pip install 'renkei[postgres]' ({exc})") from exc

    data_dir = data_dir_of(data, load_config(config_file).config.data_dir)
    require_current(data_dir)
    run_worker(config_file, data_dir, concurrency, worker_id or f"{socket.gethostname()}:{os.getpid()}")
