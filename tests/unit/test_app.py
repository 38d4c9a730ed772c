"""The Streamlit page, driven through streamlit.testing.v1.AppTest with the real test pipeline."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import ner_app
from ner_app.examples import EXAMPLES

APP = Path(ner_app.__file__).with_name("app.py")
SAMPLE = "Ada Lovelace worked with Charles Babbage in London in 1843."


@pytest.fixture
def app(test_pipeline_name: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("NER_MODEL", test_pipeline_name)
    monkeypatch.setenv("NER_MAX_CHARS", "200")
    monkeypatch.setenv("NER_MAX_UPLOAD_BYTES", "100")
    return AppTest.from_file(str(APP), default_timeout=30).run()


@pytest.fixture
def media_stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MemoryMediaFileStorage]]:
    """Keeps hold of the real media storage AppTest creates per run, to read downloads back."""
    stores: list[MemoryMediaFileStorage] = []

    class KeptStorage(MemoryMediaFileStorage):
        def __init__(self, endpoint: str) -> None:
            super().__init__(endpoint)
            stores.append(self)

    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", KeptStorage)
    return stores


def entity_rows(app: AppTest) -> list[tuple[str, str]]:
    frame = app.dataframe[0].value
    return list(zip(frame["text"], frame["label"], strict=True))


def downloaded(app: AppTest, stores: list[MemoryMediaFileStorage], label: str) -> str:
    button = next(b for b in app.get("download_button") if b.proto.label == label)
    file_id = button.proto.url.rsplit("/", 1)[-1].split(".")[0]
    return bytes(stores[-1].get_file(file_id).content).decode()


def test_sidebar_describes_the_loaded_pipeline(app: AppTest) -> None:
    sidebar = " ".join(str(m.value) for m in app.sidebar.markdown)
    assert "en_ner_test" in sidebar
    assert "0.1.0" in sidebar
    assert "DATE, GPE, ORG, PERSON" in sidebar
    assert not app.exception


def test_empty_page_asks_for_text(app: AppTest) -> None:
    assert "Enter some text" in app.info[0].value
    assert not app.error


def test_sample_text_shows_its_entities(app: AppTest) -> None:
    app.text_area(key="text").input(SAMPLE).run()
    assert entity_rows(app) == [
        ("Ada Lovelace", "PERSON"),
        ("Charles Babbage", "PERSON"),
        ("London", "GPE"),
        ("1843", "DATE"),
    ]
    highlighted = app.get("html")[1].value  # [0] is the legend
    assert "Ada Lovelace" in highlighted
    assert "<mark" in highlighted
    assert "PERSON: People, including fictional (2)" in app.get("html")[0].value


def test_picking_an_example_fills_the_text_and_analyses_it(app: AppTest) -> None:
    name = next(iter(EXAMPLES))
    app.selectbox(key="example").select(name).run()
    assert app.text_area(key="text").value == EXAMPLES[name]
    assert ("Ada Lovelace", "PERSON") in entity_rows(app)


def test_label_filter_limits_table_and_both_downloads(
    app: AppTest, media_stores: list[MemoryMediaFileStorage]
) -> None:
    app.text_area(key="text").input(SAMPLE).run()
    app.multiselect(key="labels").set_value(["PERSON"]).run()
    assert entity_rows(app) == [("Ada Lovelace", "PERSON"), ("Charles Babbage", "PERSON")]
    as_json = json.loads(downloaded(app, media_stores, "Download JSON"))
    as_csv = list(csv.DictReader(io.StringIO(downloaded(app, media_stores, "Download CSV"))))
    expected = [("Ada Lovelace", "PERSON", 0, 12), ("Charles Babbage", "PERSON", 25, 40)]
    assert [(e["text"], e["label"], e["start"], e["end"]) for e in as_json] == expected
    assert [(r["text"], r["label"], int(r["start"]), int(r["end"])) for r in as_csv] == expected


def test_a_new_text_shows_every_label_again(app: AppTest) -> None:
    app.text_area(key="text").input("Ada Lovelace met Charles Babbage.").run()
    assert app.multiselect(key="labels").value == ["PERSON"]
    app.text_area(key="text").input(SAMPLE).run()
    assert {label for _, label in entity_rows(app)} == {"PERSON", "GPE", "DATE"}
    app.multiselect(key="labels").set_value(["GPE"]).run()
    assert entity_rows(app) == [("London", "GPE")]  # the choice holds while the text stays


def test_text_over_the_limit_gets_a_message_and_is_kept(app: AppTest) -> None:
    long_text = "Ada Lovelace " * 20
    app.text_area(key="text").input(long_text).run()
    assert "the limit is 200" in app.error[0].value
    assert app.text_area(key="text").value == long_text
    assert not app.dataframe


def test_whitespace_only_text_asks_for_text(app: AppTest) -> None:
    app.text_area(key="text").input("  \n\t ").run()
    assert "Enter some text" in app.info[0].value


def test_the_uploader_states_the_apps_limit_not_streamlits(app: AppTest) -> None:
    uploader = app.file_uploader(key="upload")
    assert uploader.proto.max_upload_size_mb == 1  # not Streamlit's 10 MB (config.toml)
    assert "at most 100 bytes" in uploader.proto.label


def test_uploaded_text_file_is_analysed(app: AppTest) -> None:
    app.file_uploader(key="upload").upload("notes.txt", b"Grace Hopper in Paris", "text/plain")
    app.run()
    assert entity_rows(app) == [("Grace Hopper", "PERSON"), ("Paris", "GPE")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks like a binary file"),
        ("café".encode("latin-1"), "is not valid UTF-8"),
        (b"x" * 101, "the limit is 100"),
    ],
)
def test_bad_upload_gets_its_message(app: AppTest, content: bytes, message: str) -> None:
    app.file_uploader(key="upload").upload("bad.txt", content, "text/plain")
    app.run()
    assert message in app.error[0].value
    assert not app.exception


def test_html_and_script_are_shown_as_text(app: AppTest) -> None:
    app.text_area(key="text").input(
        '<img src=x onerror="alert(1)"> <script>x()</script> London'
    ).run()
    highlighted = app.get("html")[1].value  # [0] is the legend
    assert "<script>" not in highlighted
    assert "<img" not in highlighted
    assert "&lt;script&gt;" in highlighted


def test_control_characters_emoji_and_rtl_do_not_crash(app: AppTest) -> None:
    app.text_area(key="text").input("שלום 🙂 Ada\x00 Lovelace\x07 in London").run()
    assert "Replaced 2 control character(s)" in app.warning[0].value
    assert ("London", "GPE") in entity_rows(app)
    assert not app.exception


def test_missing_pipeline_package_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_MODEL", "xx_not_installed_pipeline")
    app = AppTest.from_file(str(APP), default_timeout=30).run()
    assert "'xx_not_installed_pipeline' is not installed" in app.error[0].value
    assert not app.exception
    assert not app.text_area


def test_bad_setting_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_MAX_CHARS", "lots")
    app = AppTest.from_file(str(APP), default_timeout=30).run()
    assert "NER_MAX_CHARS='lots' is not a whole number" in app.error[0].value


def batch_mode(app: AppTest) -> AppTest:
    app.radio(key="mode").set_value("Batch of files").run()
    return app


def batch_rows(app: AppTest) -> list[tuple[str, str, str]]:
    frame = app.dataframe[0].value
    return list(zip(frame["document"], frame["text"], frame["label"], strict=True))


def test_a_batch_of_three_files_runs_the_good_two_and_names_the_bad_one(
    app: AppTest, media_stores: list[MemoryMediaFileStorage]
) -> None:
    uploader = batch_mode(app).file_uploader(key="batch")
    uploader.upload("a.txt", b"Grace Hopper in Paris", "text/plain")
    uploader.upload("b.txt", b"\x00\x01binary", "text/plain")
    uploader.upload("c.txt", b"Ada Lovelace in London", "text/plain")
    app.run()
    assert not app.exception
    assert "b.txt looks like a binary file" in app.warning[0].value
    assert batch_rows(app) == [
        ("a.txt", "Grace Hopper", "PERSON"),
        ("a.txt", "Paris", "GPE"),
        ("c.txt", "Ada Lovelace", "PERSON"),
        ("c.txt", "London", "GPE"),
    ]
    assert "2 documents analysed: 4 entities" in app.success[0].value
    jsonl = downloaded(app, media_stores, "Download JSONL").splitlines()
    assert [json.loads(line)["document"] for line in jsonl] == ["a.txt"] * 2 + ["c.txt"] * 2
    table = list(csv.DictReader(io.StringIO(downloaded(app, media_stores, "Download CSV"))))
    assert [row["label"] for row in table] == ["PERSON", "GPE", "PERSON", "GPE"]


def test_a_csv_column_is_analysed_row_by_row(app: AppTest) -> None:
    uploader = batch_mode(app).file_uploader(key="batch")
    table = b"id,note,text\n1,Paris,Grace Hopper\n2,Berlin,\n3,x,Ada Lovelace\n"
    uploader.upload("people.csv", table, "text/csv")
    app.run()
    assert app.selectbox(key="column").value == "text"
    assert "people.csv row 2: Enter some text" in app.warning[0].value
    assert batch_rows(app) == [
        ("people.csv row 1", "Grace Hopper", "PERSON"),
        ("people.csv row 3", "Ada Lovelace", "PERSON"),
    ]
    app.selectbox(key="column").set_value("note").run()
    assert batch_rows(app) == [
        ("people.csv row 1", "Paris", "GPE"),
        ("people.csv row 2", "Berlin", "GPE"),
    ]


def test_a_batch_over_the_document_limit_is_refused(
    test_pipeline_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NER_MODEL", test_pipeline_name)
    monkeypatch.setenv("NER_MAX_BATCH_DOCS", "2")
    app = batch_mode(AppTest.from_file(str(APP), default_timeout=30).run())
    uploader = app.file_uploader(key="batch")
    for name in ("a.txt", "b.txt", "c.txt"):
        uploader.upload(name, b"Ada Lovelace", "text/plain")
    app.run()
    assert "the limit is 2" in app.error[0].value
    assert "NER_MAX_BATCH_DOCS" in app.error[0].value
    assert not app.dataframe
