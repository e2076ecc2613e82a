"""Knowledge distillation (Hinton et al. 2015) for any teacher/student pair of torch modules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal

from core.compress.result import CompressionResult, model_size_bytes
from core.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

Task = Literal["classification", "regression"]


def _check_params(T: float, alpha: float, task: str) -> None:
    if T <= 0:
        raise ConfigError(f"distillation temperature T must be > 0, got {T}")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha}")
    if task not in ("classification", "regression"):
        raise ConfigError(f"task must be 'classification' or 'regression', got {task!r}")


def hinton_loss(
    student_logits: Any,
    teacher_logits: Any,
    target: Any,
    T: float = 4.0,
    alpha: float = 0.5,
    task: Task = "classification",
) -> Any:
    """Distillation loss.

    classification: ``α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1−α)·CE(z_s, target)``, KL
    averaged over the batch (T² keeps the soft-target gradient scale independent of T).
    regression: ``α·MSE(y_s, y_t) + (1−α)·MSE(y_s, target)``; T has no role there.
    """
    import torch.nn.functional as F

    _check_params(T, alpha, task)
    if student_logits.shape != teacher_logits.shape:
        raise DataError(f"student output {tuple(student_logits.shape)} and teacher output "
                        f"{tuple(teacher_logits.shape)} differ; the student must predict the same "
                        "classes/targets")
    teacher_logits = teacher_logits.detach()
    if task == "regression":
        soft = F.mse_loss(student_logits, teacher_logits)
        hard = F.mse_loss(student_logits, target.to(student_logits.dtype).view_as(student_logits))
        return alpha * soft + (1.0 - alpha) * hard
    soft = F.kl_div(
        F.log_softmax(student_logits / T, dim=-1),
        F.log_softmax(teacher_logits / T, dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    hard = F.cross_entropy(student_logits, target)
    return alpha * T * T * soft + (1.0 - alpha) * hard


def _unpack(batch: Any, teacher: Any) -> tuple[Any, Any, Any]:
    """(x, target, teacher output) from a 2- or 3-element batch."""
    import torch

    if len(batch) == 3:
        return batch[0], batch[1], batch[2]
    if len(batch) != 2:
        raise DataError(f"distill: a batch must be (x, target) or (x, target, teacher_out), got "
                        f"{len(batch)} elements")
    with torch.no_grad():
        return batch[0], batch[1], teacher(batch[0])


def distill(
    teacher: Any,
    student: Any,
    loader: Iterable[tuple[Any, Any]],
    epochs: int,
    T: float = 4.0,
    alpha: float = 0.5,
    task: Task = "classification",
    optimizer: Any = None,
    on_epoch: Callable[[int, float], None] | None = None,
    lr: float = 1e-3,
    scheduler: Any = None,
) -> CompressionResult:
    """Train ``student`` on ``loader`` batches against the frozen ``teacher``.

    A batch is ``(x, target)`` — the teacher runs on ``x`` — or ``(x, target, teacher_out)`` with
    the teacher's output computed beforehand. Precomputed outputs are cheaper when the loader
    repeats fixed batches each epoch, and they are the only way to give the student targets the
    teacher produced with more context than the student's crop (a segmentation teacher run on a
    whole scene, the student trained on tiles of it). ``loader`` is re-iterated each epoch (a
    DataLoader or a list of batches). ``optimizer`` defaults to Adam(lr); ``scheduler`` (built
    by the caller on that optimizer, e.g. OneCycleLR) is stepped after every batch.
    ``on_epoch(epoch, mean_loss)`` is called after each epoch (logging, early stopping by
    raising). Returns the trained student (in eval mode).
    """
    import torch

    _check_params(T, alpha, task)
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    teacher.eval()
    opt = optimizer or torch.optim.Adam(student.parameters(), lr=lr)
    losses: list[float] = []
    for epoch in range(epochs):
        student.train()
        total, batches = 0.0, 0
        for batch in loader:
            x, target, t_out = _unpack(batch, teacher)
            loss = hinton_loss(student(x), t_out, target, T=T, alpha=alpha, task=task)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
            total += float(loss.detach())
            batches += 1
        if batches == 0:
            raise DataError("distill: the loader yielded no batches")
        losses.append(total / batches)
        logger.debug("distill epoch %d loss %.4f", epoch, losses[-1])
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    student.eval()
    return CompressionResult(
        model=student,
        kind="distilled",
        size_bytes_before=model_size_bytes(teacher),
        size_bytes_after=model_size_bytes(student),
        report={"epochs": epochs, "T": T, "alpha": alpha, "task": task, "loss_per_epoch": losses},
    )
