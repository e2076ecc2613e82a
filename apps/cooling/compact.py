"""Compact serving policy: the agent's actor distilled (core.compress.distill) into a 24-32-1
tanh MLP served with plain numpy, gated against the actor with core.gates.

Gate metric: action agreement = share of states where the compact action is within 0.1 (of the
[-1, 1] range, i.e. 0.3 K of setpoint) of the reference action. Slices: occupied hours, hours of
high carbon intensity, demand-response hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

AGREEMENT_TOL = 0.1
HIDDEN = 32
AUGMENT_COPIES = 4  # noisy copies of each visited state, labelled by the teacher
AUGMENT_NOISE = 0.15  # std of the noise, in (unit-scaled) observation units


def action_agreement(targets: Any, predictions: Any) -> float:
    """Share of actions where |prediction - target| <= 0.1 (targets = reference actions; with a
    tank, each of the two action components counts)."""
    y = np.asarray(targets, float).reshape(-1)
    p = np.asarray(predictions, float).reshape(-1)
    return float(np.mean(np.abs(p - y) <= AGREEMENT_TOL))


@dataclass(frozen=True)
class NumpyPolicy:
    """Weights of the distilled MLP; ``predict`` needs only numpy (no torch in the BMS server)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    name: str = "compact-mlp32"

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """obs (N, 24) -> actions (N, 1) in [-1, 1]."""
        h = np.tanh(np.asarray(obs, np.float32) @ self.w1 + self.b1)
        return np.tanh(h @ self.w2 + self.b2)

    def act(self, obs: np.ndarray, state: dict[str, Any]) -> Any:
        """As :meth:`apps.cooling.agents.AgentController.act` (the tank output is a residual)."""
        from apps.cooling.env import policy_action

        return policy_action(obs, self.predict(obs.reshape(1, -1))[0])

    @property
    def size_bytes(self) -> int:
        return int(sum(a.nbytes for a in (self.w1, self.b1, self.w2, self.b2)))

    def to_npz(self, path: Any) -> None:
        np.savez(path, w1=self.w1, b1=self.b1, w2=self.w2, b2=self.b2)

    @classmethod
    def from_npz(cls, path: Any) -> NumpyPolicy:
        with np.load(path) as z:
            return cls(z["w1"], z["b1"], z["w2"], z["b2"])


def distill_policy(teacher: Any, obs: np.ndarray, epochs: int = 120, seed: int = 0) -> NumpyPolicy:
    """Distil the torch actor ``teacher`` on observations ``obs`` (N, 24; 25 with a tank) into a
    NumpyPolicy with the teacher's action size.

    The visited states are widened with noisy copies (labelled by the teacher) so the student
    also matches the teacher near, not only on, the training trajectory."""
    import torch

    from core.compress import distill

    torch.manual_seed(seed)
    with torch.no_grad():  # the teacher's action size (1, or 2 with a tank); uses no RNG
        n_out = int(teacher(torch.as_tensor(obs[:1], dtype=torch.float32)).shape[-1])
    student = torch.nn.Sequential(torch.nn.Linear(obs.shape[1], HIDDEN), torch.nn.Tanh(),
                                  torch.nn.Linear(HIDDEN, n_out), torch.nn.Tanh())
    rng = np.random.default_rng(seed)
    noisy = [obs + rng.normal(0.0, AUGMENT_NOISE, obs.shape) for _ in range(AUGMENT_COPIES)]
    widened = np.clip(np.concatenate([obs, *noisy]), -10.0, 10.0)
    x = torch.as_tensor(widened, dtype=torch.float32)
    with torch.no_grad():
        y = teacher(x)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    batches = [(x[perm[i:i + 256]], y[perm[i:i + 256]]) for i in range(0, len(x), 256)]
    result = distill(teacher, student, batches, epochs=epochs, alpha=1.0, task="regression", lr=3e-3)
    model: Any = result.model if hasattr(result, "model") else result
    lin1, lin2 = model[0], model[2]
    return NumpyPolicy(lin1.weight.detach().numpy().T.copy(), lin1.bias.detach().numpy().copy(),
                       lin2.weight.detach().numpy().T.copy(), lin2.bias.detach().numpy().copy())


def torch_param_bytes(module: Any) -> int:
    """Size of a torch module's parameters, bytes."""
    return int(sum(p.numel() * p.element_size() for p in module.parameters()))


def gate_eval_set(teacher: Any, obs: np.ndarray, slices: dict[str, np.ndarray]) -> Any:
    """The gate's EvalSet: held-out observations labelled with the torch actor's own actions."""
    import torch

    from core.gates import EvalSet

    with torch.no_grad():
        ref = teacher(torch.as_tensor(obs, dtype=torch.float32)).numpy().reshape(len(obs), -1)
    ref_actions = ref.reshape(-1) if ref.shape[1] == 1 else ref  # (N,) or (N, 2) with a tank
    return EvalSet(name="cooling-heldout-states", inputs=obs.astype(np.float32),
                   targets=ref_actions, slices=slices)


def gate_compact(teacher: Any, compact: NumpyPolicy, obs: np.ndarray, slices: dict[str, np.ndarray],
                 meter: Any = None, reference_name: str = "agent-actor") -> Any:
    """core.gates verdict of ``compact`` against the torch actor on held-out observations."""
    import torch

    from core.gates import BenchmarkConfig, Candidate, GateSpec, evaluate_gate

    def rows(out: np.ndarray, n: int) -> np.ndarray:  # (n,) for one action, (n, 2) with a tank
        out = out.reshape(n, -1)
        return out.reshape(-1) if out.shape[1] == 1 else out

    def ref_predict(batch: Any) -> np.ndarray:
        with torch.no_grad():
            out = teacher(torch.as_tensor(np.asarray(batch), dtype=torch.float32)).numpy()
        return rows(out, len(batch))

    def cand_predict(batch: Any) -> np.ndarray:
        return rows(compact.predict(np.asarray(batch)), len(batch))

    eval_set = gate_eval_set(teacher, obs, slices)
    spec = GateSpec(metric="action_agreement", metric_fn=action_agreement, higher_is_better=True,
                    max_drop=0.10, max_slice_drop=0.20, min_speedup=1.5, max_size_ratio=0.5)
    ref = Candidate(name=reference_name, predict=ref_predict, size_bytes=torch_param_bytes(teacher))
    cand = Candidate(name=compact.name, predict=cand_predict, size_bytes=compact.size_bytes)
    bench = BenchmarkConfig(batch_size=1, threads=1, warmup=3, repeats=10, max_units=128)
    return evaluate_gate(ref, cand, eval_set, spec, bench=bench, meter=meter)
