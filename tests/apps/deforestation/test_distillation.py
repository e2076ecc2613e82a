"""Distillation inputs: test-time-augmented teacher targets and per-batch turns of the crops."""

from __future__ import annotations

import numpy as np


def test_tta_probabilities_turn_with_the_image(tiny_models) -> None:
    from apps.deforestation.model import load, predict_probs, predict_probs_tta

    teacher = load("teacher", 3, tiny_models["teacher"])
    img = np.random.default_rng(0).uniform(0.0, 0.3, (3, 64, 96)).astype(np.float32)
    p = predict_probs_tta(teacher, img)
    assert p.shape == (3, 64, 96) and np.allclose(p.sum(0), 1, atol=1e-5)
    # averaged over all 8 turns/flips, the output turns exactly with its input
    turned = predict_probs_tta(teacher, np.ascontiguousarray(np.rot90(img, 1, (1, 2))))
    np.testing.assert_allclose(turned, np.rot90(p, 1, (1, 2)), atol=1e-5)
    mirrored = predict_probs_tta(teacher, np.ascontiguousarray(img[..., ::-1]))
    np.testing.assert_allclose(mirrored, p[..., ::-1], atol=1e-5)
    assert not np.allclose(p, predict_probs(teacher, img), atol=1e-4)  # it is not the plain output


def test_batches_turn_image_labels_and_targets_together() -> None:
    import torch

    from apps.deforestation.train import _Shuffled

    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.random((10, 3, 8, 8), dtype=np.float32))
    hard = (x[:, 0] > 0.5).long()
    logp = torch.stack([x[:, 0], x[:, 1], x[:, 2]], 1)  # targets readable back from the image
    turned = 0
    for xb, hb, lb in _Shuffled((x, hard, logp), 4, rng):
        flat = xb.permute(0, 2, 3, 1).reshape(-1, 3)  # pixel_flatten's order
        assert torch.equal(hb, (flat[:, 0] > 0.5).long())
        assert torch.equal(lb, flat)
        turned += not any(torch.equal(b, x[i]) for b in xb for i in range(10))
    assert turned >= 1  # at least one batch came out turned or flipped
