"""Speed helpers for training on the hardware people have: threads, length buckets, a lean loss.

Three things TRL's defaults leave on the table, each kept here as a small function the trainer in
``studio.engine.train.sft`` calls. ``configure_threads`` gives PyTorch one thread per physical
core (hyper-threads only fight over the same matrix units). ``length_buckets`` splits one batch
into groups of rows of similar length, so short rows are not padded to the longest one; the batch,
and so what is learned, stays exactly the same. ``selected_cross_entropy`` projects only the
positions that are trained (assistant tokens) through the language-model head, in chunks, and
computes the gradient in the same pass, so the ``tokens x vocabulary`` logits of prompt, system and
padding positions are never built and nothing is recomputed in the backward pass.
"""

from __future__ import annotations

import os

import torch

# Rows projected through the LM head at once: bounds the fp32 logits to rows x vocab x 4 bytes
# (about 100 MB for a 49k vocabulary) whatever the batch.
LOSS_CHUNK_ROWS = 512

# What one extra forward call costs, in padded tokens, when deciding whether to split a batch.
# On a CPU a call's fixed cost is small next to its per-token work; on a GPU small calls leave the
# device idle, so a batch is split only when padding would waste far more.
BUCKET_OVERHEAD_TOKENS = {"cpu": 64, "cuda": 4096}


def physical_cores() -> int:
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:  # psutil is optional; logical cores are a safe upper bound
        cores = None
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, allowed or cores))


def configure_threads() -> int:
    """One intra-op thread per physical core on CPU, unless the user set OMP_NUM_THREADS."""
    if torch.cuda.is_available() or os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    cores = physical_cores()
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)
    return cores


def length_buckets(lengths: list[int], overhead: int) -> list[list[int]]:
    """Row indices grouped so that ``sum(rows x longest) + overhead x groups`` is smallest.

    Rows are sorted longest first and cut into contiguous groups by an exact dynamic programme
    (a batch holds a handful of rows, so the quadratic search is free).
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    n = len(order)
    best = [0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end):
            cost = best[start] + (end - start) * lengths[order[start]] + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], n
    while end > 0:
        groups.append(order[cut[end]:end])
        end = cut[end]
    return groups[::-1]


def selected_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                           compute_dtype: torch.dtype) -> torch.Tensor:
    """Summed cross-entropy of ``hidden @ weight.T`` against ``targets``, chunked over rows.

    ``hidden`` holds only the positions that are trained ([K, H]); ``weight`` is the LM head
    ([V, H]). Matmuls run in ``compute_dtype``; the softmax and the sum in fp32.
    """
    needs_grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    if not needs_grad:
        with torch.no_grad():
            return _FusedLinearCrossEntropy.forward(None, hidden, weight, targets, compute_dtype)
    return _FusedLinearCrossEntropy.apply(hidden, weight, targets, compute_dtype)


class _FusedLinearCrossEntropy(torch.autograd.Function):
    """LM head + cross-entropy whose gradients are formed while the logits of a chunk exist."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, compute_dtype):
        want_hidden = ctx is not None and hidden.requires_grad
        want_weight = ctx is not None and weight.requires_grad
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden, dtype=torch.float32) if want_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if want_weight else None
        w = weight.to(compute_dtype)
        with torch.autocast(hidden.device.type, enabled=False):  # dtypes are chosen explicitly
            for start in range(0, hidden.shape[0], LOSS_CHUNK_ROWS):
                h = hidden[start:start + LOSS_CHUNK_ROWS].to(compute_dtype)
                t = targets[start:start + LOSS_CHUNK_ROWS]
                logits = (h @ w.t()).float()
                log_z = torch.logsumexp(logits, dim=-1)
                total += (log_z - logits.gather(1, t[:, None]).squeeze(1)).sum()
                if not (want_hidden or want_weight):
                    continue
                # d(sum CE)/d logits = softmax - one_hot, built in place over the logits
                grad = logits.sub_(log_z[:, None]).exp_()
                grad[torch.arange(t.shape[0], device=t.device), t] -= 1.0
                grad = grad.to(compute_dtype)
                if want_hidden:
                    grad_hidden[start:start + LOSS_CHUNK_ROWS] = grad @ w
                if want_weight:
                    grad_weight += (grad.t() @ h).float()
        if ctx is not None:
            ctx.save_for_backward(grad_hidden, grad_weight)
            ctx.dtypes = (hidden.dtype, weight.dtype)
        return total

    @staticmethod
    def backward(ctx, grad_total):
        grad_hidden, grad_weight = ctx.saved_tensors
        hidden_dtype, weight_dtype = ctx.dtypes
        if grad_hidden is not None:
            grad_hidden = (grad_hidden * grad_total).to(hidden_dtype)
        if grad_weight is not None:
            grad_weight = (grad_weight * grad_total).to(weight_dtype)
        return grad_hidden, grad_weight, None, None
