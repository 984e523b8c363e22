"""The Colab notebooks run top to bottom headless, offline, with their small defaults.

Like papermill, a cell injected after the cell tagged ``parameters`` redirects the
outputs into a temporary directory; nothing else is changed. Any cell that raises
fails the test.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs)


def test_the_three_notebooks_exist():
    assert ALL == ["defect_detection.ipynb", "optimizer_study.ipynb", "style_transfer.ipynb"]


@pytest.mark.parametrize("name", ALL)
def test_outputs_are_stripped_in_git(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", ALL)
def test_first_cell_installs_in_colab_and_reports_the_gpu(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    setup = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "google.colab" in setup and "pip" in setup and 'list_physical_devices("GPU")' in setup
    assert "colab.research.google.com/github/" in notebook.cells[0].source


def test_style_notebook_runs(tmp_path):
    notebook = execute("style_transfer.ipynb", f'OUT = "{tmp_path}"')
    assert (tmp_path / "comparison.md").is_file()
    assert image_outputs(notebook) >= 3  # inputs, result grid, curves


def test_study_notebook_runs_a_study_and_shows_its_report(tmp_path):
    notebook = execute("optimizer_study.ipynb", f'OUT = "{tmp_path}"')
    assert (tmp_path / "report.md").is_file()
    assert image_outputs(notebook) >= 4  # curves vs step/evaluations/seconds, LR sensitivity, image grid


def test_defect_notebook_trains_and_shows_curves_and_overlays(tmp_path):
    notebook = execute("defect_detection.ipynb", f'OUT = "{tmp_path / "out"}"\nSYNTH_DIR = "{tmp_path / "data"}"')
    assert (tmp_path / "out" / "comparison.md").is_file()
    assert image_outputs(notebook) >= 4  # samples, curves, one overlay per optimizer
