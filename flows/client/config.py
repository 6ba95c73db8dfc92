"""Where the SDK and `ec` find the server: ~/.config/elasticcode/config.toml, overridden by the environment.

The file holds the URL and the API token, so it is written with mode 0600 (created that way: there is no moment
when another user could read it) and its directory with 0700.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from flows.client.errors import ClientError, NotConfigured

URL_VARIABLE = "ELASTICCODE_URL"
TOKEN_VARIABLE = "ELASTICCODE_TOKEN"


def config_path() -> Path:
    """$XDG_CONFIG_HOME/elasticcode/config.toml (default ~/.config/elasticcode/config.toml)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "elasticcode" / "config.toml"


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    username: str = ""


def _read_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ClientError(f"cannot read {path}: {error}; fix it or run `ec login --url URL` again") from None
    return {key: str(value) for key, value in data.items() if isinstance(value, str)}


def load(url: str | None = None, token: str | None = None) -> Settings:
    """Explicit arguments, then ELASTICCODE_URL / ELASTICCODE_TOKEN, then the config file."""
    stored = _read_file(config_path())
    url = url or os.environ.get(URL_VARIABLE) or stored.get("url") or ""
    token = token or os.environ.get(TOKEN_VARIABLE) or stored.get("token") or ""
    if not url:
        raise NotConfigured(f"no server URL: run `ec login --url URL` or set {URL_VARIABLE}")
    if not token:
        raise NotConfigured(f"not logged in to {url}: run `ec login --url {url}` or set {TOKEN_VARIABLE}")
    return Settings(url=url.rstrip("/"), token=token, username=stored.get("username", ""))


def save(settings: Settings) -> Path:
    """Write the config file with mode 0600 (replacing it atomically)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        tomli_w.dump({"url": settings.url, "token": settings.token, "username": settings.username}, out)
    os.replace(temporary, path)
    path.chmod(0o600)  # a pre-existing file keeps its mode through os.replace only on some systems
    return path


def stored() -> dict[str, str]:
    """What the config file holds ({} when there is none), without the environment's overrides."""
    return _read_file(config_path())


def forget() -> bool:
    """Remove the stored token (`ec logout`); True when there was one."""
    path = config_path()
    if not path.exists():
        return False
    path.unlink()
    return True
