"""Quantisation, pruning and distillation on tiny real torch models."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from core.compress import (  # noqa: E402
    cast_half,
    count_parameters,
    distill,
    hinton_loss,
    prune_structured,
    quantize_dynamic_int8,
    quantize_static_int8,
)
from core.errors import ConfigError, DataError, ModelError  # noqa: E402


class TinyCNN(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 4)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.manual_seed(0)
    torch.set_num_threads(1)


def test_dynamic_int8_quantises_linears_and_shrinks():
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 3)).eval()
    res = quantize_dynamic_int8(model)
    x = torch.randn(8, 64)
    assert res.model(x).shape == (8, 3)
    assert len(res.report["quantised"]) == 2
    assert res.size_bytes_after < 0.5 * res.size_bytes_before
    assert torch.allclose(res.model(x), model(x), atol=0.1)
    assert isinstance(model[0], nn.Linear)  # original untouched


def test_dynamic_int8_refuses_model_without_linear():
    with pytest.raises(ModelError, match="quantize_static_int8"):
        quantize_dynamic_int8(nn.Sequential(nn.Conv2d(3, 4, 3)))


def test_static_int8_fx_quantises_convs_and_keeps_outputs_close():
    model = TinyCNN(width=64).eval()
    calib = [torch.randn(8, 3, 16, 16) for _ in range(4)]
    res = quantize_static_int8(model, calib)
    x = torch.randn(4, 3, 16, 16)
    out = res.model(x)
    assert out.shape == (4, 4)
    assert torch.allclose(out, model(x), atol=0.15)
    kinds = " ".join(res.report["quantised"])
    assert "Conv" in kinds and "Linear" in kinds
    assert res.size_bytes_after < 0.5 * res.size_bytes_before


def test_static_int8_needs_calibration():
    with pytest.raises(ConfigError, match="calibration"):
        quantize_static_int8(TinyCNN().eval(), [])


def test_cast_half_is_drop_in_and_halves_size():
    model = TinyCNN(width=64).eval()  # big enough that tensor bytes dominate torch.save overhead
    res = cast_half(model, "bfloat16")
    out = res.model(torch.randn(2, 3, 8, 8))
    assert out.dtype == torch.float32 and out.shape == (2, 4)
    assert res.size_bytes_after < 0.6 * res.size_bytes_before
    with pytest.raises(ConfigError):
        cast_half(model, "int4")


def test_prune_structured_really_shrinks_tensors():
    model = TinyCNN(width=32).eval()
    x = torch.randn(2, 3, 16, 16)
    res = prune_structured(model, x, ratio=0.5)
    pruned = res.model
    assert pruned.conv1.weight.shape[0] == 16  # half the output channels are gone
    assert pruned.conv2.weight.shape[:2] == (16, 16)
    assert pruned.bn1.weight.shape == (16,)
    assert pruned.fc.weight.shape == (4, 16)  # output layer kept whole, inputs sliced
    assert pruned(x).shape == model(x).shape
    assert count_parameters(pruned) < 0.35 * count_parameters(model)
    assert res.report["params_after"] == count_parameters(pruned)
    assert res.size_bytes_after < res.size_bytes_before
    assert model.conv1.weight.shape[0] == 32  # original untouched


def test_prune_ratio_validated():
    with pytest.raises(ConfigError):
        prune_structured(TinyCNN(), torch.randn(1, 3, 8, 8), ratio=1.0)


def test_hinton_loss_matches_formula():
    s, t = torch.randn(5, 3), torch.randn(5, 3)
    y = torch.tensor([0, 1, 2, 1, 0])
    T, a = 3.0, 0.7
    p_t = torch.softmax(t / T, -1)
    kl = (p_t * (p_t.log() - torch.log_softmax(s / T, -1))).sum(-1).mean()
    expected = a * T * T * kl + (1 - a) * nn.functional.cross_entropy(s, y)
    assert torch.allclose(hinton_loss(s, t, y, T=T, alpha=a), expected, atol=1e-6)
    assert float(hinton_loss(t, t, y, T=T, alpha=1.0)) == pytest.approx(0.0, abs=1e-6)


def test_hinton_loss_regression_and_errors():
    s, t, y = torch.zeros(4, 1), torch.ones(4, 1), torch.full((4,), 2.0)
    assert float(hinton_loss(s, t, y, alpha=0.25, task="regression")) == pytest.approx(
        0.25 * 1 + 0.75 * 4
    )
    with pytest.raises(DataError, match="differ"):
        hinton_loss(torch.zeros(4, 2), torch.zeros(4, 3), y)
    with pytest.raises(ConfigError):
        hinton_loss(s, t, y, alpha=1.5)


def test_distill_student_learns_teacher():
    teacher = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 3)).eval()
    student = nn.Sequential(nn.Linear(4, 3))
    X = torch.randn(256, 4)
    y = teacher(X).argmax(1).detach()
    batches = [(X[i : i + 32], y[i : i + 32]) for i in range(0, 256, 32)]
    seen: list[float] = []
    res = distill(teacher, student, batches, epochs=15, T=2.0, alpha=0.9, lr=0.05,
                  on_epoch=lambda e, loss: seen.append(loss))
    assert len(seen) == 15 and seen[-1] < seen[0]
    agree = (res.model(X).argmax(1) == y).float().mean()
    assert agree > 0.8
    assert res.size_bytes_after < res.size_bytes_before


def test_distill_uses_precomputed_teacher_outputs_and_steps_scheduler():
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 3)).eval()
    X = torch.randn(256, 4)
    with torch.no_grad():
        t_out = teacher(X)
    y = t_out.argmax(1)

    class BrokenTeacher(nn.Module):  # distill must not run it: outputs come with the batches
        def __init__(self):
            super().__init__()
            self.inner = teacher

        def forward(self, x):
            raise AssertionError("teacher must not run when its outputs are precomputed")

    broken_teacher = BrokenTeacher()
    student = nn.Sequential(nn.Linear(4, 3))
    opt = torch.optim.Adam(student.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=8 * 10)
    batches = [(X[i : i + 32], y[i : i + 32], t_out[i : i + 32]) for i in range(0, 256, 32)]
    res = distill(broken_teacher, student, batches, epochs=10, T=2.0, alpha=0.9,
                  optimizer=opt, scheduler=sched)
    assert sched.last_epoch == 80  # stepped once per batch
    assert (res.model(X).argmax(1) == y).float().mean() > 0.8
    with pytest.raises(DataError, match="must be"):
        distill(teacher, student, [(X,)], epochs=1)
