"""Generate the ``.env`` docker-compose needs: every secret fresh and random, everything else as documented.

docker-compose.yml has no default for a password, key or secret: it refuses to start until each is set. This
writes them, from ``docker/.env.example`` (the list of variables), into ``.env`` (mode 0600), and never
overwrites an existing file::

    python -m griddesk.compose_env            # writes ./.env
    python -m griddesk.compose_env --stdout   # prints it instead

Secrets: the PostgreSQL superuser's password, the Airflow admin password, Airflow's JWT and API secrets and its
Fernet key (connection passwords in the metadata database are encrypted with it), griddesk_bi's password (Grafana
logs in with it), Grafana's admin password, the ENTSO-E token the simulator accepts, the Redis (Celery broker)
password and Flower's login. They never appear in a log: this prints only the variable names.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from pathlib import Path

from griddesk.settings import PROJECT_ROOT

ENV_EXAMPLE = PROJECT_ROOT / "docker" / ".env.example"

#: Variables that hold secrets: compose requires them (``${VAR:?...}``) and this module generates them.
SECRET_VARIABLES = (
    "POSTGRES_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_FERNET_KEY",
    "GRIDDESK_WAREHOUSE_BI_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "GRIDDESK_ENTSOE_TOKEN",
    "ORDER_API_TOKEN",
    "GRIDDESK_SIM_ADMIN_TOKEN",
    "REDIS_PASSWORD",
    "FLOWER_BASIC_AUTH",
)


def fernet_key() -> str:
    """A Fernet key as Airflow wants it: 32 random bytes, url-safe base64 (what ``Fernet.generate_key`` makes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def secret_value(name: str) -> str:
    """A fresh value for the secret ``name``."""
    if name == "AIRFLOW_FERNET_KEY":
        return fernet_key()
    if name == "FLOWER_BASIC_AUTH":  # user:password, as Flower's --basic-auth wants it
        return f"griddesk-flower:{secrets.token_urlsafe(32)}"
    return secrets.token_urlsafe(32)


def render_env(example: str) -> str:
    """``example`` (the text of docker/.env.example) with every secret variable given a fresh value.

    Raises:
        ValueError: the example does not list one of :data:`SECRET_VARIABLES`.
    """
    lines, seen = [], set()
    for line in example.splitlines():
        name = line.split("=", 1)[0].strip()
        if "=" in line and not line.lstrip().startswith("#") and name in SECRET_VARIABLES:
            lines.append(f"{name}={secret_value(name)}")
            seen.add(name)
        else:
            lines.append(line)
    missing = sorted(set(SECRET_VARIABLES) - seen)
    if missing:
        raise ValueError(f"{ENV_EXAMPLE} does not list {', '.join(missing)}")
    return "\n".join(lines) + "\n"


def parse_env(text: str) -> dict[str, str]:
    """``NAME=value`` lines of an env file (comments and blank lines skipped)."""
    return {
        line.split("=", 1)[0].strip(): line.split("=", 1)[1].strip()
        for line in text.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / ".env", help="where to write (default ./.env)")
    parser.add_argument("--stdout", action="store_true", help="print the file instead of writing it")
    args = parser.parse_args(argv)
    text = render_env(ENV_EXAMPLE.read_text())
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.output.exists():
        print(f"{args.output} exists: not overwritten (remove it first to generate new secrets)", file=sys.stderr)
        return 1
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    print(f"wrote {args.output} (mode 0600) with fresh {', '.join(SECRET_VARIABLES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
