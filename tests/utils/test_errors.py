import errno
import os
import signal

from utils.errors import UserError, run_reporting_user_errors


def _raise(error: BaseException):
    def action():
        raise error

    return action


def test_user_error_is_one_line_with_exit_2(capsys):
    assert run_reporting_user_errors(_raise(UserError("data.yaml: no 'val' key"))) == 2
    assert capsys.readouterr().err == "error: data.yaml: no 'val' key\n"


def test_os_fault_names_the_path_and_the_cause(capsys):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/exp/weights/last.pt")
    assert run_reporting_user_errors(_raise(full)) == 1
    assert capsys.readouterr().err == f"error: /runs/exp/weights/last.pt: {os.strerror(errno.ENOSPC)}\n"
    assert run_reporting_user_errors(_raise(PermissionError(errno.EACCES, "Permission denied", "/ro/exp"))) == 1
    assert capsys.readouterr().err == "error: /ro/exp: Permission denied\n"


def test_ctrl_c_and_sigterm_stop_the_same_way_and_clean_up(capsys):
    cleaned = []

    def killed_by(signum):
        def action():
            try:
                if signum == signal.SIGINT:
                    raise KeyboardInterrupt
                os.kill(os.getpid(), signum)
                signal.sigtimedwait([], 0.5)  # the handler runs before this returns
                raise AssertionError("SIGTERM did not stop the action")
            finally:
                cleaned.append(signum)

        return action

    before = signal.getsignal(signal.SIGTERM)
    for signum in (signal.SIGINT, signal.SIGTERM):
        assert run_reporting_user_errors(killed_by(signum)) == 130
        err = capsys.readouterr().err
        assert err.startswith("interrupted: ") and err.count("\n") == 1
    assert cleaned == [signal.SIGINT, signal.SIGTERM] and signal.getsignal(signal.SIGTERM) is before
