"""Helpers of the ``amnesia`` tests."""


def _one_error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("amnesia: error:"), captured.err
    assert "Traceback" not in captured.err + captured.out
    return err[0]
