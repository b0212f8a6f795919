"""Convert a published Fast-Vid2Vid checkpoint (a pickled whole ``nn.Module``) into a state dict, running nothing.

Usage: ``python scripts/convert_fast_vid2vid.py IN.pth OUT.pth``

Fast-Vid2Vid saves ``torch.save(net)`` of whole modules (``latest_net_G0.pth``, ``latest_net_D.pth``,
``latest_net_D_T0.pth``, ...), which ``torch.load`` can only open by running the pickle with the original
code importable. This script reads the pickle with :func:`util.safe_pickle.load_pickled_module` (inert
stand-ins, no code from the file runs), accepts only the published classes (``SRMobileCompositeGenerator``
or ``CompositeGenerator`` for G0, ``MultiscaleDiscriminator`` for D / D_T*), reads the flags the network was
built with from its tensor shapes, checks that the weights load strictly into our network built with those
flags, prints the flags, and writes the state dict. Anything else is refused with an ``error:`` message.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))  # the repository

from torch import Tensor, nn  # noqa: E402

from models.networks import GeneratorConfig, build_generator  # noqa: E402
from models.networks.discriminators import MultiscaleDiscriminator  # noqa: E402
from util.checkpoint import CheckpointError, atomic_save, load_state_dict_strict  # noqa: E402
from util.safe_pickle import PickledObject, load_pickled_module  # noqa: E402

#: Published generator classes -> our ``--netG``.
GENERATOR_CLASSES = {"models.networks.SRMobileCompositeGenerator": "sr_mobile_composite",
                     "models.networks.CompositeGenerator": "composite"}
DISCRIMINATOR_CLASSES = ("models.networks.MultiscaleDiscriminator",)


@dataclass(frozen=True)
class Detected:
    """What a checkpoint holds and the flags that rebuild it.

    Attributes:
        kind: ``"generator"`` or ``"discriminator"``.
        flags: Our command-line flags for the network (e.g. ``["--netG", "sr_mobile_composite", ...]``).
        notes: What the weights cannot tell, or what the pickled options said.
    """

    kind: str
    flags: list[str]
    notes: list[str] = field(default_factory=list)


def _count(state: dict[str, Tensor], pattern: str) -> int:
    """Number of keys matching ``pattern`` (a full-match regex)."""
    return sum(1 for key in state if re.fullmatch(pattern, key))


def _shape(state: dict[str, Tensor], key: str) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"no {key} in the checkpoint: not the published generator layout")
    return tuple(state[key].shape)


def _pickled_opt(attributes: dict[str, Any]) -> dict[str, Any]:
    """The fields of the pickled ``opt`` (an ``argparse.Namespace`` stand-in), or {}."""
    opt = attributes.get("opt")
    return dict(opt.pickled_state) if isinstance(opt, PickledObject) else {}


def generator_config(state: dict[str, Tensor]) -> GeneratorConfig:
    """The :class:`GeneratorConfig` a published single-scale generator state dict was built with.

    Raises:
        CheckpointError: when the shapes are not a composite generator's.
    """
    ngf, stack_nc = _shape(state, "model_down_seg.1.weight")[:2]
    prev_nc = _shape(state, "model_down_img.1.weight")[1]
    output_nc = _shape(state, "model_final_img.1.weight")[0]
    n_down = sum(1 for key, value in state.items()
                 if re.fullmatch(r"model_down_seg\.\d+\.weight", key) and value.dim() == 4 and value.shape[-1] == 3)
    block = r"\.\d+\.(conv\.0|conv_block\.1)\.weight"
    n_enc, n_res = _count(state, "model_down_seg" + block), _count(state, "model_res_img" + block)
    n_blocks = n_enc + n_res
    n_frames_g = prev_nc // output_nc + 1
    if prev_nc % output_nc or stack_nc % n_frames_g or n_enc != n_blocks - n_blocks // 2:
        raise CheckpointError(f"inconsistent generator shapes: label stack {stack_nc}, previous frames {prev_nc}, "
                              f"output {output_nc}, blocks {n_enc}+{n_res}")
    return GeneratorConfig(
        input_nc=stack_nc // n_frames_g, output_nc=output_nc, n_frames_G=n_frames_g, ngf=ngf, n_downsampling=n_down,
        n_blocks=n_blocks, norm="batch" if "model_down_seg.2.weight" in state else "instance",
        fg_labels=(26,) if "indv_down.1.weight" in state else (), no_flow="model_final_flow.1.weight" not in state)


def _input_flags(config: GeneratorConfig, opt: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Flags and notes for the per-frame input channels (exact when the pickled opt says how they were made)."""
    if opt.get("label_nc", 0):
        flags = ["--label_nc", str(opt["label_nc"])] + (["--use_instance"] if opt.get("use_instance") else [])
        return flags, []
    if "input_nc" in opt and not opt.get("use_instance"):
        return ["--input_nc", str(opt["input_nc"])], []
    note = (f"per-frame input channels {config.input_nc}: --label_nc N (+1 with --use_instance) or --input_nc "
            f"{config.input_nc} with --label_nc 0; the weights cannot tell which")
    return [], [note]


