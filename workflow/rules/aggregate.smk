# Tables, figures and statistics of the whole study; report() outputs go into
# `snakemake --report results/<study>/report.html` with the captions in workflow/report/.
from srloss.report import paths as outputs
from srloss.study import result_config

RUNS = study.runs()
VIEWS = study.trained_views()
CROSS = study.cross_evaluations()  # (run, test set) pairs of datasets.<name>.test_on
TUNED = [run for run in RUNS if study.is_tuned(run.loss)]  # grid points of tuned losses (evaluate_val)


rule aggregate:
    input:
        metrics=[f"{run_dir(run)}/metrics.csv" for run in RUNS]
        + [f"{cross_dir(run, test_set)}/metrics.csv" for run, test_set in CROSS],
        crops=[f"{run_dir(run)}/crops.npz" for run in RUNS]
        + [f"{cross_dir(run, test_set)}/crops.npz" for run, test_set in CROSS],
        histories=[f"{run_dir(run)}/history.csv" for run in RUNS if run.trained],
        description=f"{workflow.basedir}/workflow/report/workflow.rst",  # ends the report's front page
        budget_ranking=result("tables/budget_ranking.csv") if config["evaluation"]["steps"] else [],
        val_metrics=tuned_val_metrics(),  # the tuned losses' selection
    output:
        per_image=result("tables/per_image.csv"),
        summary_csv=result("tables/summary.csv"),
        summary_md=result("tables/summary.md"),
        figure=result("figures/psnr_ssim.png"),
        provenance=result("tables/provenance.json"),
        study_tables=[
            (
                report(f"{RESULTS}/{name}", caption="../report/study_tables.rst", category="3. Statistics")
                if name.endswith(("best.csv", "summary_stats.csv", "paired.csv"))
                else f"{RESULTS}/{name}"
            )
            for name in outputs.STUDY_TABLES
        ],
        verdict=in_report(outputs.VERDICT_STEM, "html", "verdict.rst", "0. Verdict", "Best loss per metric"),
        verdict_md=f"{RESULTS}/{outputs.VERDICT_STEM}.md",
        front_page=f"{RESULTS}/{outputs.LANDING}",  # the report opens on it (Snakefile `report:`)
        tables=[
            in_report(outputs.table_stem(d, m, s), "html", "table.rst", "1. Tables", f"{d} / x{s}")
            for d, m, s in VIEWS
        ],
        tables_text=[
            f"{RESULTS}/{outputs.table_stem(d, m, s)}.{ext}" for d, m, s in VIEWS for ext in ("csv", "md", "tex")
        ],
        metric_figures=[
            in_report(outputs.metrics_figure_stem(d, m), "png", "metrics.rst", "2. Figures", "Metrics")
            for d, m in sorted({(d, m) for d, m, _ in VIEWS})
        ],
        paired_figures=[
            in_report(outputs.paired_figure_stem(d, m), "png", "paired.rst", "2. Figures", "Paired differences")
            for d, m in sorted({(d, m) for d, m, _ in VIEWS})
        ],
        perception_distortion=in_report(
            outputs.PD_STEM, "png", "perception_distortion.rst", "2. Figures", "Perception-distortion"
        ),
        training_curves=in_report(outputs.CURVES_STEM, "png", "training_curves.rst", "2. Figures", "Training"),
        grids=[
            in_report(outputs.grid_stem(d, m, s), "png", "grid.rst", "2. Figures", "Visual comparison")
            for d, m, s in VIEWS
        ],
        tuning=[result(outputs.TUNING_TABLE)] if TUNED else [],
        tuning_figure=([in_report(outputs.TUNING_STEM, "png", "tuning.rst", "2. Figures", "Tuning")] if TUNED else []),
        pdfs=[
            f"{RESULTS}/{stem}.pdf"
            for stem in [outputs.metrics_figure_stem(d, m) for d, m in sorted({(d, m) for d, m, _ in VIEWS})]
            + [outputs.paired_figure_stem(d, m) for d, m in sorted({(d, m) for d, m, _ in VIEWS})]
            + [outputs.grid_stem(d, m, s) for d, m, s in VIEWS]
            + [outputs.PD_STEM, outputs.CURVES_STEM]
            + ([outputs.TUNING_STEM] if TUNED else [])
            if FIGURES_PDF
        ],
    log:
        result("logs/aggregate.log"),
    benchmark:
        result("benchmarks/aggregate.tsv")
    conda:
        "../../envs/srloss.yaml"
    resources:
        gpu=0,
        mem_mb=4000,  # every run's per-image metrics and crops, the figures
        runtime=30,  # minutes
    params:
        config=to_json(result_config(config)),  # execution-only settings (threads, devices) rerun nothing
        budget=lambda w, input: f"--budget-ranking {input.budget_ranking}" if input.budget_ranking else "",
        val=lambda w, input: f"--val-metrics {' '.join(input.val_metrics)}" if input.val_metrics else "",
        code=CODE["aggregate"],
        root=lambda w, output: Path(output.per_image).parents[1],  # results/<study>
    shell:
        "$SRLOSS_PYTHON -m srloss aggregate --config {params.config:q} --metrics {input.metrics} --root {params.root}"
        " --per-image {output.per_image} --summary-csv {output.summary_csv} --summary-md {output.summary_md}"
        " --figure {output.figure} --provenance {output.provenance} --description {input.description:q} {params.budget} {params.val} > {log} 2>&1"
