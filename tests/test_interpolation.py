"""Motion-compensated key-frame interpolation: accuracy on a known motion, a pan beyond the flow's range (global
alignment), motion boundaries against the plain bidirectional warp, the fallback candidate, the timing average,
occlusions (splatting version), the label-aware rule, determinism."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from models.fast_vid2vid.interpolation import (
    FIRST_TRAJECTORIES,
    GapInterpolator,
    InterpolationConfig,
    average_over_timing,
    candidate_motions,
    confirmation,
    fill_holes,
    forward_splat,
    global_shift,
    interpolate_gap,
    key_flows,
    shifted,
    timing_spread,
    trajectory_blend,
)
from models.networks.flow.estimator import create_flow_estimator
from models.networks.warp import warp

HEIGHT, WIDTH = 96, 128
SPLAT = InterpolationConfig(method="splat")
UNALIGNED = InterpolationConfig(global_alignment=False)  # for flow stand-ins that ignore their input
METHODS = ["trajectories", "splat"]


@pytest.fixture(scope="module")
def dis():
    return create_flow_estimator("dis", None, torch.device("cpu"))


def texture(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """(3, H, W) smooth random texture in [-1, 1] (Gaussian-blurred noise, sigma 2 px)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 3, height, width, generator=generator) * 2 - 1
    taps = torch.arange(-6, 7, dtype=torch.float32).div(2).pow(2).mul(-0.5).exp()
    taps = (taps / taps.sum()).repeat(3, 1, 1, 1)
    blurred = F.conv2d(F.pad(noise, (6, 6, 0, 0), mode="reflect"), taps.view(3, 1, 1, -1), groups=3)
    blurred = F.conv2d(F.pad(blurred, (0, 0, 6, 6), mode="reflect"), taps.view(3, 1, -1, 1), groups=3)
    return ((blurred - blurred.mean()) / blurred.std() * 0.5).clamp(-1, 1)[0]


def psnr(a: torch.Tensor, b: torch.Tensor, margin: int = 0) -> float:
    """PSNR in dB of two (3, H, W) images in [-1, 1], leaving out ``margin`` pixels at every border."""
    if margin:
        a, b = a[:, margin:-margin, margin:-margin], b[:, margin:-margin, margin:-margin]
    mse = ((a - b) / 2).pow(2).mean().item()
    return 10 * math.log10(1 / max(mse, 1e-12))


def translated_frames(n_frames: int, step: tuple[int, int] = (2, 1), pad: int = 40) -> list[torch.Tensor]:
    """Crops of one large texture moving by ``step`` (x, y) pixels per frame (``pad`` spare pixels around)."""
    canvas = texture(HEIGHT + pad, WIDTH + pad)
    return [canvas[:, 10 + k * step[1]: 10 + k * step[1] + HEIGHT, 10 + k * step[0]: 10 + k * step[0] + WIDTH]
            for k in range(n_frames)]


def test_global_shift_and_aligned_flows_give_the_translation():
    image = texture(HEIGHT, WIDTH)[None]
    moved = shifted(image, 7, -5)  # moved(p) = image(p + (7, -5)), so image(p) = moved(p + (-7, 5))
    assert global_shift(image, moved) == (-7, 5)
    assert global_shift(moved, image) == (7, -5)
    flows = key_flows(image, moved, zero_flow, align=True)  # a flow that sees no residual motion
    torch.testing.assert_close(flows[0].mean((1, 2)), torch.tensor([-7.0, 5.0]))
    torch.testing.assert_close(flows[1].mean((1, 2)), torch.tensor([7.0, -5.0]))
    assert key_flows(image, moved, zero_flow).abs().max() == 0  # without alignment: the flow alone


def test_global_alignment_recovers_a_pan_beyond_the_flow_range(dis):
    frames = translated_frames(5, step=(6, 2))  # 24 px right and 8 px down between the keys: DIS alone fails
    fractions = [0.25, 0.5, 0.75]
    aligned = interpolate_gap(frames[0], frames[4], fractions, dis)
    alone = interpolate_gap(frames[0], frames[4], fractions, dis, config=UNALIGNED)
    for index, (good, bad) in enumerate(zip(aligned, alone), start=1):
        assert psnr(good, frames[index], margin=12) >= 35
        assert psnr(bad, frames[index], margin=12) < 20


