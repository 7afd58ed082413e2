"""Tool manifests: ``machete.yml``, the legacy ``tool.json``, and the one converter for both."""

from machete_core.manifest.loader import LoadedManifest, load_manifest, load_manifest_text

__all__ = ["LoadedManifest", "load_manifest", "load_manifest_text"]
