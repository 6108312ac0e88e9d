"""The report stage: a study's per-image metrics into tables, statistics, figures and a verdict.

``aggregate`` (the entry point the workflow's aggregate rule runs), ``load`` (metrics, histories,
summaries), ``stats`` (intervals, paired tests, multiplicity), ``tables`` (CSV, Markdown, LaTeX,
HTML, verdict), ``figures`` (seaborn), ``budget`` (metrics against the training step), ``paths``
(every output's file name, shared with the workflow), ``status`` (how far a study is, from its
files: ``srloss status``). Only healthy runs are ranked or named best.
"""
