"""The report's front page (srloss.report.landing): one verdict paragraph per cell, tables inline."""

import math

import jinja2
import pandas as pd
from docutils.core import publish_parts

from srloss.report.landing import Cell, cell_paragraph, cell_paragraphs, landing_rst

CELL = {"dataset": "d", "test_set": "d", "model": "srcnn", "scale": 2}


def best_row(metric: str, best: str, runner_up: str | None, means, p: float, **extra) -> dict:
    return {
        **CELL,
        "metric": metric,
        "direction": "max",
        "best": best,
        "best_mean": means[0],
        "runner_up": runner_up,
        "runner_up_mean": means[1],
        "n": 10,
        "p_value": p,
        "p_holm": p,
        "p_hier_holm": p,
        "n_seeds": 3,
        "best_in_seeds": "3/3",
        "significant": p < 0.05,
        "can_reach_alpha": True,
        **extra,
    }


def paired_row(metric: str, loss: str, better: bool, gain: float, p: float) -> dict:
    return {**CELL, "metric": metric, "loss": loss, "reference": "bicubic", "better": better, "gain": gain, "p_holm": p}


def test_a_significant_winner_is_named_with_its_means_gap_and_adjusted_p():
    best = pd.DataFrame(
        [
            best_row("psnr_y", "l1", "mse", (30.25, 30.05), 0.012),
            best_row("ssim_y", "l1", "mse", (0.91, 0.90), 0.3),
            best_row("mse", "mse", "l1", (40.0, 41.0), 0.2),
        ]
    )
    paired = pd.DataFrame(
        [paired_row("psnr_y", "l1", True, 0.4, 0.001), paired_row("ssim_y", "l1", False, -0.01, 0.01)]
    )
    text = cell_paragraph(best, paired, 0.05)
    assert (
        "l1 is significantly best on PSNR Y (30.25 dB vs 30.05 dB for mse, a gap of 0.20 dB; "
        "best in 3/3 seeds, Holm p = 0.012)" in text
    )
    assert "No loss is significantly best on SSIM Y and MSE" in text
    assert "highest mean: l1 on 1, mse on 1 of them; smallest Holm p = 0.2" in text
    assert "Against the reference, l1 beats bicubic on PSNR Y and is worse than bicubic on SSIM Y" in text


def test_too_few_images_and_a_lone_healthy_loss_are_not_called_wins():
    best = pd.DataFrame(
        [
            best_row("psnr_y", None, None, (math.nan, math.nan), math.nan, can_reach_alpha=False, n=4),
            best_row("ssim_y", "l1", None, (0.9, math.nan), math.nan),
        ]
    )
    text = cell_paragraph(best, pd.DataFrame(), 0.05)
    assert "significantly best" not in text
    assert "Too few test images to name a best on PSNR Y (4 images)" in text
    assert "l1 is the only healthy loss on SSIM Y" in text


def test_one_seed_names_no_winner_and_says_which_seeds_to_run():
    one = {"n_seeds": 1, "seeds": "[0]", "best_in_seeds": "1/1", "significant": False}
    best = pd.DataFrame([best_row(m, "l1", "mse", (30.2, 30.0), 0.5, **one) for m in ("psnr_y", "ssim_y")])
    text = cell_paragraph(best, pd.DataFrame(), 0.05)
    assert "significantly best on" not in text.replace("No loss is significantly best on", "")
    assert "On PSNR Y and SSIM Y: one seed: no winner can be claimed; run seeds: [0, 1, 2] (>= 3)." in text


def test_cells_come_own_test_split_first_then_other_test_sets():
    rows = [best_row("psnr_y", "l1", "mse", (30.2, 30.0), 0.01)]
    other = {**rows[0], "test_set": "aset5"}
    titles = [t for t, _ in cell_paragraphs(pd.DataFrame([other, *rows]), pd.DataFrame(), 0.05)]
    assert titles == ["d / srcnn / x2", "d → aset5 / srcnn / x2"]


def render(rst: str) -> str:
    """As `snakemake --report` renders the front page: Jinja first, then docutils."""

    class Snakemake:
        config = {"study": "demo"}

    text = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(rst)
    text = text.render(snakemake=Snakemake, categories={}, files={})
    return publish_parts(text, writer="html", settings_overrides={"report_level": 2})["html_body"]


def test_front_page_renders_paragraphs_tables_and_conventions_without_markup_errors():
    cell = Cell(
        "d / srcnn / x2",
        "l1 is significantly best on PSNR Y. {{ not jinja }} *not emphasis* a_b_ `x`",
        ["Loss", "PSNR Y ↑", "Status"],
        [
            ["**l1**", "**30.25 ± 0.10†**", "completed"],
            ["mse", "30.05 ± 0.11", "completed"],
            ["bicubic (baseline)", "", "baseline"],
        ],
        "Dataset d: mean ± 95% CI | over images",
        ["LPIPS: missing (weights_not_cached)"],
    )
    description = 'Study ``{{ snakemake.config["study"] }}``: conventions.'
    html = render(landing_rst("Study demo: which loss is best", "One cell.", [cell], description))
    assert "system-message" not in html  # docutils reports markup errors inline
    assert html.index("Study demo: which loss is best") < html.index("<table") < html.index("Conventions")
    assert "<strong>l1</strong>" in html and "<strong>30.25 ± 0.10†</strong>" in html
    assert "{{ not jinja }} *not emphasis* a_b_ `x`" in html  # result text is never markup
    assert "Study <tt" in html or "Study <code" in html  # the conventions are still templated
    assert "demo</span>" in html or ">demo<" in html
    assert "Figures, in the order of the menu" in html
