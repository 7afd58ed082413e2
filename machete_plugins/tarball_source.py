"""The ``tarball`` source: tool archives from an http(s) URL or an upload.

Formats: tar, tar.gz/tgz, tar.bz2, tar.xz and zip (recognised by content, not by name). Downloads
go through the address guard and the fetch budget and are unpacked while they stream; uploads
were stored content-addressed by the core (``upload:<sha256>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from machete_core.domain.records import Locator, LogSink, Revision
from machete_core.errors import SourceError
from machete_core.plugins import hookimpl
from machete_core.plugins.records import SourceProvider
from machete_core.settings import Settings
from machete_core.sources.archive import ArchiveLimits, ExtractResult
from machete_core.sources.digest import tree_digest
from machete_core.sources.netguard import AddressPolicy
from machete_core.sources.unpack import extract_isolated
from machete_core.sources.uploads import UPLOAD_PREFIX, upload_path
from machete_core.sources.url_policy import check_source_url

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


def handles(url: str) -> bool:
    return url.startswith(UPLOAD_PREFIX) or url.lower().split("?", 1)[0].endswith(ARCHIVE_SUFFIXES)


class TarballSource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _limits(self) -> ArchiveLimits:
        s = self.settings
        return ArchiveLimits(s.archive_max_bytes, s.archive_max_member_bytes, s.archive_max_members)

    def _extract(self, stream: Any, dest: Path, locator: Locator) -> ExtractResult:
        # In a bounded child process: a hostile archive cannot pin the server (see unpack.py).
        return extract_isolated(
            stream,
            dest,
            self._limits(),
            timeout=self.settings.fetch_timeout,
            cancel=locator.cancel,
        )

    def resolve(self, locator: Locator) -> str | None:
        # An upload is its own revision; a URL's content is only known by downloading it.
        return locator.url if locator.url.startswith(UPLOAD_PREFIX) else None

    def fetch(self, locator: Locator, dest: Path, log: LogSink) -> Revision:
        if locator.url.startswith(UPLOAD_PREFIX):
            path = upload_path(self.settings, locator.url)
            with path.open("rb") as fh:
                result = self._extract(fh, dest, locator)
        else:
            result = self._download(locator, dest, log)
        if result.stripped:
            log(f"stripped the wrapping folder {result.stripped}/")
        log(f"unpacked {result.files} files, {result.bytes} bytes")
        return Revision(digest=tree_digest(dest), commit=None, ref=None)

    def _download(self, locator: Locator, dest: Path, log: LogSink) -> Any:
        import urllib3

        from machete_plugins.guarded_http import Budget, GuardedPoolManager

        url = locator.url
        checked = check_source_url(url, self.settings.allowed_schemes)
        headers = {}
        if locator.credentials is not None:
            creds = locator.credentials
            headers = urllib3.make_headers(basic_auth=f"{creds.username}:{creds.password}")
        pool = GuardedPoolManager(
            AddressPolicy.from_strings(self.settings.allowed_networks),
            Budget(self.settings.fetch_max_bytes, self.settings.fetch_timeout),
            timeout=urllib3.Timeout(connect=15, read=120),
            retries=False,
        )
        try:
            response = pool.request("GET", checked, headers=headers, preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise SourceError(f"cannot download {url}: {exc}") from None
        try:
            if response.status != 200:
                raise SourceError(f"cannot download {url}: HTTP {response.status}")
            log(f"downloading {url}")
            return self._extract(response, dest, locator)
        except urllib3.exceptions.HTTPError as exc:
            raise SourceError(f"the download of {url} failed: {exc}") from None
        finally:
            response.release_conn()
            pool.clear()


@hookimpl
def machete_register_sources() -> list[SourceProvider]:
    return [
        SourceProvider(
            name="tarball",
            factory=TarballSource,
            handles=handles,
            description="tar/zip archives from https URLs or uploads, checked member by member",
        )
    ]
