"""Small tool repositories in the shapes real ones come in (written for these tests, copied
from nowhere): no manifest anywhere, so MACHETE must read the Dockerfile."""

from __future__ import annotations

from tests.support.images import DEBIAN_IMAGE

#: A tiny web app on the standard library, listening where it is told, answering ``/``,
#: ``/redirect`` (to ``/?x=1``) and any path in ``OK_PATHS``; 404 for everything else.
SERVER = """
import http.server, os, sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8080"))
OK_PATHS = set(filter(None, os.environ.get("OK_PATHS", "").split(",")))
DATA = os.environ.get("WRITE_TO")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/?x=1")
            self.end_headers()
            return
        if path == "/" or path in OK_PATHS:
            body = b"hello from " + path.encode()
            if DATA:
                with open(os.path.join(DATA, "visits"), "a") as fh:
                    fh.write(path + "\\n")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


print("listening on", PORT, flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
"""

FLASK = """
import os
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "hello from flask"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ["PORT"]))
"""


def flask_honouring_port() -> dict[str, str]:
    """A Flask app that listens on $PORT and has no /health, with no EXPOSE."""
    return {
        "app.py": FLASK,
        "Dockerfile": (
            f'FROM {DEBIAN_IMAGE}\nCOPY app.py /app/app.py\nCMD ["python3", "/app/app.py"]\n'
        ),
    }


def _served(port: int, *, before: str = "", expose: bool = True) -> str:
    """A Dockerfile running SERVER on ``port`` (``before``: instructions ahead of it)."""
    return (
        f"FROM {DEBIAN_IMAGE}\n{before}COPY server.py /srv/server.py\n"
        + (f"EXPOSE {port}\n" if expose else "")
        + f'CMD ["python3", "/srv/server.py", "{port}"]\n'
    )


def hard_coded_5000() -> dict[str, str]:
    """Ignores $PORT: listens on 5000, as its EXPOSE says."""
    return {"server.py": SERVER, "Dockerfile": _served(5000)}


def streamlit_like_healthcheck() -> dict[str, str]:
    """Listens on 8501 with a health path only its HEALTHCHECK names (no EXPOSE)."""
    check = (
        "ENV OK_PATHS=/_stcore/health\n"
        "HEALTHCHECK --interval=5s --timeout=2s --retries=3 "
        "CMD curl -f http://localhost:8501/_stcore/health || exit 1\n"
    )
    return {"server.py": SERVER, "Dockerfile": _served(8501, before=check, expose=False)}


def monorepo() -> dict[str, str]:
    """Two services; the tool is services/api (the root has no Dockerfile)."""
    return {
        "README.md": "A monorepo.\n",
        "services/api/server.py": SERVER,
        "services/api/Dockerfile": _served(7000),
        "services/worker/Dockerfile": f'FROM {DEBIAN_IMAGE}\nCMD ["sleep", "infinity"]\n',
    }


def dev_stage_last() -> dict[str, str]:
    """The last stage is a dev shell that serves nothing; the app is the stage ``app``."""
    return {
        "server.py": SERVER,
        "Dockerfile": (
            f"FROM {DEBIAN_IMAGE} AS app\nCOPY server.py /srv/server.py\nEXPOSE 6000\n"
            'CMD ["python3", "/srv/server.py", "6000"]\n\n'
            "FROM app AS dev\n"
            'CMD ["sleep", "infinity"]\n'
        ),
    }


def lower_case_dockerfile() -> dict[str, str]:
    return {
        "server.py": SERVER,
        "dockerfile": _served(6100),
    }


def non_root_writing_data() -> dict[str, str]:
    """Runs as a user of its own and writes a file under /data on every request to /."""
    return {
        "server.py": SERVER,
        "Dockerfile": _served(
            6200,
            before="RUN echo 'app:x:1234:1234::/tmp:/bin/sh' >> /etc/passwd \\\n"
            "    && echo 'app:x:1234:' >> /etc/group\nUSER app\nENV WRITE_TO=/data\n",
        ),
    }


def listens_on_8501() -> dict[str, str]:
    """EXPOSEs nothing and listens on 8501: MACHETE's default 8080 is wrong."""
    return {
        "server.py": SERVER,
        "Dockerfile": _served(8501, expose=False),
    }