@pytest.mark.parametrize("method", METHODS)
def test_known_translation_is_recovered(dis, device, method):
    frames = [f.to(device) for f in translated_frames(6)]
    gap = GapInterpolator(dis, InterpolationConfig(method=method))
    gap.push_key(frames[0], 0)
    gap.push_key(frames[5], 5)  # uneven in-between times: 1, 2, 4 of 5
    for time in (1, 2, 4):
        result = gap.frame_at(time)
        assert result.image.device.type == device.type and result.image.shape == (3, HEIGHT, WIDTH)
        assert psnr(result.image, frames[time], margin=12) >= 35
        crossfade = (1 - time / 5) * frames[0] + time / 5 * frames[5]
        assert psnr(crossfade, frames[time], margin=12) < 20
    torch.testing.assert_close(gap.frame_at(0).image, frames[0], atol=1e-3, rtol=0)  # the keys come back
    torch.testing.assert_close(gap.frame_at(5).image, frames[5], atol=1e-3, rtol=0)


def test_interpolate_gap_one_call(dis):
    frames = translated_frames(5)
    middle = interpolate_gap(frames[0], frames[4], [0.25, 0.5, 0.75], dis)
    assert len(middle) == 3
    for fraction, image in zip((1, 2, 3), middle):
        assert psnr(image, frames[fraction], margin=12) >= 35
        assert image.min() >= -1 and image.max() <= 1


def test_forward_splat_moves_and_spreads_values():
    values = torch.arange(12, dtype=torch.float32).view(1, 3, 4)
    moved = forward_splat(values, torch.tensor([1.0, 0.0]).view(2, 1, 1).expand(2, 3, 4))
    torch.testing.assert_close(moved[0, :, 1:], values[0, :, :3])  # one pixel right, the last column drops
    assert moved[0, :, 0].abs().sum() == 0
    half = forward_splat(torch.ones(1, 3, 4), torch.tensor([0.5, 0.0]).view(2, 1, 1).expand(2, 3, 4))
    torch.testing.assert_close(half[0, 0], torch.tensor([0.5, 1.0, 1.0, 1.0]))  # mass is conserved inside


def test_fill_holes_keeps_known_values_and_fills_from_neighbours():
    values = torch.full((1, 2, 8, 8), 3.0)
    known = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    known[..., 2:5, 3:7] = False
    filled = fill_holes(values * known, known)
    torch.testing.assert_close(filled, values)
    assert fill_holes(values, torch.zeros_like(known)).abs().sum() == 0


def test_confirmation_flags_pixels_without_a_match():
    image = texture(32, 32)
    other = image.clone()
    other[:, 10:20, 10:20] = 0.9  # something the other frame shows instead
    zero = torch.zeros(1, 2, 32, 32)
    confirmed = confirmation(image[None], other[None], zero, zero, InterpolationConfig())
    assert confirmed[0, 0, :8].min() > 0.99 and confirmed[0, 0, 12:18, 12:18].max() < 0.01
    outward = torch.zeros(1, 2, 32, 32)
    outward[:, 0] = 5.0  # every pixel moves 5 px right: the last 5 columns leave the picture
    confirmed = confirmation(image[None], image[None], outward, -outward, InterpolationConfig())
    assert confirmed[0, 0, :, 27:].max() == 0


def object_appearing() -> tuple[torch.Tensor, torch.Tensor, tuple[slice, slice]]:
    """A static background; key1 also shows a flat object that key0 lacks (it appears between the keys)."""
    background = texture(HEIGHT, WIDTH, seed=1)
    key1 = background.clone()
    region = (slice(30, 66), slice(40, 88))
    key1[:, region[0], region[1]] = torch.tensor([0.9, -0.8, 0.2]).view(3, 1, 1)
    return background, key1, region


def test_splatting_falls_back_to_the_nearest_key_for_an_object_appearing_between_keys():
    key0, key1, (rows, cols) = object_appearing()
    gap = GapInterpolator(zero_flow, SPLAT)  # the true flow of a static background
    gap.push_key(key0, 0)
    gap.push_key(key1, 4)
    inner = (slice(rows.start + 6, rows.stop - 6), slice(cols.start + 6, cols.stop - 6))
    early, late = gap.frame_at(1), gap.frame_at(3)
    # inside the object neither key confirms the other: the nearest key, not a ghostly cross-fade (the few
    # background pixels whose colour happens to match the object's are confirmed and blended, harmlessly)
    assert (early.key1_weight[0][inner] < 0.05).float().mean() > 0.9
    assert (late.key1_weight[0][inner] > 0.95).float().mean() > 0.9
    torch.testing.assert_close(early.image[:, inner[0], inner[1]], key0[:, inner[0], inner[1]], atol=0.15, rtol=0)
    torch.testing.assert_close(late.image[:, inner[0], inner[1]], key1[:, inner[0], inner[1]], atol=0.15, rtol=0)
    # away from the object both keys agree and are blended: the static background comes back
    assert psnr(early.image[:, :20], key0[:, :20]) >= 35


