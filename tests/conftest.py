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


# fixtures of the TNGD tests (test_timing.py, test_tngd_factored.py): skipped without the `timing` extra
@pytest.fixture(scope="session")
def torch_():
    return pytest.importorskip("torch")


@pytest.fixture(scope="session")
def digits():
    pytest.importorskip("sklearn")
    from thermotwin.tngd.model import load_digits_data

    return load_digits_data(0)
