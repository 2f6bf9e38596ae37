import os
import shutil

import pytest

REQUIRE_NGSPICE = os.environ.get("THERMOTWIN_REQUIRE_NGSPICE") == "1"


def pytest_collection_modifyitems(config, items):
    if shutil.which("ngspice") or REQUIRE_NGSPICE:
        return
    skip = pytest.mark.skip(reason="ngspice not installed (set THERMOTWIN_REQUIRE_NGSPICE=1 to fail instead)")
    for item in items:
        if "ngspice" in item.keywords or "pyspice" in item.keywords:
            item.add_marker(skip)
