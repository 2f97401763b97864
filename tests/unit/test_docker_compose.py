"""docker-compose.yml and docker/Dockerfile, checked without a Docker engine.

The compose file is validated against the vendored Compose Specification schema
(tests/fixtures/compose-spec.json, see COMPOSE_SPEC_SOURCE.md), then cross-checked against the
project's own pins and contracts: requirements.txt, griddesk.settings.Settings, the embedded
PostgreSQL of pgserver, and the wiring between services (URLs, connections, ports).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from packaging.specifiers import SpecifierSet

from griddesk import compose_env
from griddesk.settings import PROJECT_ROOT, Settings
from griddesk.warehouse import db

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "docker" / "Dockerfile"
ENV_EXAMPLE = PROJECT_ROOT / "docker" / ".env.example"
POSTGRES_INIT_SQL = PROJECT_ROOT / "docker" / "postgres-init.sql"
COMPOSE_SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "compose-spec.json"

#: The warehouse runs PostgreSQL 16 everywhere: docker, the embedded pgserver, and the docs.
POSTGRES_MAJOR = 16
PYTHON_VERSION = "3.11"

#: Service name -> the Airflow sub-command it runs (None: not an Airflow component).
REQUIRED_SERVICES: dict[str, str | None] = {
    "postgres": None,
    "airflow-init": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker --queues ${AIRFLOW_WORKER_QUEUES:-default,models} --skip-serve-logs",
    "redis": None,
    "griddesk-seed": None,
    "docs": None,
    "simulator": None,
    "mailcatcher": None,
    "grafana": None,
}
AIRFLOW_SERVICES = [name for name in REQUIRED_SERVICES if name.startswith("airflow-")]
#: Services running griddesk code, whose GRIDDESK_* variables must be Settings fields.
GRIDDESK_SERVICES = [*AIRFLOW_SERVICES, "simulator", "griddesk-seed", "docs"]

FLOATING_TAGS = {"latest", "edge", "stable", "main", "master", "nightly", "dev"}
_VARIABLE = re.compile(
    r"\$\$"  # escaped dollar
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
_DRAFT7_IDS = {"http://json-schema.org/draft-07/schema", "https://json-schema.org/draft-07/schema"}


# ---------------------------------------------------------------- helpers (pure)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Resolve Compose variable interpolation (``${VAR}``, ``${VAR:-default}``, ``$$``...).

    Args:
        text: A string from the compose file.
        env: The variables set in the shell or .env; unset ones take their defaults.

    Returns:
        The string as Compose would pass it on.

    Raises:
        KeyError: a ``${VAR:?message}`` / ``${VAR?message}`` variable is missing.
    """

    def resolve(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        empty = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return arg if empty else value
        if op in (":?", "?"):
            if empty:
                raise KeyError(f"{name}: {arg}")
            return value
        if op in (":+", "+"):
            return "" if empty else arg
        return value or ""

    return _VARIABLE.sub(resolve, text)


def referenced_variables(node: Any) -> set[str]:
    """Names of the interpolation variables used anywhere in a compose node (``$$`` excluded)."""
    text = json.dumps(node)
    return {m.group("braced") or m.group("bare") for m in _VARIABLE.finditer(text) if m.group(0) != "$$"}


def image_pin_problem(image: str) -> str | None:
    """Why an image reference is not pinned to a release, or None when it is.

    Pinned means a digest, or a tag naming at least major.minor (``16.10``, ``v1.22.3``,
    ``3.3.2-python3.11``); ``latest``, no tag, or a bare major (``postgres:16``) float.
    """
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":")
    # A colon before the last slash is a registry port, not a tag.
    if not name or "/" in tag:
        return f"{image!r} has no tag, so it means :latest"
    if tag.lower() in FLOATING_TAGS:
        return f"{image!r} uses the floating tag {tag!r}"
    if not re.search(r"\d+\.\d+", tag):
        return f"{image!r} tag {tag!r} does not name a major.minor release"
    return None


