"""RL building-cooling control: 5R1C office / data-hall simulator on real weather and grid carbon.

``import apps.cooling.env`` registers the gymnasium ids ``greenstack/Cooling-v0`` (office) and
``greenstack/DataHallCooling-v0`` (or use ``gym.make("apps.cooling.env:greenstack/Cooling-v0")``).
This package import stays light so ``greenstack --help`` is fast.
"""

ENV_ID = "greenstack/Cooling-v0"
DATAHALL_ENV_ID = "greenstack/DataHallCooling-v0"
