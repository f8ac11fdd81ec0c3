"""Two kinds of failure: bad input from the user (exit 2, a message, no traceback) and failures
during a run, which become a sample's Status and are never turned into answers."""

from __future__ import annotations

from vidbench.contracts import Status


class UserError(Exception):
    """Bad input: say what was wrong, where, and what to do. The CLI prints it and exits 2."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what, self.where, self.fix = what, where, fix
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"error: {self.what}"]
        if self.where:
            lines.append(f"  where: {self.where}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


class RunInterrupted(Exception):
    """Ctrl-C during a run: what was saved, and how to go on. The CLI prints it and exits 130."""

    exit_code = 130

    def __init__(self, run_dir: object, saved: int, total: int):
        self.run_dir, self.saved, self.total = run_dir, saved, total
        super().__init__(self.render())

    def render(self) -> str:
        return (
            f"interrupted: {self.saved} of {self.total} sample(s) are saved in {self.run_dir} "
            "(calls in flight were dropped; answers already paid for are in the cache); "
            f"continue with `vidbench eval --resume {self.run_dir}`"
        )


class SampleFailure(Exception):
    """A failure of one sample during a run; the eval loop records `status` and the message."""

    status: Status = Status.METHOD_ERROR


class ApiError(SampleFailure):
    status = Status.API_ERROR


class ParseError(SampleFailure):
    status = Status.PARSE_ERROR


class BudgetExceeded(SampleFailure):
    status = Status.BUDGET_EXCEEDED


class VideoError(SampleFailure):
    status = Status.VIDEO_ERROR
