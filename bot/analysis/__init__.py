"""Analysis after the deadline: the national assessment, benchmarking and synthetic data.

Only responses that an organisation chose to submit are used (status ``submitted``, or
``closed`` after having been submitted). The flow:

* :mod:`bot.analysis.load` reads a cycle's submitted answers in bulk (one query) and scores
  them all at once with :class:`scoring.batch.BatchScorer` into arrays;
* :mod:`bot.analysis.national` aggregates the arrays into the national report (a JSON-ready
  dict: levels by type, size class and county, areas, blocking questions, uncertainty per
  question, key figures, trends);
* :mod:`bot.analysis.export` turns the report into tables (CSV, XLSX, JSON) and
  :mod:`bot.analysis.html` into a standalone page with SVG charts;
* :mod:`bot.analysis.privacy` decides which comparison groups an organisation may see;
  :mod:`bot.analysis.benchmark` writes and queues each submitting organisation's
  benchmarking mail, and says exactly what submitting shares;
* :mod:`bot.analysis.synthetic` makes realistic organisations and responses for demos,
  tests and benchmarks.
"""
