# Download, verify (size, md5) and extract dataset archives into resources/datasets/<source>/.
# localrules: on a cluster these run on the login node, which has internet; compute nodes only
# read the extracted files. Datasets with `root` (an existing copy) need no fetch.
from srloss.data.sources import DOWNLOADS_DIR, fetch_target


localrules:
    fetch_archive,
    unpack_mlfdb,


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
    params:
        url=lambda w: ARCHIVES[w.archive].url_from(mirror_of(w.source)),
        size=lambda w: f"--size {ARCHIVES[w.archive].size}" if ARCHIVES[w.archive].size else "",
        md5=lambda w: ARCHIVES[w.archive].md5,
        archive=lambda w: str(DOWNLOADS_DIR / ARCHIVES[w.archive].filename),
        target=lambda w: str(fetch_target(ARCHIVES[w.archive])),
    shell:
        "python -m srloss.data.fetch --url {params.url:q} --archive {params.archive:q} {params.size}"
        " --md5 {params.md5} --target {params.target:q} --marker {output:q} > {log} 2>&1"


rule unpack_mlfdb:
    input:
        mlfdb_archive,
    output:
        "resources/datasets/mlfdb/.fetched/archive.json",
    log:
        "resources/logs/fetch/mlfdb/archive.log",
    benchmark:
        "resources/benchmarks/fetch/mlfdb/archive.tsv"
    conda:
        "../../envs/srloss.yaml"
    resources:
        downloads=0,
    shell:
        "python -m srloss.data.fetch --local --archive {input:q} --target resources/datasets/mlfdb"
        " --marker {output:q} > {log} 2>&1"
