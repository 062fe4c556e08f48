"""The Emulator object: public names, start/stop, addresses, clean shutdown."""

from __future__ import annotations

import errno
import json
import pickle
import socket
import threading
import urllib.request

import grpc
import pytest
from emulator_support import QUEUE, Reply, client_for, http_task

import dispatch.emulator
from dispatch.emulator import Emulator
from dispatch.emulator._errors import RpcError


def test_public_names_are_pinned_and_sorted():
    assert dispatch.emulator.__all__ == [
        "DEFAULT_DEDUP_WINDOW",
        "Delivery",
        "Emulator",
        "ManualClock",
    ]
    assert dispatch.emulator.__all__ == sorted(dispatch.emulator.__all__)


def test_context_manager_binds_loopback_and_reports_its_address():
    with Emulator(port=0, queues=[QUEUE]) as emu:
        host, port = emu.address.rsplit(":", 1)
        assert host == "127.0.0.1"
        assert int(port) == emu.port > 0
        assert emu.jwks_url.startswith("http://127.0.0.1:")
        with client_for(emu.address) as client:
            assert client.get_queue(name=QUEUE).name == QUEUE
    # Stopped: nothing listens there any more.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", int(port))) != 0


def test_address_before_start_is_an_error():
    emu = Emulator()
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.address
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.jwks_url


def test_start_twice_is_refused_and_stop_is_idempotent():
    emu = Emulator(port=0).start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            emu.start()
    finally:
        emu.stop()
    emu.stop()
    Emulator().stop()  # never started: nothing to do, no error


@pytest.mark.parametrize(
    "name",
    ["queue", "projects/p/locations/l/queues/", "projects/p/locations/l/queues/a_b", "projects//x"],
)
def test_a_malformed_queue_name_is_refused_up_front(name):
    with pytest.raises(ValueError, match="Queue name must be formatted"):
        Emulator(queues=[name])


def test_a_port_in_use_fails_loudly():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        emu = Emulator(port=taken.getsockname()[1])
        with pytest.raises(OSError, match="could not bind"):
            emu.start()
        emu.stop()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_loopback_host_serves_grpc_and_the_key_set(host):
    with Emulator(host=host, port=0, queues=[QUEUE]) as emu:
        assert emu.address.startswith("[::1]:")
        assert emu.jwks_url.startswith("http://[::1]:")
        with client_for(emu.address) as client:
            assert client.get_queue(name=QUEUE).name == QUEUE
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(emu.jwks_url, timeout=5) as resp:
            assert json.loads(resp.read()) == emu.public_jwks()


def test_an_address_that_cannot_be_bound_fails_with_the_os_error():
    # 192.0.2.1 (TEST-NET-1) is on no local interface: bind() fails, nothing is sent.
    emu = Emulator(host="192.0.2.1", port=0)
    with pytest.raises(OSError, match="assign requested address") as info:
        emu.start()
    assert info.value.errno == errno.EADDRNOTAVAIL
    emu.stop()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="dedup_window"):
        Emulator(dedup_window=-1)
    with pytest.raises(ValueError, match="NaN"):
        Emulator(dedup_window=float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        Emulator(queue_reuse_window=float("nan"))
    with pytest.raises(ValueError, match="not one str"):
        Emulator(queues=QUEUE)
    with pytest.raises(ValueError, match="must be str"):
        Emulator(queues=[QUEUE, 3])
    with pytest.raises(ValueError, match="min_dispatch_deadline"):
        Emulator(min_dispatch_deadline=0)


def test_stop_cuts_a_hanging_delivery_and_leaves_no_thread(worker):
    worker.behave(lambda _r: Reply(hold=60))
    before = set(threading.enumerate())
    emu = Emulator(port=0, queues=[QUEUE]).start()
    with client_for(emu.address) as client:
        client.create_task(parent=QUEUE, task=http_task(worker.url + "/hang"))
        worker.wait_for(1)
    emu.stop()  # must not wait for the 60 s handler
    started = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    # Only the worker's own handler thread (still holding) may remain, not the emulator's.
    assert [t.name for t in started if "process_request" not in t.name] == []
    outcomes = [d.outcome for d in emu.deliveries()]
    assert outcomes == ["cancelled"]


def test_the_core_error_is_picklable():
    err = RpcError(grpc.StatusCode.NOT_FOUND, "gone")
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.code, clone.message, str(clone)) == (
        grpc.StatusCode.NOT_FOUND,
        "gone",
        "NOT_FOUND: gone",
    )


def test_waiting_for_deliveries_that_never_come_times_out(emulator):
    with pytest.raises(TimeoutError, match="0 of 1 expected deliveries"):
        emulator.wait_for_deliveries(1, timeout=0.05)
    assert emulator.deliveries() == []
    assert emulator.tasks() == []
    assert emulator.queues() == []


def test_inspection_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="not started"):
        Emulator().tasks()


def test_a_queue_named_twice_is_created_once():
    with Emulator(port=0, queues=[QUEUE, QUEUE]) as emu:
        assert [q.name for q in emu.queues()] == [QUEUE]
