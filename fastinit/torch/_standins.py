"""Stand-ins that keep an init routine's writes where the model's own construction would put them.

``initialize`` runs a model's initialization routine on a built model. Two kinds of
tensor are not what that routine's writes expect:

* **Tied tensors.** A model ties ``lm_head.weight`` to ``wte.weight`` after its
  layers were built and initialized one by one, so the embedding's own
  initialization (with its zero padding row) is what the tied tensor holds.
  Run on the tied model, the head's init would overwrite it. While the routine
  runs, every place of a shared tensor but its first (in ``named_parameters``
  order) holds a meta tensor of its shape; the places are restored afterwards.
* **Parametrized weights.** ``torch.nn.utils.parametrizations`` (``weight_norm``,
  ``spectral_norm``, ``orthogonal``, any ``register_parametrization``) compute
  ``module.weight`` from original tensors at each access, and the older hooks
  (``torch.nn.utils.weight_norm``, ``spectral_norm``) keep a plain tensor that
  their forward pre-hook recomputes: a write to ``module.weight`` is lost. While
  the routine runs, each such weight is a plain tensor (named as the weight of
  the unparametrized module, ``fc.weight``); afterwards, if the routine wrote it,
  its value goes into the originals as the parametrization defines it
  (``right_inverse``; the old hooks' own decomposition), and the spectral norms'
  power-iteration vectors are drawn again as at their registration, from fastinit
  streams named after their originals.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm
from torch.nn.utils.spectral_norm import SpectralNorm as _OldSpectralNorm
from torch.nn.utils.weight_norm import WeightNorm as _OldWeightNorm


class TiedPlaces:
    """Every place of a shared parameter or buffer but its first holds a meta stand-in."""

    def __init__(self, model):
        self.places = []  # (table, key, the shared tensor)
        owners, slots = set(), set()
        for _, module in model.named_modules(remove_duplicate=False):  # the order of named_parameters()
            for table in (module._parameters, module._buffers):
                for key, tensor in table.items():
                    if tensor is None or (id(table), key) in slots:
                        continue  # a module met again on another path: the same place
                    slots.add((id(table), key))
                    if id(tensor) in owners:
                        self.places.append((table, key, tensor))
                    else:
                        owners.add(id(tensor))

    def install(self):
        for table, key, tensor in self.places:
            stand_in = torch.empty_like(tensor, device="meta")
            table[key] = nn.Parameter(stand_in, requires_grad=tensor.requires_grad) \
                if isinstance(tensor, nn.Parameter) else stand_in

    def restore(self):
        for table, key, tensor in self.places:
            table[key] = tensor


class _Parametrized:
    """One parametrized weight of a module, during the routine."""

    def __init__(self, module, name, full_name, stand_in, kind, hook=None):
        self.module, self.name, self.full_name, self.stand_in = module, name, full_name, stand_in
        self.kind, self.hook = kind, hook
        self.saved = None

    def install(self):
        if self.kind == "parametrize":  # the module's class without its parametrization properties
            self.saved = type(self.module)
            self.module.__class__ = self.saved.__bases__[0]
        else:  # an old hook's plain attribute
            self.saved = self.module.__dict__.get(self.name)
        self.module.__dict__[self.name] = self.stand_in

    def restore(self):
        del self.module.__dict__[self.name]
        if self.kind == "parametrize":
            self.module.__class__ = self.saved
        elif self.saved is not None:
            self.module.__dict__[self.name] = self.saved

    def apply(self):
        """The stand-in's value into the originals (called after restore());
        the tensors it wrote."""
        module, name, value = self.module, self.name, self.stand_in
        with torch.no_grad():
            if self.kind == "parametrize":
                plist = module.parametrizations[name]
                plist.right_inverse(value)
                if plist.is_tensor:
                    for parametrization in plist:
                        if isinstance(parametrization, _SpectralNorm) and plist.original.ndim > 1:
                            _draw_power_vectors(parametrization, plist.original)
                return [*plist.parameters(), *plist.buffers()]
            if self.kind == "weight_norm":
                g, v = getattr(module, name + "_g"), getattr(module, name + "_v")
                g.copy_(torch.norm_except_dim(value, 2, self.hook.dim))
                v.copy_(value)
                module.__dict__[name] = self.hook.compute_weight(module)
                return [g, v]
            # the old spectral norm: as SpectralNorm.apply sets it up
            original, u, v = (getattr(module, name + suffix) for suffix in ("_orig", "_u", "_v"))
            original.copy_(value)
            rows, cols = self.hook.reshape_weight_to_matrix(original).shape
            u.copy_(F.normalize(original.new_empty(rows).normal_(0, 1), dim=0, eps=self.hook.eps))
            v.copy_(F.normalize(original.new_empty(cols).normal_(0, 1), dim=0, eps=self.hook.eps))
            module.__dict__[name] = original.data
            return [original, u, v]


def _draw_power_vectors(norm, original):
    """_SpectralNorm's registration: random unit u and v, then 15 power iterations."""
    matrix = norm._reshape_weight_to_matrix(original)
    rows, cols = matrix.shape
    norm._u.copy_(F.normalize(matrix.new_empty(rows).normal_(0, 1), dim=0, eps=norm.eps))
    norm._v.copy_(F.normalize(matrix.new_empty(cols).normal_(0, 1), dim=0, eps=norm.eps))
    norm._power_method(matrix, 15)


def _parametrized_shape(plist):
    """Shape of the tensor a ParametrizationList computes (evaluated on meta copies of its originals)."""
    originals = [plist.original] if plist.is_tensor else [getattr(plist, f"original{i}") for i in range(plist.ntensors)]
    if plist.is_tensor:
        return originals[0].shape
    try:
        with torch.no_grad():
            value = plist[0](*[o.detach().to("meta") for o in originals])
            for parametrization in list(plist)[1:]:
                value = parametrization(value)
        return value.shape
    except Exception:  # a parametrization that does not run on meta: the largest original's shape
        return max(originals, key=lambda o: o.numel()).shape


class ParametrizedWeights:
    """Every parametrized weight of ``model``, as a plain stand-in while the routine runs."""

    def __init__(self, model):
        self.weights = []
        for prefix, module in model.named_modules():
            full = (prefix + "." if prefix else "")
            if parametrize.is_parametrized(module):
                for name, plist in module.parametrizations.items():
                    reference = plist.original if plist.is_tensor else plist.original0
                    stand_in = torch.empty(_parametrized_shape(plist), dtype=reference.dtype, device=reference.device)
                    self.weights.append(_Parametrized(module, name, full + name, stand_in, "parametrize"))
            for hook in module._forward_pre_hooks.values():
                if isinstance(hook, _OldWeightNorm):
                    v = getattr(module, hook.name + "_v")
                    self.weights.append(_Parametrized(module, hook.name, full + hook.name, torch.empty_like(v),
                                                      "weight_norm", hook))
                elif isinstance(hook, _OldSpectralNorm):
                    original = getattr(module, hook.name + "_orig")
                    self.weights.append(_Parametrized(module, hook.name, full + hook.name, torch.empty_like(original),
                                                      "spectral_norm", hook))

    def named(self):
        """(name, stand-in) of each weight, for the streams."""
        return [(w.full_name, w.stand_in) for w in self.weights]

    def install(self):
        for weight in self.weights:
            weight.install()

    def restore(self):
        for weight in self.weights:
            weight.restore()

    def apply(self, written):
        """The stand-ins the routine wrote (their names in ``written``) into
        their originals; the tensors written."""
        return [tensor for weight in self.weights if weight.full_name in written for tensor in weight.apply()]
