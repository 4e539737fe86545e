"""The archiver's configuration: read from a TOML or INI file into plain dataclasses.

One place for every default of the engine, the storage, SMTP, the web server and the status
pages; :func:`load_config` picks the format from the file name (``.toml``, else INI) and reports
any mistake as :class:`ConfigError` naming the file, the section and what is wrong. Runs on the
thread that calls it (the CLI's main thread), before anything starts.
"""
from __future__ import annotations

import configparser
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .names import NamePatternError, expand

if sys.version_info >= (3, 11):
    import tomllib
else:   # pragma: no cover - the archiver extra installs tomli there
    import tomli as tomllib

__all__ = ["ArchiverConfig", "ConfigError", "EngineSettings", "Page", "PvPolicy", "Section",
           "SmtpSettings", "WebSettings", "load_config", "parse_share"]

DEFAULT_STORAGE_URL = "sqlite:///archive.db"
DEFAULT_DEADBAND = 0.0
DEFAULT_MAX_INTERVAL = 300.0


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class PvPolicy:
    """How one PV is archived: a new value is stored when it differs from the last stored one by
    more than ``deadband``, when its alarm state changes, or when ``max_interval`` seconds have
    passed since the last stored sample (the last value is then stored again)."""
    name: str
    deadband: float = DEFAULT_DEADBAND
    max_interval: float = DEFAULT_MAX_INTERVAL
    group: str = ""


@dataclass(frozen=True)
class EngineSettings:
    """The engine's knobs. ``max_buffered`` is the stated bound of samples kept in memory while
    the database cannot be written (past it the oldest are dropped, counted and reported)."""
    flush_interval: float = 0.5
    batch_size: int = 20_000
    max_buffered: int = 2_000_000
    retry_interval: float = 2.0
    alert_poll: float = 5.0
    connection_timeout: float = 5.0
    share: Tuple[int, int] = (0, 1)


@dataclass(frozen=True)
class SmtpSettings:
    """Where alert e-mails go out; ``host`` None means no e-mail."""
    host: Optional[str] = None
    port: int = 25
    sender: str = "epics-archiver@localhost"
    username: Optional[str] = None
    password: Optional[str] = None
    starttls: bool = False
    timeout: float = 10.0
    max_per_hour: int = 30


@dataclass(frozen=True)
class Section:
    """A titled group of labelled PVs on a status page."""
    title: str
    entries: Tuple[Tuple[str, str], ...]   # (label, PV name)


@dataclass(frozen=True)
class Page:
    """A status page: a name for its URL, a title and its sections."""
    name: str
    title: str
    sections: Tuple[Section, ...]

    def pv_names(self) -> List[str]:
        return [pv for section in self.sections for _, pv in section.entries]


@dataclass(frozen=True)
class WebSettings:
    """The web front end. It binds to localhost unless ``host`` says otherwise; ``users`` maps
    user names to password hashes (``python -m epics.archiver hash-password``)."""
    host: str = "127.0.0.1"
    port: int = 8000
    secret: Optional[str] = None
    secure_cookies: bool = True
    users: Mapping[str, str] = field(default_factory=dict)
    pages: Tuple[Page, ...] = ()


@dataclass(frozen=True)
class ArchiverConfig:
    """Everything a configuration file says."""
    storage_url: str = DEFAULT_STORAGE_URL
    pvs: Tuple[PvPolicy, ...] = ()
    engine: EngineSettings = EngineSettings()
    smtp: SmtpSettings = SmtpSettings()
    web: WebSettings = WebSettings()
    source: str = "<defaults>"

    def pv_names(self) -> List[str]:
        return [policy.name for policy in self.pvs]


