"""Commands for developers and operators that a worker never imports.

The end-to-end benchmark (``bench``, with its Faust-only ``bench_noop``
worker), NER training (``train_ner``, ``train_neural``) and evaluation
(``eval_ner``, ``eval_routing``), and the builder of the trending filter's
data file (``build_not_trending``). They depend on the pure cores and the
runtime; nothing in the cores or the runtime depends on them, so a worker
starts without loading them (``tests/test_imports.py`` checks this). The
command line reaches them through ``newsstreams bench``, ``eval-ner``,
``train-ner``, ``eval-routing`` and ``build-trend-filter``.
"""
