"""The cloud_tasks_emulator fixture, run by pytest itself (pytester)."""

from __future__ import annotations


def test_the_fixture_points_tasks_variables_at_a_running_emulator_and_restores_them(
    pytester, monkeypatch
):
    monkeypatch.setenv("TASKS_EMULATOR_HOST", "outer-value")
    monkeypatch.setenv("TASKS_DRY_RUN", "true")
    monkeypatch.delenv("TASKS_QUEUE", raising=False)
    pytester.makepyfile(
        """
        import os

        import grpc
        from google.cloud import tasks_v2
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport


        def test_uses_the_emulator(cloud_tasks_emulator):
            env = os.environ
            assert env["TASKS_EMULATOR_HOST"] == cloud_tasks_emulator.address
            assert "TASKS_DRY_RUN" not in env
            queue = (
                f"projects/{env['TASKS_PROJECT']}/locations/{env['TASKS_LOCATION']}"
                f"/queues/{env['TASKS_QUEUE']}"
            )
            with grpc.insecure_channel(env["TASKS_EMULATOR_HOST"]) as channel:
                client = tasks_v2.CloudTasksClient(
                    transport=CloudTasksGrpcTransport(channel=channel)
                )
                client.pause_queue(name=queue)
                task = client.create_task(
                    parent=queue, task={"http_request": {"url": "http://127.0.0.1:9/x"}}
                )
            assert [t.name for t in cloud_tasks_emulator.tasks()] == [task.name]


        def test_afterwards_the_variables_are_restored():
            assert os.environ["TASKS_EMULATOR_HOST"] == "outer-value"
            assert os.environ["TASKS_DRY_RUN"] == "true"
            assert "TASKS_QUEUE" not in os.environ
        """
    )
    # Only the plugin under test: the others (taskguard, hypothesis, xdist, anyio) would cost
    # seconds of imports in the inner session and have nothing to do with this fixture.
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:taskguard",
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:xdist",
        "-p",
        "no:anyio",
    )
    result.assert_outcomes(passed=2)


def test_without_the_cloud_extra_the_fixture_says_how_to_install_it_once(pytester):
    # A fresh interpreter where grpc cannot be imported, as without the cloud extra.
    pytester.makeconftest("import sys\n\nsys.modules['grpc'] = None\n")
    pytester.makepyfile("def test_it(cloud_tasks_emulator):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:taskguard", "-p", "no:hypothesispytest"
    )
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    install = "pip install 'cloud-tasks-guard[cloud]'"
    assert f"cloud_tasks_emulator needs the cloud extra ({install})" in out
    # Said once, not after the ImportError it was raised while handling.
    assert "During handling of the above exception" not in out