def parse_share(text: str) -> Tuple[int, int]:
    """'1/3' -> (1, 3): this engine takes the PVs whose name hashes to 1 modulo 3."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ConfigError(f"share {text!r}: expected INDEX/COUNT, e.g. 0/2") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"share {text!r}: need 0 <= INDEX < COUNT")
    return index, count


def _number(where: str, key: str, value: Any, kind: type = float, minimum: float = 0) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} = {value!r} is not a {kind.__name__}") from None
    if number < minimum:
        raise ConfigError(f"{where}: {key} = {value!r} is below {minimum}")
    return number


def _as_list(value: Union[str, List[str]]) -> List[str]:
    if isinstance(value, str):
        return value.split()
    return [str(item) for item in value]


def _policies(groups: List[Tuple[str, Mapping[str, Any]]], source: str) -> Tuple[PvPolicy, ...]:
    seen: Dict[str, PvPolicy] = {}
    for name, group in groups:
        where = f"{source} [group {name}]"
        unknown = set(group) - {"name", "pvs", "deadband", "max_interval"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        deadband = _number(where, "deadband", group.get("deadband", DEFAULT_DEADBAND))
        interval = _number(where, "max_interval", group.get("max_interval",
                                                            DEFAULT_MAX_INTERVAL), minimum=0.1)
        for pattern in _as_list(group.get("pvs", [])):
            try:
                names = expand(pattern)
            except NamePatternError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            for pv in names:
                if pv in seen:
                    raise ConfigError(f"{where}: PV {pv} is already in group "
                                      f"{seen[pv].group!r}")
                seen[pv] = PvPolicy(pv, deadband, interval, name)
    return tuple(seen.values())


def _engine(raw: Mapping[str, Any], source: str) -> EngineSettings:
    where = f"{source} [engine]"
    defaults = EngineSettings()
    known = {"flush_interval", "batch_size", "max_buffered", "retry_interval", "alert_poll",
             "connection_timeout", "share"}
    if set(raw) - known:
        raise ConfigError(f"{where}: unknown keys {sorted(set(raw) - known)}")
    return EngineSettings(
        flush_interval=_number(where, "flush_interval",
                               raw.get("flush_interval", defaults.flush_interval), minimum=0.01),
        batch_size=_number(where, "batch_size", raw.get("batch_size", defaults.batch_size),
                           int, 1),
        max_buffered=_number(where, "max_buffered",
                             raw.get("max_buffered", defaults.max_buffered), int, 1),
        retry_interval=_number(where, "retry_interval",
                               raw.get("retry_interval", defaults.retry_interval), minimum=0.01),
        alert_poll=_number(where, "alert_poll", raw.get("alert_poll", defaults.alert_poll),
                           minimum=0.1),
        connection_timeout=_number(where, "connection_timeout",
                                   raw.get("connection_timeout", defaults.connection_timeout)),
        share=parse_share(raw["share"]) if "share" in raw else defaults.share)


def _smtp(raw: Mapping[str, Any], source: str) -> SmtpSettings:
    where = f"{source} [smtp]"
    defaults = SmtpSettings()
    starttls = raw.get("starttls", defaults.starttls)
    if isinstance(starttls, str):
        starttls = starttls.strip().lower() in ("1", "yes", "true", "on")
    return SmtpSettings(
        host=raw.get("host", defaults.host),
        port=_number(where, "port", raw.get("port", defaults.port), int, 1),
        sender=str(raw.get("sender", defaults.sender)),
        username=raw.get("username"), password=raw.get("password"), starttls=bool(starttls),
        timeout=_number(where, "timeout", raw.get("timeout", defaults.timeout), minimum=0.1),
        max_per_hour=_number(where, "max_per_hour",
                             raw.get("max_per_hour", defaults.max_per_hour), int, 1))


def _web(raw: Mapping[str, Any], users: Mapping[str, str], pages: Tuple[Page, ...],
         source: str) -> WebSettings:
    where = f"{source} [web]"
    defaults = WebSettings()
    secure = raw.get("secure_cookies", defaults.secure_cookies)
    if isinstance(secure, str):
        secure = secure.strip().lower() in ("1", "yes", "true", "on")
    for user, hashed in users.items():
        if not str(hashed).startswith("pbkdf2_sha256$"):
            raise ConfigError(f"{source} [web.users]: the password of {user!r} is not a hash "
                              "made by 'python -m epics.archiver hash-password'")
    return WebSettings(host=str(raw.get("host", defaults.host)),
                       port=_number(where, "port", raw.get("port", defaults.port), int, 0),
                       secret=raw.get("secret"), secure_cookies=bool(secure),
                       users=dict(users), pages=pages)


def _page(name: str, title: str, sections: List[Tuple[str, List[Tuple[str, str]]]],
          source: str) -> Page:
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"{source} [page {name}]: a page name may hold letters, digits, - "
                          "and _ only (it is part of a URL)")
    return Page(name, title or name,
                tuple(Section(t, tuple((str(lb), str(pv)) for lb, pv in e)) for t, e in sections))


def _from_toml(path: Path) -> ArchiverConfig:
    source = str(path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    groups = [(str(g.get("name", f"group{i}")), g) for i, g in enumerate(raw.get("group", []))]
    pages = []
    for page in raw.get("page", []):
        sections = []
        for section in page.get("section", []):
            entries = section.get("pvs", [])
            if not all(isinstance(e, list) and len(e) == 2 for e in entries):
                raise ConfigError(f"{source} [page {page.get('name')}]: section pvs must be "
                                  '[["label", "PV"], ...]')
            sections.append((str(section.get("title", "")), entries))
        pages.append(_page(str(page.get("name", "")), str(page.get("title", "")), sections,
                           source))
    web = dict(raw.get("web", {}))
    users = web.pop("users", {})
    return ArchiverConfig(
        storage_url=str(raw.get("storage", {}).get("url", DEFAULT_STORAGE_URL)),
        pvs=_policies(groups, source), engine=_engine(raw.get("engine", {}), source),
        smtp=_smtp(raw.get("smtp", {}), source), web=_web(web, users, tuple(pages), source),
        source=source)


def _from_ini(path: Path) -> ArchiverConfig:
    source = str(path)
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str   # keep the case of labels and user names
    try:
        parser.read_string(path.read_text(), source=source)
    except configparser.Error as exc:
        raise ConfigError(f"{source}: {exc}") from None
    groups, pages = [], []
    for name in parser.sections():
        if name.startswith("group:"):
            groups.append((name[6:], dict(parser[name])))
        elif name.startswith("page:"):
            items = dict(parser[name])
            title = items.pop("title", "")
            sections = []
            for section_title, lines in items.items():
                entries = []
                for line in filter(None, (line.strip() for line in lines.splitlines())):
                    label, bar, pv = line.rpartition("|")
                    if not bar:
                        raise ConfigError(f"{source} [{name}] {section_title}: {line!r} is not "
                                          "'label | PV'")
                    entries.append((label.strip(), pv.strip()))
                sections.append((section_title, entries))
            pages.append(_page(name[5:], title, sections, source))
    section = (lambda key: dict(parser[key]) if parser.has_section(key) else {})
    return ArchiverConfig(
        storage_url=section("storage").get("url", DEFAULT_STORAGE_URL),
        pvs=_policies(groups, source), engine=_engine(section("engine"), source),
        smtp=_smtp(section("smtp"), source),
        web=_web(section("web"), section("users"), tuple(pages), source), source=source)


def load_config(path: Union[str, Path]) -> ArchiverConfig:
    """Read a configuration file: TOML when its name ends in ``.toml``, INI otherwise.

    Raises
    ------
    ConfigError
        the file is missing or says something that cannot be used (the message says where).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file")
    return _from_toml(path) if path.suffix.lower() == ".toml" else _from_ini(path)
