"""The cost model: which way a round reads its jobs, from measures alone (pure functions, no I/O)."""

from __future__ import annotations

from airflow_provider_milvus.polling import cost
from airflow_provider_milvus.polling.cost import ListCost, ReadCost, add_reads, choose_round, record_list

READ = ReadCost(bytes=1_000.0, seconds=0.0001, samples=20)


def jobs(n: int, collection: str | None = "c", prefix: str = "j") -> dict[str, str | None]:
    return {f"{prefix}{i}": collection for i in range(n)}


def measure(bytes: int, *, complete: bool = True, round: int = 1, pages: int = 1, backoff: int = 8) -> ListCost:
    return ListCost(bytes, pages, 0.0, 0, complete, round, backoff)


def test_nothing_measured_reads_per_job_and_new_jobs_are_always_read_in_full() -> None:
    plan = choose_round(jobs(10), ReadCost(), {}, cost.REST, round=1)
    assert plan.lists == () and plan.direct == frozenset(jobs(10))
    plan = choose_round(jobs(12), READ, {}, cost.REST, round=2, unread=["j0", "j1"])
    assert {"j0", "j1"} <= plan.direct and plan.listed_jobs == frozenset(jobs(12)) - {"j0", "j1"}


def test_zilliz_cloud_probes_one_page_for_the_first_sight_of_new_jobs() -> None:
    """Its list has no filter and pages: one page may serve new jobs before any read was measured."""
    new = jobs(10, collection=None)
    plan = choose_round(new, ReadCost(), {}, cost.CLOUD, round=1, unread=list(new))
    (probe,) = plan.lists
    assert probe.probe and probe.scope is None and probe.jobs == frozenset(new) and plan.direct == frozenset()
    assert probe.max_pages == 2 and probe.max_bytes is None  # the page they fill, and one: nothing measured yet
    (probe,) = choose_round(jobs(1_000, None), ReadCost(), {}, cost.CLOUD, round=1, unread=list(jobs(1_000))).lists
    assert probe.max_pages == 11  # 100 entries a page
    few = jobs(2, collection=None)
    assert choose_round(few, ReadCost(), {}, cost.CLOUD, round=1, unread=list(few)).lists == ()
    # Self-hosted Milvus lists by collection, learnt from the first read: new jobs are read in full there.
    assert choose_round(new, ReadCost(), {}, cost.REST, round=1, unread=list(new)).lists == ()


def test_an_unmeasured_list_is_probed_within_the_budget_of_the_reads_it_replaces() -> None:
    plan = choose_round(jobs(10), READ, {}, cost.REST, round=2)
    (probe,) = plan.lists
    assert probe.probe and probe.scope == "c" and probe.max_bytes == 12_501 and probe.max_pages is None
    assert plan.direct == frozenset()


def test_too_few_jobs_never_list() -> None:
    assert choose_round(jobs(2), READ, {}, cost.REST, round=2).lists == ()
    assert choose_round(jobs(2), READ, {"c": measure(10)}, cost.REST, round=2).lists == ()


def test_no_probe_where_what_it_may_overshoot_outweighs_what_it_could_save() -> None:
    assert choose_round(jobs(8), READ, {}, cost.REST, round=2).lists == ()  # 8 x 1 kB x 8 rounds < 64 KiB
    (probe,) = choose_round(jobs(9), READ, {}, cost.REST, round=2).lists
    assert probe.probe
    assert [p.scope for p in choose_round(jobs(8), READ, {"c": measure(2_000)}, cost.REST, round=2).lists] == ["c"]


def test_a_measured_cheap_list_is_used_and_a_dear_one_is_not() -> None:
    cheap = choose_round(jobs(10), READ, {"c": measure(2_000)}, cost.REST, round=3)
    assert [(p.scope, p.probe) for p in cheap.lists] == [("c", False)]
    dear = choose_round(jobs(10), READ, {"c": measure(8_000, complete=False, round=2)}, cost.REST, round=3)
    assert dear.lists == () and dear.direct == frozenset(jobs(10))


def test_a_dear_list_is_measured_again_after_its_backoff_which_doubles() -> None:
    lists = {"c": measure(8_000, complete=False, round=2, backoff=8)}
    assert choose_round(jobs(10), READ, lists, cost.REST, round=9).lists == ()
    (probe,) = choose_round(jobs(10), READ, lists, cost.REST, round=10).lists
    assert probe.probe
    again = record_list(
        lists["c"], bytes=8_000, pages=1, seconds=0.0, entries=0, complete=False, round=10, worth_it=False
    )
    assert again.backoff == 16 and again.measured_round == 10
    back = record_list(again, bytes=500, pages=1, seconds=0.0, entries=3, complete=True, round=26, worth_it=True)
    assert back.backoff == cost.FIRST_REMEASURE


