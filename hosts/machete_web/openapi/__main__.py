"""``python -m machete_web.openapi``: print the document (to refresh docs/openapi.json)."""

import sys

from machete_web.openapi import document_bytes

sys.stdout.buffer.write(document_bytes())
