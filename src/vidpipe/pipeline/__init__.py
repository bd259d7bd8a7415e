"""The pipeline layer: the stage contract, the one stage registry, jobs and their runner.

- :mod:`vidpipe.pipeline.stages`: :class:`~vidpipe.pipeline.stages.Stage` (name,
  version, ``Options`` model, inputs, ``run``), its context, inputs and result
  (:mod:`~vidpipe.pipeline.stages.base`), and one module per stage.
- :mod:`vidpipe.pipeline.registry`: every stage by name (:func:`get_stage`).
- :mod:`vidpipe.pipeline.models`: the ASR engine and voice, loaded once per process.
- :mod:`vidpipe.pipeline.cache`: the one stage cache
  (:func:`~vidpipe.pipeline.cache.run_cached`; stage outputs by stage, version, options
  hash and input hash, in the catalog).
- :mod:`vidpipe.pipeline.narrate`: a text or recording to a narrated video, the chain
  speak or transcribe, images, render through the stage cache.
- the work behind the commands is in the stage modules (``stages/transcribe.py``:
  ``transcribe_files``, ``export_transcripts``; ``stages/speak.py``: ``speak_text``;
  ``stages/render.py``: ``render_video``; ``stages/diarize.py``: ``diarize_files``),
  and :mod:`vidpipe.pipeline.understand` (``summarize``, ``chapters``, ``topics``,
  ``describe`` of targets and selections), with progress through callbacks.
- :mod:`vidpipe.pipeline.plan`: input lines to chains of jobs (``run``, ``submit``,
  ``ingest``); :mod:`vidpipe.pipeline.engine`: ``vidpipe run``'s in-process worker;
  :mod:`vidpipe.pipeline.runner`: ``vidpipe run`` itself (plan, run, summary).
- :mod:`vidpipe.pipeline.jobs`: :class:`~vidpipe.pipeline.jobs.JobStore`, jobs with
  dependencies, leases and retries in the catalog.
- :mod:`vidpipe.pipeline.execute`: :func:`~vidpipe.pipeline.execute.run_job`.
- :mod:`vidpipe.pipeline.queue`: the Huey queue ("run job X" messages; SQLite embedded
  or Redis), :class:`~vidpipe.pipeline.queue.Worker` and its
  :class:`~vidpipe.pipeline.queue.Reaper`.
- :mod:`vidpipe.pipeline.submit`: the planned chains queued for the workers
  (:func:`~vidpipe.pipeline.submit.submit`) and waiting for them.

This layer may import :mod:`vidpipe.library` and the building blocks, never the
front ends (``cli``, ``service``).
"""