def generator_flags(net_g: str, config: GeneratorConfig, opt: dict[str, Any]) -> Detected:
    """Our flags for a generator of ``config`` (``opt``: the pickled options, possibly empty)."""
    flags = ["--netG", net_g, "--ngf", str(config.ngf), "--n_downsample_G", str(config.n_downsampling),
             "--n_blocks", str(config.n_blocks), "--n_frames_G", str(config.n_frames_G)]
    flags += ["--fg"] if config.use_fg else []
    flags += ["--no_flow"] if config.no_flow else []
    flags += ["--norm", "instance"] if config.norm == "instance" else []
    input_flags, input_notes = _input_flags(config, opt)
    flags += input_flags
    notes = [f"from the shapes: ngf {config.ngf}, {config.n_downsampling} downsamplings, {config.n_blocks} blocks, "
             f"fg {'yes' if config.use_fg else 'no'}, input {config.input_nc * config.n_frames_G} channels = "
             f"{config.n_frames_G} frames x {config.input_nc}"] + input_notes
    if config.use_fg and opt.get("fg_labels") not in (None, [26], "26"):
        labels = opt["fg_labels"]
        flags += ["--fg_labels", ",".join(map(str, labels)) if isinstance(labels, list) else str(labels)]
    if opt.get("dataset_mode") in ("face", "pose"):
        flags += ["--dataset_mode", str(opt["dataset_mode"])]
    flags += ["--loadSize", str(opt["loadSize"])] if "loadSize" in opt else []
    if net_g == "sr_mobile_composite":
        if "name" in opt:
            student = "teacher" not in str(opt["name"])
            flags += ["--student"] if student else []
            notes.append(f"pickled --name {opt['name']!r}: the published code made it a "
                         f"{'student' if student else 'teacher'} ('teacher' in the name or not)")
        else:
            notes.append("teacher or student: the weights have the same shapes; add --student for the student")
    return Detected("generator", flags, notes)


def discriminator_module(state: dict[str, Tensor]) -> tuple[MultiscaleDiscriminator, Detected]:
    """Our :class:`MultiscaleDiscriminator` with the published one's layout, and its flags."""
    interm = any(key.startswith("scale0_layer") for key in state)
    num_d = len({m.group(1) for key in state if (m := re.match(r"(?:scale|layer)(\d+)[._]", key))})
    if num_d == 0:
        raise CheckpointError("no scale<i>_layer<j> / layer<i> weights: not the published discriminator layout")
    if interm:
        n_layers = len({key.split(".")[0] for key in state if key.startswith("scale0_")}) - 2
        first = f"scale{num_d - 1}_layer0.0.weight"
    else:
        n_layers = sum(1 for key, value in state.items()
                       if re.fullmatch(r"layer0\.\d+\.weight", key) and value.dim() == 4) - 2
        first = f"layer{num_d - 1}.0.weight"
    ndf, input_nc = _shape(state, first)[:2]
    norm = "batch" if any(k.endswith(".1.weight") and state[k].dim() == 1 for k in state) else "instance"
    net = MultiscaleDiscriminator(input_nc=input_nc, ndf=ndf, n_layers=n_layers, norm=norm, num_D=num_d,
                                  get_interm_feat=interm)
    flags = ["--num_D", str(num_d), "--n_layers_D", str(n_layers), "--ndf", str(ndf)]
    flags += ["--norm", "instance"] if norm == "instance" else []
    flags += [] if interm else ["--no_ganFeat"]
    notes = [f"input channels {input_nc}: D reads the per-frame input + output_nc; D_T<s> reads "
             "output_nc*n_frames_D + 2*(n_frames_D-1)"]
    return net, Detected("discriminator", flags, notes)


