"""``python -m doctor``: a self-check of this installation, every CUDA path included, as one table.

Each row is a check (``table.py``: the :func:`~doctor.table.row` registry, the runner, the printed and JSON
tables) that ends ``ok``, ``skip (reason)`` or ``FAIL (what)``; the exit code is 1 when a row fails. Rows live by
topic: ``environment.py`` (versions, devices), ``compiled_ops.py`` (the compiled FlowNet2 operators and FlowNet2),
``training.py`` (a training step in float32 and --fp16, the generator/discriminator device split),
``inference.py`` (--autocast against float32, test.py with and without --keyframes, ONNX with onnxruntime),
``distributed.py`` (gloo and NCCL). Rows that need a GPU skip on a CPU-only machine with their reason.

A new check is one function decorated with ``@row("name", gpu=...)`` in the module of its topic; it returns a
one-line detail, raises :class:`~doctor.table.Skip` with a reason, or raises anything else to fail.
"""
