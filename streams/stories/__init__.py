"""Stories: articles from many outlets grouped, online and in event time, into the events they report.

Pure and Kafka-free, like the other cores: `features.article_vector` turns an
enriched article into weighted terms (entity ids and folded, clitic-stripped
content words, the title weighted), `assign.StoryBook` joins each article to
the most similar open story or starts one, over any mutable mapping (a dict in
tests and `newsstreams process`, the changelogged `stories` table in a
worker), and `query` ranks stories by their breaking score. See docs/stories.md.
"""

from .assign import StoryBook
from .features import article_vector
from .query import story_record, top_stories

__all__ = ["StoryBook", "article_vector", "story_record", "top_stories"]
