"""One harness for tests, benchmarks and the demo: processes, the image server, the simulator,
the worker as a subprocess and readers of its outcomes.

It lives beside the tools, not under tests/, so bench/ and the demo can import it.
"""
