"""The pipeline layer: the stage contract, the one stage registry, jobs and their runner.

- :mod:`vidpipe.pipeline.stages`: :class:`~vidpipe.pipeline.stages.Stage` (name,
  version, ``Options`` model, inputs, ``run``), its context, inputs and result.
- :mod:`vidpipe.pipeline.registry`: every stage by name (:func:`get_stage`).
- :mod:`vidpipe.pipeline.jobs`: :class:`~vidpipe.pipeline.jobs.JobStore`, jobs with
  dependencies, leases and retries in the catalog.
- :mod:`vidpipe.pipeline.execute`: :func:`~vidpipe.pipeline.execute.run_job`.
- :mod:`vidpipe.pipeline.queue`: the Huey queue ("run job X" messages; SQLite embedded
  or Redis), :class:`~vidpipe.pipeline.queue.Worker` and its
  :class:`~vidpipe.pipeline.queue.Reaper`.
- :mod:`vidpipe.pipeline.submit`: ``vidpipe run``'s inputs and steps as chains of jobs
  (:func:`~vidpipe.pipeline.submit.submit`) and waiting for them.

This layer may import :mod:`vidpipe.library` and the building blocks, never the
front ends (``cli``, ``service``).
"""
