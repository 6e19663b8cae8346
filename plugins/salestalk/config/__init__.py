"""Source configuration: YAML files validated by pydantic models."""

from salestalk.config.loader import ConfigError, LoadResult, load_source, load_sources
from salestalk.config.models import SourceConfig

__all__ = ["ConfigError", "LoadResult", "SourceConfig", "load_source", "load_sources"]
