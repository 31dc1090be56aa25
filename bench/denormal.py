"""Denormals late in training: is torch.set_flush_denormal in force in every thread that does the work?

set_flush_denormal sets the FTZ/DAZ bits of the calling thread only. OpenMP worker threads copy the bits of
the thread that creates them, at their creation (the first parallel op of that thread), and keep them. Each
variant runs in a fresh process from a late-training state (saved once by `late_state`) and reports:
- flushed: per thread of the pool, the share of denormal results flushed to 0 by a parallel op ([1.0, 0.0]:
  the calling thread flushes, its worker does not);
- ms per step of the BN model at batch 32 from that state.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from bench.bare_loop import BareLoop
from bench.common import clock

VARIANTS = {
    "off": "flush never set",
    "before_pool": "set first, before any parallel op (what a fresh Trainer does)",
    "after_pool": "set after a parallel op has started the thread pool",
    "resumed_thread": "set and trained in one thread, resumed in a new thread (the app after pause/resume)",
    "resumed_thread_set": "as resumed_thread, with the new thread setting it before its first op",
}


def late_state(job: dict) -> dict:
    """Train the BN model `late_steps` steps (flush on) and save model, optimizer and data position."""
    loop = BareLoop(dict(job, warmup=0, steps=job["late_steps"]))
    start = clock()
    loop.step(job["late_steps"])
    seconds = clock() - start
    torch.save({"model": loop.model.state_dict(), "optimizer": loop.optimizer.state_dict(),
                "data_step": loop.batches.step, "order": loop.batches._order.get_state(),
                "epoch_order": loop.batches._epoch_order}, job["path"])
    return dict(job, seconds=seconds)


def flushed_share() -> list[float]:
    """Per thread of the pool (chunk i of a parallel op runs on thread i): share of denormal results flushed to 0.

    The input is made from its bits, not from a float, so the calling thread's own flush cannot zero it first.
    """
    threads = torch.get_num_threads()
    bits = torch.full((threads << 20,), 0x00400000, dtype=torch.int32)  # 2**-127, a denormal float32
    halved = bits.view(torch.float32) * 0.5  # in parallel; 2**-128 unless FTZ/DAZ is set in that thread
    flushed = (halved.view(torch.int32) == 0).float().view(threads, -1).mean(1)
    return [round(float(share), 3) for share in flushed]


def warm_pool():
    """A parallel op: creates this thread's OpenMP workers with this thread's current FTZ/DAZ bits."""
    torch.randn(1 << 22).mul_(2).sum()


def restore(job: dict) -> BareLoop:
    loop = BareLoop(job, flush_denormal=False)  # each variant sets the flush itself
    state = torch.load(job["path"], weights_only=True)
    loop.model.load_state_dict(state["model"])
    loop.optimizer.load_state_dict(state["optimizer"])
    loop.batches.step = state["data_step"]
    loop.batches._order.set_state(state["order"])
    loop.batches._epoch_order = state["epoch_order"]
    return loop


def measure(job: dict) -> dict:
    """One variant: the flushed share and ms/step of the late state, in the thread that trains."""
    variant, out = job["variant"], {}

    def train(loop: BareLoop):
        loop.step(job["warmup"])
        start = clock()
        loop.step(job["steps"])
        out["ms_per_step"] = (clock() - start) * 1000 / job["steps"]
        out["flushed"] = flushed_share()

    def in_thread(target, *args):
        thread = threading.Thread(target=target, args=args)
        thread.start()
        thread.join()

    torch.set_flush_denormal(False)
    if variant == "before_pool":
        torch.set_flush_denormal(True)
    elif variant == "after_pool":
        warm_pool()
        torch.set_flush_denormal(True)
    loop = restore(job)
    if variant.startswith("resumed_thread"):
        def first_thread():
            torch.set_flush_denormal(True)  # as Trainer.__init__ in the app's training thread
            loop.step(job["warmup"])
            out["first_thread_flushed"] = flushed_share()

        def second_thread():
            if variant == "resumed_thread_set":
                torch.set_flush_denormal(True)
            train(loop)

        in_thread(first_thread)
        in_thread(second_thread)  # created by the main thread, which never set the flush
    else:
        train(loop)
    out["denormal_grads"] = denormal_census(loop)
    return dict(job, description=VARIANTS[variant], **out)


def denormal_census(loop: BareLoop) -> dict:
    """Denormal values in one forward/backward of the late state, flush off: where they come from."""
    torch.set_flush_denormal(False)
    tiny, counts, grads = torch.finfo(torch.float32).tiny, {}, {}
    hooks = [module.register_full_backward_hook(lambda m, gin, gout, name=name: grads.__setitem__(name, gout[0]))
             for name, module in loop.model.named_modules() if name and not list(module.children())]
    try:
        x, y = loop.batches.next()
        loss = loop.loss_fn(loop.model(x.requires_grad_(True)), y)
        loop.optimizer.zero_grad(set_to_none=True)
        loss.backward()
    finally:
        for hook in hooks:
            hook.remove()
    for name, g in list(grads.items()) + [(n + ".weight_grad", p.grad) for n, p in loop.model.named_parameters()]:
        count = int(((g != 0) & (g.abs() < tiny)).sum())
        if count:
            counts[name] = {"denormal": count, "of": g.numel(), "share": float(np.round(count / g.numel(), 4))}
    return counts
