from pathlib import Path

from sentinel.settings import Settings, render_env_example, render_settings_table


def test_env_prefix_and_types(monkeypatch):
    monkeypatch.setenv("SENTINEL_FETCH_MAX_BYTES", "1234")
    monkeypatch.setenv("SENTINEL_ALLOWED_FILE_ROOTS", "/srv/a:/srv/b")
    settings = Settings(_env_file=None)
    assert settings.fetch_max_bytes == 1234
    assert settings.allowed_file_roots == [Path("/srv/a"), Path("/srv/b")]
    assert settings.database_url is None


def test_dotenv_file_is_read_and_secrets_are_hidden(tmp_path):
    env = tmp_path / ".env"
    env.write_text("SENTINEL_DATABASE_URL=postgresql+psycopg2://u:hunter2@db/sentinel\n")
    settings = Settings(_env_file=env)
    assert settings.database_url.get_secret_value().endswith("@db/sentinel")
    assert "hunter2" not in repr(settings)


REPO = Path(__file__).resolve().parents[2]


def test_env_example_is_current():
    assert (REPO / ".env.example").read_text() == render_env_example(), (
        ".env.example is stale; regenerate it: python -m sentinel.settings > .env.example")


def test_readme_documents_every_setting():
    readme = (REPO / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`SENTINEL_{name.upper()}`" not in readme]
    assert not missing, f"README configuration table lacks {missing}"
    assert render_settings_table() in readme, (
        "README configuration table is stale; regenerate it: python -m sentinel.settings --table")
