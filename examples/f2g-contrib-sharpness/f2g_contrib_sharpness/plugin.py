"""The entry-point module: f2g imports it (cheaply) and calls its hooks to register the component classes."""

# --8<-- [start:hooks]
from f2g_contrib_sharpness.combiner import Minimum
from f2g_contrib_sharpness.judge import SharpnessJudge
from f2g_contrib_sharpness.sharpness import Sharpness
from f2g_core.hookspecs import Register, hookimpl


@hookimpl
def register_rewards(register: Register) -> None:
    register(Sharpness, aliases=("sharp",))
    register(SharpnessJudge)


@hookimpl
def register_combiners(register: Register) -> None:
    register(Minimum)


# --8<-- [end:hooks]
