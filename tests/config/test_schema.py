"""Config loading: unknown keys, wrong types and invalid values are named by dotted path."""

import dataclasses
from typing import Literal

import pytest

from mrisynth.config.schema import ConfigError, deep_merge, from_dict, parse_overrides, to_dict


@dataclasses.dataclass
class Inner:
    width: int = 8
    kind: Literal["a", "b"] = "a"
    scales: tuple[float, ...] = (1.0, 2.0)
    box: tuple[int, float] | None = None

    def __post_init__(self):
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")


@dataclasses.dataclass
class Outer:
    lr: float = 1e-3
    name: str | None = None
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_round_trip_and_coercion():
    cfg = from_dict(Outer, {"lr": "2e-4", "inner": {"width": 16.0, "scales": [1, 3]}})
    assert cfg.lr == 2e-4 and cfg.inner.width == 16 and cfg.inner.scales == (1.0, 3.0)
    assert from_dict(Outer, to_dict(cfg)) == cfg
    # fixed-length tuples: each value is coerced to its own position's type
    box = from_dict(Outer, {"inner": {"box": [3.0, 2]}}).inner.box
    assert box == (3, 2.0) and type(box[0]) is int and type(box[1]) is float
    with pytest.raises(ConfigError, match=r"inner\.box\[0\]: expected an integer"):
        from_dict(Outer, {"inner": {"box": ["x", 2]}})
    with pytest.raises(ConfigError, match=r"inner\.box: expected 2 values, got 3"):
        from_dict(Outer, {"inner": {"box": [1, 2, 3]}})


@pytest.mark.parametrize(
    "data, message",
    [
        ({"lrr": 1}, r"^lrr: unknown key; valid keys are: inner, lr, name"),
        ({"inner": {"widht": 3}}, r"^inner\.widht: unknown key"),
        ({"inner": {"width": "x"}}, r"^inner\.width: expected an integer"),
        ({"inner": {"kind": "c"}}, r"^inner\.kind: 'c' is not one of 'a', 'b'"),
        ({"inner": {"width": 0}}, r"^inner: width must be >= 1"),
        ({"lr": True}, r"^lr: expected a number"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_merge_and_overrides():
    base = {"inner": {"width": 4, "kind": "a"}, "lr": 0.1}
    merged = deep_merge(base, parse_overrides(["inner.width=32", "lr=1e-2"]))
    assert merged == {"inner": {"width": 32, "kind": "a"}, "lr": 0.01}
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_overrides(["nonsense"])
