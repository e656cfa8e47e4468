"""The anchors ``bench/job_queue.py`` measures Zixly against, each run as its authors run it.

One module per system: its worker (what a worker process runs), its bench-side operations (a
``System``: enqueue, probe, clear) and ``SETTINGS``, the tuning it runs with and where each
setting comes from (the author's own benchmark or docs), printed beside the figures.
"""
