"""A real, tiny teacher → student run (one epoch each on 8 simulated 64-px pairs), as the app
trains, for tests that need trained weights in seconds."""

from __future__ import annotations

from typing import Any


def train_tiny_pair() -> tuple[Any, Any]:
    """(teacher, student): the teacher trained for one epoch, the student distilled for one."""
    from apps.deforestation.simulate import simulate_pairs
    from apps.deforestation.train import (
        TrainConfig,
        distill_student,
        sim_scenes,
        stack_samples,
        teacher_targets,
        train_teacher,
    )

    pairs = simulate_pairs(0, 8, 64)
    x, y = stack_samples(pairs)
    cfg = TrainConfig(teacher_epochs=1, student_epochs=1, batch_size=8)
    teacher, _ = train_teacher(x, y, cfg)
    student, _ = distill_student(teacher, teacher_targets(teacher, *sim_scenes(pairs), 64), cfg)
    return teacher, student
