"""The pipeline layer: the stage contract, the one stage registry, jobs and their runner.

- :mod:`vidpipe.pipeline.stages`: :class:`~vidpipe.pipeline.stages.Stage` (name,
  version, ``Options`` model, inputs, ``run``), its context, inputs and result.
- :mod:`vidpipe.pipeline.registry`: every stage by name (:func:`get_stage`).
- :mod:`vidpipe.pipeline.jobs`: :class:`~vidpipe.pipeline.jobs.JobStore`, jobs with
  dependencies, leases and retries in the catalog.
- :mod:`vidpipe.pipeline.execute`: :func:`~vidpipe.pipeline.execute.run_job`.

This layer may import :mod:`vidpipe.library` and the building blocks, never the
front ends (``cli``, ``service``).
"""
