"""The Lambda zips hold what their handlers import: `make lambda-packages`, then each handler
imported by a Python that sees nothing but the package folder (the runtime's /var/task)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = ["clinic_operations", "patient_notifications"]


@pytest.mark.parametrize("package", FUNCTIONS)
def test_each_handler_imports_from_its_package_alone(lambda_packages: Path, package: str) -> None:
    folder = lambda_packages / package
    # -I -S: no user site, no environment variables and no site-packages of this virtualenv,
    # so the import finds only the folder and the standard library, as in the runtime.
    probe = (
        f"import sys; sys.path.insert(0, {str(folder)!r}); "
        f"from {package}.handler import handler; assert callable(handler); "
        "import telemetry, opentelemetry.sdk.trace, boto3; "
        "print(sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
        f"('{package}', 'telemetry')))"
    )
    imported = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=False
    )
    assert imported.returncode == 0, imported.stderr
    assert not sorted(folder.glob("*.pth")), "a .pth file: the runtime never reads it"


@pytest.mark.parametrize("package", FUNCTIONS)
def test_workspace_libraries_are_copied_in_not_linked(lambda_packages: Path, package: str) -> None:
    for library in (package, "telemetry"):
        assert (lambda_packages / package / library / "__init__.py").is_file(), library
