"""Episode services: what the routers and the task endpoints ask for.

Protected by the policy: background work leaves this package only through
``dispatch.enqueue_http_task``, never by calling a worker over HTTP or starting a process.
"""
