"""`loom sandbox suggest`: the ``sandbox:`` block a plan needs for the project's package managers.

A stage whose sandbox is enabled reaches only the domains the plan lists, so a plan that forgets
its package registry stalls on the first `pip install` or `cargo build`.  This looks at the files
that name a project's language and package manager (the manifests and lock files, at the root and
one folder down, for monorepos) and prints the registries' domains and the caches the tools write
outside the worktree, as YAML to paste under ``loom:`` (or under a stage).  A private registry the
project names itself (`.npmrc`, an index URL in `requirements*.txt` or `pyproject.toml`) is added.
"""

from __future__ import annotations

import os

#: folders never searched for manifests: dependencies, build output, loom's own
SKIP_DIRS = {"node_modules", "target", "vendor", "dist", "build", "__pycache__"}


class Ecosystem:
    """One language's package manager: what names it, where it downloads, what it writes."""

    def __init__(
        self,
        name: str,
        markers: tuple[str, ...],
        domains: tuple[str, ...],
        write: tuple[str, ...],
        extra: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None = None,
    ) -> None:
        self.name = name
        self.markers = markers
        self.domains = domains
        self.write = write
        #: a lock file that names a particular tool: its (domains, write paths) on top
        self.extra = extra or {}


ECOSYSTEMS = (
    Ecosystem(
        "Python",
        ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "Pipfile"),
        ("pypi.org", "files.pythonhosted.org"),
        ("~/.cache/pip",),
        {
            "uv.lock": ((), ("~/.cache/uv",)),
            "poetry.lock": ((), ("~/.cache/pypoetry",)),
            "Pipfile.lock": ((), ("~/.cache/pipenv",)),
        },
    ),
    Ecosystem(
        "Node",
        ("package.json",),
        ("registry.npmjs.org",),
        ("~/.npm",),
        {
            "yarn.lock": (("registry.yarnpkg.com", "repo.yarnpkg.com"), ("~/.cache/yarn",)),
            "pnpm-lock.yaml": ((), ("~/.cache/pnpm", "~/.local/share/pnpm")),
            "bun.lockb": ((), ("~/.bun/install/cache",)),
            "bun.lock": ((), ("~/.bun/install/cache",)),
        },
    ),
    Ecosystem(
        "Rust",
        ("Cargo.toml",),
        ("crates.io", "index.crates.io", "static.crates.io"),
        ("~/.cargo/registry", "~/.cargo/git"),
    ),
    Ecosystem(
        "Go",
        ("go.mod",),
        ("proxy.golang.org", "sum.golang.org"),
        ("~/go/pkg/mod", "~/.cache/go-build"),
    ),
)


def _folders(root: str) -> list[str]:
    """The root and its visible sub-folders (one level), where manifests are looked for."""
    out = [root]
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if entry.name.startswith(".") or entry.name in SKIP_DIRS:
            continue
        if entry.is_dir(follow_symlinks=False):
            out.append(entry.path)
    return out


def _requirements(folder: str) -> bool:
    """``requirements*.txt`` (``requirements-dev.txt`` and the like) names a Python project."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return any(n.startswith("requirements") and n.endswith(".txt") for n in names)


def _host(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url.strip().strip("'\"")).hostname
    except ValueError:
        return None
    return host if host and "." in host else None


def custom_registries(folder: str) -> list[str]:
    """The hosts of the registries a project names itself, beside the public ones: `.npmrc`'s
    ``registry=`` lines (scoped ones too), the index URLs of `requirements*.txt`, and
    `pyproject.toml`'s ``[[tool.uv.index]]`` and ``[[tool.poetry.source]]`` URLs."""
    urls: list[str] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    for name in names:
        path = os.path.join(folder, name)
        if name == ".npmrc" or (name.startswith("requirements") and name.endswith(".txt")):
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    lines = fh.read(256 * 1024).splitlines()
            except OSError:
                continue
            for line in lines:
                key, _, value = line.strip().partition("=")
                key = key.strip()
                if name == ".npmrc" and (key == "registry" or key.endswith(":registry")):
                    urls.append(value)
                elif name != ".npmrc":
                    words = line.split()
                    for i, word in enumerate(words[:-1]):
                        if word in ("--index-url", "-i", "--extra-index-url"):
                            urls.append(words[i + 1])
                    if key in ("--index-url", "--extra-index-url"):
                        urls.append(value)
    urls += _pyproject_indexes(os.path.join(folder, "pyproject.toml"))
    hosts: list[str] = []
    for url in urls:
        host = _host(url)
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def _pyproject_indexes(path: str) -> list[str]:
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, ValueError):
        return []
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    assert isinstance(tool, dict)
    out: list[str] = []
    for owner, key in (("uv", "index"), ("poetry", "source")):
        section = tool.get(owner)
        entries = section.get(key) if isinstance(section, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("url"), str):
                out.append(entry["url"])
    return out


class Suggestion:
    """What was found, and the sandbox block for it."""

    def __init__(self) -> None:
        #: (language, manifest path relative to the root)
        self.found: list[tuple[str, str]] = []
        self.domains: list[str] = []
        self.write: list[str] = []

    def _add(self, domains: tuple[str, ...], write: tuple[str, ...]) -> None:
        self.domains += [d for d in domains if d not in self.domains]
        self.write += [w for w in write if w not in self.write]

    def yaml(self) -> str:
        """The block, indented to sit under ``loom:`` (YAML's plain scalars need no quoting:
        every domain and path here is plain text)."""
        lines = [
            "# detected: " + ", ".join(f"{lang} ({path})" for lang, path in self.found),
            "sandbox:",
            "  enabled: true",
            "  filesystem:",
            "    allow_write:",
            *(f'      - "{w}"' for w in self.write),
            "  network:",
            "    allowed_domains:",
            *(f"      - {d}" for d in self.domains),
        ]
        return "\n".join(lines) + "\n"


def suggest(root: str) -> Suggestion:
    """The sandbox block for the project at ``root`` (``found`` is empty when nothing matched)."""
    out = Suggestion()
    for folder in _folders(root):
        for eco in ECOSYSTEMS:
            hits = [m for m in eco.markers if os.path.isfile(os.path.join(folder, m))]
            if eco.name == "Python" and not hits and _requirements(folder):
                hits = ["requirements*.txt"]
            if not hits:
                continue
            rel = os.path.relpath(os.path.join(folder, hits[0]), root)
            out.found.append((eco.name, rel))
            out._add(eco.domains, eco.write)
            for lock, (domains, write) in eco.extra.items():
                if os.path.isfile(os.path.join(folder, lock)):
                    out._add(domains, write)
        out._add(tuple(custom_registries(folder)), ())
    return out
