"""The ``git`` source: dulwich, no git binary, no shell.

Objects are fetched into a bare cache repository per URL (so a redeploy fetches only new
objects), and the wanted commit's tree is written into the workspace without any ``.git``
directory, so nothing of the repository's metadata can reach a build context.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from machete_core.domain.records import Locator, LogSink, Revision
from machete_core.errors import RefNotFoundError, SourceError
from machete_core.plugins import hookimpl
from machete_core.plugins.records import SourceProvider
from machete_core.secrets import Credentials
from machete_core.settings import Settings
from machete_core.sources.digest import tree_digest
from machete_core.sources.netguard import AddressPolicy
from machete_core.sources.url_policy import check_source_url

_SHA = re.compile(r"^[0-9a-f]{7,40}$")
DEFAULT_BRANCHES = (b"refs/heads/main", b"refs/heads/master")


class UnsafeRepositoryError(SourceError):
    code = "unsafe_repository"


def handles(url: str) -> bool:
    # Archives belong to the tarball source; anything else that passed the URL policy is Git.
    return (
        not url.lower()
        .split("?", 1)[0]
        .endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"))
    )


def _safe_path_element(element: bytes) -> bool:
    from dulwich.index import (
        validate_path_element_default,
        validate_path_element_hfs,
        validate_path_element_ntfs,
    )

    return (
        validate_path_element_default(element)
        and validate_path_element_ntfs(element)
        and validate_path_element_hfs(element)
    )


def pick_ref(
    refs: Mapping[bytes, bytes | None], symrefs: Mapping[bytes, bytes], ref: str | None
) -> tuple[bytes, str]:
    """Choose the commit-ish for ``ref`` among the remote's refs: branch, then tag, then sha.

    With no ref, the remote's default branch (HEAD), else ``main``, else ``master``.
    Returns the object id and the full ref name (or the sha itself).
    """
    if ref is None:
        head = symrefs.get(b"HEAD")
        for name in ((head,) if head else ()) + DEFAULT_BRANCHES:
            sha = refs.get(name) if name else None
            if sha:
                return sha, name.decode()
        raise RefNotFoundError("the repository has no default branch (HEAD, main or master)")
    raw = ref.encode()
    candidates = [raw] if raw.startswith(b"refs/") else []
    candidates += [b"refs/heads/" + raw, b"refs/tags/" + raw]
    for name in candidates:
        sha = refs.get(name + b"^{}") or refs.get(name)
        if sha:
            return sha, name.decode()
    if _SHA.match(ref):
        return raw, ref
    branches = sorted(
        n.decode()[len("refs/heads/") :] for n in refs if n.startswith(b"refs/heads/")
    )
    raise RefNotFoundError(
        f"no branch, tag or commit named {ref!r} (branches: {', '.join(branches) or 'none'})"
    )


class GitSource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _client(self, url: str, creds: Credentials | None = None) -> tuple[Any, str]:
        import urllib3
        from dulwich.client import get_transport_and_path

        from machete_plugins.guarded_http import Budget, GuardedPoolManager

        checked = check_source_url(url, self.settings.allowed_schemes)
        parts = urlsplit(checked)
        policy = AddressPolicy.from_strings(self.settings.allowed_networks)
        kwargs: dict[str, Any] = {}
        if parts.scheme in ("http", "https"):
            budget = Budget(self.settings.fetch_max_bytes, self.settings.fetch_timeout)
            kwargs["pool_manager"] = GuardedPoolManager(
                policy, budget, timeout=urllib3.Timeout(connect=15, read=120), retries=False
            )
        elif parts.scheme == "ssh":
            # ssh runs as a subprocess that resolves the name itself: check it beforehand.
            policy.resolve(parts.hostname or "", parts.port or 22)
        if creds is not None and parts.scheme in ("http", "https"):
            # dulwich sends these only to the origin they were given for.
            kwargs.update(username=creds.username, password=creds.password)
        try:
            return get_transport_and_path(checked, **kwargs)
        except Exception as exc:
            raise SourceError(f"cannot use {url!r} as a Git location: {exc}") from None

    def resolve(self, locator: Locator) -> str | None:
        client, path = self._client(locator.url, locator.credentials)
        with _git_errors(locator.url):
            result = client.get_refs(path.encode() if isinstance(path, str) else path)
        sha, _name = pick_ref(result.refs, result.symrefs, locator.ref)
        return sha.decode() if len(sha) == 40 else None

    def fetch(self, locator: Locator, dest: Path, log: LogSink) -> Revision:
        from dulwich.index import InvalidPathError, build_index_from_tree
        from dulwich.objects import Commit, Tag
        from dulwich.repo import Repo

        client, path = self._client(locator.url, locator.credentials)
        cache = (
            self.settings.cache_dir / "git" / hashlib.sha256(locator.url.encode()).hexdigest()[:32]
        )
        with _locked(cache):
            repo = (
                Repo(str(cache))
                if (cache / "objects").is_dir()
                else Repo.init_bare(str(cache), mkdir=True)
            )
            try:
                with _git_errors(locator.url):
                    result = client.fetch(
                        path,
                        repo,
                        progress=_progress(log),
                        determine_wants=repo.object_store.determine_wants_all,
                    )
                _mirror_refs(repo, result.refs)
                sha, refname = pick_ref(result.refs, result.symrefs, locator.ref)
                obj = self._lookup(repo, sha, locator.ref)
                while isinstance(obj, Tag):
                    obj = repo[obj.object[1]]
                if not isinstance(obj, Commit):
                    raise RefNotFoundError(f"{locator.ref or refname} does not name a commit")
                with tempfile.TemporaryDirectory(prefix="machete-index-") as tmp:
                    try:
                        build_index_from_tree(
                            str(dest),
                            str(Path(tmp) / "index"),
                            repo.object_store,
                            obj.tree,
                            honor_filemode=True,
                            validate_path_element=_safe_path_element,
                        )
                    except InvalidPathError as exc:
                        raise UnsafeRepositoryError(
                            f"the repository's tree has a path that could write outside the "
                            f"work tree or into Git metadata: {exc}"
                        ) from None
                commit = obj.id.decode()
            finally:
                repo.close()
        log(f"checked out {refname} at {commit[:12]}")
        return Revision(digest=tree_digest(dest), commit=commit, ref=refname)

    @staticmethod
    def _lookup(repo: Any, sha: bytes, ref: str | None) -> Any:
        if len(sha) == 40:
            try:
                return repo[sha]
            except KeyError:
                pass
        else:  # abbreviated commit id
            matches = [o for o in repo.object_store if o.startswith(sha)]
            if len(matches) == 1:
                return repo[matches[0]]
        raise RefNotFoundError(f"no commit {ref!r} in the repository's branches and tags")


def _mirror_refs(repo: Any, refs: Mapping[bytes, bytes | None]) -> None:
    """Keep the remote's refs in the cache: they are the "haves" of the next fetch, so a
    redeploy downloads only new objects."""
    for name, sha in refs.items():
        if sha and name.startswith((b"refs/heads/", b"refs/tags/")) and not name.endswith(b"^{}"):
            if sha in repo.object_store:
                repo.refs[name] = sha


_PERCENT = re.compile(r"^(.*?):\s+(\d{1,3})%")


def _progress(log: LogSink) -> Any:
    """The server's progress, a few lines per phase (its start, each quarter, its end) rather
    than one per update: hundreds of "Receiving objects: 41%" lines help no one."""
    pending = [b""]
    shown: dict[str, int] = {}

    def progress(data: bytes) -> None:
        pending[0] += data
        *lines, pending[0] = re.split(rb"[\r\n]", pending[0])
        for raw in lines:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            found = _PERCENT.match(line)
            if found and not line.endswith("done."):
                phase, percent = found.group(1), int(found.group(2))
                if phase in shown and percent // 25 == shown[phase] // 25:
                    continue
                shown[phase] = percent
            log("remote: " + line)

    return progress


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One fetch per cache at a time, across threads and processes."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f"{cache.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _git_errors(url: str) -> Iterator[None]:
    from dulwich.errors import GitProtocolError, HangupException, NotGitRepository

    try:
        yield
    except (GitProtocolError, HangupException, NotGitRepository, OSError) as exc:
        raise SourceError(f"cannot fetch {url}: {fetch_problem(exc)}") from None
    except Exception as exc:
        if type(exc).__module__.startswith(("urllib3", "dulwich")):
            raise SourceError(f"cannot fetch {url}: {fetch_problem(exc)}") from None
        raise


def fetch_problem(exc: BaseException) -> str:
    """What the server (or the network) said, for a person: never a bare class name."""
    import socket

    from dulwich.errors import HangupException, NotGitRepository

    name = type(exc).__name__
    if isinstance(exc, NotGitRepository):
        return "the server has no Git repository there (HTTP 404); check the URL"
    if name == "HTTPUnauthorized":
        return (
            "the server asks for authentication (HTTP 401): pass --username with "
            "--password-stdin or --password-env (a token works as the password)"
        )
    if name == "HTTPProxyUnauthorized":
        return "the proxy asks for authentication (HTTP 407)"
    if isinstance(exc, HangupException):
        return "the server closed the connection (it may refuse this repository or be down)"
    if isinstance(exc, socket.gaierror):
        return f"the host name cannot be resolved ({exc.strerror})"
    detail = str(exc).strip()
    if isinstance(exc, ConnectionRefusedError) or "connection refused" in detail.lower():
        return "nothing answers there (connection refused)"
    if "name or service not known" in detail.lower():
        return "the host name cannot be resolved"
    if isinstance(exc, TimeoutError):
        return "the server did not answer in time"
    status = re.search(r"\b([45]\d\d)\b", detail)
    if status and "HTTP" in detail.upper():
        return f"the server answered HTTP {status.group(1)}: {detail}"
    return detail or f"the connection failed ({name})"


@hookimpl
def machete_register_sources() -> list[SourceProvider]:
    return [
        SourceProvider(
            name="git",
            factory=GitSource,
            handles=handles,
            description="Git repositories over https (dulwich); http/ssh/file when allowed",
        )
    ]
