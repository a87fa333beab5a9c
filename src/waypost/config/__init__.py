"""Parse a project's config files into ``waypost.model`` values.

Three formats: ``waypost.yaml`` (native), ``valohai.yaml`` (its ``- endpoint:``
entries, as Valohai writes them) and Modelbit's ``endpoints/<alias>.yaml``. A bad
file gives one ``InvalidSpec`` listing every problem of every file, each with its
file, line and column.

Pure parsing: the only I/O is reading files, in ``folder.py``. May import only
``waypost.model`` and ``waypost.errors``, plus pydantic and PyYAML.
"""

from waypost.config.folder import load_folder
from waypost.config.modelbit import parse_alias_file
from waypost.config.native import parse_waypost_yaml
from waypost.config.project import ProjectConfig
from waypost.config.valohai import parse_valohai_yaml
from waypost.config.values import parse_memory

__all__ = [
    "ProjectConfig",
    "load_folder",
    "parse_alias_file",
    "parse_memory",
    "parse_valohai_yaml",
    "parse_waypost_yaml",
]
