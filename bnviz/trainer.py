"""Trainer: a seeded, steppable training loop that fills a RunRecord; it knows nothing of plotting or UI.

Per step it keeps the loss, batch accuracy and each layer's gradient norm on the device; every
`snapshot_every` steps it arms the Recorder and also measures the update:data ratio. All of it reaches
the host in one transfer per snapshot (or at the end of `step(n)`), so a GPU syncs once per snapshot.
Where the config asks for it (`compile`), once a CompiledStep has compiled in the background, the steps that
record nothing run their forward/backward through it, and every step its grad norms and optimizer update (the
recorded steps keep an eager forward/backward for the recorder's hooks); until then, and wherever compiling is
unavailable or fails, every step runs eager.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch._dynamo  # noqa: F401  torch.optim imports it on first use (~3 s); pay that at import, not per run
from torch import nn

from bnviz import compiled_step
from bnviz.config import ConfigError, RunConfig
from bnviz.data import Dataset, load_dataset
from bnviz.models import blocks, build_model, is_batchnorm, weight_layers
from bnviz.record import RunRecord
from bnviz.recorder import Recorder

# Test images per eval-mode forward. On a CPU small chunks keep the conv maps in cache (1,000 test images:
# 0.3 s in chunks of 32, 0.8 s in chunks of 500, on this project's 2-core machine); a GPU wants big ones.
EVAL_CHUNK_CPU, EVAL_CHUNK_ACCELERATOR = 32, 1000
GAP_IMAGES = 256  # test images used for the train-mode vs eval-mode accuracy gap


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.insert(0, "cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.insert(0, "mps")
    return devices


def resolve_device(name: str) -> torch.device:
    present = available_devices()
    if name == "auto":
        return torch.device(present[0])
    if name not in present:
        raise ConfigError("device", name, f"not present on this machine; available: auto, {', '.join(present)}")
    return torch.device(name)


def make_optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class Trainer:
    """Train `cfg` step by step: `step(n)` runs n more steps and returns the record so far."""

    def __init__(self, cfg: RunConfig, dataset: Dataset | None = None):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        data = dataset or load_dataset(cfg.dataset)
        self.x_train, self.y_train, self.x_test, self.y_test = data.tensors(self.device)
        self.model = build_model(cfg).to(self.device)
        self.optimizer = make_optimizer(cfg, self.model.parameters())
        self.loss_fn = nn.CrossEntropyLoss()
        self.weights = weight_layers(self.model)
        self._weight_list = list(self.weights.values())
        self.recorder = Recorder(self.model, cfg.activation, cfg.hist_bins)
        sites = blocks(self.model)
        self.record = RunRecord(cfg, {site: block.width for site, block in sites.items()}, list(self.weights),
                                [site for site, block in sites.items()
                                 if is_batchnorm(block.norm)])
        self.steps_done = 0
        self._order = torch.Generator().manual_seed(cfg.seed)  # data order, separate from init
        self._epoch_order = torch.empty(0, dtype=torch.long)
        self._pending: list[tuple] = []  # per-step device tensors not yet on the host
        self._clock = time.perf_counter()
        self._compiled: compiled_step.CompiledStep | None = None
        self._eager_mode = "eager"
        if cfg.wants_compile and (reason := compiled_step.unavailable(self.device)):
            self._eager_mode = f"eager (compile unavailable: {reason})"

    @property
    def mode(self) -> str:
        """Which step runs the plain steps: eager | compiling | compiled | eager (compile failed: ...)."""
        if self._compiled is None:
            return self._eager_mode
        if not self._compiled.is_ready():
            return "compiling"
        return f"eager (compile failed: {self._compiled.error})" if self._compiled.error else "compiled"

    def start_compile(self) -> compiled_step.CompiledStep | None:
        """Begin compiling the plain step in the background (once); training goes on eager meanwhile."""
        if self._compiled is None and self._eager_mode == "eager" and self.cfg.wants_compile:
            bs = self.cfg.batch_size
            self._compiled = compiled_step.CompiledStep(self.cfg, self.device, self.model, self.optimizer,
                                                        self._weight_list, self.x_train[:bs], self.y_train[:bs])
        return self._compiled

    @property
    def done(self) -> bool:
        return self.record.status != "running"

    def step(self, n: int = 1) -> RunRecord:
        """Train up to n more steps (never past cfg.steps, never after divergence)."""
        # Late in training denormal gradients appear (a saturated softmax), slow on some x86 CPUs. The
        # flag is per thread and OpenMP workers copy it when created: set it in whichever thread steps.
        torch.set_flush_denormal(True)
        self._clock = time.perf_counter()  # time between calls is not training time
        self.model.train()
        try:
            for _ in range(n):
                if self.done:
                    break
                self._train_step()
                if self.steps_done == self.cfg.steps and not self.done:
                    self._flush()
                    self.evaluate()
                    self.record.end("finished")
            self._flush()
            self.start_compile()  # after the first call's steps: the first chart never waits for the compiler
            self.record.mode = self.mode
        except Exception as err:  # the record so far is kept, marked failed with the message; the caller decides
            self.fail(f"{type(err).__name__}: {err}")
            raise
        return self.record

    def stop(self):
        """End the run early; the record so far is kept."""
        self._flush()
        if not self.done:
            self.record.end("stopped", self.steps_done)
        self.recorder.close()

    def fail(self, message: str):
        """End the run as failed at the current step, keeping every step recorded before it."""
        self._pending = [p for p in self._pending if p[0] < self.steps_done]  # complete steps only
        try:
            self._flush()
        except Exception:  # noqa: BLE001  the values of the failing chunk are lost, not the record
            self._pending = []
        if not self.done:
            self.record.end("failed", self.steps_done, message)
        self.recorder.close()

    # --- one step ---------------------------------------------------------------------------
    def _next_batch(self):
        start = (self.steps_done * self.cfg.batch_size) % len(self.x_train)
        if start + self.cfg.batch_size > len(self._epoch_order) or start == 0:
            self._epoch_order = torch.randperm(len(self.x_train), generator=self._order).to(self.device)
            start = 0
        index = self._epoch_order[start: start + self.cfg.batch_size]
        return self.x_train[index], self.y_train[index]

    def _train_step(self):
        step = self.steps_done
        snapshot = step % self.record.snapshot_every == 0
        x, y = self._next_batch()
        compiled = self._compiled if self.mode == "compiled" else None
        if compiled and not snapshot:
            loss, accuracy = compiled.forward_backward(x, y)
        else:  # eager: the recorder's hooks see this forward
            if snapshot:
                self.recorder.arm()
            logits = self.model(x)
            measured = self.recorder.collect() if snapshot else None
            loss = self.loss_fn(logits, y)
            accuracy = (logits.detach().argmax(1) == y).float().mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        before = [w.detach().clone() for w in self._weight_list] if snapshot else None
        if compiled:  # the grad norms and the optimizer's update, compiled on every step
            grad_norm = compiled.update()
        else:
            grad_norm = torch.stack(torch._foreach_norm([w.grad for w in self._weight_list]))
            self.optimizer.step()
        self._pending.append((step, loss.detach(), accuracy, grad_norm))
        self.steps_done += 1
        if snapshot:
            delta = torch._foreach_sub([w.detach() for w in self._weight_list], before)
            ratio = torch.stack(torch._foreach_norm(delta)) / torch.stack(torch._foreach_norm(before)).clamp(min=1e-12)
            self._flush(dict(measured, update_ratio=ratio), step)
        if self.steps_done % self.cfg.eval_interval == 0 and self.steps_done < self.cfg.steps and not self.done:
            self._flush()
            self.evaluate()

    # --- moving results to the host -------------------------------------------------------------
    def _flush(self, snapshot: dict[str, torch.Tensor] | None = None, snapshot_step: int | None = None):
        """Bring pending step values (and a snapshot) to the host in one transfer and append them."""
        if not self._pending:
            return
        steps = [p[0] for p in self._pending]
        tensors = {"loss": torch.stack([p[1] for p in self._pending]),
                   "train_acc": torch.stack([p[2] for p in self._pending]),
                   "grad_norm": torch.stack([p[3] for p in self._pending])}
        tensors.update(snapshot or {})
        host = _to_host(tensors)
        now = time.perf_counter()
        ms = (now - self._clock) * 1000 / len(steps)
        self._clock, self._pending = now, []
        bad = np.flatnonzero(~np.isfinite(host["loss"]))
        keep = len(steps) if not len(bad) else bad[0] + 1
        for i in range(keep):
            self.record.steps.append(step=steps[i], loss=host["loss"][i], train_acc=host["train_acc"][i],
                                     ms_per_step=np.float32(ms), grad_norm=host["grad_norm"][i])
        if snapshot is not None and snapshot_step <= steps[keep - 1]:
            columns = {k: v for k, v in host.items() if k not in ("loss", "train_acc", "grad_norm")}
            self.record.add_snapshot(step=snapshot_step, **_as_record_dtypes(columns))
        if len(bad):
            self.record.end("diverged", steps[bad[0]])

    @torch.no_grad()
    def evaluate(self):
        """Test loss/accuracy in eval mode, and train- vs eval-mode accuracy on the same batches."""
        model = self.model
        model.eval()
        loss_sum = torch.zeros((), device=self.device)
        hits = []
        chunk = EVAL_CHUNK_CPU if self.device.type == "cpu" else EVAL_CHUNK_ACCELERATOR
        for i in range(0, len(self.x_test), chunk):
            logits = model(self.x_test[i: i + chunk])
            y = self.y_test[i: i + chunk]
            loss_sum += self.loss_fn(logits, y) * len(y)
            hits.append(logits.argmax(1) == y)
        hits = torch.cat(hits).float()
        # The gap: the first test images again, in training-size batches through batch statistics.
        bs = self.cfg.batch_size
        n_gap = min(len(self.x_test), bs * max(1, max(GAP_IMAGES, bs) // bs))
        saved = {name: b.clone() for name, b in model.named_buffers()}
        model.train()
        train_hits = torch.cat([model(self.x_test[i: i + bs]).argmax(1) == self.y_test[i: i + bs]
                                for i in range(0, n_gap, bs)]).float()
        for name, buffer in model.named_buffers():  # training-mode forwards must not move running stats
            buffer.copy_(saved[name])
        host = _to_host({"test_loss": loss_sum / len(self.x_test), "test_acc": hits.mean(),
                         "train_mode_acc": train_hits.mean(), "eval_mode_acc": hits[:n_gap].mean()})
        self.record.evals.append(step=self.steps_done, **host)
        self._clock = time.perf_counter()  # evaluation is not step time


def _to_host(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """One device-to-host transfer for many tensors."""
    flat = torch.cat([t.detach().reshape(-1).float() for t in tensors.values()]).cpu().numpy()
    out, offset = {}, 0
    for name, t in tensors.items():
        out[name] = flat[offset: offset + t.numel()].reshape(t.shape)
        offset += t.numel()
    return out


def _as_record_dtypes(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.astype(np.uint16) if k.endswith("channel_hist") else v for k, v in columns.items()}
