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
