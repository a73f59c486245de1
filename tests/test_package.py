"""The installable package: the `zoo` command, `zoo list`, and `pip install`
into a folder, run from outside the checkout."""

import email.parser
import inspect
import json
import os
import re
import runpy
import shutil
import subprocess
import sys

import pytest

import zoo
from tests import contract
from training import catalog, cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("zoo", "training", "export")
# `zoo COMMAND` -> the `python -m` module it stands for.
PYTHON_M = {"train": "training.train", "evaluate": "training.evaluate", "export": "export",
            "serving-config": "export.config", "publish": "export.publish"}


# ------------------------------------------------------------------ command
def test_help_gives_every_command_one_line(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert re.search(rf"^  {re.escape(name)} +\S", out, re.M), name
    assert set(cli.COMMANDS) == set(PYTHON_M) | {"list"}


@pytest.mark.parametrize("argv, message", [
    (["trian"], "unknown command 'trian'. Did you mean train?"),
    (["--verbose"], "unknown command '--verbose'"),
    ([], "give a command"),
])
def test_bad_command_is_one_error_line(argv, message, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith(f"error: {message}")


def test_version_is_the_package_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"zoo {zoo.__version__}\n"


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
@pytest.mark.parametrize("command", sorted(PYTHON_M))
def test_subcommand_is_its_python_m_entry_point(command, capsys, monkeypatch):
    def run(call):
        with pytest.raises(SystemExit) as stop:
            call()
        return stop.value.code, capsys.readouterr().out

    via_zoo = run(lambda: cli.main([command, "--help"]))
    # What `python -m MODULE --help` executes, in this process.
    monkeypatch.setattr(sys, "argv", [PYTHON_M[command], "--help"])
    via_python_m = run(lambda: runpy.run_module(PYTHON_M[command], run_name="__main__"))
    assert via_zoo == via_python_m
    assert via_zoo[0] == 0 and "usage:" in via_zoo[1]


# --------------------------------------------------------------------- list
def test_list_prints_every_model(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == list(catalog.COLUMNS)
    assert [line.split()[0] for line in lines[1:]] == zoo.list_models()


def test_list_columns_come_from_the_classes():
    rows = {row["model"]: row for row in catalog.rows()}
    assert [rows[m]["family"] for m in ("vae", "autoencoder", "pixelcnn", "wgan")] == [
        "vae", "autoencoders", "autoregressive", "gan"]
    assert [rows[m]["conditional"] for m in ("cgan", "gated_pixelcnn", "vae")] == [
        "required", "optional", "no"]
    assert rows["vae"]["paper"] == "Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014."
    assert rows["dcgan"]["paper"].endswith("Deep Convolutional GANs. ICLR 2016.")
    assert [m for m, row in rows.items() if row["paper"] == "-"] == [], \
        "every model cites its paper under References: in its class docstring"


def test_class_capabilities_are_the_models():
    for name in zoo.list_models():
        cls = zoo.get_class(name)
        assert catalog.capabilities(cls) == contract.build(name).capabilities, name


def test_first_reference_joins_wrapped_lines():
    doc = inspect.cleandoc("""Summary.

        References:
          [1] Author, Other. A title that
              wraps. Venue 2000.
          [2] Someone. Another. 2001.
        """)
    assert catalog.first_reference(doc) == "Author, Other. A title that wraps. Venue 2000."
    assert catalog.first_reference("Summary.\n\nArgs:\n  x: y.") == ""


# ------------------------------------------------------------------ install
def _name(requirement):
    """PEP 503 normalized project name of 'name==version' or a Requires-Dist line."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group()).lower()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`pip install --target` of a copy of the sources (so the build writes
    nothing into the checkout); returns (root, site folder, version)."""
    root = tmp_path_factory.mktemp("package")
    src = root / "src"
    for package in PACKAGES:
        shutil.copytree(os.path.join(REPO, package), src / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), src / name)
    # A version only the copy has: what the runs below report proves they
    # ran the installed files, not the checkout.
    version = zoo.__version__ + "+installed"
    (src / "zoo" / "_version.py").write_text(f'__version__ = "{version}"\n')
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                    "--no-build-isolation", "--no-cache-dir", "--quiet",
                    "--target", str(site), str(src)],
                   check=True, capture_output=True, text=True, timeout=300)
    return root, site, version


def _zoo(installed, *args):
    root, site, _ = installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([str(site / "bin" / "zoo"), *args], cwd=str(root), env=env,
                          capture_output=True, text=True, timeout=600)


def test_install_holds_the_packages_and_the_tested_pins(installed):
    _, site, version = installed
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(REPO, package)):
            if "__init__.py" in files:
                assert (site / os.path.relpath(folder, REPO) / "__init__.py").is_file(), folder
    assert not (site / "tests").exists() and not (site / "bench").exists()
    (dist_info,) = site.glob("generative_zoo-*.dist-info")
    meta = email.parser.Parser().parse(open(dist_info / "METADATA"))
    assert meta["Version"] == version
    assert meta["Requires-Python"] == ">=3.10"
    runtime = sorted(r for r in meta.get_all("Requires-Dist") if ";" not in r)
    test_extra = sorted(r.split(";")[0].strip() for r in meta.get_all("Requires-Dist")
                        if 'extra == "test"' in r)
    pins = [line.strip() for line in open(os.path.join(REPO, "requirements.txt"))
            if line.strip() and not line.startswith("#")]
    assert sorted(_name(r) for r in test_extra) == ["pytest", "pytest-xdist"]
    assert {_name(r): r.split("==")[1] for r in runtime + test_extra} == \
        {_name(p): p.split("==")[1] for p in pins}, \
        "pyproject.toml's dependencies must be requirements.txt's pins (pytest, " \
        "pytest-xdist: extra 'test')"


def test_installed_zoo_runs_outside_the_checkout(installed):
    root, site, version = installed
    found = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u; print(*(u.find_spec(p).origin "
                               f"for p in {PACKAGES!r}))"],
        cwd=str(root), env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True, text=True, check=True).stdout.split()
    assert all(path.startswith(str(site)) for path in found), found

    assert _zoo(installed, "--version").stdout == f"zoo {version}\n"
    listing = _zoo(installed, "list")
    assert listing.returncode == 0, listing.stderr
    assert re.search(r"^vae +vae +sample,encode", listing.stdout, re.M)

    run = _zoo(installed, "train", "vae", "--epochs", "1", "--out", "run", "--verbose", "0",
               "--set", "latent_dim=2", "--set", "hidden_units=(16,)", "--iwae-samples", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (root / "run" / "model.keras").is_file()
    export = root / "run" / "export" / "vae" / "1"
    assert json.load(open(export / "metadata.json"))["zoo_version"] == version
    assert f"by zoo {version}." in (export / "README.md").read_text()
