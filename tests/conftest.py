import os
import sys

from hypothesis import HealthCheck, settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Hypothesis checks how fast inputs are generated and how long each example runs. Those are timings, and on
# a shared CI machine they fail for reasons that have nothing to do with netspec (this project measures
# speed in benchmarks/, never in tests), so the suite turns them off; every property is still checked.
settings.register_profile("netspec", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("netspec")


def each_graph(graph) -> list:
    """(prefix, graph) for every network of a loaded spec: [('', graph)] for one network, and
    [('generator/', ...), ('discriminator/', ...)] for a several-network (`networks:`) spec."""
    networks = getattr(graph, "graphs", None)
    return [("", graph)] if networks is None else [(f"{name}/", net) for name, net in networks.items()]
