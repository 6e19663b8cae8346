"""Custom operators. They orchestrate; the guarded I/O lives in salestalk.storage and salestalk.pipeline."""
