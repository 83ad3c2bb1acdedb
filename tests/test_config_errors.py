"""A bad setting (a ``SHOAL_*`` variable, a YAML file) is a ValueError naming its key and
the variable that sets it, raised where a user first meets it; good spellings still read."""

from __future__ import annotations

import pytest

import shoal
import shoal.config as config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def env(monkeypatch):
    """Set ``SHOAL_*`` variables and re-read the config; the config is rebuilt after."""

    def setenv(**variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        config.refresh()

    yield setenv
    monkeypatch.undo()
    config.refresh()


def _names(key: str) -> str:
    env = "SHOAL_" + key.upper().replace(".", "__").replace("-", "_")
    return rf"\({key}\), from {env} or a config file"


def test_the_readers_name_the_key_and_its_variable():
    key = "distributed.comm.timeouts.connect"
    with pytest.raises(ValueError, match=r"connect='soon': expected a duration such as \"30s\" "
                                         + _names(key)):  # fmt: skip
        config.duration("soon", "connect", key)
    for bad in ("-1s", float("nan"), None, True):
        with pytest.raises(ValueError, match="expected a duration"):
            config.duration(bad, "t")
    for bad in ("huge", -5, float("inf"), None):
        with pytest.raises(ValueError, match="expected a byte size"):
            config.size(bad, "n")
    for bad in ("high", 1.5, -0.1, True):
        with pytest.raises(ValueError, match="expected a fraction from 0 to 1, or false"):
            config.fraction(bad, "target")
    assert config.duration("200ms", "t") == pytest.approx(0.2)
    assert config.size("1 GiB", "n") == 2**30 and config.fraction(0.6, "target") == 0.6
    assert config.fraction(False, "t") is None and config.fraction(None, "t") is None


def test_a_bad_connect_timeout_stops_client_start(env):
    from shoal.distributed import Client

    env(SHOAL_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="soon")
    with pytest.raises(ValueError, match=_names("distributed.comm.timeouts.connect")):
        Client("tcp://127.0.0.1:9", set_as_default=False)


def test_bad_scheduler_settings_stop_its_start(env):
    from shoal.distributed.scheduler.state import SchedulerState

    env(SHOAL_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="abc")
    with pytest.raises(ValueError, match=_names("distributed.scheduler.allowed-failures")):
        SchedulerState()
    env(SHOAL_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="3",
        SHOAL_DISTRIBUTED__SCHEDULER__BANDWIDTH="fast")
    with pytest.raises(ValueError, match=_names("distributed.scheduler.bandwidth")):
        SchedulerState()


def test_bad_worker_settings_name_their_key(env):
    from shoal.distributed.worker.memory import MemoryThresholds
    from shoal.distributed.worker.state import WorkerState

    env(SHOAL_DISTRIBUTED__WORKER__MEMORY__TARGET="high")
    with pytest.raises(ValueError, match=_names("distributed.worker.memory.target")):
        MemoryThresholds.from_config()
    env(SHOAL_DISTRIBUTED__WORKER__MEMORY__TARGET="0.6",
        SHOAL_DISTRIBUTED__WORKER__CONNECTIONS__OUTGOING="-1")  # (was taken silently)
    assert MemoryThresholds.from_config().target == 0.6
    with pytest.raises(ValueError, match=_names("distributed.worker.connections.outgoing")):
        WorkerState(address="tcp://me:1")


def test_a_bad_num_workers_stops_a_processes_compute(env):
    env(SHOAL_NUM_WORKERS="two")
    with pytest.raises(ValueError, match=r"num-workers='two': .*" + _names("num-workers")):
        shoal.compute(shoal.delayed(abs)(-1), scheduler="processes")
    with pytest.raises(ValueError, match=_names("num-workers")):
        shoal.compute(shoal.delayed(abs)(-1), scheduler="threads")


def test_array_chunk_size_is_read_where_auto_chunks_are_chosen(env):
    import shoal.array as da

    env(SHOAL_ARRAY__CHUNK_SIZE="huge")
    with pytest.raises(ValueError, match=_names("array.chunk-size")):
        da.ones((100,), chunks="auto")
    env(SHOAL_ARRAY__CHUNK_SIZE="1 KiB")
    x = da.ones((4096,), dtype="u1", chunks="auto")
    assert max(x.chunks[0]) <= 1024 and max(x.rechunk("auto").chunks[0]) <= 1024


def test_num_workers_given_in_the_call_wins_over_a_bad_setting(env):
    env(SHOAL_NUM_WORKERS="two")  # (the setting is not read: the call names its own)
    for scheduler in ("threads", "processes"):
        assert shoal.compute(shoal.delayed(abs)(-1), scheduler=scheduler, num_workers=1) == (1,)
