"""Finding and installing toxiproxy-server, with fake binaries (no real server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, InfrastructureError
from testbeds.toxiproxy import server as ts


def fake_binary(folder: Path, version: str = "2.12.0", name: str = "toxiproxy-server") -> Path:
    """An executable script that answers -version like toxiproxy-server does."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho toxiproxy-server version {version}\n")
    path.chmod(0o755)
    return path


@pytest.fixture()
def places(tmp_path: Path) -> dict[str, Path]:
    """Empty candidate places: a PATH folder, a repo root and a home."""
    return {
        "path": tmp_path / "pathdir",
        "repo": tmp_path / "repo",
        "home": tmp_path / "home",
        "other": tmp_path / "other",
    }


def find(places: dict[str, Path], **env: str) -> Path:
    """find_toxiproxy against the fake places only."""
    env.setdefault("PATH", str(places["path"]))
    return ts.find_toxiproxy(env=env, repo_root=places["repo"], home=places["home"])


def test_order_env_then_path_then_repo_then_home(places: dict[str, Path]) -> None:
    home_bin = fake_binary(places["home"] / ".local/share/edgeproof/bin")
    assert find(places) == home_bin
    repo_bin = fake_binary(places["repo"] / ".tools/bin")
    assert find(places) == repo_bin
    path_bin = fake_binary(places["path"])
    assert find(places) == path_bin
    env_bin = fake_binary(places["other"], name="my-toxiproxy")
    assert find(places, EDGEPROOF_TOXIPROXY=str(env_bin)) == env_bin


def test_empty_env_var_is_ignored(places: dict[str, Path]) -> None:
    repo_bin = fake_binary(places["repo"] / ".tools/bin")
    assert find(places, EDGEPROOF_TOXIPROXY="  ") == repo_bin


def test_non_executable_candidates_are_skipped(places: dict[str, Path]) -> None:
    repo_bin = fake_binary(places["repo"] / ".tools/bin")
    repo_bin.chmod(0o644)
    home_bin = fake_binary(places["home"] / ".local/share/edgeproof/bin")
    assert find(places) == home_bin


@pytest.mark.parametrize(
    ("make", "state"),
    [
        (lambda d: d / "missing", "does not exist"),
        (lambda d: d, "is not an executable file"),  # a directory
        (lambda d: fake_binary(d).chmod(0o644) or d / "toxiproxy-server", "not an executable"),
    ],
)
def test_env_var_unusable_is_config_error(places: dict[str, Path], make, state: str) -> None:
    places["other"].mkdir()
    fake_binary(places["path"])  # present on PATH, but the explicit setting wins and is wrong
    bad = make(places["other"])
    with pytest.raises(ConfigError) as info:
        find(places, EDGEPROOF_TOXIPROXY=str(bad))
    message = str(info.value)
    assert "EDGEPROOF_TOXIPROXY" in message
    assert str(bad) in message
    assert state in message
    assert "edgeproof install-toxiproxy" in message


def test_missing_everywhere_names_places_and_fix(places: dict[str, Path]) -> None:
    with pytest.raises(InfrastructureError) as info:
        find(places)
    message = str(info.value)
    assert "\n" not in message  # one paragraph
    assert str(places["repo"] / ".tools/bin/toxiproxy-server") in message
    assert str(places["home"] / ".local/share/edgeproof/bin/toxiproxy-server") in message
    assert "PATH" in message
    assert "EDGEPROOF_TOXIPROXY" in message
    assert "edgeproof install-toxiproxy" in message
    assert "bash scripts/setup.sh" in message
    assert ts.TOXIPROXY_VERSION in message


def test_default_places_are_repo_and_user_folders() -> None:
    repo = Path(ts.__file__).resolve().parents[2]
    assert ts.repo_tools_bin() == repo / ".tools" / "bin"
    assert ts.user_tools_bin(Path("/h")) == Path("/h/.local/share/edgeproof/bin")


def test_find_uses_process_environment(
    monkeypatch: pytest.MonkeyPatch, places: dict[str, Path]
) -> None:
    env_bin = fake_binary(places["other"])
    monkeypatch.setenv("EDGEPROOF_TOXIPROXY", str(env_bin))
    assert ts.find_toxiproxy() == env_bin


@pytest.mark.parametrize(
    ("reported", "expected"),
    [("2.12.0", "v2.12.0"), ("v2.12.0", "v2.12.0"), ("2.11.0", "v2.11.0"), ("git", None)],
)
def test_toxiproxy_version(tmp_path: Path, reported: str, expected: str | None) -> None:
    assert ts.toxiproxy_version(fake_binary(tmp_path, reported)) == expected


def test_version_from_go_build_info(tmp_path: Path) -> None:
    path = fake_binary(tmp_path, "git")
    with path.open("a") as f:  # what a plain `go install` build embeds
        f.write("# \tmod\tgithub.com/Shopify/toxiproxy/v2\tv2.12.0\th1:abc=\n")
    assert ts.toxiproxy_version(path) == "v2.12.0"
    assert ts.is_pinned_version(path)


def test_install_is_idempotent_when_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = fake_binary(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "no-go-here"))  # would fail if it tried to build
    assert ts.install_toxiproxy(tmp_path / "bin") == target


def test_install_without_go_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_binary(tmp_path / "bin", version="2.11.0")  # wrong version: must rebuild
    monkeypatch.setenv("PATH", str(tmp_path / "no-go-here"))
    with pytest.raises(InfrastructureError) as info:
        ts.install_toxiproxy(tmp_path / "bin")
    message = str(info.value)
    assert "apt-get install golang-go" in message
    assert "EDGEPROOF_TOXIPROXY" in message


def test_install_moves_built_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake `go` that 'builds' into $GOBIN/server: the result lands as toxiproxy-server."""
    gobin = tmp_path / "gobin"
    gobin.mkdir()
    (gobin / "go").write_text(
        '#!/bin/sh\necho "$@" > "$GOBIN/args"\n'
        "printf '#!/bin/sh\\necho toxiproxy-server version 2.12.0\\n' > \"$GOBIN/server\"\n"
    )
    (gobin / "go").chmod(0o755)
    monkeypatch.setenv("PATH", f"{gobin}:/usr/bin:/bin")
    target = ts.install_toxiproxy(tmp_path / "dest")
    assert target == tmp_path / "dest" / "toxiproxy-server"
    assert ts.is_pinned_version(target)
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["toxiproxy-server"]
