"""Documentation that cannot rot: the Sphinx build (warnings are errors) and the guide's
example scripts, each run in its smoke mode."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _run(args, cwd=ROOT, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-5000:])
    return result


def test_sphinx_builds_the_guide_and_api_reference_without_warnings(tmp_path):
    out = tmp_path / "html"
    _run(["-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", ROOT / "docs", out])
    for page in ("index", "guide/python", "guide/adapt_kernel", "api/mcmc", "api/model"):
        assert (out / f"{page}.html").is_file(), page
    api = (out / "api" / "mcmc.html").read_text(encoding="utf-8")
    assert "adapt_kernel" in api and "SpeedMeasureAdaptation" in api


def test_every_example_is_included_in_the_guide_and_every_include_exists():
    guide = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob("*.rst"))
    included = {
        line.split("examples/")[-1].strip()
        for line in guide.splitlines()
        if "literalinclude::" in line
    }
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert included == scripts, (included, scripts)


def test_python_quickstart_and_serving_without_tf_smvae(tmp_path):
    out = tmp_path / "quickstart"
    printed = _run([EXAMPLES / "python_quickstart.py", f"--out={out}", "--smoke"]).stdout
    assert (
        "LogLikelihoodResult(log_likelihood=" in printed and "samples: (16, 28, 28, 1)" in printed
    )
    assert (out / "history.csv").is_file() and (out / "vae.keras").is_file()
    # The serving script imports TensorFlow only and asserts tf_smvae stayed unimported.
    printed = _run([EXAMPLES / "serve_saved_model.py", f"--saved_model={out / 'export'}"]).stdout
    assert "latent loc: (16, 10)" in printed and "mean log p(x):" in printed


def test_mcmc_vae_example(tmp_path):
    printed = _run([EXAMPLES / "mcmc_vae.py", f"--out={tmp_path}", "--smoke"]).stdout
    assert "refined latents: (8, 10)" in printed
    acceptance = [line for line in printed.splitlines() if line.startswith("acceptance [")]
    assert acceptance and acceptance[0].startswith("acceptance [nan, ")
    assert (tmp_path / "tensorboard" / "kernel").is_dir()


def test_bayesian_logistic_regression_example():
    printed = _run([EXAMPLES / "bayesian_logistic_regression.py", "--smoke"]).stdout
    assert printed.count("max R-hat") == 2 and "learned step size" in printed


def test_markdown_docstrings_become_restructuredtext():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    import markdown_docstrings

    lines = [
        "Phases, with `h`s and |x|:",
        "1. first",
        "   - nested `a`^2",
        "     more",
        "Text.",
        "",
        "#### Examples",
        "",
        "```python",
        "x = f(a * b)",
        "```",
        "[1] Author. A title",
        "    continued. 2020.",
    ]
    assert markdown_docstrings.convert(lines) == [
        r"Phases, with ``h``\ s and \|x\|:",
        "",
        "1. first",
        "",
        r"   - nested ``a``\ ^2",
        "     more",
        "",
        "Text.",
        "",
        ".. rubric:: Examples",
        "",
        "",
        ".. code-block:: python",
        "",
        "   x = f(a * b)",
        "",
        "[1] Author. A title continued. 2020.",
    ]
