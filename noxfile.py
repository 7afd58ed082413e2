"""Developer sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``install_check``, ``bench``."""

from __future__ import annotations

import nox
from nox.command import CommandFailed

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Unit then integration tests (the latter need the Docker engine)."""
    session.install("-e", ".[dev]")
    session.run("pytest", "tests/unit", *session.posargs)
    session.run("pytest", "tests/integration", *session.posargs)


@nox.session
def unit(session: nox.Session) -> None:
    """The fast inner loop: no daemon needed."""
    session.install("-e", ".[dev]")
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(reuse_venv=False)
@nox.parametrize("mode", ["wheel", "editable"])
def install_check(session: nox.Session, mode: str) -> None:
    """``pip install .`` and ``pip install -e .`` both give importable packages and the CLI."""
    session.install(*(["-e", "."] if mode == "editable" else ["."]))
    session.chdir(session.create_tmp())  # import from site-packages, not the source tree
    session.run(
        "python",
        "-c",
        "import machete_core, machete_plugins, machete_cli, machete_web;"
        "from importlib.metadata import entry_points;"
        "names = {e.name for e in entry_points(group='machete')};"
        "assert {'git', 'docker-builder', 'docker-runtime'} <= names, names;"
        "from importlib.resources import files;"
        # The dashboard's templates and static files ship with the package.
        "ui = files('machete_web.dashboard');"
        "assert ui.joinpath('templates/base.html').is_file();"
        "assert ui.joinpath('static/app.js').is_file();"
        "assert ui.joinpath('static/style.css').is_file()",
    )
    session.run("machete", "--version")
    session.run("machete", "plugins", env={"MACHETE_HOME": session.create_tmp()}, silent=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (ratios measured in one run); see docs/benchmarks.md. Every one runs and
    records its results in docs/benchmarks.md (``nox -s bench -- --rounds 3`` passes options
    on to each; without ``--record`` in them, nothing is written); the session fails at the
    end if any was over its budget."""
    session.install("-e", ".[dev]")
    options = session.posargs or ["--record"]
    over = []
    for name, *extra in (
        ("incremental_fetch",),
        ("noop_redeploy",),
        ("deploy_overhead",),
        ("deploy_overhead", "--local"),  # for information: it has no budget
        ("install_profile",),  # for information: where deploy_overhead's gap is
        ("cli_latency",),
        ("api_list",),
        ("scale_1000",),
        ("metrics_overhead",),
        ("health_scale",),
        ("swap",),
    ):
        try:
            session.run("python", "-m", f"bench.{name}", *extra, *options)
        except CommandFailed:
            over.append(name)  # a benchmark exits 1 when over its budget; go on with the rest
    if over:
        session.error(f"over budget: {', '.join(over)}")
