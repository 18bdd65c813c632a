"""Rectangular regions (shards) of a tensor: which runs of the flat stream they hold.

A region of a C-order tensor of shape ``full_shape`` is a box of
``[start_d, stop_d)`` on every axis. Its elements are runs of consecutive
stream indices: the trailing axes that the region covers whole merge into one
run, so a block of rows is a single run and costs a single fill call.
"""

import math
import numbers
import operator

import numpy as np


def normalize_region(region, full_shape):
    """((start, stop) per axis) from slices or (start, stop) pairs, checked."""
    if len(region) != len(full_shape):
        raise ValueError(f"region has {len(region)} axes, the shape {tuple(full_shape)} has {len(full_shape)}")
    bounds = []
    for axis, (item, size) in enumerate(zip(region, full_shape)):
        if isinstance(item, slice):
            if item.step not in (None, 1):
                raise ValueError(f"region[{axis}] must have step 1, got {item.step}")
            start, stop, _ = item.indices(size)
        else:
            try:
                start, stop = (operator.index(v) for v in item)
            except (TypeError, ValueError) as error:
                raise TypeError(f"region[{axis}] must be a slice or a (start, stop) pair, got {item!r}") from error
            if not 0 <= start <= stop <= size:
                raise ValueError(f"region[{axis}] = ({start}, {stop}) is outside 0..{size}")
        bounds.append((start, max(start, stop)))
    return tuple(bounds)


def region_shape(bounds):
    return tuple(stop - start for start, stop in bounds)


class Rows:
    """Runs of a region at equal steps of the stream, for one fill call on a
    GPU (one kernel launch, not one per run): ``view`` is a 2-D device array
    whose row ``r`` holds the stream's elements ``offset + r * step ..``
    (the fill's ``offset``). Made by fill_region, which has checked it."""

    __slots__ = ("view", "step", "shape", "size", "dtype")

    def __init__(self, view, step):
        self.view = view
        self.step = step
        self.shape = tuple(view.shape)
        self.size = view.size
        self.dtype = view.dtype


def _device_rows(block):
    """block (a device array whose first axis indexes runs of the stream, the
    rest of its axes one run each) as a 2-D device array of its runs, or None
    where the runs can't be rows of one 2-D view."""
    if block.ndim == 2:
        return block  # any strides: the kernel writes out[r, i]
    if block.is_c_contiguous():
        return block.reshape(block.shape[0], block.size // block.shape[0] if block.shape[0] else 0)
    return None


def fill_region(fill, out, full_shape, bounds, **kwargs):
    """Call ``fill(part, offset=..., **kwargs)`` on each run of the region.

    ``out`` has the region's shape; each ``part`` is a view of it whose
    elements are consecutive in the stream of the full tensor. On a device
    array (fastinit.cuda), the runs along the last axis not covered whole
    are one ``part``, a ``Rows``, filled by one launch."""
    if out.size == 0:
        return out
    ndim = len(full_shape)
    strides = [math.prod(full_shape[d + 1:]) for d in range(ndim)]
    # axes k.. are covered whole: for a fixed index on axes < k - 1, the
    # elements on axes k - 1.. are one run of the stream
    k = ndim
    while k > 0 and bounds[k - 1] == (0, full_shape[k - 1]):
        k -= 1
    if k == 0:
        return fill(out, offset=0, **kwargs)
    lead = k - 1
    if lead and not isinstance(out, np.ndarray) and _device_rows(out[(0,) * (lead - 1)] if lead > 1 else out) is not None:
        # a device array: its runs along axis lead - 1 are rows of one launch, not a launch each
        for index in np.ndindex(*out.shape[:lead - 1]):
            offset = (sum((bounds[d][0] + index[d]) * strides[d] for d in range(lead - 1))
                      + bounds[lead - 1][0] * strides[lead - 1] + bounds[lead][0] * strides[lead])
            fill(Rows(_device_rows(out[index] if index else out), strides[lead - 1]), offset=offset, **kwargs)
        return out
    for index in np.ndindex(*out.shape[:lead]):
        offset = sum((bounds[d][0] + index[d]) * strides[d] for d in range(lead)) + bounds[lead][0] * strides[lead]
        fill(out[index], offset=offset, **kwargs)
    return out


def check_shape(shape, name="shape"):
    """A tuple of non-negative ints."""
    if type(shape) is tuple:  # the common case, without building a new tuple
        for d in shape:
            if type(d) is not int or d < 0:
                break
        else:
            return shape
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError as error:
        raise TypeError(f"{name} must be a sequence of integers, got {shape!r}") from error
    if any(d < 0 for d in dims):
        raise ValueError(f"{name} must not have negative dimensions, got {dims}")
    return dims
