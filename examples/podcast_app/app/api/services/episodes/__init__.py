"""Episode services: what the routers and the task endpoints ask for.

Protected by the policy: background work leaves this package only through
``enqueue_http_task`` of ``app.infrastructure.tasks_client`` (the service's one door to
``dispatch``), never by calling a worker over HTTP or starting a process.
"""
