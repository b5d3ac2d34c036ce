"""`model.feature_info` of a features-mode model: what each returned feature map is, as in timm."""

from __future__ import annotations

from typing import Any


class FeatureInfo(list):
    """A list of `{num_chs, reduction, module}` dicts, one per returned map, with timm's accessors."""

    def channels(self) -> list[int]:
        return [info["num_chs"] for info in self]

    def reduction(self) -> list[int]:
        return [info["reduction"] for info in self]

    def module_name(self) -> list[str]:
        return [info["module"] for info in self]

    def get_dicts(self) -> list[dict[str, Any]]:
        return [dict(info) for info in self]
