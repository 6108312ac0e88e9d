# Download, verify (size, md5) and extract dataset archives into resources/datasets/<source>/,
# or extract the user's local `archive` there. localrules: on a cluster these run on the login
# node, which has internet; compute nodes only read the extracted files. Datasets with `root`
# (an existing copy) need no fetch.
from srloss.data.sources import DATASETS_DIR, DOWNLOADS_DIR, fetch_target


localrules:
    fetch_archive,
    unpack_archive,


wildcard_constraints:
    archive="|".join(ARCHIVES),


rule fetch_archive:
    output:
        "resources/datasets/{source}/.fetched/{archive}.json",
    log:
        "resources/logs/fetch/{source}/{archive}.log",
    benchmark:
        "resources/benchmarks/fetch/{source}/{archive}.tsv"
    conda:
        "../../envs/srloss.yaml"
    resources:
        downloads=1,
        mem_mb=1000,
        runtime=240,  # minutes: a few GB over a slow link
    params:
        url=lambda w: ARCHIVES[w.archive].url_from(mirror_url(w)),
        size=lambda w: f"--size {ARCHIVES[w.archive].size}" if ARCHIVES[w.archive].size else "",
        md5=lambda w: ARCHIVES[w.archive].md5,
        archive=lambda w: str(DOWNLOADS_DIR / ARCHIVES[w.archive].filename),
        target=lambda w: str(fetch_target(ARCHIVES[w.archive])),
    shell:
        "$SRLOSS_PYTHON -m srloss.data.fetch --url {params.url:q} --archive {params.archive:q} {params.size}"
        " --md5 {params.md5} --target {params.target:q} --marker {output:q} > {log} 2>&1"


rule unpack_archive:
    input:
        user_archive,
    output:
        "resources/datasets/{source}/.fetched/archive.json",
    log:
        "resources/logs/fetch/{source}/archive.log",
    benchmark:
        "resources/benchmarks/fetch/{source}/archive.tsv"
    wildcard_constraints:
        source="[^/]+",
    conda:
        "../../envs/srloss.yaml"
    resources:
        downloads=0,
        mem_mb=1000,
        runtime=60,  # minutes
    params:
        target=lambda w: str(DATASETS_DIR / w.source),
    shell:
        "$SRLOSS_PYTHON -m srloss.data.fetch --local --archive {input:q} --target {params.target:q}"
        " --marker {output:q} > {log} 2>&1"
