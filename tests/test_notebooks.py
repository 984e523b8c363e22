"""The Colab notebooks run top to bottom headless, offline, with their small defaults.

Like papermill, a cell injected after the cell tagged ``parameters`` redirects the
outputs into a temporary directory; nothing else is changed. Any cell that raises
fails the test.
"""

import ast
import json
import re
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def execute(name: str, overrides: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"
    notebook.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(overrides))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return notebook


def image_outputs(notebook) -> int:
    return sum(bool({"image/png", "image/jpeg"} & set(output.get("data", {}))) for cell in notebook.cells
               if cell.cell_type == "code" for output in cell.outputs)


def test_the_four_notebooks_exist():
    assert ALL == ["defect_detection.ipynb", "fast_style.ipynb", "optimizer_study.ipynb", "style_transfer.ipynb"]


@pytest.mark.parametrize("name", ALL)
def test_outputs_are_stripped_in_git(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def setup_cell(name: str) -> str:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    return next(cell.source for cell in notebook.cells if cell.cell_type == "code")


def parameters_cell(name: str) -> str:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    return next(cell.source for cell in notebook.cells if "parameters" in cell.metadata.get("tags", []))


@pytest.mark.parametrize("name", ALL)
def test_first_cell_installs_in_colab_and_reports_the_gpu(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    setup = setup_cell(name)
    assert "google.colab" in setup and "%pip install" in setup and 'list_physical_devices("GPU")' in setup
    assert "subprocess" not in setup  # %pip installs into the kernel's own environment
    assert "colab.research.google.com/github/" in notebook.cells[0].source


@pytest.mark.parametrize("name", ALL)
def test_the_repository_address_is_one_variable_and_the_clone_is_guarded(name):
    code = "\n".join(cell.source for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells
                     if cell.cell_type == "code")
    assert code.count("github.com") == 1 and 'REPO_URL = "https://github.com/' in code
    setup = setup_cell(name)
    clone = setup.index("git clone")
    assert 'if not (REPO_DIR / "pyproject.toml").exists():' in setup[:clone] and "{REPO_URL}" in setup[clone:]
    assert setup == setup_cell("style_transfer.ipynb")  # the three notebooks share one setup cell


def colab_install_helpers(name: str) -> dict:
    """The setup cell's requirement check, taken out of its Colab branch and run here."""
    from IPython.core.inputtransformer2 import TransformerManager

    tree = ast.parse(TransformerManager().transform_cell(setup_cell(name)))
    colab_branch = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "IN_COLAB")
    keep = [node for node in colab_branch.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef))
            or (isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "SAME_MODULE")]
    namespace: dict = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), name, "exec"), namespace)
    return namespace


