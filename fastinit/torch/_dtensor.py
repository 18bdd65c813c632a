"""Sharded tensors (``torch.distributed.tensor.DTensor``): where a rank's local
shard sits inside the whole tensor.

A DTensor's elements are those of one global tensor; each rank holds a local
shard of it. Element ``i`` of a fastinit stream is the element of flat
(C-order) index ``i`` of the global tensor, so a rank fills its shard with the
stream elements at the shard's global positions: no communication, and the
gathered tensor has the bits of an unsharded fill, for any mesh.

For ``Shard``, ``_StridedShard`` (FSDP2 over tensor parallelism) and
``Replicate`` placements, the global positions along each dimension are a list
of indices; the shard is their Cartesian product. Each product of maximal
consecutive runs is a box of the global tensor, filled as a region. Other
placements (``Partial``: each rank holds a summand, not elements) have no
such positions and raise ``ValueError``.

Nothing here imports ``torch.distributed`` until a DTensor is seen.
"""

import sys

import numpy as np


def _dtensor_type():
    module = sys.modules.get("torch.distributed.tensor")
    return getattr(module, "DTensor", None) if module is not None else None


def is_dtensor(tensor):
    cls = _dtensor_type()
    return cls is not None and isinstance(tensor, cls)


def local_of(tensor):
    """A DTensor's local shard (a plain tensor sharing its memory); any other tensor itself."""
    return tensor._local_tensor if is_dtensor(tensor) else tensor


def _dimension_indices(tensor):
    """Per dimension, the global indices (int arrays) of the local shard's positions."""
    from torch.distributed.tensor.placement_types import Replicate, Shard

    try:
        from torch.distributed.tensor.placement_types import _StridedShard, _StridedShardOffsetMode
    except ImportError:  # a torch without FSDP2 x TP layouts
        _StridedShard = _StridedShardOffsetMode = None
    mesh = tensor.device_mesh
    coordinate = mesh.get_coordinate()
    indices = [np.arange(size) for size in tensor.shape]
    if coordinate is None:  # this rank is not in the mesh: it holds nothing
        return [np.arange(0) for _ in tensor.shape]
    for mesh_dim, placement in enumerate(tensor.placements):
        if isinstance(placement, Replicate):
            continue
        chunks, rank = mesh.size(mesh_dim), coordinate[mesh_dim]
        if _StridedShard is not None and isinstance(placement, _StridedShard):
            dim = placement.dim
            _, positions = placement.local_shard_size_and_offset(
                len(indices[dim]), chunks, rank, _StridedShardOffsetMode.ALL)
            positions = np.asarray(positions if positions is not None else [], dtype=np.int64)
        elif isinstance(placement, Shard):
            dim = placement.dim
            size, start = Shard.local_shard_size_and_offset(len(indices[dim]), chunks, rank)
            positions = np.arange(start, start + size) if size else np.arange(0)
        else:
            raise ValueError(
                f"a DTensor with placement {placement!r} (mesh dimension {mesh_dim}) has no element positions "
                f"in the global tensor: fastinit fills Shard and Replicate placements only")
        indices[dim] = indices[dim][positions]
    return indices


def _runs(index):
    """Maximal runs of consecutive values: [(local start, global start, length)]."""
    if index.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [index.size]))
    return [(int(a), int(index[a]), int(b - a)) for a, b in zip(starts, stops)]


def global_boxes(tensor):
    """The local shard of the DTensor ``tensor`` as boxes of its global tensor:
    a list of (index into the local shard, ((start, stop) per global axis)).

    Raises ValueError for placements without element positions, or where the
    local shard does not have the shape its placements give."""
    indices = _dimension_indices(tensor)
    local = tensor._local_tensor
    if tuple(len(i) for i in indices) != tuple(local.shape):
        raise ValueError(
            f"the local shard of a DTensor has shape {tuple(local.shape)}, its placements {tensor.placements} "
            f"give {tuple(len(i) for i in indices)}: its elements' global positions are unknown")
    boxes = [()]
    for index in indices:
        boxes = [(prefix + ((local_start, global_start, length),)) for prefix in boxes
                 for local_start, global_start, length in _runs(index)]
    return [(tuple(slice(l, l + n) for l, _, n in box), tuple((g, g + n) for _, g, n in box)) for box in boxes]
