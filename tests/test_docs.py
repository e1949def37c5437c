"""The README stays true: its feeds.yaml example loads, and it documents every key and command."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

from monitor import config as config_mod
from monitor.cli import build_parser
from monitor.config import load_config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README, flags=re.S)


def test_readme_feeds_yaml_example_is_valid(tmp_path):
    (block,) = yaml_blocks()
    path = tmp_path / "feeds.yaml"
    path.write_text(block)
    config = load_config(path)
    assert config.feeds and config.watch


def test_readme_documents_every_feeds_yaml_key():
    (block,) = yaml_blocks()
    documented: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            documented.update(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(YAML(typ="safe").load(block))
    models = [
        config_mod._FileModel,
        config_mod._PollModel,
        config_mod._FeedModel,
        config_mod._EntityModel,
        config_mod._AlertModel,
        config_mod._DigestModel,
        config_mod._DashboardModel,
    ]
    keys = {name for model in models for name in model.model_fields}
    assert keys <= documented, f"undocumented keys: {sorted(keys - documented)}"


def test_readme_documents_every_command():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        assert f"`monitor {name}" in README, name


def test_shipped_feeds_yaml_is_valid():
    config = load_config(ROOT / "feeds.yaml")
    assert len(config.feeds) >= 20
