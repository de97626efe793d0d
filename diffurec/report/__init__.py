"""The report side: statistics over finished runs and their rendering as the paper's tables and
figures (Tables 2-5, the significance tests, the RQ3 case study, t-SNE, dataset statistics).

Nothing here trains or evaluates a model; it takes ranks and metrics the model core produced.
"""
