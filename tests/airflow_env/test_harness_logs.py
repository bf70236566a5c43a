"""A run that does not finish in time names why: the failed tries' log tails, read from the task log files."""

from __future__ import annotations

import json
from pathlib import Path

from tests.airflow_env.harness import AirflowEnv


def test_unfinished_task_logs_show_the_failed_try_and_skip_the_succeeded_tasks(tmp_path: Path) -> None:
    env = AirflowEnv(tmp_path / "home")  # no service is started: only its log folder is read
    failed = env.task_log_dir("dag", "run1", "load") / "attempt=1.log"
    failed.parent.mkdir(parents=True)
    lines = [{"timestamp": "t0", "level": "info", "event": f"line {n}"} for n in range(50)]
    lines.append({"timestamp": "t1", "level": "error", "event": "Task failed", "error_detail": [{"exc": "Boom"}]})
    failed.write_text("\n".join(json.dumps(line) for line in lines) + "\nplain text line\n", encoding="utf-8")
    done = env.task_log_dir("dag", "run1", "done") / "attempt=1.log"
    done.parent.mkdir(parents=True)
    done.write_text(json.dumps({"event": "finished well"}) + "\n", encoding="utf-8")

    text = env.unfinished_task_logs("dag", "run1", {"load": "up_for_retry", "done": "success", "later": None})

    assert "--- load (up_for_retry): attempt=1.log ---" in text
    assert "t1 error Task failed [{'exc': 'Boom'}]" in text and "plain text line" in text
    assert "line 49" in text and "line 0\n" not in text  # only the tail
    assert "finished well" not in text
