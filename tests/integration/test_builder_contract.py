"""Both bundled builders pass the builder contract that third-party builders can run too."""

from __future__ import annotations

import pytest

from machete_core.plugins.protocols import Builder
from machete_core.settings import Settings
from machete_plugins.buildx_builder import BuildxBuilder
from machete_plugins.docker_builder import DockerBuilder
from machete_plugins.testing.builder_contract import BuilderContract


class TestBundledBuilders(BuilderContract):
    @pytest.fixture(params=["docker", "buildx"])
    def builder(self, request: pytest.FixtureRequest, settings: Settings) -> Builder:
        return DockerBuilder(settings) if request.param == "docker" else BuildxBuilder(settings)

    @pytest.fixture
    def base_image(self, busybox_image: str) -> str:
        return busybox_image
