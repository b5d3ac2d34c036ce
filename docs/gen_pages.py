"""mkdocs hook: write the generated pages at build time, from the code itself, so they cannot drift.

    reference/configuration.md   every registered component's parameters (gen_config.py)
    models.md                    the model zoo: params, MACs, paper error of every preset (gen_zoo.py)
    reference/hooks.md           every hook of resreg/hookspecs.py with its docstring (gen_hooks.py)

and fills in the table of component kinds on concepts.md (gen_kinds.py).

The pages exist only in memory (mkdocs `File.generated`); nothing is written into docs/. They show
what the registry holds in the environment that builds the site: resreg's built-ins plus any
installed plugin.
"""

from __future__ import annotations

from typing import Any

import gen_config
import gen_hooks
import gen_kinds
import gen_zoo
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

PAGES = {
    "reference/configuration.md": gen_config.page,
    "models.md": gen_zoo.page,
    "reference/hooks.md": gen_hooks.page,
}


def on_files(files: Files, config: Any) -> Files:
    for uri, make in PAGES.items():
        files.append(File.generated(config, uri, content=make()))
    return files


def on_page_markdown(markdown: str, page: Page, **_: Any) -> str:
    return gen_kinds.fill(markdown) if page.file.src_uri == "concepts.md" else markdown
