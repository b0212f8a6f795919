"""Exact convolutions over sparse label stacks, computed as embedding-bag sums instead of wide convolutions.

A convolution reads, at every output pixel, ``k*k`` taps of every input channel. When the input is a one-hot
label stack, only one channel per frame is non-zero at each tap, so the output is the sum over the taps of the
weight column of the label found there: an embedding-bag sum over a table with one row per (frame, tap,
label). Average-pooled one-hot stacks (the coarser scales of the generator pyramid) have a few non-zero
channels per pixel; they are split into "layers" (the first, second, ... non-zero channel of every pixel) and
summed with per-sample weights. Both give the convolution's result up to float rounding, at a fraction of its
cost when the stack has many channels (3 frames x 36 channels for Cityscapes).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.networks.memory_format import BLOCK_BYTES, is_channels_last


class OneHotInput(NamedTuple):
    """A generator input stack known to be one-hot labels (plus optional extra channels) per frame.

    The stack it stands for is, frame by frame, ``[one_hot(ids[:, t]) (label_nc), extra[:, t] (E)]``.

    Attributes:
        ids: (B, T, H, W) int64 label ids in ``[0, label_nc)``.
        label_nc: Number of one-hot channels per frame.
        extra: (B, T, E, H, W) further channels per frame (e.g. the instance-edge map), or None.
    """

    ids: Tensor
    label_nc: int
    extra: Optional[Tensor]

    def frames(self, start: int, stop: int) -> "OneHotInput":
        """Frames ``start .. stop-1`` of the stack (views)."""
        extra = None if self.extra is None else self.extra[:, start:stop]
        return OneHotInput(self.ids[:, start:stop], self.label_nc, extra)


class SparseLayers(NamedTuple):
    """A (B, T, C, H, W) stack stored as its non-zero entries, ``K`` layers deep.

    Layer ``j`` holds, at each pixel, the channel and value of its ``j``-th non-zero entry (value 0 where the
    pixel has fewer); ``counts`` says how many layers each pixel uses.

    Attributes:
        ids: (B, T, K, H, W) int64 channel indices in ``[0, C)``.
        values: (B, T, K, H, W) the entries' values.
        counts: (B, T, H, W) non-zero entries per pixel (<= K).
        channels: C, the channels per frame of the stack.
    """

    ids: Tensor
    values: Tensor
    counts: Tensor
    channels: int


MAX_BINARY_EXTRA = 2  # binary extra channels folded into the label id (the table grows by 2**E)


def sparse_layers(stack: Tensor) -> SparseLayers:
    """Split a stack into its non-zero layers, pixels' entries ordered by decreasing magnitude.

    Args:
        stack: (B, T, C, H, W).

    Returns:
        :class:`SparseLayers` with ``K`` = the largest number of non-zero channels of any pixel (at least 1).
    """
    nonzero = stack != 0
    if stack.shape[2] < 256:  # a byte count is exact and several times faster to sum
        counts = nonzero.view(torch.uint8).sum(dim=2, dtype=torch.uint8)
    else:
        counts = nonzero.sum(dim=2)
    depth = max(int(counts.max()), 1)
    magnitude = stack if bool(stack.min() >= 0) else stack.abs()
    _, ids = magnitude.topk(depth, dim=2)
    return SparseLayers(ids, stack.gather(2, ids), counts, stack.shape[2])


def sparse_pays_off(layers: SparseLayers) -> bool:
    """Whether the layered sum is cheaper than the convolution: an embedding-bag add costs about three MACs."""
    return 3 * layers.ids.shape[2] <= layers.channels


def sparse_if_it_pays(stack: Tensor) -> Optional[SparseLayers]:
    """``stack`` (B, T, C, H, W) as :func:`sparse_layers` when their sum is cheaper than the convolution, else None."""
    layers = sparse_layers(stack)
    return layers if sparse_pays_off(layers) else None


def one_hot_stem_conv(convs: Sequence[nn.Conv2d], onehot: OneHotInput, pad: int = 3,
                      rows_per_chunk: Optional[int] = None,
                      memory_format: torch.memory_format = torch.contiguous_format) -> list[Tensor]:
    """Exact ``conv(ReflectionPad2d(pad)(stack))`` for one-hot stacks, without the wide convolution.

    Binary extra channels (the instance-edge map) are folded into the label id, so one table row holds the
    label's weights plus the edge's; other extra channels go through a normal convolution.

    Args:
        convs: Convolutions (kernel 2*pad+1, stride 1, no padding) whose input is the stack.
        onehot: The input stack, see :class:`OneHotInput`.
        pad: Reflection padding applied before the convolutions.
        rows_per_chunk: Output rows per embedding-bag call; by default as many as keep one call's output
            near :data:`models.networks.memory_format.BLOCK_BYTES`, so it is still in cache when it is transposed into
            the (B, O, H, W) result.
        memory_format: Layout of the results (``torch.channels_last`` for a channels-last network).

    Returns:
        One (B, out_nc_i, H, W) tensor per convolution.
    """
    ids, label_nc, extra = onehot
    frames, k = ids.shape[1], 2 * pad + 1
    n_extra = extra.shape[2] if extra is not None else 0
    weight, bias = _stacked(convs, frames, label_nc + n_extra, k)
    fold = extra is not None and n_extra <= MAX_BINARY_EXTRA and _is_binary(extra)
    if fold:
        bits = (extra.to(torch.int64) << torch.arange(n_extra, device=ids.device).view(1, 1, -1, 1, 1)).sum(2)
        ids, table = ids * 2 ** n_extra + bits, _folded_table(weight, label_nc, n_extra)
    else:
        table = _tap_table(weight[:, :, :label_nc])
    if extra is None or fold:
        return _split(_bag_sum(table, bias, ids.unsqueeze(2), None, None, pad, rows_per_chunk, memory_format), convs,
                      memory_format)
    summed = _bag_sum(table, torch.zeros_like(bias), ids.unsqueeze(2), None, None, pad, rows_per_chunk)
    extra_in = F.pad(extra.flatten(1, 2), (pad, pad, pad, pad), mode="reflect").to(weight.dtype)
    return _split(summed + F.conv2d(extra_in, weight[:, :, label_nc:].flatten(1, 2), bias), convs, memory_format)


def sparse_stem_conv(convs: Sequence[nn.Conv2d], layers: SparseLayers, pad: int = 3,
                     rows_per_chunk: Optional[int] = None,
                     memory_format: torch.memory_format = torch.contiguous_format) -> list[Tensor]:
    """Exact ``conv(ReflectionPad2d(pad)(stack))`` for a stack given as :func:`sparse_layers`.

    Each chunk of rows sums only as many layers as its pixels use, so the cost follows the stack's sparsity.

    Args:
        convs: As :func:`one_hot_stem_conv`; their input channels are T x ``layers.channels``.
        layers: The stack, (B, T, K, H, W) layers.
        pad, rows_per_chunk, memory_format: As :func:`one_hot_stem_conv`.

    Returns:
        One (B, out_nc_i, H, W) tensor per convolution.
    """
    frames, k = layers.ids.shape[1], 2 * pad + 1
    weight, bias = _stacked(convs, frames, layers.channels, k)
    summed = _bag_sum(_tap_table(weight), bias, layers.ids, layers.values, layers.counts, pad, rows_per_chunk,
                      memory_format)
    return _split(summed, convs, memory_format)


def stem_convs(convs: Sequence[nn.Conv2d], sparse: "OneHotInput | SparseLayers", dense: Tensor,
               pad: int = 3) -> list[Tensor]:
    """``conv(ReflectionPad2d(pad)(dense))`` for each of ``convs`` by the exact embedding-bag sum, trainable.

    Without gradients this is :func:`one_hot_stem_conv` (or :func:`sparse_stem_conv` for sparse layers). When the
    convolutions' parameters need gradients, their gradients are the convolution's own (computed from ``dense``
    by the convolution's weight-gradient kernel): the embedding-bag forward is several times cheaper than the
    wide convolution, its backward is not, so training takes the fast forward and the plain backward.

    Args:
        convs: Convolutions (kernel 2*pad+1, stride 1, no padding, with bias) whose input is the stack.
        sparse: The stack as one-hot ids or sparse layers.
        dense: (B, C_in, H, W) the same stack as a tensor (read only by the backward pass).
        pad: Reflection padding applied before the convolutions.

    Returns:
        One (B, out_nc_i, H, W) tensor per convolution, in ``dense``'s layout (channels-last or contiguous).
    """
    layout = torch.channels_last if is_channels_last(dense) else torch.contiguous_format

    def forward() -> list[Tensor]:
        if isinstance(sparse, OneHotInput):
            return one_hot_stem_conv(convs, sparse, pad, memory_format=layout)
        return sparse_stem_conv(convs, sparse, pad, memory_format=layout)

    params = [p for conv in convs for p in (conv.weight, conv.bias)]
    if not (torch.is_grad_enabled() and any(p is not None and p.requires_grad for p in params)):
        return forward()
    if any(conv.bias is None for conv in convs):
        raise ValueError("the trainable sparse stem needs convolutions with a bias")
    return list(_SparseStemWithConvGrad.apply(forward, dense, pad, *params))


class _SparseStemWithConvGrad(torch.autograd.Function):
    """Forward: the embedding-bag stem; backward: the wide convolution's weight and bias gradients."""

    @staticmethod
    def forward(ctx, forward, dense: Tensor, pad: int, *params: Tensor) -> tuple[Tensor, ...]:
        ctx.save_for_backward(dense, *params[0::2])
        ctx.pad = pad
        return tuple(forward())

    @staticmethod
    def backward(ctx, *grads: Optional[Tensor]) -> tuple[Optional[Tensor], ...]:
        dense, *weights = ctx.saved_tensors
        grads = [torch.zeros(dense.shape[0], w.shape[0], *dense.shape[2:], dtype=w.dtype, device=w.device)
                 if g is None else g for g, w in zip(grads, weights)]
        padded = F.pad(dense.to(weights[0].dtype), (ctx.pad,) * 4, mode="reflect")
        weight = torch.cat(weights)
        _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
            torch.cat(grads, dim=1), padded, weight, [weight.shape[0]], [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
            [False, True, True])
        sizes = [w.shape[0] for w in weights]
        out: list[Optional[Tensor]] = [None, None, None]
        for gw, gb in zip(grad_weight.split(sizes), grad_bias.split(sizes)):
            out += [gw, gb]
        return tuple(out)


def _stacked(convs: Sequence[nn.Conv2d], frames: int, per_frame: int, k: int) -> tuple[Tensor, Tensor]:
    """The convolutions' weights as one (O, T, per_frame, k, k) tensor and their biases as one (O,) vector."""
    for conv in convs:
        if conv.kernel_size != (k, k) or conv.stride != (1, 1) or conv.padding != (0, 0) or conv.groups != 1:
            raise ValueError(f"sparse stem convs must be {k}x{k}, stride 1, unpadded, ungrouped; got {conv}")
    weight = torch.cat([c.weight.reshape(c.out_channels, frames, per_frame, k, k) for c in convs])
    bias = torch.cat([c.bias if c.bias is not None else weight.new_zeros(c.out_channels) for c in convs])
    return weight, bias


def _tap_table(weight: Tensor) -> Tensor:
    """(O, T, C, k, k) weights -> (T*k*k*C, O) table; row ``((t*k + ky)*k + kx)*C + c``."""
    return weight.permute(1, 3, 4, 2, 0).reshape(-1, weight.shape[0])


def _folded_table(weight: Tensor, label_nc: int, n_extra: int) -> Tensor:
    """Table over ids ``label * 2**E + bits``: each row is the label's weights plus those of its set extra bits.

    Args:
        weight: (O, T, label_nc + E, k, k).

    Returns:
        (T*k*k*label_nc*2**E, O).
    """
    codes = torch.arange(2 ** n_extra, device=weight.device)
    bits = ((codes.view(-1, 1) >> torch.arange(n_extra, device=weight.device)) & 1).to(weight.dtype)  # (2**E, E)
    labels = weight[:, :, :label_nc].permute(1, 3, 4, 2, 0)  # (T, k, k, L, O)
    extras = weight[:, :, label_nc:].permute(1, 3, 4, 2, 0)  # (T, k, k, E, O)
    folded = labels.unsqueeze(4) + torch.einsum("ce,tyxeo->tyxco", bits, extras).unsqueeze(3)
    return folded.reshape(-1, weight.shape[0])


def _is_binary(x: Tensor) -> bool:
    """True when every entry is exactly 0 or 1."""
    return bool(((x == 0) | (x == 1)).all())


def _bag_sum(table: Tensor, bias: Tensor, ids: Tensor, values: Optional[Tensor], counts: Optional[Tensor],
             pad: int, rows_per_chunk: Optional[int],
             memory_format: torch.memory_format = torch.contiguous_format) -> Tensor:
    """Sum, for every output pixel, the table rows of the ids under its k x k taps of every frame and layer.

    Args:
        table: (T*k*k*n_ids, O) rows indexed ``((t*k + ky)*k + kx)*n_ids + id``.
        bias: (O,) added to every pixel.
        ids: (B, T, K, H, W) integer ids in ``[0, n_ids)``.
        values: (B, T, K, H, W) per-entry weights, or None (all ones).
        counts: (B, T, H, W) layers in use per pixel, or None (all K); limits the layers each chunk sums.
        pad: Reflection padding of the ids (and values) before the taps are read.
        rows_per_chunk: Output rows per embedding-bag call, or None for about BLOCK_BYTES of output per call.
        memory_format: Layout of the result (channels-last: each chunk's sums are copied as they are).

    Returns:
        (B, O, H, W).
    """
    batch, frames, depth, height, width = ids.shape
    k, n_out = 2 * pad + 1, table.shape[1]
    n_ids = table.shape[0] // (frames * k * k)
    if rows_per_chunk is None:
        rows_per_chunk = max(1, BLOCK_BYTES // (batch * width * n_out * table.element_size()))
    # layers last, so the taps of one pixel read short contiguous runs
    padded_ids = _reflect_pad(ids.to(torch.int32).permute(0, 1, 3, 4, 2), pad)
    padded_values = None if values is None else _reflect_pad(values.to(table.dtype).permute(0, 1, 3, 4, 2), pad)
    tap_offset = (torch.arange(frames * k * k, device=ids.device, dtype=torch.int32) * n_ids).view(frames, k, k, 1)
    dense = depth if counts is None else _dense_depth(counts, depth, k)
    first_layers = functools.lru_cache(maxsize=None)(lambda x, n: x[..., :n].contiguous())  # one copy per depth
    scattered = None if dense == depth else _scattered_sums(table, padded_ids[..., dense:], padded_values[..., dense:],
                                                            k, height, width)
    out = torch.empty(batch, n_out, height, width, dtype=table.dtype, device=table.device, memory_format=memory_format)
    for row in range(0, height, rows_per_chunk):
        rows = min(rows_per_chunk, height - row)
        used = dense if counts is None else max(min(int(counts[:, :, max(row - pad, 0):row + rows + pad].max()), dense), 1)
        shape = (batch, rows, width, frames, k, k * used)
        index = torch.add(_taps(first_layers(padded_ids, used), row, rows, k),
                          tap_offset.expand(-1, -1, -1, used).flatten(2),
                          out=torch.empty(shape, dtype=torch.int32, device=ids.device))
        weights = None
        if padded_values is not None:
            weights = table.new_empty(shape).copy_(_taps(first_layers(padded_values, used), row, rows, k))
            weights = weights.view(-1, frames * k * k * used)
        bags = F.embedding_bag(index.view(-1, frames * k * k * used), table, mode="sum", per_sample_weights=weights)
        if scattered is not None:
            _add_scattered(bags.view(batch, rows * width, n_out), *scattered, row * width, (row + rows) * width,
                           height * width)
        # transpose into (B, O, rows, W) while the chunk is in cache, adding the bias on the way
        out[:, :, row:row + rows] = bags.view(batch, rows, width, n_out).permute(0, 3, 1, 2) + bias.view(1, -1, 1, 1)
    return out


SCATTER_COST = 16  # cost of one scattered entry (sorting included) relative to one entry of the dense bags


def _dense_depth(counts: Tensor, depth: int, k: int) -> int:
    """How many layers to sum densely; entries of deeper layers (few pixels have them) are scattered.

    Dense layers cost ``T*k*k`` entries per output pixel each; an entry of a deeper layer costs ``k*k``
    scattered entries, each :data:`SCATTER_COST` times dearer. Returns the cheapest depth.
    """
    batch, frames, height, width = counts.shape
    at_least = torch.bincount(counts.flatten().long(), minlength=depth + 1).flip(0).cumsum(0).flip(0).tolist()
    beyond = [sum(at_least[c] for c in range(d + 1, depth + 1)) for d in range(depth + 1)]  # entries past d
    cost = [batch * height * width * frames * k * k * d + SCATTER_COST * k * k * beyond[d] for d in range(1, depth + 1)]
    return 1 + min(range(depth), key=cost.__getitem__)


def _scattered_sums(table: Tensor, ids: Tensor, values: Tensor, k: int, height: int,
                    width: int) -> tuple[Tensor, Tensor]:
    """Per output pixel, the sum of the contributions of the non-zero entries of padded layers ``ids``/``values``.

    Each entry at padded position (y, x) adds its table row for tap (ky, kx) to output pixel (y-ky, x-kx);
    the rows are grouped by output pixel and summed with one embedding-bag call.

    Args:
        table: As :func:`_bag_sum`.
        ids, values: (B, T, H + k - 1, W + k - 1, K') padded layers not summed densely.
        k: Kernel size.
        height, width: Output size (H, W).

    Returns:
        Sorted flat output pixels ``b*H*W + y*W + x`` (U,) that receive something, and their sums (U, O).
    """
    n_ids = table.shape[0] // (ids.shape[1] * k * k)
    b, t, y, x, layer = values.nonzero(as_tuple=True)
    entry_ids, entry_values = ids[b, t, y, x, layer].long(), values[b, t, y, x, layer]
    ky, kx = (grid.reshape(1, -1) for grid in torch.meshgrid(torch.arange(k, device=ids.device),
                                                              torch.arange(k, device=ids.device), indexing="ij"))
    out_y, out_x = y.view(-1, 1) - ky, x.view(-1, 1) - kx  # (N, k*k) output pixel each tap lands on
    inside = (out_y >= 0) & (out_y < height) & (out_x >= 0) & (out_x < width)
    pixel = ((b.view(-1, 1) * height + out_y) * width + out_x)[inside]
    rows = (((t.view(-1, 1) * k + ky) * k + kx) * n_ids + entry_ids.view(-1, 1))[inside]
    weights = entry_values.view(-1, 1).expand(-1, k * k)[inside]
    pixel, order = pixel.sort()
    unique, per_pixel = pixel.unique_consecutive(return_counts=True)
    offsets = torch.cat([per_pixel.new_zeros(1), per_pixel.cumsum(0)[:-1]])
    return unique, F.embedding_bag(rows[order], table, offsets, mode="sum", per_sample_weights=weights[order])


def _add_scattered(bags: Tensor, pixel: Tensor, sums: Tensor, start: int, stop: int, plane: int) -> None:
    """Add the scattered sums of output pixels ``start <= p < stop`` of every image to one chunk's bag sums.

    Args:
        bags: (B, stop - start, O) the chunk's sums, updated in place.
        pixel, sums: From :func:`_scattered_sums` (flat pixel ``b*plane + p``).
        start, stop: The chunk's pixel range within one image.
        plane: H*W.
    """
    for b in range(bags.shape[0]):
        bounds = torch.tensor([b * plane + start, b * plane + stop], device=pixel.device)
        first, last = torch.searchsorted(pixel, bounds).tolist()
        if last > first:
            bags[b].index_add_(0, pixel[first:last] - (b * plane + start), sums[first:last])


def _reflect_pad(x: Tensor, pad: int) -> Tensor:
    """``ReflectionPad2d(pad)`` of dims 2 and 3 of a (B, T, H, W, K) tensor, for any dtype (integer ids too)."""
    rows = _reflected(x.shape[2], pad, x.device)
    cols = _reflected(x.shape[3], pad, x.device)
    return x.index_select(2, rows).index_select(3, cols)


def _reflected(size: int, pad: int, device: torch.device) -> Tensor:
    """Source index of each of the ``size + 2*pad`` positions of a reflection-padded axis."""
    if pad >= size:
        raise ValueError(f"reflection padding {pad} needs more than {pad} pixels along each axis; got {size}")
    index = torch.arange(-pad, size + pad, device=device).abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def _taps(x: Tensor, row: int, rows: int, k: int) -> Tensor:
    """Every output pixel's taps of output rows ``row .. row+rows-1``, as a strided view of ``x``.

    Args:
        x: (B, T, H + k - 1, W + k - 1, K) contiguous padded layers.

    Returns:
        (B, rows, W, T, k, k*K) view: ``[b, r, c, t, ky, kx*K + j] = x[b, t, row + r + ky, c + kx, j]``; its last
        dim is contiguous, so filling a buffer from it copies runs of k*K elements.
    """
    batch, frames, padded_h, padded_w, depth = x.shape
    s_b, s_t, s_h, s_w, _ = x.stride()
    size = (batch, rows, padded_w - k + 1, frames, k, k * depth)
    return x.as_strided(size, (s_b, s_h, s_w, s_t, s_h, 1), x.storage_offset() + row * s_h)


def _split(summed: Tensor, convs: Sequence[nn.Conv2d],
           memory_format: torch.memory_format = torch.contiguous_format) -> list[Tensor]:
    """(B, sum O_i, H, W) -> one (B, O_i, H, W) per convolution, contiguous in ``memory_format`` (views when B is 1
    and the layout is the default one)."""
    parts = summed.split([c.out_channels for c in convs], dim=1)
    return [part.contiguous(memory_format=memory_format) for part in parts]
