# Summary tables and figures of the whole study.
rule aggregate:
    input:
        metrics=[RUN_DIR.format(**vars(run)) + "/metrics.csv" for run in study.runs()],
    output:
        per_image=RESULTS + "/tables/per_image.csv",
        summary_csv=RESULTS + "/tables/summary.csv",
        summary_md=RESULTS + "/tables/summary.md",
        figure=RESULTS + "/figures/psnr_ssim.png",
        provenance=RESULTS + "/tables/provenance.json",
    params:
        config=to_json(config),
        code=CODE["aggregate"],
    log:
        RESULTS + "/logs/aggregate.log",
    benchmark:
        RESULTS + "/benchmarks/aggregate.tsv"
    conda:
        "../../envs/srloss.yaml"
    shell:
        "srloss aggregate --config {params.config:q} --metrics {input.metrics}"
        " --per-image {output.per_image} --summary-csv {output.summary_csv} --summary-md {output.summary_md}"
        " --figure {output.figure} --provenance {output.provenance} > {log} 2>&1"
