"""Local base images for tests: the engine has no registry to pull from."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

BUSYBOX_IMAGE = "machete-test/busybox:latest"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def busybox_binary() -> Path:
    for cand in BUSYBOX_CANDIDATES:
        if Path(cand).is_file():
            return Path(cand)
    found = shutil.which("busybox")
    if found:
        return Path(found)
    raise RuntimeError("busybox is not installed: run scripts/setup.sh (Debian's busybox-static)")


def busybox_rootfs_tar() -> bytes:
    """A root file system: /bin/busybox plus a symlink per applet, /tmp and /www."""
    binary = busybox_binary()
    applets = subprocess.run(
        [str(binary), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "www", "etc"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(binary), arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def ensure_busybox_image() -> str:
    """Import the busybox image into the engine unless it is already there."""
    import docker

    client = docker.from_env()
    try:
        try:
            client.images.get(BUSYBOX_IMAGE)
            return BUSYBOX_IMAGE
        except docker.errors.ImageNotFound:
            pass
        repo, tag = BUSYBOX_IMAGE.rsplit(":", 1)
        client.api.import_image_from_data(
            busybox_rootfs_tar(), repository=repo, tag=tag, changes=["ENV PATH=/bin"]
        )
        client.images.get(BUSYBOX_IMAGE)
        return BUSYBOX_IMAGE
    finally:
        client.close()


def http_tool_files(
    body: str = "hello from the tool",
    port: int = 8080,
    health: str = "/health",
    extra_manifest: str = "",
) -> dict[str, str]:
    """A real HTTP tool: busybox httpd serving a page and a health endpoint."""
    health_file = health.lstrip("/") or "health"
    return {
        "Dockerfile": (
            f"FROM {BUSYBOX_IMAGE}\n"
            "COPY www /www\n"
            f"EXPOSE {port}\n"
            f'CMD ["sh", "-c", "echo tool starting on $PORT; exec httpd -f -v -p {port} -h /www"]\n'
        ),
        "www/index.html": body + "\n",
        f"www/{health_file}": "ok\n",
        "machete.yml": (
            "name: hello-tool\n"
            "version: 1.0.0\n"
            "description: A busybox httpd tool for MACHETE's tests\n"
            "machete:\n"
            f"  port: {port}\n"
            f"  health_check: {health}\n"
            "  environment:\n    - GREETING=hi\n" + extra_manifest
        ),
        "README.md": "# hello-tool\n\nServes a page and a health endpoint with busybox httpd.\n",
    }


#: A WebSocket server in busybox shell, run by ``nc -ll -e`` once per connection: anything but
#: an upgrade gets ``200 ok`` (the health check); an upgrade is accepted (SHA-1 and base64 of
#: the key, RFC 6455), greeted with one text message, then each short text message is echoed.
WEBSOCKET_SH = Path(__file__).with_name("websocket_tool.sh")


def websocket_tool_files(port: int = 8080) -> dict[str, str]:
    """A real container tool that speaks WebSocket (see :data:`WEBSOCKET_SH`)."""
    return {
        "Dockerfile": (
            f"FROM {BUSYBOX_IMAGE}\n"
            "COPY ws.sh /ws.sh\n"
            "RUN chmod 755 /ws.sh\n"
            f'CMD ["nc", "-ll", "-p", "{port}", "-e", "/ws.sh"]\n'
        ),
        "ws.sh": WEBSOCKET_SH.read_text(),
        "machete.yml": (
            f"name: ws-tool\nversion: 1.0.0\nmachete:\n  port: {port}\n  health_check: /health\n"
        ),
    }


DEBIAN_IMAGE = "machete-test/debian-python:bookworm"
ROOT = Path(__file__).resolve().parents[2]


def ensure_debian_image() -> str:
    """A Debian bookworm base with Python, Flask and curl (scripts/debian-base.sh builds it
    with debootstrap and caches it on this machine), imported into the engine once."""
    import docker

    client = docker.from_env()
    try:
        try:
            client.images.get(DEBIAN_IMAGE)
            return DEBIAN_IMAGE
        except docker.errors.ImageNotFound:
            pass
        tarball = (
            subprocess.run(
                ["bash", str(ROOT / "scripts" / "debian-base.sh")],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        repo, tag = DEBIAN_IMAGE.rsplit(":", 1)
        with open(tarball, "rb") as fh:
            client.api.import_image_from_data(
                fh.read(),
                repository=repo,
                tag=tag,
                changes=["ENV PATH=/usr/local/bin:/usr/bin:/bin", "ENV LANG=C.UTF-8"],
            )
        client.images.get(DEBIAN_IMAGE)
        return DEBIAN_IMAGE
    finally:
        client.close()
