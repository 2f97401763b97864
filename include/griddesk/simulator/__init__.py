"""GridDesk's market simulator: the epftoolbox datasets served as the ENTSO-E Transparency Platform REST API.

Run it with ``python -m griddesk.simulator --host 127.0.0.1 --port 8765``; see :mod:`griddesk.simulator.app`.
"""

from griddesk.simulator.app import create_app
from griddesk.simulator.sim_request import SIM_NOW_HEADER, sim_now_headers

__all__ = ["SIM_NOW_HEADER", "create_app", "sim_now_headers"]
