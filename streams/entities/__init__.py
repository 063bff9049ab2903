"""Entities: who and what an article names, with ids that hold across spellings.

Pure and Kafka-free. ``kb`` holds canonical entities and their aliases
(CLDR territories plus a curated data file, extensible at run time), ``link``
finds aliases in folded text, ``ner`` runs the CRF tagger trained on ANERcorp
(training and scoring are tools: ``streams.tools.train_ner``, ``eval_ner``),
and ``extract.EntityExtractor`` combines them into the ``entities`` list of an
EnrichedArticle.
"""
