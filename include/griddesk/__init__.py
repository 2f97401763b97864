"""GridDesk: the library behind the energy-trading data platform.

DAG files in ``dags/`` only wire together functions from this package.
"""

__version__ = "0.1.0"
