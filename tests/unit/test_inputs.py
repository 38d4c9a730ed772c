import pytest

from ner_app.inputs import (
    InputError,
    check_text,
    decode_upload,
    is_right_to_left,
    replace_control_characters,
    upload_limit_mb,
)


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_empty_or_whitespace_text_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(InputError, match="Enter some text"):
        check_text(text, max_chars=10)


def test_text_over_the_limit_names_its_length_and_the_limit() -> None:
    with pytest.raises(InputError, match=r"11 characters; the limit is 10"):
        check_text("x" * 11, max_chars=10)


def test_text_at_the_limit_passes_unchanged() -> None:
    assert check_text("x" * 10, max_chars=10) == "x" * 10


def test_upload_decodes_utf8_and_drops_a_bom() -> None:
    assert decode_upload("\ufeffZoë in Köln".encode(), "a.txt", 100) == "Zoë in Köln"


def test_binary_upload_is_refused() -> None:
    with pytest.raises(InputError, match="binary"):
        decode_upload(b"\x89PNG\r\n\x1a\n\x00\x00", "image.txt", 100)


def test_non_utf8_upload_is_refused_with_the_offset() -> None:
    with pytest.raises(InputError, match=r"not valid UTF-8 \(byte 3"):
        decode_upload("abcé".encode("latin-1"), "latin.txt", 100)


def test_upload_over_the_size_limit_is_refused() -> None:
    with pytest.raises(InputError, match="limit is 4"):
        decode_upload(b"hello", "big.txt", 4)


def test_control_characters_become_spaces_and_offsets_stay() -> None:
    text, count = replace_control_characters("a\x00b\x1bc\nd\te\x7f")
    assert (text, count) == ("a b c\nd\te ", 3)


def test_right_to_left_detection() -> None:
    assert is_right_to_left("שלום עולם, hi")
    assert not is_right_to_left("hello שלום world")
    assert not is_right_to_left("1234 🙂")


@pytest.mark.parametrize(
    ("limit", "mb"), [(1, 1), (1_048_576, 1), (1_048_577, 2), (50_000_000, 48)]
)
def test_the_uploaders_mb_fit_the_setting(limit: int, mb: int) -> None:
    assert upload_limit_mb(limit) == mb
