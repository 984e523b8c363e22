"""notebooks/fast_style.ipynb runs top to bottom headless and offline, with tiny settings.

As in tests/test_notebooks.py (papermill style): a cell injected after the cell
tagged ``parameters`` shrinks the run and redirects outputs and the photo-corpus
cache into a temporary directory; any cell that raises fails the test.
"""

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAME = "fast_style.ipynb"


def execute(overrides: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / NAME, as_version=4)
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{NAME} needs exactly one cell tagged 'parameters'"
    notebook.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(overrides))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return notebook


def image_outputs(notebook) -> int:
    return sum(bool({"image/png", "image/jpeg"} & set(output.get("data", {}))) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs)


def test_outputs_are_stripped_and_the_first_cell_installs_in_colab():
    notebook = nbformat.read(NOTEBOOKS / NAME, as_version=4)
    nbformat.validate(notebook)
    assert all(cell.outputs == [] and cell.execution_count is None
               for cell in notebook.cells if cell.cell_type == "code")
    setup = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "google.colab" in setup and "pip" in setup and 'list_physical_devices("GPU")' in setup
    assert "colab.research.google.com/github/" in notebook.cells[0].source
    assert any("files.upload()" in cell.source for cell in notebook.cells)


def test_the_notebook_trains_two_optimizers_and_stylizes_a_photo(tmp_path):
    overrides = (f'import os\nos.environ["KERASOPT_CACHE"] = "{tmp_path / "cache"}"\n'
                 f'OUT = "{tmp_path / "out"}"\nSIZE, STEPS, BATCH_SIZE, WIDTH = 32, 3, 2, 0.125\n'
                 'SCHEDULE, WARMUP, WEIGHT_DECAY = "cosine", 0.34, 0.01')
    notebook = execute(overrides)
    out = tmp_path / "out"
    for name in ("adam", "rmsprop"):  # the schedule and weight decay of the parameters cell reach every run
        settings = json.loads((out / name / "config.json").read_text())["settings"]
        assert settings["learning_rate_schedule"] == {"schedule": "cosine", "total_steps": 3, "warmup_steps": 1}
        assert settings["resolved_hparams"]["weight_decay"] == 0.01
    assert (out / "comparison.md").is_file() and (out / "curves.png").is_file()
    assert (out / "stylized" / "tubingen.png").is_file()
    assert image_outputs(notebook) >= 5  # two grids, curves, the photo and its stylized version
