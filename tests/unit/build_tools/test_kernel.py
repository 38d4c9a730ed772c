"""The build tools' shared layer: running processes, errors that say what to do, exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ner_build import console, process
from ner_build.errors import CheckFailed, FailedProcessError, ToolError, VerificationFailed


def test_a_failed_process_carries_its_command_exit_code_output_and_hint() -> None:
    script = "import sys; print('partial'); sys.exit('broken input')"
    with pytest.raises(FailedProcessError) as error:
        process.run([sys.executable, "-c", script], hint="Fix the input, then run again.")
    failed = error.value
    assert failed.command == (sys.executable, "-c", script)
    assert failed.returncode == 1
    assert "partial" in failed.output
    assert "broken input" in failed.output
    message = str(failed)
    assert "failed with exit code 1" in message
    assert message.endswith("Fix the input, then run again.")


def test_a_failed_process_is_returned_when_not_checked() -> None:
    result = process.run([sys.executable, "-c", "raise SystemExit(3)"], check=False)
    assert result.returncode == 3


def test_a_missing_program_is_a_failed_check_saying_what_to_install(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-tool"
    with pytest.raises(CheckFailed, match="Install the tool") as error:
        process.run([missing, "--version"], missing="Install the tool.")
    assert str(missing) in str(error.value)


def test_the_environment_given_is_added_to_the_inherited_one() -> None:
    code = "import os; print(os.environ['NER_X'], 'PATH' in os.environ)"
    result = process.run([sys.executable, "-c", code], env={"NER_X": "y"})
    assert result.stdout.split() == ["y", "True"]


def test_a_streamed_command_that_fails_raises_with_its_exit_code() -> None:
    with pytest.raises(FailedProcessError, match="exit code 4; see its output above"):
        process.stream([sys.executable, "-c", "raise SystemExit(4)"])


def test_run_main_turns_a_tool_error_into_its_message_and_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fail() -> None:
        raise VerificationFailed("the image differs from the lock; rebuild it")

    assert console.run_main(fail) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: the image differs from the lock; rebuild it\n"
    assert "Traceback" not in captured.err


def test_run_main_passes_an_exit_code_through() -> None:
    assert console.run_main(lambda: 3) == 3
    assert console.run_main(lambda: None) == 0


def test_run_main_lets_a_bug_raise() -> None:
    """Only ToolErrors are the user's to act on; a bug keeps its traceback for us."""

    def bug() -> None:
        raise KeyError("not a ToolError")

    with pytest.raises(KeyError):
        console.run_main(bug)


def test_every_error_type_is_a_tool_error() -> None:
    from ner_build import errors

    types = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert len(types) >= 6
    assert all(issubclass(t, ToolError) for t in types)