def convert(path: str) -> tuple[dict[str, Tensor], Detected]:
    """The state dict of the published checkpoint at ``path``, checked to load strictly into our network.

    Raises:
        CheckpointError: unreadable file, a class that is not a published one, or weights our network
            built with the detected flags does not take (UnsafePickleError for a pickle that could run code).
    """
    pickled = load_pickled_module(path)
    state = dict(pickled.state_dict)
    if pickled.class_name in GENERATOR_CLASSES:
        net_g = GENERATOR_CLASSES[pickled.class_name]
        config = generator_config(state)
        net: nn.Module = build_generator(net_g, config).scales[0]
        detected = generator_flags(net_g, config, _pickled_opt(pickled.attributes))
    elif pickled.class_name in DISCRIMINATOR_CLASSES:
        net, detected = discriminator_module(state)
    else:
        known = ", ".join(list(GENERATOR_CLASSES) + list(DISCRIMINATOR_CLASSES))
        raise CheckpointError(f"{path} holds a {pickled.class_name}, not one of the published Fast-Vid2Vid "
                              f"classes ({known})")
    load_state_dict_strict(net, state, source=path)
    return state, detected


def convert_file(in_path: str, out_path: str) -> Detected:
    """Convert ``in_path`` and write the state dict to ``out_path`` (atomically); print what was found."""
    state, detected = convert(in_path)
    atomic_save(state, out_path)
    print(f"{in_path}: {detected.kind}, {len(state)} tensors -> {out_path}")
    print(f"  flags: {' '.join(detected.flags)}")
    for note in detected.notes:
        print(f"  note: {note}")
    return detected


def convert_folder(folder: str, out_folder: str) -> int:
    """Convert every ``*.pth`` under ``folder`` (an unpacked published archive) into ``out_folder``, same names.

    Returns:
        The exit code: 0 when every file converted, 1 (after an ``error:`` line per failure) otherwise.
    """
    paths = sorted(os.path.join(top, name) for top, _, names in os.walk(folder) for name in names
                   if name.endswith(".pth"))
    names = [os.path.basename(p) for p in paths]
    if not paths or len(set(names)) != len(names):
        problem = "no .pth file" if not paths else f"several files with one name ({', '.join(paths)})"
        print(f"error: {folder}: {problem}; convert by hand with python scripts/convert_fast_vid2vid.py IN OUT",
              file=sys.stderr)
        return 1
    failed, g0_flags = 0, None
    for path in paths:
        try:
            detected = convert_file(path, os.path.join(out_folder, os.path.basename(path)))
        except CheckpointError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        g0_flags = detected.flags if detected.kind == "generator" else g0_flags
    if g0_flags is not None:
        print(f"test with: python test.py --name {os.path.basename(out_folder)} "
              f"--checkpoints_dir {os.path.dirname(out_folder)} {' '.join(g0_flags)} ...")
    return 1 if failed else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line; returns the exit code (1 with an ``error:`` line on stderr for a refused file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="published checkpoint (torch.save of a whole module), e.g. latest_net_G0.pth")
    parser.add_argument("output", help="where to write the state dict")
    args = parser.parse_args(argv)
    try:
        convert_file(args.input, args.output)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