def test_more_watched_jobs_make_a_stopped_list_worth_a_probe_before_its_backoff() -> None:
    lists = {"c": measure(10_001, complete=False, round=2)}
    assert choose_round(jobs(20), READ, lists, cost.REST, round=3).lists == ()
    (probe,) = choose_round(jobs(21), READ, lists, cost.REST, round=3).lists
    assert probe.probe and probe.max_bytes == 26_251


def test_per_collection_lists_where_each_pays_and_per_job_reads_for_the_rest() -> None:
    watched = {**jobs(5, "small", "s"), **jobs(5, "busy", "b")}
    lists = {"small": measure(1_000), "busy": measure(3_500, complete=False, round=3)}
    plan = choose_round(watched, READ, lists, cost.REST, round=4)
    assert [(p.scope, p.probe) for p in plan.lists] == [("small", False)]
    assert plan.direct == frozenset(jobs(5, "busy", "b"))


def test_one_list_of_everything_when_it_is_cheaper_than_a_list_per_collection() -> None:
    watched = {**jobs(5, "a", "a"), **jobs(5, "b", "b"), **jobs(5, "c", "c")}
    lists = {None: measure(2_000), "a": measure(1_500), "b": measure(1_500), "c": measure(1_500)}
    plan = choose_round(watched, READ, lists, cost.REST, round=4)
    assert [p.scope for p in plan.lists] == [None] and plan.listed_jobs == frozenset(watched)


def test_jobs_of_unknown_collection_are_probed_with_one_list_of_everything() -> None:
    plan = choose_round(jobs(10, None), READ, {}, cost.GRPC, round=2)
    assert [(p.scope, p.probe) for p in plan.lists] == [(None, True)]


def test_the_cloud_lists_everything_and_pages_no_more_than_the_reads_it_replaces() -> None:
    (probe,) = choose_round(jobs(10), READ, {}, cost.CLOUD, round=2).lists
    assert probe.scope is None and probe.max_pages == 9
    # found to need 12 pages to see every watched job: more requests than 10 reads
    plan = choose_round(jobs(10), READ, {None: measure(5_000, pages=12)}, cost.CLOUD, round=3)
    assert plan.lists == ()
    used = choose_round(jobs(10), READ, {None: measure(5_000, pages=1)}, cost.CLOUD, round=3)
    assert [(p.scope, p.probe) for p in used.lists] == [(None, False)]


def test_read_cost_is_a_mean_that_follows_recent_reads() -> None:
    first = add_reads(ReadCost(), 4, 4_000, 0.004)
    assert (first.bytes, first.samples) == (1_000.0, 4)
    later = add_reads(first, 4, 2_000, 0.002)
    assert 500.0 < later.bytes < 1_000.0 and later.samples == 8
    assert add_reads(later, 0, 0, 0.0) is later


def test_where_a_rate_limit_paces_reads_a_dearer_list_pays_once_every_few_intervals() -> None:
    """Zilliz Cloud: per-job polling reads only the limit's share of jobs an interval (each job once every
    jobs / share intervals), so a list dearer than one interval of those reads is made every k intervals."""
    page = ListCost(8_000, 1, 0.0, 100, True, 1)  # 100 records
    # Unpaced, 100 reads (100 kB) cost far more than the page: it pays every interval.
    assert cost.list_spacing(page, 100, READ) == 1
    # Paced at 6 reads an interval (6 kB, 7.5 kB with the slack): the 8 kB page pays every second interval.
    assert cost.list_spacing(page, 100, READ, reads_per_interval=6) == 2
    assert cost.list_spacing(ListCost(40_000, 5, 0.0, 500, True, 1), 500, READ, reads_per_interval=6) == 6
    # Never spaced past the cycle in which per-job polling reads every job once: 12 jobs, 2 intervals.
    assert cost.list_spacing(ListCost(40_000, 1, 0.0, 12, True, 1), 12, READ, reads_per_interval=6) == 0
    plan = choose_round(jobs(100, None), READ, {None: page}, cost.CLOUD, round=3, reads_per_interval=6)
    assert plan.lists and plan.spacing == 2 and plan.reason == "one list every 2 intervals"
    # Self-hosted servers have no such limit: the pace is ignored there, and a list pays every round or never.
    rest = choose_round(jobs(100), READ, {"c": ListCost(150_000, 1, 0.0, 100, True, 1)}, cost.REST, round=3)
    assert rest.lists == () and rest.spacing == 1
    paced = choose_round(
        jobs(100), READ, {"c": ListCost(150_000, 1, 0.0, 100, True, 1)}, cost.REST, round=3, reads_per_interval=6
    )
    assert paced == rest