def test_colab_install_keeps_what_satisfies_the_pins_and_installs_the_rest():
    satisfied = colab_install_helpers("style_transfer.ipynb")["satisfied"]
    requirements = tomllib.loads((NOTEBOOKS.parent / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [text for text in requirements if not satisfied(text)] == []  # this venv: nothing would be reinstalled
    assert satisfied("tensorflow==2.21.*") and satisfied("kerasopt")
    assert not satisfied("tensorflow==2.20.*") and not satisfied("keras>=99") and not satisfied("no-such-dist")
    same = colab_install_helpers("style_transfer.ipynb")["SAME_MODULE"]["opencv-python-headless"]
    assert "opencv-python" in same  # Colab's opencv-python counts: never a second cv2 package beside it


@pytest.mark.parametrize("name", ["style_transfer.ipynb", "defect_detection.ipynb", "optimizer_study.ipynb"])
def test_save_to_drive_is_an_opt_in_that_moves_out_into_drive(name):
    source = parameters_cell(name)
    assert "SAVE_TO_DRIVE = False" in source and 'drive.mount("/content/drive")' in source
    namespace = {"IN_COLAB": False}
    exec(source, namespace)
    assert not namespace["OUT"].startswith("/content/drive")


def test_gpu_size_gets_its_own_synthetic_data_set():
    source = parameters_cell("defect_detection.ipynb")
    small, large = {"IN_COLAB": False}, {"IN_COLAB": False}
    exec(source, small)
    exec(source.replace("GPU_SIZE = False", "GPU_SIZE = True"), large)
    assert (large["N_IMAGES"], large["SIZE"]) != (small["N_IMAGES"], small["SIZE"])
    assert large["SYNTH_DIR"] != small["SYNTH_DIR"]
    assert str(large["SIZE"]) in large["SYNTH_DIR"] and str(large["N_IMAGES"]) in large["SYNTH_DIR"]


def test_style_notebook_runs(tmp_path):
    notebook = execute("style_transfer.ipynb", f'OUT = "{tmp_path}"')
    assert (tmp_path / "comparison.md").is_file()
    assert image_outputs(notebook) >= 3  # inputs, result grid, curves


def test_study_notebook_runs_a_study_and_shows_its_report(tmp_path):
    notebook = execute("optimizer_study.ipynb", f'OUT = "{tmp_path}"')
    assert (tmp_path / "report.md").is_file()
    assert image_outputs(notebook) >= 4  # curves vs step/evaluations/seconds, LR sensitivity, image grid
    digits = (tmp_path.with_name(tmp_path.name + "_digits") / "report.md").read_text()  # "Your own model"
    assert "## Final test_accuracy per optimizer (ranked)" in digits


def test_defect_notebook_trains_and_shows_curves_and_overlays(tmp_path):
    notebook = execute("defect_detection.ipynb", f'OUT = "{tmp_path / "out"}"\nSYNTH_DIR = "{tmp_path / "data"}"\n'
                       'SCHEDULE, WARMUP, WEIGHT_DECAY = "cosine", 0.25, 0.004')
    assert (tmp_path / "out" / "comparison.md").is_file()
    for name in ("adam", "sgd"):  # the schedule and weight decay of the parameters cell reach every run
        settings = json.loads((tmp_path / "out" / name / "config.json").read_text())["settings"]
        assert settings["learning_rate_schedule"]["schedule"] == "cosine"
        assert settings["resolved_hparams"]["weight_decay"] == 0.004
    assert image_outputs(notebook) >= 4  # samples, curves, one overlay per optimizer
    assert re.search(r"epoch 1: loss \d", text_outputs(notebook))  # training progress, one line per epoch


def text_outputs(notebook) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs)


def test_fast_style_notebook_installs_in_colab_and_uploads_a_photo():
    setup = setup_cell("fast_style.ipynb")
    assert "google.colab" in setup and "pip" in setup and 'list_physical_devices("GPU")' in setup
    notebook = nbformat.read(NOTEBOOKS / "fast_style.ipynb", as_version=4)
    assert "colab.research.google.com/github/" in notebook.cells[0].source
    assert any("files.upload()" in cell.source for cell in notebook.cells)


def test_fast_style_notebook_trains_two_optimizers_and_stylizes_a_photo(tmp_path):
    overrides = (f'import os\nos.environ["KERASOPT_CACHE"] = "{tmp_path / "cache"}"\n'
                 f'OUT = "{tmp_path / "out"}"\nSIZE, STEPS, BATCH_SIZE, WIDTH = 32, 3, 2, 0.125\n'
                 'SCHEDULE, WARMUP, WEIGHT_DECAY = "cosine", 0.34, 0.01')
    notebook = execute("fast_style.ipynb", overrides)
    out = tmp_path / "out"
    for name in ("adam", "rmsprop"):  # the schedule and weight decay of the parameters cell reach every run
        settings = json.loads((out / name / "config.json").read_text())["settings"]
        assert settings["learning_rate_schedule"] == {"schedule": "cosine", "total_steps": 3, "warmup_steps": 1}
        assert settings["resolved_hparams"]["weight_decay"] == 0.01
    assert (out / "comparison.md").is_file() and (out / "curves.png").is_file()
    assert (out / "stylized" / "tubingen.png").is_file()
    assert image_outputs(notebook) >= 5  # two grids, curves, the photo and its stylized version
