"""Load source configs from YAML. Every problem names the file, the field path and the reason."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from salestalk import REPO_ROOT
from salestalk.config.models import SourceConfig

if TYPE_CHECKING:
    from collections.abc import Iterable

SOURCES_DIR = REPO_ROOT / "include" / "sources"
SOURCES_DIR_ENV = "SALESTALK_SOURCES_DIR"
SUITES_DIR = REPO_ROOT / "great_expectations" / "expectations"
DEFAULTS_FILE_NAME = "_defaults.yaml"


@dataclass(frozen=True)
class ConfigError:
    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}" if self.field else f"{self.file}: {self.reason}"


class ConfigErrors(Exception):
    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class LoadResult:
    configs: dict[str, SourceConfig] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)


_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_PLAIN_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{kind}" for kind in ("null", "bool", "int", "float", "timestamp")
)


class _NotPlain(Exception):
    """The document uses something the plain construction leaves to PyYAML's own (see construct_document)."""


# The tag of a node from its kind, text and implicit flags: a pure function of the resolver's tables (no path
# resolvers here), called from libyaml's composer for every node, so its answers are kept.
_resolve_tag = functools.lru_cache(maxsize=4096)(yaml.resolver.Resolver().resolve)


class _UniqueKeyLoader(yaml.CSafeLoader):
    """CSafeLoader that refuses duplicate mapping keys instead of keeping the last one."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.resolve = _resolve_tag

    def construct_document(self, node: yaml.Node) -> Any:
        """A config file is plain data: mappings with string keys, lists and scalars. Those are built here in
        one walk, which takes about half the time of PyYAML's general construction (a third of a cold parse
        of 500 sources). Anything else (an anchor used twice, a merge key, a non-string key, a duplicate key,
        a custom tag) goes to the general construction, which builds it or names the error as before."""
        try:
            return self._plain(node, set())
        except _NotPlain:
            return super().construct_document(node)

    def _plain(self, node: yaml.Node, seen: set[int]) -> Any:
        if id(node) in seen:
            raise _NotPlain
        seen.add(id(node))
        tag = node.tag
        if tag == _STR_TAG and type(node) is yaml.ScalarNode:
            return node.value
        if tag == _MAP_TAG and type(node) is yaml.MappingNode:
            mapping = {}
            for key_node, value_node in node.value:
                if key_node.tag != _STR_TAG or type(key_node) is not yaml.ScalarNode:
                    raise _NotPlain
                key = key_node.value
                if key in mapping:
                    raise _NotPlain
                mapping[key] = self._plain(value_node, seen)
            return mapping
        if tag == _SEQ_TAG and type(node) is yaml.SequenceNode:
            return [self._plain(child, seen) for child in node.value]
        if tag in _PLAIN_SCALAR_TAGS and type(node) is yaml.ScalarNode:
            return self.yaml_constructors[tag](self, node)
        raise _NotPlain


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = (
            key_node.value
            if isinstance(key_node, yaml.ScalarNode)
            else loader.construct_object(key_node, deep=deep)
        )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _cache_dir() -> Path | None:
    """Where parsed YAML is cached by content digest; SALESTALK_CONFIG_CACHE=off disables it."""
    setting = os.environ.get("SALESTALK_CONFIG_CACHE", "")
    if setting == "off":
        return None
    return Path(setting) if setting else Path(tempfile.gettempdir()) / f"salestalk-config-cache-{os.getuid()}"


def _write_entry(folder: Path, entry: Path, text: str) -> None:
    """Write a cache entry atomically: a temporary file, then a rename (the folder is made when missing)."""
    partial = f"{entry}.{os.getpid()}.tmp"
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except FileNotFoundError:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(partial, entry)


def _digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=20).hexdigest()


def _cached_parse(body: bytes, path: Path) -> Any:
    """Parse YAML, reusing an earlier parse of identical bytes. Only successful parses are cached."""
    folder = _cache_dir()
    entry = folder / f"{_digest(body)}.json" if folder else None
    if entry is not None:
        try:
            return json.loads(entry.read_bytes(), object_hook=_restore_date)
        except (OSError, ValueError):
            pass
    data = yaml.load(body, Loader=_UniqueKeyLoader)
    if entry is not None:
        with contextlib.suppress(OSError, TypeError, ValueError):
            _write_entry(folder, entry, json.dumps(data, default=_json_scalar))
    return data


class _Pack:
    """The parsed YAML of a whole folder in one config-cache entry, by each file's content digest.

    A load of every source reads one entry and, when a file changed, writes one, instead of one per file:
    at 500 sources, writing 500 entries was a third of a parse with a cold cache. A load of one source (a
    task process) uses the per-file entries of :func:`_cached_parse`.
    """

    def __init__(self, sources: Path) -> None:
        self.folder = _cache_dir()
        self.entry: Path | None = None
        self.found: dict[str, Any] = {}
        self.used: dict[str, str | None] = {}  # digest: JSON text of a new parse; None: taken from found
        if self.folder is None:
            return
        self.entry = self.folder / f"pack-{_digest(str(sources.resolve()).encode())}.json"
        try:
            found = json.loads(self.entry.read_bytes(), object_hook=_restore_date)
        except (OSError, ValueError):
            return
        if isinstance(found, dict):
            self.found = found

    def parse(self, body: bytes) -> Any:
        if self.entry is None:
            return yaml.load(body, Loader=_UniqueKeyLoader)
        digest = _digest(body)
        if digest in self.found and digest not in self.used:
            self.used[digest] = None
            return self.found[digest]
        data = yaml.load(body, Loader=_UniqueKeyLoader)
        with contextlib.suppress(TypeError, ValueError):
            self.used[digest] = json.dumps(data, default=_json_scalar)
        return data

    def save(self) -> None:
        """Write the entry when a file was parsed anew or one in it is gone (so it never grows stale)."""
        unchanged = self.used.keys() == self.found.keys() and all(t is None for t in self.used.values())
        if self.entry is None or unchanged:
            return
        parts = []
        for digest, text in self.used.items():
            if text is None:
                text = json.dumps(self.found[digest], default=_json_scalar)
            parts.append(f'"{digest}":{text}')
        with contextlib.suppress(OSError, TypeError, ValueError):
            _write_entry(self.folder, self.entry, "{" + ",".join(parts) + "}")


@functools.cache
def _suite_checker_digest() -> bytes:
    """The suite checker's own code: a cached answer from an older checker is not reused."""
    quality = Path(__file__).resolve().parents[1] / "quality"
    digest = hashlib.blake2b(digest_size=20)
    for name in ("suite.py", "regex.py"):
        try:
            digest.update((quality / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.digest()


_suite_checks: dict[tuple[Path, str], list[tuple[str, str]]] = {}


def _suite_problems(suite_file: Path, name: str, columns: list[str]) -> list[tuple[str, str]]:
    """``salestalk.quality.suite.suite_problems``, remembered in the config cache by the suite's content, the
    expected name, the columns and the checker's code: a task process building one DAG then neither imports
    the regex translators nor re-checks the suite (about 3 ms of its parse). Within a process the answer is
    also kept in memory by the same key, so sources sharing a suite read its cache entry once."""
    folder = _cache_dir()
    entry = None
    if folder is not None:
        try:
            key = hashlib.blake2b(suite_file.read_bytes(), digest_size=20)
        except OSError:
            key = None
        if key is not None:
            key.update(json.dumps([name, list(columns)]).encode())
            key.update(_suite_checker_digest())
            entry = folder / f"suite-{key.hexdigest()}.json"
            known = _suite_checks.get((folder, entry.name))
            if known is not None:
                return list(known)
            try:
                found = [(str(where), str(reason)) for where, reason in json.loads(entry.read_bytes())]
            except (OSError, ValueError, TypeError):
                pass
            else:
                _suite_checks[folder, entry.name] = found
                return list(found)
    from salestalk.quality.suite import suite_problems

    found = suite_problems(suite_file, name, columns)
    if entry is not None:
        try:
            _write_entry(folder, entry, json.dumps(found))
        except OSError:
            pass
        else:
            _suite_checks[folder, entry.name] = [(str(w), str(r)) for w, r in found]
    return found


def _json_scalar(value: Any) -> dict[str, str]:
    if type(value) is dt.date:
        return {"__date__": value.isoformat()}
    raise TypeError(f"cannot cache {type(value).__name__}")


def _restore_date(obj: dict) -> Any:
    # called for every mapping of every cached file: keep the common case (not a date) cheap
    if len(obj) == 1 and "__date__" in obj:
        return dt.date.fromisoformat(obj["__date__"])
    return obj


def _read_yaml(path: Path, pack: _Pack | None = None) -> dict:
    try:
        body = path.read_bytes()
        data = _cached_parse(body, path) if pack is None else pack.parse(body)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "yaml"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigErrors([ConfigError(display_path(path), where, f"invalid YAML: {problem}")]) from None
    except OSError as exc:
        raise ConfigErrors([ConfigError(display_path(path), "", f"cannot read: {exc.strerror}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigErrors([ConfigError(display_path(path), "", "must be a YAML mapping of keys to values")])
    return data


def _merge(defaults: dict, overrides: dict) -> dict:
    merged = dict(defaults)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) or () for m in _models(arg)]


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {f.alias or name: f for name, f in model.model_fields.items()}


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model that owns the field at ``loc``, following discriminated unions by their tag."""
    candidates: list[type[BaseModel]] = [SourceConfig]
    for part in loc:
        if isinstance(part, int):
            continue
        tagged = [
            m
            for m in candidates
            if getattr(m.model_fields.get("kind"), "annotation", None) is not None
            and part in getattr(m.model_fields["kind"].annotation, "__args__", ())
        ]
        if tagged:
            candidates = tagged
            continue
        owner = next((m for m in candidates if part in _fields(m)), None)
        if owner is None:
            return None
        candidates = _models(_fields(owner)[part].annotation)
    return candidates[0] if len(candidates) == 1 else None


def _reason(error: dict) -> str:
    kind = error["type"]
    got = error.get("input")
    ctx = error.get("ctx") or {}
    loc = tuple(error["loc"])
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        known = sorted(_fields(owner)) if owner else []
        import difflib

        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        return "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else f"; allowed keys: {known}")
    comparisons = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in comparisons:
        bound = next(iter(ctx.values()))
        return f"must be {comparisons[kind]} {bound} (got {got!r})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {got!r})"
    if kind == "union_tag_invalid":
        return f"must be one of {ctx.get('expected_tags')} (got {ctx.get('tag')!r})"
    if kind == "union_tag_not_found":
        return f"missing discriminator {ctx.get('discriminator')}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')} (got {got!r})"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{error['msg'].lower()} (got {type(got).__name__} {got!r})"
    return f"{error['msg']} (got {got!r})"


def _field_path(loc: Iterable) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part in {"rest_api", "s3_files", "events"} and parts and parts[-1] == "extract":
            continue
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def load_defaults(folder: Path, pack: _Pack | None = None) -> dict:
    path = folder / DEFAULTS_FILE_NAME
    if not path.exists():
        return {}
    data = _read_yaml(path, pack)
    known = {f.alias or n for n, f in SourceConfig.model_fields.items()}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigErrors(
            [
                ConfigError(display_path(path), key, _reason({"type": "extra_forbidden", "loc": (key,)}))
                for key in unknown
            ]
        )
    return data


def load_source(path: Path, defaults: dict | None = None, pack: _Pack | None = None) -> SourceConfig:
    """Parse one source file merged over ``defaults``; raise ConfigErrors listing every problem."""
    raw = _read_yaml(path, pack)
    try:
        config = SourceConfig.model_validate(_merge(defaults or {}, raw))
    except ValidationError as exc:
        shown = display_path(path)
        errors = []
        for error in exc.errors():
            where = _field_path(error["loc"])
            if error["type"] in {"union_tag_invalid", "union_tag_not_found"}:
                where += f".{error['ctx']['discriminator'].strip(chr(39))}"
            reason = _reason(error)
            if error["loc"] and error["loc"][0] not in raw and error["type"] != "missing":
                reason += f" (inherited from {DEFAULTS_FILE_NAME})"
            errors.append(ConfigError(shown, where or "", reason))
        raise ConfigErrors(errors) from None
    problems = []
    if config.name != path.stem:
        problems.append(
            ConfigError(
                display_path(path), "name", f"must match the file name {path.stem!r} (got {config.name!r})"
            )
        )
    suite_file = SUITES_DIR / f"{config.expectation_suite}.json"
    if not suite_file.is_file():
        problems.append(
            ConfigError(display_path(path), "expectation_suite", f"no suite file {display_path(suite_file)}")
        )
    else:
        columns = config.table_schema.column_names
        for where, reason in _suite_problems(suite_file, config.expectation_suite, columns):
            problems.append(
                ConfigError(display_path(suite_file), where, f"{reason} (used by {display_path(path)})")
            )
    if config.runbook.startswith("docs/") and not (REPO_ROOT / config.runbook).is_file():
        problems.append(ConfigError(display_path(path), "runbook", f"file {config.runbook} does not exist"))
    if problems:
        raise ConfigErrors(problems)
    return config


def source_files(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.suffix in {".yaml", ".yml"} and not p.name.startswith("_")]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def sources_dir() -> Path:
    """The folder of source configs: ``include/sources`` unless SALESTALK_SOURCES_DIR says otherwise."""
    return Path(os.environ.get(SOURCES_DIR_ENV) or SOURCES_DIR)


def load_sources(folder: Path | None = None, only: str | None = None) -> LoadResult:
    """Load every source file under ``folder``. Good files load even when others are broken.

    With ``only`` (a source name), load just ``<only>.yaml`` when it exists: the fast path for a task
    process that needs a single DAG.
    """
    folder = folder or sources_dir()
    result = LoadResult()
    direct = [folder / f"{only}{suffix}" for suffix in (".yaml", ".yml")] if only else []
    files = [p for p in direct if p.is_file()]
    pack = None if files else _Pack(folder)
    try:
        defaults = load_defaults(folder, pack)
    except ConfigErrors as exc:
        result.errors.extend(exc.errors)
        return result
    for path in files or source_files(folder):
        try:
            config = load_source(path, defaults, pack)
        except ConfigErrors as exc:
            result.errors.extend(exc.errors)
            continue
        if config.name in result.configs:
            result.errors.append(
                ConfigError(
                    display_path(path),
                    "name",
                    f"duplicate source name {config.name!r}, already defined in "
                    f"{display_path(result.files[config.name])}",
                )
            )
            continue
        result.configs[config.name] = config
        result.files[config.name] = path
    if pack is not None:
        pack.save()
    return result
