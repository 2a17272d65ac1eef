"""emb presets: the shipped configs and their sizes."""

from __future__ import annotations

from dataclasses import dataclass

from emb_cli.sources.config.spec import load_preset, preset_names


@dataclass(frozen=True)
class PresetRow:
    name: str
    vocab_size: int
    embed_dim: int
    pad_token_id: int | None
    tied: bool
    dtype: str
    initializer_range: float
    params: int


@dataclass(frozen=True)
class PresetsReport:
    presets: list[PresetRow]


def list_presets() -> PresetsReport:
    rows = []
    for name in preset_names():
        s = load_preset(name)
        rows.append(
            PresetRow(
                name=name,
                vocab_size=s.vocab_size,
                embed_dim=s.embed_dim,
                pad_token_id=s.pad_token_id,
                tied=s.tied,
                dtype=s.dtype,
                initializer_range=s.init.std,
                params=s.vocab_size * s.embed_dim,
            )
        )
    return PresetsReport(rows)
