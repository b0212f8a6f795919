"""The evaluation as text: the terminal table and the ``metrics.json`` document."""

from __future__ import annotations

import json
import math
from typing import Any, Optional

from util.checkpoint import atomic_write_text
from util.evaluation import FRAME_MEASURES, Evaluation, SequenceScores

FORMATS = {"psnr": "{:.2f}", "ssim": "{:.4f}", "lpips": "{:.4f}", "warp_error": "{:.4g}",
           "warp_error_real": "{:.4g}"}
SET_FORMAT = "{:.3f}"
ALWAYS = ("psnr", "ssim")


def measured(evaluation: Evaluation) -> list[str]:
    """The per-frame measures present (PSNR and SSIM always; others if any frame has them)."""
    return [key for key in FRAME_MEASURES if key in ALWAYS or evaluation.overall(key) is not None]


def format_value(value: Optional[float], pattern: str = "{:.4f}") -> str:
    """``-`` for a missing value, ``inf``/``nan`` as such, else ``pattern``."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return pattern.format(value)


def table_rows(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per sequence, then ``all``) of the per-frame measures' means."""
    keys = measured(evaluation)
    header = ["sequence", "frames"] + [FRAME_MEASURES[key] for key in keys]
    rows = [[seq.name, str(len(seq.frames))] + [format_value(seq.mean(k), FORMATS[k]) for k in keys]
            for seq in evaluation.sequences]
    total = sum(len(seq.frames) for seq in evaluation.sequences)
    rows.append(["all", str(total)] + [format_value(evaluation.overall(k), FORMATS[k]) for k in keys])
    return header, rows


def set_lines(evaluation: Evaluation) -> list[str]:
    """``label: value`` for each set measure."""
    return [f"{evaluation.set_labels.get(name, name)}: {format_value(value, SET_FORMAT)}"
            for name, value in evaluation.set_scores.items()]


def format_table(evaluation: Evaluation) -> str:
    """The terminal report: the aligned table, the set measures, then the notes."""
    header, rows = table_rows(evaluation)
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header] + rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    lines += set_lines(evaluation) + [f"note: {note}" for note in evaluation.notes]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    """Floats that JSON cannot hold (inf, nan) as the strings "inf", "-inf", "nan"; containers recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def _sequence_json(seq: SequenceScores, keys: list[str]) -> dict:
    """One sequence: sizes, means and the per-frame values."""
    return {
        "name": seq.name, "real": seq.real_name, "frames": len(seq.frames),
        "generated_size": list(seq.generated_size), "real_size": list(seq.real_size),
        "mean": {key: seq.mean(key) for key in keys},
        "per_frame": [{"stem": f.stem, "fake": f.fake, "real": f.real, **{key: getattr(f, key) for key in keys}}
                      for f in seq.frames],
    }


def evaluation_json(evaluation: Evaluation, info: dict) -> dict:
    """The ``metrics.json`` document (non-finite numbers as strings, see :func:`_jsonable`)."""
    keys = measured(evaluation)
    overall = {key: evaluation.overall(key) for key in keys}
    overall.update(evaluation.set_scores)
    document = {"info": info, "overall": overall, "set_measures": evaluation.set_labels,
                "frames": sum(len(seq.frames) for seq in evaluation.sequences),
                "sequences": [_sequence_json(seq, keys) for seq in evaluation.sequences],
                "notes": evaluation.notes}
    return _jsonable(document)


def write_json(document: dict, path: str) -> None:
    """Write ``document`` as indented JSON (atomically)."""
    atomic_write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", path)
