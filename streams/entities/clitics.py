"""Arabic proclitics glued to names: `وروسيا`, `لموسكو`, `بالكرملين`, `للناتو`.

The stripping itself lives in ``streams.text.arabic``, shared with the routing
rules and the routing model; this module keeps the names the entity code uses.
Names trust a remainder of at least ``MIN_STEM`` (3) letters: a stripped form
becomes an entity id on its own, and two-letter remainders are mostly function
words. Callers only accept a stripped form that something else vouches for (a
knowledge-base alias, a word the model knows).
"""

from __future__ import annotations

from streams.text.arabic import MIN_NAME_STEM as MIN_STEM
from streams.text.arabic import PREFIXES, clitic_of, feature_stem, strip_candidates

__all__ = ["MIN_STEM", "PREFIXES", "clitic_of", "feature_stem", "strip_candidates"]
