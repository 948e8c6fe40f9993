"""Generated stand-ins for tests and benchmarks only (nothing in the library imports this package).

* :mod:`querytrack.testing.fake_results`: ground truth and noisy results files of any size (evaluator tests and
  benchmarks);
* :mod:`querytrack.testing.fake_model`: a frame model with scripted detections (tracker and streaming tests).
"""