def environment_of(service: Mapping[str, Any]) -> dict[str, str | None]:
    """A service's ``environment`` as a mapping, whichever of the list or mapping forms it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: None if value is None else str(value) for key, value in env.items()}


def depends_on_of(service: Mapping[str, Any]) -> list[str]:
    """Names a service depends on, from the list or mapping form of ``depends_on``."""
    deps = service.get("depends_on") or []
    return list(deps) if isinstance(deps, list) else list(deps.keys())


def pinned_version(requirements: str, package: str) -> str:
    """The ``package==version`` pin in a requirements.txt text.

    Raises:
        LookupError: the package is not pinned with ``==``.
    """
    pattern = re.compile(rf"^{re.escape(package)}==([^\s;#]+)", re.MULTILINE | re.IGNORECASE)
    match = pattern.search(requirements)
    if match is None:
        raise LookupError(f"{package} is not pinned with == in requirements.txt")
    return match.group(1)


def dockerfile_base_images(dockerfile: str) -> list[str]:
    """Images named by the ``FROM`` lines of a Dockerfile (build-stage aliases left out)."""
    return re.findall(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)", dockerfile, flags=re.MULTILINE | re.IGNORECASE)


def dockerfile_copy_sources(dockerfile: str) -> list[str]:
    """Build-context paths read by the ``COPY``/``ADD`` lines of a Dockerfile (not ``--from`` stages)."""
    sources: list[str] = []
    for line in re.findall(r"^(?:COPY|ADD)\s+(.+)$", dockerfile, flags=re.MULTILINE | re.IGNORECASE):
        words = line.split()
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def compose_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for the draft the compose schema declares (draft-07 for the Compose Specification).

    Raises:
        ValueError: the schema declares a draft this test does not know.
    """
    declared = schema.get("$schema", "").rstrip("#")
    if declared not in _DRAFT7_IDS:
        raise ValueError(f"compose schema declares {declared!r}; expected JSON Schema draft-07")
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(validator: jsonschema.protocols.Validator, document: Any) -> list[str]:
    """Readable ``path: message`` lines for every schema violation in a compose document."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    return compose_validator(json.loads(COMPOSE_SCHEMA.read_text()))


@pytest.fixture(scope="module")
def defaults_env() -> dict[str, str]:
    """A fresh checkout's .env as ``python -m griddesk.compose_env`` writes it: every secret set, fresh and random;
    every other variable as docker/.env.example documents it (``${VAR:-default}`` defaults where it is empty)."""
    return {k: v for k, v in compose_env.parse_env(compose_env.render_env(ENV_EXAMPLE.read_text())).items() if v}


# ---------------------------------------------------------------- schema


def test_vendored_schema_is_the_compose_specification_in_draft7() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    assert schema["title"] == "Compose Specification"
    compose_validator(schema)  # raises on an unknown draft or an invalid schema


def test_compose_file_validates_against_compose_spec(compose, validator) -> None:
    assert schema_errors(validator, compose) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param(lambda doc: doc.update(servcies={}), "servcies", id="unknown-top-level-key"),
        pytest.param(lambda doc: doc["services"]["postgres"].update(imag="postgres:16.10"), "imag", id="typo-key"),
        pytest.param(
            lambda doc: doc["services"]["airflow-apiserver"]["depends_on"]["postgres"].update(condition="healthy"),
            "healthy",
            id="bad-depends-on-condition",
        ),
        pytest.param(lambda doc: doc["services"]["simulator"].update(ports="8765"), "8765", id="ports-not-a-list"),
    ],
)
def test_validator_rejects_broken_compose_document(compose, validator, breakage, expected: str) -> None:
    broken = copy.deepcopy(compose)
    breakage(broken)
    errors = schema_errors(validator, broken)
    assert errors, "the schema accepted a broken compose document"
    assert any(expected in error for error in errors), errors


# ---------------------------------------------------------------- images and pins


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("postgres", False),
        ("postgres:latest", False),
        ("postgres:16", False),
        ("localhost:5000/griddesk", False),
        ("axllent/mailpit:edge", False),
        ("postgres:16.10", True),
        ("axllent/mailpit:v1.22.3", True),
        ("apache/airflow:3.3.2-python3.11", True),
        ("localhost:5000/griddesk:0.1.0", True),
        ("postgres@sha256:" + "0" * 64, True),
    ],
)
def test_image_pin_check_tells_floating_from_pinned(image: str, pinned: bool) -> None:
    assert (image_pin_problem(image) is None) is pinned


def test_every_service_pins_its_image_or_builds_it(services) -> None:
    problems = {}
    for name, service in services.items():
        if "image" not in service and "build" not in service:
            problems[name] = "neither image nor build"
        elif "image" in service and (problem := image_pin_problem(interpolate(service["image"], {}))):
            problems[name] = problem
    assert problems == {}


def test_built_image_is_tagged_with_griddesk_version(services) -> None:
    version = tomllib.loads((PROJECT_ROOT / "include" / "pyproject.toml").read_text())["project"]["version"]
    built = {name: s["image"] for name, s in services.items() if "build" in s}
    assert built, "no service builds the GridDesk image"
    assert {image.rpartition(":")[2] for image in built.values()} == {version}, built


def test_airflow_base_image_matches_requirements_pin(services) -> None:
    airflow_pin = pinned_version((PROJECT_ROOT / "requirements.txt").read_text(), "apache-airflow")
    expected_tag = f"{airflow_pin}-python{PYTHON_VERSION}"
    base_images = dockerfile_base_images(DOCKERFILE.read_text())
    compose_images = [interpolate(s["image"], {}) for s in services.values() if "image" in s]
    airflow_images = [img for img in [*base_images, *compose_images] if img.split(":")[0] == "apache/airflow"]
    assert base_images and base_images[0].startswith("apache/airflow:"), base_images
    assert {img.split(":", 1)[1] for img in airflow_images} == {expected_tag}


def test_image_python_satisfies_griddesk_requires_python() -> None:
    requires = tomllib.loads((PROJECT_ROOT / "include" / "pyproject.toml").read_text())["project"]["requires-python"]
    tag = dockerfile_base_images(DOCKERFILE.read_text())[0].split(":", 1)[1]
    python = re.search(r"python(\d+\.\d+)", tag)
    assert python is not None, f"base image tag {tag!r} does not name its Python"
    assert python.group(1) == PYTHON_VERSION
    assert SpecifierSet(requires).contains(f"{PYTHON_VERSION}.0"), requires


def test_postgres_major_matches_pgserver_and_docs(services) -> None:
    tag = services["postgres"]["image"].split(":", 1)[1]
    assert int(re.match(r"\d+", tag).group(0)) == POSTGRES_MAJOR

    spec = importlib.util.find_spec("pgserver")
    assert spec is not None and spec.submodule_search_locations, "pgserver (embedded warehouse) is not installed"
    pg_config = Path(spec.submodule_search_locations[0]) / "pginstall" / "include" / "pg_config.h"
    embedded = re.search(r'#define PG_MAJORVERSION "(\d+)"', pg_config.read_text())
    assert embedded is not None and int(embedded.group(1)) == POSTGRES_MAJOR

    docs = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").rglob("*.md"))]
    mentioned = {
        (doc.name, int(major))
        for doc in docs
        if doc.is_file()
        for major in re.findall(r"PostgreSQL\s+(\d{2})\b", doc.read_text())
    }
    assert {major for _, major in mentioned} <= {POSTGRES_MAJOR}, mentioned


def test_dockerfile_copies_only_files_in_the_build_context(services) -> None:
    builds = {json.dumps(s["build"], sort_keys=True) for s in services.values() if "build" in s}
    assert len(builds) == 1, "Airflow components and the simulator must share one image build"
    build = services["airflow-scheduler"]["build"]
    context = (PROJECT_ROOT / build["context"]).resolve()
    dockerfile = context / build["dockerfile"]
    assert dockerfile == DOCKERFILE
    sources = dockerfile_copy_sources(dockerfile.read_text())
    assert sources, "the Dockerfile copies nothing from the repository"
    assert [src for src in sources if not (context / src).exists()] == []
    # The per-Dockerfile ignore file excludes everything else, so each source must be let back in.
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    assert [src for src in sources if f"!{src}" not in ignore and f"!{src}/" not in ignore] == []


# ---------------------------------------------------------------- services and wiring


def test_services_required_by_the_platform_exist(services) -> None:
    assert sorted(set(REQUIRED_SERVICES) - set(services)) == []
    assert services["mailcatcher"]["image"].startswith("axllent/mailpit:")


@pytest.mark.parametrize("name", [n for n, cmd in REQUIRED_SERVICES.items() if cmd])
def test_airflow_components_run_their_subcommand_from_the_shared_image(services, name: str) -> None:
    service = services[name]
    command = service["command"] if isinstance(service["command"], str) else " ".join(service["command"])
    assert command == REQUIRED_SERVICES[name]
    assert service["image"] == services["airflow-init"]["image"]
    assert "healthcheck" in service


def test_airflow_init_bootstraps_warehouse_then_migrates_airflow(services) -> None:
    script = " ".join(services["airflow-init"]["command"])
    assert "db.bootstrap()" in script and callable(db.bootstrap)
    assert script.index("db.bootstrap()") < script.index("airflow db migrate")
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in AIRFLOW_SERVICES:
        if name != "airflow-init":
            assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_depends_on_refers_to_existing_services_without_cycles(services) -> None:
    graph = {name: depends_on_of(service) for name, service in services.items()}
    unknown = {name: sorted(set(deps) - set(services)) for name, deps in graph.items() if set(deps) - set(services)}
    assert unknown == {}

    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in visiting, f"depends_on cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        visiting.add(name)
        for dep in graph[name]:
            visit(dep, (*path, name))
        visiting.discard(name)
        done.add(name)

    for name in graph:
        visit(name, ())


def _read_by_settings(var: str) -> bool:
    """Whether a GRIDDESK_ variable is a field of Settings, or of BiddingSettings (prefix GRIDDESK_BIDDING_)."""
    from griddesk.bidding.controls import BiddingSettings

    bidding = BiddingSettings.model_config["env_prefix"]
    if var.startswith(bidding) and var.removeprefix(bidding).lower() in BiddingSettings.model_fields:
        return True
    return var.removeprefix("GRIDDESK_").lower() in Settings.model_fields


@pytest.mark.parametrize("name", GRIDDESK_SERVICES)
def test_griddesk_variables_are_settings_fields(services, name: str) -> None:
    assert Settings.model_config["env_prefix"] == "GRIDDESK_"
    service = services[name]
    used = {key for key in environment_of(service) if key.startswith("GRIDDESK_")}
    used |= {var for var in referenced_variables(service) if var.startswith("GRIDDESK_")}
    unknown = sorted(var for var in used if not _read_by_settings(var))
    assert unknown == [], f"{name} sets GRIDDESK_ variables that griddesk.settings.Settings does not read"


def test_env_example_documents_every_variable_compose_reads(compose) -> None:
    documented = {
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert sorted(referenced_variables(compose) - documented) == []
    unknown = sorted(var for var in documented if var.startswith("GRIDDESK_") and not _read_by_settings(var))
    assert unknown == []


def test_warehouse_url_and_connection_point_at_the_griddesk_database(services, defaults_env) -> None:
    env = environment_of(services["airflow-scheduler"])
    postgres_env = environment_of(services["postgres"])
    user = interpolate(postgres_env["POSTGRES_USER"], defaults_env)
    database = postgres_env["POSTGRES_DB"]
    assert database == db.WAREHOUSE_DB

    url = urlsplit(interpolate(env["GRIDDESK_WAREHOUSE_URL"], defaults_env))
    assert (url.scheme, url.hostname, url.port, url.path, url.username) == (
        "postgresql",
        "postgres",
        5432,
        f"/{database}",
        user,
    )
    assert url.password == defaults_env["POSTGRES_PASSWORD"]
    # No Airflow connection carries the superuser's password into every task.
    assert not [key for key in env if key.startswith("AIRFLOW_CONN_") and "WAREHOUSE" in key]


def test_airflow_metadata_database_is_created_by_the_postgres_init_script(services, defaults_env) -> None:
    env = environment_of(services["airflow-scheduler"])
    url = urlsplit(interpolate(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], defaults_env))
    assert (url.hostname, url.path) == ("postgres", f"/{db.AIRFLOW_DB}")
    created = re.findall(r"CREATE\s+DATABASE\s+(\w+)", POSTGRES_INIT_SQL.read_text(), flags=re.IGNORECASE)
    assert url.path.lstrip("/") in created
    mounts = [interpolate(v, defaults_env) for v in services["postgres"]["volumes"] if isinstance(v, str)]
    assert any(m.startswith("./docker/postgres-init.sql:/docker-entrypoint-initdb.d/") for m in mounts), (
        "postgres-init.sql is not mounted where the postgres image runs init scripts"
    )


def test_smtp_connection_points_at_the_mail_catcher(services, defaults_env) -> None:
    env = environment_of(services["airflow-scheduler"])
    conn = json.loads(interpolate(env["AIRFLOW_CONN_SMTP_DEFAULT"], defaults_env))
    smtp_bind = environment_of(services["mailcatcher"])["MP_SMTP_BIND_ADDR"]
    assert conn["conn_type"] == "smtp"
    assert conn["host"] == "mailcatcher"
    assert str(conn["port"]) == smtp_bind.rpartition(":")[2]
    assert conn["extra"]["from_email"]


def test_simulator_url_matches_the_port_the_simulator_listens_on(services, defaults_env) -> None:
    command = services["simulator"]["command"]
    listen_port = int(command[command.index("--port") + 1])
    for name in AIRFLOW_SERVICES:
        url = urlsplit(interpolate(environment_of(services[name])["GRIDDESK_SIMULATOR_URL"], defaults_env))
        assert (url.hostname, url.port) == ("simulator", listen_port), name
    assert services["simulator"]["entrypoint"][-2:] == ["-m", "griddesk.simulator"]


def test_execution_api_url_points_at_the_api_server(services, defaults_env) -> None:
    env = environment_of(services["airflow-scheduler"])
    url = urlsplit(interpolate(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"], defaults_env))
    assert (url.hostname, url.port, url.path) == ("airflow-apiserver", 8080, "/execution/")
    assert any(str(p).endswith(":8080") for p in services["airflow-apiserver"]["ports"])


def test_airflow_services_share_one_configuration(services) -> None:
    reference = environment_of(services["airflow-scheduler"])
    assert reference["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-CeleryExecutor}"
    assert reference["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert reference["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    for name in AIRFLOW_SERVICES:
        env = environment_of(services[name])
        # JWTs and the metadata database must be identical across components, or tasks fail to report.
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "GRIDDESK_WAREHOUSE_URL"):
            assert env[key] == reference[key], (name, key)


@pytest.mark.parametrize("target", ["dags", "plugins", "dbt_project", "expectations"])
def test_project_folders_are_mounted_into_airflow(services, target: str) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = [v for v in services[name]["volumes"] if isinstance(v, str)]
        assert f"./{target}:/opt/airflow/{target}" in mounts, name


def test_bind_mount_sources_exist_in_the_repository(services) -> None:
    # Git keeps no empty folders, and Compose creates a missing short-syntax folder, so those may be absent.
    may_be_absent = {"./plugins", "./dags", "./dbt_project", "./expectations"}
    missing = set()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("./") and source not in may_be_absent and not (PROJECT_ROOT / source).exists():
                missing.add((name, source))
    assert missing == set()


def test_simulator_mounts_the_data_folder_read_only(services, defaults_env) -> None:
    simulator = services["simulator"]
    target = environment_of(simulator)["GRIDDESK_DATA_DIR"]
    [mount] = [v for v in simulator["volumes"] if isinstance(v, dict) and v["target"] == target]
    assert mount["read_only"] is True
    assert interpolate(mount["source"], defaults_env) == "./data/epftoolbox_datasets"
    assert interpolate(mount["source"], {"GRIDDESK_DATA_DIR": "/srv/epf"}) == "/srv/epf"


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d}|${EMPTY:-d}|${EMPTY-d}|${UNSET-d}|$$SET|$SET", env) == "x|d||d|$SET|x"
    with pytest.raises(KeyError, match="UNSET"):
        interpolate("${UNSET:?required}", env)
    assert referenced_variables({"a": "${A:-1} $$B $C"}) == {"A", "C"}


# ---------------------------------------------------------------- secrets


#: Words that make a variable a secret: it must have no default in the compose file.
_SECRET_WORDS = ("PASSWORD", "SECRET", "FERNET", "TOKEN", "_KEY", "BASIC_AUTH")
#: Weak values nothing outside a dev tool may default to (21.5: griddesk/griddesk, admin/admin, change-me).
_WEAK = ("change-me", "changeme", "griddesk-dev", ":admin@", "admin:admin")


def _defaults(compose: dict) -> dict[str, tuple[str | None, str]]:
    """Every interpolated variable with its operator and default/message, e.g. {'X': (':-', 'd')}."""
    found = {}
    for m in _VARIABLE.finditer(json.dumps(compose)):
        name = m.group("braced")
        if name:
            found.setdefault(name, set()).add((m.group("op"), m.group("arg") or ""))
    return found


def test_no_secret_has_a_default_and_compose_requires_each(compose) -> None:
    secrets_used = {n: uses for n, uses in _defaults(compose).items() if any(w in n for w in _SECRET_WORDS)}
    assert set(compose_env.SECRET_VARIABLES) <= set(secrets_used)
    for name, uses in secrets_used.items():
        assert {op for op, _ in uses} == {":?"}, f"{name} must be required (${{{name}:?...}}), found {uses}"
        assert name in compose_env.SECRET_VARIABLES, f"{name} is a secret that griddesk.compose_env does not generate"


@pytest.mark.parametrize("secret", compose_env.SECRET_VARIABLES)
def test_compose_refuses_to_start_without_each_secret(compose, defaults_env, secret: str) -> None:
    without = {k: v for k, v in defaults_env.items() if k != secret}
    with pytest.raises(KeyError, match=secret):
        interpolate(json.dumps(compose), without)
    interpolate(json.dumps(compose), defaults_env)  # with every secret set, everything resolves


def test_no_weak_default_value_is_left_in_the_compose_files(compose) -> None:
    texts = {COMPOSE_FILE.name: COMPOSE_FILE.read_text(), ENV_EXAMPLE.name: ENV_EXAMPLE.read_text()}
    for name, text in texts.items():
        for weak in _WEAK:
            assert weak not in text.lower(), (name, weak)
    example = compose_env.parse_env(ENV_EXAMPLE.read_text())
    assert {name: example[name] for name in compose_env.SECRET_VARIABLES} == dict.fromkeys(
        compose_env.SECRET_VARIABLES, ""
    )


def test_generated_env_has_fresh_distinct_secrets_and_a_valid_fernet_key() -> None:
    from cryptography.fernet import Fernet

    first = compose_env.parse_env(compose_env.render_env(ENV_EXAMPLE.read_text()))
    second = compose_env.parse_env(compose_env.render_env(ENV_EXAMPLE.read_text()))
    values = [first[name] for name in compose_env.SECRET_VARIABLES]
    assert len(set(values)) == len(values) and all(len(v) >= 32 for v in values)
    assert all(first[n] != second[n] for n in compose_env.SECRET_VARIABLES)
    Fernet(first["AIRFLOW_FERNET_KEY"].encode())  # raises on a malformed key
    # Everything else is the example's.
    example = compose_env.parse_env(ENV_EXAMPLE.read_text())
    assert {k: v for k, v in first.items() if k not in compose_env.SECRET_VARIABLES} == {
        k: v for k, v in example.items() if k not in compose_env.SECRET_VARIABLES
    }


def test_compose_env_never_overwrites_an_existing_env_file(tmp_path, capsys) -> None:
    target = tmp_path / ".env"
    assert compose_env.main(["--output", str(target)]) == 0
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    written = target.read_text()
    assert compose_env.main(["--output", str(target)]) == 1 and target.read_text() == written
    out = capsys.readouterr()
    assert not any(v and v in out.out + out.err for v in compose_env.parse_env(written).values() if len(v) >= 32)


def test_every_published_port_is_on_loopback(services) -> None:
    published = {name: s.get("ports", []) for name, s in services.items()}
    assert {n: [p for p in ports if not str(p).startswith("127.0.0.1:")] for n, ports in published.items()} == {
        n: [] for n in published
    }


def test_grafana_reads_marts_as_griddesk_bi_and_is_not_anonymous(services, defaults_env) -> None:
    grafana = services["grafana"]
    env = {k: interpolate(str(v), defaults_env) for k, v in environment_of(grafana).items()}
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == defaults_env["GRAFANA_ADMIN_PASSWORD"]
    # The data source's password is the one airflow-init gives griddesk_bi.
    airflow_env = environment_of(services["airflow-init"])
    assert env["GRIDDESK_WAREHOUSE_BI_PASSWORD"] == interpolate(
        airflow_env["GRIDDESK_WAREHOUSE_BI_PASSWORD"], defaults_env
    )
    assert "GRIDDESK_WAREHOUSE_BI_PASSWORD".removeprefix("GRIDDESK_").lower() in Settings.model_fields
    assert grafana["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    mounts = grafana["volumes"]
    assert "./docker/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert env["GF_SMTP_HOST"].split(":")[0] == "mailcatcher"


# ---------------------------------------------------------------- CeleryExecutor, seed job, docs (issue 23)


def test_every_service_has_a_health_check(services) -> None:
    assert [name for name, service in services.items() if "test" not in service.get("healthcheck", {})] == []


@pytest.mark.parametrize(("value", "executor"), [(None, "CeleryExecutor"), ("LocalExecutor", "LocalExecutor")])
def test_one_variable_selects_the_executor_of_every_airflow_service(services, defaults_env, value, executor) -> None:
    env = {k: v for k, v in defaults_env.items() if k != "AIRFLOW_EXECUTOR"}
    if value:
        env["AIRFLOW_EXECUTOR"] = value
    for name in [*AIRFLOW_SERVICES, "griddesk-seed", "docs"]:
        assert interpolate(environment_of(services[name])["AIRFLOW__CORE__EXECUTOR"], env) == executor, name


def test_workers_scale_and_consume_the_dags_queues_through_redis(services, defaults_env) -> None:
    from griddesk.pipeline.placement import QUEUES

    worker = services["airflow-worker"]
    # `--scale airflow-worker=N` needs no fixed name and no host port.
    assert "container_name" not in worker and "ports" not in worker
    queues = interpolate(" ".join(worker["command"]), defaults_env).split("--queues ")[1].split()[0]
    assert tuple(queues.split(",")) == QUEUES
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["airflow-scheduler"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "celery_executor.app inspect ping" in worker["healthcheck"]["test"][1]
    broker = urlsplit(interpolate(environment_of(worker)["AIRFLOW__CELERY__BROKER_URL"], defaults_env))
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    assert broker.password == defaults_env["REDIS_PASSWORD"]
    backend = interpolate(environment_of(worker)["AIRFLOW__CELERY__RESULT_BACKEND"], defaults_env)
    assert backend.startswith("db+postgresql") and backend.endswith("@postgres:5432/airflow")


def test_redis_requires_its_password_and_keeps_it_off_command_lines(services, defaults_env) -> None:
    redis = services["redis"]
    assert image_pin_problem(redis["image"]) is None and "ports" not in redis
    script = " ".join(redis["command"])
    assert "requirepass" in script and "$${REDIS_PASSWORD}" in script and "umask 077" in script
    assert defaults_env["REDIS_PASSWORD"] not in interpolate(script, defaults_env)  # read from the environment
    assert "REDISCLI_AUTH" in redis["healthcheck"]["test"][1]
    assert interpolate(environment_of(redis)["REDIS_PASSWORD"], defaults_env) == defaults_env["REDIS_PASSWORD"]


def test_flower_is_optional_and_needs_a_login(services, defaults_env) -> None:
    flower = services["flower"]
    assert flower["profiles"] == ["flower"] and flower["command"] == ["celery", "flower"]
    auth = interpolate(environment_of(flower)["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"], defaults_env)
    user, _, password = auth.partition(":")
    assert user and len(password) >= 32
    assert [str(p) for p in flower["ports"]] == ["127.0.0.1:5555:5555"]


def test_airflow_init_creates_the_pools_the_dags_use(services) -> None:
    from griddesk.pipeline import placement

    script = " ".join(services["airflow-init"]["command"])
    assert "pools(get_settings())" in script and "airflow pools set" in script
    assert script.index("airflow db migrate") < script.index("airflow pools set")
    assert {placement.IO_TASK["pool"], placement.MODEL_TASK["pool"]} == set(placement.pools(Settings()))


def test_seed_job_runs_make_runs_days_through_the_api_once_airflow_is_up(services) -> None:
    from griddesk import cli

    seed = services["griddesk-seed"]
    assert seed["entrypoint"][:4] == ["python", "-m", "griddesk.cli", "seed"]
    assert seed["entrypoint"][seed["entrypoint"].index("--api-url") + 1] == "http://airflow-apiserver:8080"
    assert callable(cli.cmd_seed)
    assert seed["restart"] == "no"
    for dep in ("airflow-scheduler", "airflow-dag-processor"):
        assert seed["depends_on"][dep]["condition"] == "service_healthy"
    assert seed["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    env = environment_of(seed)
    assert {"AIRFLOW_ADMIN_USERNAME", "AIRFLOW_ADMIN_PASSWORD"} <= set(env)
    [mount] = [v for v in seed["volumes"] if isinstance(v, dict)]
    assert mount["target"] == env["GRIDDESK_DATA_DIR"] and mount["read_only"] is True
    assert mount["source"] == services["simulator"]["volumes"][0]["source"]


def test_seed_sub_command_is_in_the_cli(capsys) -> None:
    from griddesk import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(["seed", "--help"])
    assert exit_.value.code == 0 and "--api-url" in capsys.readouterr().out


def test_docs_service_serves_the_docs_site_from_the_shared_state_on_loopback(services) -> None:
    docs = services["docs"]
    assert docs["entrypoint"][:3] == ["python", "-m", "griddesk.quality.docs_site"]
    assert [str(p) for p in docs["ports"]] == ["127.0.0.1:8081:8081"]
    # The tasks rewrite the validation pages into the state volume after each validation; the site serves them.
    state = "griddesk-state:/opt/airflow/.griddesk"
    assert state in docs["volumes"] and state in services["airflow-worker"]["volumes"]


def test_simulator_mounts_the_feeds_data_folder_read_only(services, defaults_env) -> None:
    simulator = services["simulator"]
    target = environment_of(simulator)["GRIDDESK_FEEDS_DATA_DIR"]
    [mount] = [v for v in simulator["volumes"] if isinstance(v, dict) and v["target"] == target]
    assert mount["read_only"] is True and mount["bind"]["create_host_path"] is False
    assert interpolate(mount["source"], defaults_env) == "./data"
    assert (PROJECT_ROOT / "data" / "README.md").exists()


# ---------------------------------------------------------------- optional: the real Compose CLI


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_compose_cli_accepts_the_file_when_available() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose CLI here (neither `docker compose` nor `docker-compose`); schema test covers it")
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