def moving_object(shifts: tuple[int, ...]) -> list[torch.Tensor]:
    """A textured 32x32 object moving right over a static textured background, at ``shifts`` pixels."""
    background = texture(HEIGHT, WIDTH, seed=2)
    patch = texture(HEIGHT, WIDTH, seed=3)[:, :32, :32] * 0.5 + 0.4
    frames = []
    for shift in shifts:
        frame = background.clone()
        frame[:, 32:64, 30 + shift: 62 + shift] = patch
        frames.append(frame)
    return frames


def object_flow(shift: float) -> "callable":
    """The true flow of :func:`moving_object` between shifts 0 and ``shift`` (both directions)."""
    def flow_fn(current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        flow = torch.zeros(2, 2, HEIGHT, WIDTH)
        flow[0, 0, 32:64, 30:62] = shift  # key0's object pixels go right
        flow[1, 0, 32:64, 30 + shift: 62 + shift] = -shift  # key1's come back
        return flow
    return flow_fn


def test_splatting_takes_the_key_that_sees_a_disocclusion():
    frames = moving_object((0, 6, 12))
    gap = GapInterpolator(object_flow(12), SPLAT)
    gap.push_key(frames[0], 0)
    gap.push_key(frames[2], 2)
    middle = gap.frame_at(1)
    # behind the object (columns 30..35 at t = 1) only key1 shows the background; ahead (68..73) only key0
    assert middle.key1_weight[0, 32:64, 30:36].min() > 0.99
    assert middle.key1_weight[0, 32:64, 68:74].max() < 0.01
    assert middle.key1_weight[0, 34:62, 38:66].sub(0.5).abs().max() < 0.01  # the object itself: both keys
    assert psnr(middle.image, frames[1]) >= 40


def plain_warp(key0: torch.Tensor, key1: torch.Tensor, flow_fn, fraction: float) -> torch.Tensor:
    """The plain bidirectional backward warp (the baseline): (3, H, W) keys -> (3, H, W)."""
    flows = flow_fn(torch.stack([key0, key1]), torch.stack([key1, key0]))
    flows = flows[0] if isinstance(flows, tuple) else flows
    return ((1 - fraction) * warp(key0[None], fraction * flows[1:2])
            + fraction * warp(key1[None], (1 - fraction) * flows[0:1]))[0]


@pytest.mark.parametrize("config, gain", [(UNALIGNED, 2), (FIRST_TRAJECTORIES, 3)])
def test_trajectories_beat_the_plain_warp_at_motion_boundaries(config, gain):
    frames = moving_object((0, 6, 12))
    middle = interpolate_gap(frames[0], frames[2], [0.5], object_flow(12), config=config)[0]  # the true flows
    plain = plain_warp(frames[0], frames[2], object_flow(12), 0.5)
    # the plain warp reads key0 through key1's flow at the same pixel: wrong along the object's edges (the
    # default's fallback candidate gives some of the disoccluded strips back to the plain warp: 2.5 dB, not 3.4)
    assert psnr(middle, frames[1]) >= psnr(plain, frames[1]) + gain
    assert psnr(middle, frames[1]) >= 27  # what is left: the disoccluded strips, cross-faded
    assert psnr(middle[:, 70:], frames[1][:, 70:]) >= 40  # away from the object: the true frame


def test_fallback_candidate_is_the_plain_warp_where_nothing_matches():
    frames = moving_object((0, 6, 12))
    key0, key1 = frames[0][None], frames[2][None]
    flows = object_flow(12)(None, None)
    motions = candidate_motions(flows, UNALIGNED.trajectory_offsets)
    plain = plain_warp(frames[0], frames[2], object_flow(12), 0.25)
    cheap = InterpolationConfig(fallback_cost=-100.0)  # the fallback agrees better than any trajectory can
    torch.testing.assert_close(trajectory_blend(key0, key1, motions, 0.25, cheap, flows).image[0], plain)
    off = InterpolationConfig(fallback_cost=math.inf)  # no fallback: the same as without the flows
    torch.testing.assert_close(trajectory_blend(key0, key1, motions, 0.25, off, flows).image,
                               trajectory_blend(key0, key1, motions, 0.25, off).image)
    # where a trajectory matches exactly (the static background), the default fallback takes almost nothing
    mixed = trajectory_blend(key0, key1, motions, 0.25, InterpolationConfig(), flows).image[0]
    torch.testing.assert_close(mixed[:, 70:], frames[1][:, 70:], atol=1e-3, rtol=0)


def motion_field(dx: float, dy: float) -> torch.Tensor:
    """(1, 2, H, W) constant key0 -> key1 motion."""
    return torch.tensor([dx, dy]).view(1, 2, 1, 1).expand(1, 2, HEIGHT, WIDTH)


def test_timing_average_blurs_along_the_motion_only():
    assert timing_spread(0.0, 4, 0.125) == 0 and timing_spread(1.0, 4, 0.125) == 0  # the keys stay exact
    assert timing_spread(0.5, 2, 0.125) > timing_spread(0.5, 4, 0.125) > 0  # in fractions: longer gaps, less
    assert timing_spread(0.5, 4, 0.0) == 0
    sideways = motion_field(20.0, 0.0)
    ramp = torch.linspace(-1, 1, WIDTH).view(1, 1, 1, WIDTH).expand(1, 3, HEIGHT, WIDTH)
    # the symmetric taps keep a linear ramp along the motion (away from the borders) ...
    torch.testing.assert_close(average_over_timing(ramp, sideways, 0.1)[..., 8:-8], ramp[..., 8:-8])
    # ... and any image that is constant along the motion
    rows = texture(HEIGHT, WIDTH)[None, :, :, :1].expand(1, 3, HEIGHT, WIDTH)
    torch.testing.assert_close(average_over_timing(rows, sideways, 0.1), rows)
    edge = torch.where(torch.arange(WIDTH) < WIDTH // 2, -1.0, 1.0).view(1, 1, 1, WIDTH).expand(1, 3, HEIGHT, WIDTH)
    blurred = average_over_timing(edge, sideways, 0.1)  # a sharp edge across the motion is spread
    assert blurred[0, 0, 0, WIDTH // 2 - 1].item() > -0.9 and blurred[0, 0, 0, WIDTH // 2].item() < 0.9
    torch.testing.assert_close(average_over_timing(edge, motion_field(0.0, 20.0), 0.1), edge)  # not across it
    assert torch.equal(average_over_timing(edge, sideways, 0.0), edge)


def test_trajectories_are_deterministic(dis):
    frames = moving_object((0, 3, 6))
    first = interpolate_gap(frames[0], frames[2], [0.25, 0.5], dis)
    second = interpolate_gap(frames[0], frames[2], [0.25, 0.5], dis)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_unknown_method_is_refused(dis):
    with pytest.raises(ValueError, match="unknown interpolation method"):
        GapInterpolator(dis, InterpolationConfig(method="nope"))


@pytest.mark.parametrize("method", METHODS)
def test_moving_object_with_dis_beats_a_cross_fade(dis, method):
    frames = moving_object((0, 3, 6))
    middle = interpolate_gap(frames[0], frames[2], [0.5], dis, config=InterpolationConfig(method=method))[0]
    crossfade = (frames[0] + frames[2]) / 2
    ours, baseline = psnr(middle, frames[1], margin=12), psnr(crossfade, frames[1], margin=12)
    assert ours >= 30 and ours >= baseline + 5


def stripe_scene(column: int, colour: torch.Tensor, base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``base`` with a 2-pixel vertical stripe of label 3 at ``column``; returns (image, labels)."""
    image, labels = base.clone(), torch.zeros(HEIGHT, WIDTH, dtype=torch.long)
    image[:, :, column: column + 2] = colour.view(3, 1, 1)
    labels[:, column: column + 2] = 3
    return image, labels


def zero_flow(current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """A flow callable that sees no motion at all (stands in for a flow that misses a thin structure)."""
    return torch.zeros(current.shape[0], 2, *current.shape[-2:])


@pytest.mark.parametrize("method", METHODS)
def test_label_rule_moves_sources_onto_the_right_label(method):
    base = torch.full((3, HEIGHT, WIDTH), -0.5)
    colour = torch.tensor([0.9, 0.9, -0.9])
    key0, labels0 = stripe_scene(20, colour, base)
    key1, labels1 = stripe_scene(28, colour, base)
    _, labels_t = stripe_scene(24, colour, base)  # the labels say where the stripe is at t = 0.5
    # no global alignment: zero_flow stands for a flow that misses the stripe, alignment would find its shift
    gap = GapInterpolator(zero_flow, InterpolationConfig(method=method, global_alignment=False))
    gap.push_key(key0, 0, labels0)
    gap.push_key(key1, 2, labels1)
    with_labels = gap.frame_at(1, labels_t)
    torch.testing.assert_close(with_labels.image[:, :, 24:26], colour.view(3, 1, 1).expand(3, HEIGHT, 2))
    assert bool(with_labels.label_match.all())  # every source found its label within the radius
    without = gap.frame_at(1)
    assert without.label_match is None
    torch.testing.assert_close(without.image[:, :, 24:26], base[:, :, 24:26])  # the flow alone misses it


@pytest.mark.parametrize("method", METHODS)
def test_label_rule_takes_the_key_whose_label_matches(dis, method):
    key0, key1, (rows, cols) = object_appearing()
    labels0 = torch.zeros(HEIGHT, WIDTH, dtype=torch.long)
    labels1 = labels0.clone()
    labels1[rows, cols] = 5
    gap = GapInterpolator(dis, InterpolationConfig(label_search_radius=2, method=method))
    gap.push_key(key0, 0, labels0)
    gap.push_key(key1, 4, labels1)
    early = gap.frame_at(1, labels1)  # the object is already there at t = 1 (the labels say so)
    inner = (slice(rows.start + 4, rows.stop - 4), slice(cols.start + 4, cols.stop - 4))
    assert bool(early.label_match[1][inner].all()) and not bool(early.label_match[0][inner].any())
    assert early.key1_weight[0][inner].min() == 1.0
    torch.testing.assert_close(early.image[:, inner[0], inner[1]], key1[:, inner[0], inner[1]], atol=0.02, rtol=0)
    # where the labels at t show a class neither key has nearby, the motion-compensated weights stand
    unknown = labels0.clone()
    unknown[inner] = 9
    torch.testing.assert_close(gap.frame_at(1, unknown).image[:, inner[0], inner[1]],
                               gap.frame_at(1).image[:, inner[0], inner[1]])


def test_interpolator_holds_two_keys_and_checks_its_input(dis):
    frames = translated_frames(4)
    gap = GapInterpolator(dis)
    with pytest.raises(RuntimeError):
        gap.push_key(frames[0], 0) or gap.frame_at(0.5)
    for time in (1, 2, 3):
        gap.push_key(frames[time], time)
    assert [key.time for key in gap.keys] == [2.0, 3.0]
    assert len(gap.fill([2.25, 2.5, 2.75])) == 3
    with pytest.raises(ValueError):
        gap.frame_at(1.5)  # outside the current gap
    with pytest.raises(ValueError):
        gap.push_key(frames[0], 3)  # time must increase
    with pytest.raises(ValueError):
        gap.fill([2.5], labels=[])
    gap.reset()
    assert gap.keys == []


def test_label_search_handles_sources_outside_the_picture():
    from models.fast_vid2vid.interpolation import snap_to_labels

    labels = torch.zeros(8, 8, dtype=torch.long)
    labels[:, 7] = 4
    wanted = torch.full((8, 8), 4, dtype=torch.long)
    far = torch.zeros(1, 2, 8, 8)
    far[:, 0] = 100.0  # every source far to the right: nothing to find
    _, matched = snap_to_labels(far, labels, wanted, 3)
    assert not bool(matched.any())
    near = torch.zeros(1, 2, 8, 8)
    near[:, 0] = 2.0  # sources up to 2 px right of the picture: the last column is within reach
    flow, matched = snap_to_labels(near, labels, wanted, 3)
    assert bool(matched[:, 4:].all())
    torch.testing.assert_close(flow[0, 0, :, 4:] + torch.arange(4, 8.0), torch.full((8, 4), 7.0))


def test_real_cityscapes_gap_beats_the_baselines(cityscapes_root, dis):
    import cv2
    import numpy as np

    def photo(index: int) -> torch.Tensor:
        files = sorted((cityscapes_root / "train_B" / "seq0000").glob("*.jpg"))
        picture = cv2.resize(cv2.imread(str(files[index])), (256, 128), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(np.ascontiguousarray(picture[:, :, ::-1])).permute(2, 0, 1).float() / 127.5 - 1

    key0, real, key1 = photo(2), photo(4), photo(6)  # keys 2 and 6 of the published rule
    ours = psnr(interpolate_gap(key0, key1, [0.5], dis)[0], real)
    assert ours > psnr((key0 + key1) / 2, real) + 1.5 and ours > psnr(key0, real) + 2
